/**
 * The README is a new user's first screen: what this is, the two commands,
 * what `npm start` opens, and a first tunnel end to end (identity, trust,
 * tunnel, where approvals and PINs appear), in that order, short, and
 * linking only to files in the repository. The manual is in docs/.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../../harness/daemon';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** [text](target) links of a Markdown file, with the file's directory. */
function links(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe('README.md', () => {
  test('says, in order: what this is, npm start and npm test, what npm start opens, a first tunnel with identity, trust, tunnel, approvals and PINs', () => {
    const at = (what: RegExp) => {
      const i = readme.search(what);
      assert.ok(i >= 0, `the README says ${what}`);
      return i;
    };
    const order = [
      at(/^# TLS Pool\n\nA local daemon that does TLS for applications/m),
      at(/^npm start\b/m),
      at(/^npm test\b/m),
      at(/^## What `npm start` opens/m),
      at(/^## A first tunnel, end to end/m),
      at(/tlspool identity add /),
      at(/tlspool trust add /),
      at(/tlspool tunnel --server /),
      at(/tlspool tunnel --client /),
      at(/approval appears in the UI/),
      at(/PIN prompt appears in the UI/),
    ];
    assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in this order');
    assert.ok(readme.split('\n').length <= 135, `short: ${readme.split('\n').length} lines`);
  });

  test('links only to files in the repository, and so do the docs it links to', () => {
    const files = [path.join(ROOT, 'README.md'), ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => path.join(ROOT, 'docs', f))];
    for (const file of files) {
      for (const target of links(file)) {
        assert.doesNotMatch(target, /^[a-z]+:/, `${path.relative(ROOT, file)} links to ${target}, outside the repository`);
        const resolved = path.resolve(path.dirname(file), target.split('#')[0]!);
        assert.ok(fs.existsSync(resolved), `${path.relative(ROOT, file)} links to ${target}, which does not exist`);
      }
    }
  });

  test('says how peers are validated: the DNSSEC/DANE decision table, revocation, the directory and RADIUS', () => {
    const [start, end] = [readme.indexOf('## How peers are validated'), readme.indexOf('## More')];
    assert.ok(start >= 0 && end > start, 'the README has a validation section before More');
    const section = readme.slice(start, end);
    for (const row of [/\| bogus \| refused, `EBADMSG` \| refused, `EBADMSG` \|/, /\| insecure zone \| PKIX \| refused/, /OCSP/, /ldap\.directory/, /radius\.authn/]) {
      assert.match(section, row);
    }
  });

  test('docs/usage.md names exactly the Debian packages scripts/setup.sh installs', () => {
    const setup = fs.readFileSync(path.join(ROOT, 'scripts', 'setup.sh'), 'utf8');
    const installed = /^PACKAGES=\(([^)]*)\)/m.exec(setup)?.[1]?.trim().split(/\s+/);
    assert.ok(installed && installed.length > 0, 'setup.sh has its PACKAGES=(...) line');
    const usage = fs.readFileSync(path.join(ROOT, 'docs', 'usage.md'), 'utf8');
    const listed = /installs the Debian packages the project needs with `apt-get`\s+\(`([^`]*)`\)/.exec(usage)?.[1]?.trim().split(/\s+/);
    assert.ok(listed, 'docs/usage.md lists the packages setup installs');
    assert.deepEqual([...listed].sort(), [...installed].sort());
  });

  test('the user manual lives in docs/usage.md', () => {
    assert.match(readme, /\]\(docs\/usage\.md\)/);
    const usage = fs.readFileSync(path.join(ROOT, 'docs', 'usage.md'), 'utf8');
    for (const h of ['## The `tlspool` command', '### `tlspool tunnel`', '### Tokens and PINs', '### Socket safety', '## Desktop app and browser UI']) {
      assert.ok(usage.includes(`\n${h}\n`), `docs/usage.md has "${h}"`);
    }
  });
});
