/**
 * Configuration the engine or the system refuses, caught where it is
 * written rather than at the first STARTTLS: a priority string GnuTLS does
 * not take, a trust file that is missing, a CRL file that holds a
 * certificate or garbage, a socket_group that does not exist. At start the
 * daemon exits 1 with one line (file:line:column, key, what is wrong)
 * before it makes its state directory or listens; on SIGHUP the reload is
 * refused with that line in the log, and STARTTLS goes on with the running
 * configuration.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PoolClient } from '../../src/client/pool-client';
import { Errno, StartTlsFlag } from '../../src/protocol';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME, type TestPki } from '../../harness/pki';
import { Plaintext, rejection, tcpConnect } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';

const NO_SUCH_GROUP = 'tlspool-no-such-group';

/** A configuration that works: trust and revocation come from the file alone, and every STARTTLS validates afresh. */
function goodConfig(pki: TestPki): string {
  return [
    'log:',
    '  level: info',
    'tls:',
    '  system_trust: false',
    '  validation_cache_ttl: 0',
    '  trust_files:',
    `    - ${pki.ca.certPath}`,
    '  crl_files:',
    `    - ${pki.crlPath}`,
    '',
  ].join('\n');
}

interface Case {
  what: string;
  /** The good configuration with one mistake in it. */
  text(pki: TestPki, dir: string): string;
  /** `line:column: key: problem`, after the file name. */
  expected(pki: TestPki, dir: string): string;
  /** Where GnuTLS's own sentence ends the line: it words that by its version, so only its start is compared. */
  gnutlsSays?: string;
}

/** The error line is `<file>:<expected>`, GnuTLS's sentence after it when the case has one. */
function assertLine(actual: string | undefined, file: string, c: Case, pki: TestPki, dir: string): void {
  const want = `${file}:${c.expected(pki, dir)}`;
  if (c.gnutlsSays === undefined) return assert.equal(actual, want);
  assert.ok(actual?.startsWith(`${want} (${c.gnutlsSays}`) && actual.endsWith(')'), `${actual}\n  does not start with\n${want} (${c.gnutlsSays}`);
}

/** Files the cases name, made in `dir`. */
function writeBadFiles(pki: TestPki, dir: string): void {
  fs.writeFileSync(path.join(dir, 'garbage.crl'), 'this is not a CRL at all\n');
  // A CRL's frame with a body that is base64 of bytes that are no DER: only GnuTLS can tell.
  const body = Buffer.from('not DER, only bytes that decode from base64 '.repeat(4)).toString('base64').replace(/.{64}/g, '$&\n');
  fs.writeFileSync(path.join(dir, 'damaged.crl'), `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`);
}

const cases: Case[] = [
  {
    what: 'a priority string GnuTLS does not take, with the position of the error',
    text: (pki) => `${goodConfig(pki)}  priority: "SECURE128:-VERS-ALL:+VERS-TLS1.3:+AES-999-GCM"\n`,
    expected: () =>
      '10:3: tls.priority: GnuTLS refuses the priority string at character 34: "+AES-999-GCM", an unknown or misplaced keyword ' +
      '(gnutls_priority_init: The request is invalid.)',
  },
  {
    what: 'a trust file that does not exist',
    text: (pki, dir) => goodConfig(pki).replace(pki.ca.certPath, path.join(dir, 'missing-ca.pem')),
    expected: (_pki, dir) => `7:7: tls.trust_files[0]: cannot read ${path.join(dir, 'missing-ca.pem')}: no such file`,
  },
  {
    what: 'a PEM certificate given as a CRL',
    text: (pki) => goodConfig(pki).replace(pki.crlPath, pki.server.certPath),
    expected: (pki) =>
      `9:7: tls.crl_files[0]: ${pki.server.certPath} is not a CRL: it holds a certificate (BEGIN CERTIFICATE), ` +
      'and CA certificates to trust go in tls.trust_files',
  },
  {
    what: 'a garbage file given as a CRL',
    text: (pki, dir) => goodConfig(pki).replace(pki.crlPath, path.join(dir, 'garbage.crl')),
    expected: (_pki, dir) => `9:7: tls.crl_files[0]: ${path.join(dir, 'garbage.crl')} is not a CRL: it holds no PEM CRL (BEGIN X509 CRL)`,
  },
  {
    what: 'a damaged PEM CRL',
    text: (pki, dir) => goodConfig(pki).replace(pki.crlPath, path.join(dir, 'damaged.crl')),
    expected: (_pki, dir) => `9:7: tls.crl_files[0]: ${path.join(dir, 'damaged.crl')}: GnuTLS cannot load the CRL in it`,
    gnutlsSays: 'ASN1 parser: ',
  },
  {
    what: 'a socket_group that does not exist',
    text: (pki) => `socket_group: ${NO_SUCH_GROUP}\n${goodConfig(pki)}`,
    expected: () => `1:1: socket_group: group "${NO_SUCH_GROUP}" does not exist; create it or remove the key`,
  },
];

describe('configuration refused at start', () => {
  let pki: TestPki;
  let dir: string;
  before(() => {
    pki = getPki();
    dir = tempDir('tlspool-config-refusals-');
    writeBadFiles(pki, dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the good configuration starts (the cases below differ from it in one key)', async () => {
    const d = await startDaemon({ config: goodConfig(pki) });
    try {
      assert.match(d.logs(), /"msg":"listening"/);
    } finally {
      assert.equal(await d.stop(), 0);
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  });

  test('a socket_group that exists, by name, gives the socket that group', async () => {
    const gid = process.getgid!();
    const name = spawnSync('getent', ['group', String(gid)], { encoding: 'utf8' }).stdout.split(':')[0];
    assert.ok(name, `no name for gid ${gid}`);
    const d = await startDaemon({ config: `socket_group: ${name}\n${goodConfig(pki)}` });
    try {
      const st = fs.statSync(d.socket);
      assert.deepEqual([st.gid, st.mode & 0o777], [gid, 0o660]);
    } finally {
      assert.equal(await d.stop(), 0);
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  });

  for (const c of cases) {
    test(`${c.what}: exit 1 with file, line, key and reason, before the state directory or the socket exist`, () => {
      const file = path.join(dir, 'tlspool.yaml');
      fs.writeFileSync(file, c.text(pki, dir));
      const socket = path.join(dir, 'pool.sock');
      const stateDir = path.join(dir, 'state');
      const r = spawnSync(process.execPath, [CLI, 'daemon', '--socket', socket, '--state-dir', stateDir, '--config', file], {
        encoding: 'utf8',
        timeout: 30000,
      });
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      // The one line after the "starting" log line.
      assert.ok(lines.at(-1)!.startsWith('tlspool daemon: '), lines.at(-1));
      assertLine(lines.at(-1)!.slice('tlspool daemon: '.length), file, c, pki, dir);
      assert.doesNotMatch(r.stderr, /"msg":"listening"/);
      assert.equal(fs.existsSync(socket), false, 'the socket was made');
      assert.equal(fs.existsSync(stateDir), false, 'the state directory was made');
    });
  }
});

describe('configuration refused on SIGHUP', () => {
  let pki: TestPki;
  let daemon: TestDaemon;
  let client: PoolClient;
  let good: Peer;
  let revoked: Peer;

  before(async () => {
    pki = getPki();
    daemon = await startDaemon({ config: goodConfig(pki) });
    writeBadFiles(pki, daemon.dir);
    client = PoolClient.connect(daemon.socket);
    good = await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath });
    revoked = await startOpensslServer({ certPath: pki.revoked.chainPath, keyPath: pki.revoked.keyPath });
  });
  after(async () => {
    client.close();
    await good.stop();
    await revoked.stop();
    assert.equal(await daemon.stop(), 0);
    fs.rmSync(daemon.dir, { recursive: true, force: true });
  });

  const configFile = () => path.join(daemon.dir, 'tlspool.yaml');
  const reloadFailures = () => daemon.logs().split('\n').filter((l) => /"msg":"configuration reload failed/.test(l));

  /** STARTTLS as a client to `peer`, validated afresh (IGNORE_CACHES, and the TTL is 0 anyway). */
  async function starttlsTo(peer: Peer) {
    const fd = await tcpConnect(peer.port);
    try {
      return await client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags: StartTlsFlag.IGNORE_CACHES });
    } finally {
      fd.close();
    }
  }

  /** The running configuration is the good one: its trust file and its CRL are what STARTTLS uses. */
  async function servesWithTheGoodConfiguration() {
    const ok = await starttlsTo(good);
    assert.equal(ok.remoteid, SERVER_NAME);
    await new Plaintext(ok.fd).close();
    const e = await rejection(starttlsTo(revoked));
    assert.equal(e.errno, Errno.EKEYREVOKED, e.message);
  }

  test('before any reload, STARTTLS works with the file as written', async () => {
    await servesWithTheGoodConfiguration();
  });

  for (const c of cases) {
    test(`${c.what}: the reload is refused with that line in the log, and STARTTLS goes on as before`, async () => {
      const before = reloadFailures().length;
      fs.writeFileSync(configFile(), c.text(pki, daemon.dir));
      process.kill(daemon.pid, 'SIGHUP');
      await waitFor('the refused reload in the log', () => reloadFailures().length > before);
      const line = JSON.parse(reloadFailures().at(-1)!) as { level: string; msg: string; error: { code: string; message: string } };
      assert.equal(line.level, 'error');
      assert.equal(line.msg, 'configuration reload failed; keeping the running configuration');
      assert.equal(line.error.code, 'EINVAL');
      assertLine(line.error.message, configFile(), c, pki, daemon.dir);
      assert.doesNotMatch(daemon.logs(), /"msg":"configuration reloaded"/);
      await servesWithTheGoodConfiguration();
    });
  }

  test('after the refusals, a good file reloads', async () => {
    fs.writeFileSync(configFile(), goodConfig(pki).replace('level: info', 'level: debug'));
    process.kill(daemon.pid, 'SIGHUP');
    await waitFor('the reload in the log', () => /"msg":"configuration reloaded"/.test(daemon.logs()));
    await servesWithTheGoodConfiguration();
  });
});
