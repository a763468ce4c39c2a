/** shortCommand / requesterName: how a requester's command line reads in the log, the CLI and the UI. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requesterName, shortCommand } from '../../src/model/command';

describe('command line', () => {
  test('an interpreter is named by its script, without directory or extension; its options are skipped', () => {
    assert.equal(shortCommand(['/usr/bin/node', '--enable-source-maps', '/opt/tlspool/bin/tlspool.js', 'tunnel', '--server', '--listen', ':8443']), 'tlspool tunnel --server --listen :8443');
    assert.equal(shortCommand(['python3', '/srv/app.py', '-v']), 'app -v');
    assert.equal(shortCommand(['/usr/bin/curl', 'https://example.org/']), 'curl https://example.org/');
  });

  test('long lines are cut with an ellipsis; arguments with spaces are quoted; nothing for an empty argv', () => {
    const cut = shortCommand(['/usr/bin/curl', '-H', 'X-A: b', 'https://example.org/' + 'a'.repeat(100)], 40);
    assert.equal(cut.length, 40);
    assert.ok(cut.endsWith('…'));
    assert.ok(cut.startsWith('curl -H "X-A: b" https://'));
    assert.equal(shortCommand([]), '');
  });

  test('requesterName: the command line, else the executable, else the pid', () => {
    assert.equal(requesterName({ pid: 7, executable: '/usr/bin/node', command: ['node', 'bin/tlspool.js', 'tunnel'] }), 'tlspool tunnel (7)');
    assert.equal(requesterName({ pid: 7, executable: '/usr/bin/curl' }), 'curl (7)');
    assert.equal(requesterName({ pid: 7 }), 'pid 7');
  });
});
