/** The `tlspool` command as a person at a terminal sees it. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, ROOT, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';

function tlspool(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tlspool command', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon.stop();
  });

  test('ping prints the pool identity and the round-trip time', () => {
    const r = tlspool(['ping', '--socket', daemon.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^20130710tlspool@openfortress\.nl at .*tlspool\.sock: round trip \d+\.\d{3} ms\nprotocols: V1 20130710tlspool@openfortress\.nl; V2 20151111api@tlspool\.arpa2\.net \(facilities: STARTTLS\)\n$/,
    );
  });

  test('ping finds the socket through TLSPOOL_SOCKET, and --count --json gives one object per PING', () => {
    const r = tlspool(['ping', '--count', '3', '--json'], { TLSPOOL_SOCKET: daemon.socket });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    // The last object says which protocols the pool speaks.
    const protocols = lines.pop();
    assert.deepEqual(protocols.protocols, {
      v1: { identity: '20130710tlspool@openfortress.nl' },
      v2: { identity: '20151111api@tlspool.arpa2.net', facilities: ['STARTTLS'] },
    });
    assert.equal(lines.length, 3);
    for (const l of lines) {
      assert.equal(l.identity, '20130710tlspool@openfortress.nl');
      assert.equal(typeof l.rtt_ms, 'number');
    }
  });

  test('npx tlspool works in a checkout', () => {
    const r = spawnSync('npx', ['--no-install', 'tlspool', 'ping', '--socket', daemon.socket], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /20130710tlspool@openfortress\.nl/);
  });
});

describe('tlspool help and failures', () => {
  test('every command has --help that exits 0 and names its options', () => {
    const top = tlspool(['--help']);
    assert.equal(top.code, 0);
    const commands = [...top.stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
    assert.ok(commands.includes('daemon') && commands.includes('ping'), top.stdout);
    for (const c of commands) {
      const r = tlspool([c, '--help']);
      assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: tlspool /, `${c} --help`);
    }
    assert.match(tlspool(['daemon', '--help']).stdout, /--state-dir DIR /);
  });

  test('no command prints usage and exits 2; an unknown command exits 2 with one line', () => {
    assert.equal(tlspool([]).code, 2);
    const r = tlspool(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'tlspool: unknown command "frobnicate" (see tlspool --help)\n');
  });

  test('an unknown option exits 2 with one line naming it', () => {
    const r = tlspool(['ping', '--bogus']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /--bogus/);
  });

  test('ping with no daemon exits 1 with one line that says what to do', () => {
    const r = tlspool(['ping', '--socket', path.join(tempDir(), 'none.sock')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /cannot reach the TLS pool .*ENOENT.*is `tlspool daemon` running\?/);
  });

  test("a file that is not there is named in a sentence, not Node's ENOENT", () => {
    const dir = tempDir();
    const missing = path.join(dir, 'no-such.pem');
    for (const args of [
      ['identity', 'add', 'www.example.test', '--cert', missing, '--key', missing, '--state-dir', dir],
      ['trust', 'add', missing, '--state-dir', dir],
    ]) {
      const r = tlspool(args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `tlspool ${args[0]}: cannot open ${missing}: no such file or directory (ENOENT)\n`);
    }
  });

  test('a daemon that cannot make its socket directory exits 1 at once, with the reason in its log and on the last line', () => {
    const dir = tempDir();
    // Below /proc no directory can be made (Node's recursive mkdir never returns there).
    const r = tlspool(['daemon', '--socket', '/proc/tlspool-test/s.sock', '--state-dir', path.join(dir, 'state')]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    const logged = lines.slice(0, -1).map((l) => JSON.parse(l) as { msg: string; errno?: string; reason?: string });
    assert.deepEqual(logged.map((l) => l.msg), ['starting', 'not started']);
    assert.match(logged[1]!.reason!, /\/proc\/tlspool-test could not be created \(ENOENT\)/);
    assert.equal(lines.at(-1), `tlspool daemon: ${logged[1]!.reason}`);
  });

  test('a bad configuration file stops the daemon with file, line and key', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'log:\n  levle: debug\n');
    const r = tlspool(['daemon', '--socket', path.join(dir, 's.sock'), '--state-dir', dir, '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:2:3: log\\.levle: unknown key \\(did you mean level\\?\\)`));
  });
});
