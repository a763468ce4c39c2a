/**
 * Disclosure rules on a real SQLite state database: which selectors cover a
 * remote, which rule wins, what survives a restart.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { openDb } from '../../src/store/db';
import { DisclosureRules, selectorsFor } from '../../src/daemon/disclosure/rules';
import { tempDir } from '../../harness/daemon';

describe('selectorsFor', () => {
  test('a user@host is covered by itself, its host, each parent domain, then *', () => {
    assert.deepEqual(selectorsFor('Bob@Mail.Example.org'), ['bob@mail.example.org', 'mail.example.org', '.example.org', '.org', '*']);
  });
  test('an address is covered by its host part without the port, then *', () => {
    assert.deepEqual(selectorsFor('192.0.2.7:4433'), ['192.0.2.7', '*']);
    assert.deepEqual(selectorsFor('[2001:db8::1]:443'), ['2001:db8::1', '*']);
  });
  test('something that is neither a name nor an address is covered by * only', () => {
    assert.deepEqual(selectorsFor('unknown peer'), ['*']);
  });
});

describe('DisclosureRules', () => {
  const dir = tempDir('tlspool-rules-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the most specific rule wins; a new choice for the same pair replaces the old; an allow for another candidate is used when the identity has none', () => {
    const db = openDb(dir);
    const rules = new DisclosureRules(db);
    rules.add('me.example.net', '*', 'deny', 'forever');
    rules.add('me.example.net', '.example.org', 'allow', 'forever');
    assert.equal(rules.evaluate('me.example.net', 'www.example.org', ['me.example.net'])?.decision, 'allow');
    assert.equal(rules.evaluate('me.example.net', 'www.example.com', ['me.example.net'])?.decision, 'deny');
    // The same pair again (forever, then until restart): the later choice is the rule.
    rules.add('me.example.net', 'www.example.org', 'allow', 'forever');
    rules.add('me.example.net', 'www.example.org', 'deny', 'restart');
    assert.equal(rules.list().filter((r) => r.remote === 'www.example.org').length, 1, 'a new choice replaces the old one for the same pair');
    assert.equal(rules.evaluate('me.example.net', 'www.example.org', [])?.decision, 'deny');
    // No rule for alice: a person's earlier allow of bob for that remote is used.
    rules.add('bob@example.net', 'shop.example.com', 'allow', 'restart');
    const v = rules.evaluate('alice@example.net', 'shop.example.com', ['alice@example.net', 'bob@example.net']);
    assert.deepEqual([v?.decision, v?.localid], ['allow', 'bob@example.net']);
    assert.equal(rules.evaluate('alice@example.net', 'shop.example.com', ['alice@example.net']), undefined, 'only among the candidates');
    db.close();
  });

  test("'forever' rules outlive the daemon, 'restart' rules do not; revoke takes either by id", () => {
    const db = openDb(dir);
    const rules = new DisclosureRules(db);
    assert.deepEqual(
      rules.list().map((r) => [r.remote, r.lifetime]),
      [
        ['*', 'forever'],
        ['.example.org', 'forever'],
      ],
    );
    const temp = rules.add('me.example.net', 'x.example.org', 'allow', 'restart');
    assert.ok(rules.list().every((r, i, all) => all.findIndex((o) => o.id === r.id) === i), 'ids are unique');
    assert.equal(rules.revoke(temp.id).remote, 'x.example.org');
    assert.throws(() => rules.revoke(temp.id), /no disclosure rule/);
    assert.throws(() => rules.add('me.example.net', 'not a selector', 'allow', 'forever'), /not a remote selector/);
    db.close();
  });
});
