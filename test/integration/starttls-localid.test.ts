/**
 * Local identities: a pool server with several picks one by the client's
 * SNI once the application accepts the STARTTLS_LOCALID proposal; the
 * application may refuse or change proposals; a client that named none is
 * offered the identity store when the server asks for a certificate. SEND_SNI
 * and the connection log are checked here too, where the identities are.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno, StartTlsFlag } from '../../src/protocol';
import { startGnutlsServer, startOpensslClient, startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER2_NAME, SERVER_NAME, type TestPki } from '../../harness/pki';
import { Plaintext, type Pool, poolToPool, rejection, startPool, TcpListener, tcpConnect } from '../../harness/starttls';
import { waitFor } from '../../harness/wait';

describe('STARTTLS local identities', () => {
  let pki: TestPki;
  let pool: Pool;
  let listener: TcpListener;
  const peers: Peer[] = [];
  const peer = <P extends Peer>(p: P): P => {
    peers.push(p);
    return p;
  };

  before(async () => {
    pki = getPki();
    pool = await startPool({
      // server.example.test is the default identity (added first).
      identities: [
        [SERVER_NAME, pki.server],
        [SERVER2_NAME, pki.server2],
        [CLIENT_EMAIL, pki.client],
      ],
      trust: [pki.ca],
    });
    listener = await TcpListener.open();
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await listener.close();
    await pool.stop();
  });

  /**
   * A pool server without a localid, answering proposals with `answer`; s_client connects with `sni`.
   * IGNORE_REMOTEID without a localid is the anonymous mode: there the SNI alone makes the pool propose.
   */
  async function serveSni(sni: string | undefined, answer: (proposal: string) => string, flags: number = StartTlsFlag.IGNORE_REMOTEID) {
    const c = peer(startOpensslClient({ port: listener.port, serverName: sni, caPath: pki.ca.certPath }));
    const fd = await listener.accept();
    const proposals: Array<{ localid: string; remoteid: string }> = [];
    const result = pool.client.starttls({
      role: 'server',
      fd,
      flags,
      onLocalId: (p) => {
        proposals.push(p);
        return answer(p.localid);
      },
    });
    result.finally(() => fd.close()).catch(() => {});
    return { c, proposals, result };
  }

  for (const sni of [SERVER2_NAME, SERVER_NAME]) {
    test(`a pool server with several identities proposes the one the client's SNI names (${sni}) and presents it once accepted`, async () => {
      const { c, proposals, result } = await serveSni(sni, (id) => id);
      const r = await result;
      assert.equal(proposals[0]!.localid, sni);
      assert.equal(proposals.length, 1);
      assert.equal(r.localid, sni);
      await c.waitFor(new RegExp(`subject=CN = ${sni.replace(/\./g, '\\.')}`));
      await c.waitFor(/Verify return code: 0 \(ok\)/);
      const plain = new Plaintext(r.fd);
      plain.write(`this is ${sni}\n`);
      await c.waitFor(`this is ${sni}`);
      await plain.close();
      assert.equal(pool.connections()[0]!.sni, sni);
    });
  }

  test('a pool server whose application refuses every proposal fails with ENOKEY, after proposing the SNI first and then every identity', async () => {
    const { c, proposals, result } = await serveSni(SERVER2_NAME, () => '');
    const e = await rejection(result);
    assert.equal(e.errno, Errno.ENOKEY);
    assert.match(e.message, /no local identity for www\.example\.test was accepted/);
    assert.equal(proposals[0]!.localid, SERVER2_NAME);
    assert.deepEqual(proposals.map((p) => p.localid).sort(), [CLIENT_EMAIL, SERVER_NAME, SERVER2_NAME].sort());
    await c.waitFor(/unrecognized name:.*SSL alert number 112/);
  });

  test('a pool server without SNI whose application refuses every proposal fails with ENOKEY and a handshake_failure alert', async () => {
    const { c, proposals, result } = await serveSni(undefined, () => '', StartTlsFlag.REQUEST_REMOTEID);
    const e = await rejection(result);
    assert.equal(e.errno, Errno.ENOKEY);
    assert.match(e.message, /no local identity was accepted/);
    assert.deepEqual(
      proposals.map((p) => p.localid),
      [SERVER_NAME, CLIENT_EMAIL, SERVER2_NAME],
    );
    await c.waitFor(/handshake failure:.*SSL alert number 40/);
  });

  test('a pool server uses the identity the application puts in place of the proposal', async () => {
    const { c, proposals, result } = await serveSni(SERVER2_NAME, () => SERVER_NAME);
    const r = await result;
    assert.deepEqual(
      proposals.map((p) => p.localid),
      [SERVER2_NAME],
    );
    assert.equal(r.localid, SERVER_NAME);
    await c.waitFor(/subject=CN = server\.example\.test/);
    await new Plaintext(r.fd).close();
  });

  test('an answer to a proposal that is not an identity fails the STARTTLS with EINVAL', async () => {
    const { c, result } = await serveSni(SERVER_NAME, () => 'not an identity!');
    const e = await rejection(result);
    assert.equal(e.errno, Errno.EINVAL);
    assert.match(e.message, /"not an identity!" is not an identity/);
    await c.exited();
  });

  test('an answer to a proposal naming an identity the pool does not have fails the STARTTLS with ENOKEY', async () => {
    const { c, result } = await serveSni(SERVER_NAME, () => 'nobody.example.test');
    const e = await rejection(result);
    assert.equal(e.errno, Errno.ENOKEY);
    assert.match(e.message, /no local identity nobody\.example\.test; add one with: tlspool identity add/);
    await c.exited();
  });

  test('a pool server without SNI from the client proposes the default identity first', async () => {
    const { c, proposals, result } = await serveSni(undefined, (id) => id, StartTlsFlag.REQUEST_REMOTEID);
    const r = await result;
    assert.deepEqual(
      proposals.map((p) => p.localid),
      [SERVER_NAME],
    );
    assert.equal(r.localid, SERVER_NAME);
    await c.waitFor(/subject=CN = server\.example\.test/);
    await new Plaintext(r.fd).close();
  });

  test('a pool client without a localid is offered the identity store when the server asks for a certificate, and presents the one accepted', async () => {
    const server = peer(
      await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, clientCert: 'require' }),
    );
    const fd = await tcpConnect(server.port);
    const proposals: string[] = [];
    const r = await pool.client.starttls({
      role: 'client',
      fd,
      remoteid: SERVER_NAME,
      onLocalId: ({ localid, remoteid }) => {
        assert.equal(remoteid, SERVER_NAME);
        proposals.push(localid);
        return localid === CLIENT_EMAIL ? localid : '';
      },
    });
    fd.close();
    assert.equal(proposals[0], SERVER_NAME, 'the default identity comes first');
    assert.equal(proposals[proposals.length - 1], CLIENT_EMAIL);
    assert.equal(r.localid, CLIENT_EMAIL);
    assert.equal(r.remoteid, SERVER_NAME);
    const plain = new Plaintext(r.fd);
    plain.write('it is alice\n');
    await server.waitFor('it is alice');
    assert.match(server.output(), /CN = alice/);
    await plain.close();
  });

  test('a pool client is not asked about local identities when the server does not ask for a certificate', async () => {
    const server = peer(await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath }));
    const fd = await tcpConnect(server.port);
    let asked = 0;
    const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId: () => (asked++, '') });
    fd.close();
    assert.equal(asked, 0);
    assert.equal(r.localid, '');
    await new Plaintext(r.fd).close();
  });

  for (const role of ['client', 'server'] as const) {
    test(`a ${role} localid the pool has no identity for is refused with ENOKEY before a byte is sent`, async () => {
      let received = 0;
      const c = role === 'server' ? peer(startOpensslClient({ port: listener.port, serverName: 'nobody.example.test' })) : undefined;
      const server = role === 'client' ? peer(await startOpensslServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath })) : undefined;
      const fd = role === 'server' ? await listener.accept() : await tcpConnect(server!.port);
      const localid = role === 'server' ? 'nobody.example.test' : 'bob@example.test';
      const e = await rejection(pool.client.starttls({ role, fd, localid, remoteid: role === 'client' ? SERVER_NAME : '' }));
      fd.close();
      assert.equal(e.errno, Errno.ENOKEY);
      assert.match(e.message, new RegExp(`no local identity ${localid.replace(/\./g, '\\.')}`));
      if (server) {
        await server.stop();
        received = /Shared ciphers|CIPHER is/.test(server.output()) ? 1 : 0;
      } else {
        // s_client sent its ClientHello; the pool answered nothing and closed.
        await c!.waitFor(/CONNECTED/);
        await c!.stop();
        received = /Server certificate|alert/.test(c!.output()) ? 1 : 0;
      }
      assert.equal(received, 0);
    });
  }

  test('SEND_SNI sends the remoteid as Server Name Indication; without it none is sent', async () => {
    const server = peer(await startGnutlsServer({ certPath: pki.server.chainPath, keyPath: pki.server.keyPath }));
    for (const flags of [StartTlsFlag.SEND_SNI, 0]) {
      const fd = await tcpConnect(server.port);
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, flags });
      fd.close();
      const plain = new Plaintext(r.fd);
      plain.write(`flags ${flags}\n`);
      await plain.until(`flags ${flags}\n`);
      await plain.close();
    }
    const sessions = server.output().split('* Accepted connection');
    assert.equal(sessions.length, 3, server.output());
    assert.match(sessions[1]!, /Given server name\[1\]: server\.example\.test/);
    assert.doesNotMatch(sessions[2]!, /Given server name/);
  });

  test('SEND_SNI lets openssl s_server pick its certificate for the name', async () => {
    const server = peer(
      await startOpensslServer({
        certPath: pki.server.chainPath,
        keyPath: pki.server.keyPath,
        extraArgs: ['-servername', SERVER2_NAME, '-cert2', pki.server2.chainPath, '-key2', pki.server2.keyPath],
      }),
    );
    const fd = await tcpConnect(server.port);
    const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER2_NAME, flags: StartTlsFlag.SEND_SNI });
    fd.close();
    assert.equal(r.remoteid, SERVER2_NAME);
    await server.waitFor(`Hostname in TLS extension: "${SERVER2_NAME}"`);
    await new Plaintext(r.fd).close();
    assert.equal(pool.connections()[0]!.sni, SERVER2_NAME);
  });

  test('a pool server proposes the SNI a pool client sent with SEND_SNI', async () => {
    const proposals: string[] = [];
    const [c, s] = await poolToPool(
      pool,
      listener,
      { localid: CLIENT_EMAIL, remoteid: SERVER2_NAME, flags: StartTlsFlag.SEND_SNI },
      { onLocalId: ({ localid }) => (proposals.push(localid), localid) },
    );
    assert.deepEqual(proposals, [SERVER2_NAME]);
    assert.deepEqual([c.localid, c.remoteid], [CLIENT_EMAIL, SERVER2_NAME]);
    assert.deepEqual([s.localid, s.remoteid], [SERVER2_NAME, CLIENT_EMAIL]);
    const cp = new Plaintext(c.fd);
    const sp = new Plaintext(s.fd);
    await cp.close();
    await sp.untilEnd();
    await sp.close();
  });

  test('tlspool connections shows a connection with version, cipher and identities, and after close the bytes each way', async () => {
    const since = pool.connections()[0]?.id ?? 0;
    const [c, s] = await poolToPool(
      pool,
      listener,
      { localid: CLIENT_EMAIL, remoteid: SERVER_NAME, flags: StartTlsFlag.SEND_SNI },
      { localid: SERVER_NAME },
    );
    const cp = new Plaintext(c.fd);
    const sp = new Plaintext(s.fd);
    cp.write('x'.repeat(3000));
    await sp.until('x'.repeat(3000));
    sp.write('y'.repeat(1234));
    await cp.until('y'.repeat(1234));

    const live = pool.connections().filter((r) => r.id > since);
    assert.equal(live.length, 2);
    for (const r of live) {
      assert.equal(r.state, 'established');
      assert.equal(r.version, 'TLS1.3');
      assert.match(r.cipher ?? '', /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
      assert.equal(r.transport, 'tls');
      assert.equal(r.requester.pid, process.pid);
      assert.equal(r.peerChain.length, 1);
    }
    const clientRec = live.find((r) => r.role === 'client')!;
    const serverRec = live.find((r) => r.role === 'server')!;
    assert.deepEqual([clientRec.localid, clientRec.remoteid, clientRec.sni], [CLIENT_EMAIL, SERVER_NAME, SERVER_NAME]);
    assert.deepEqual([serverRec.localid, serverRec.remoteid, serverRec.sni], [SERVER_NAME, CLIENT_EMAIL, SERVER_NAME]);
    assert.match(clientRec.peerChain[0]!, /^-----BEGIN CERTIFICATE-----\n/);

    await cp.close();
    await sp.untilEnd();
    await sp.close();
    const ended = await waitFor('both records closed', () => {
      const rs = pool.connections().filter((r) => r.id > since);
      return rs.every((r) => r.state === 'closed') && rs;
    });
    const endedClient = ended.find((r) => r.role === 'client')!;
    const endedServer = ended.find((r) => r.role === 'server')!;
    assert.deepEqual([endedClient.bytesOut, endedClient.bytesIn], [3000, 1234]);
    assert.deepEqual([endedServer.bytesIn, endedServer.bytesOut], [3000, 1234]);
    assert.equal(endedClient.endReason, 'closed by application');
    assert.equal(endedServer.endReason, 'closed by peer');
    assert.equal(endedClient.error, undefined);
    assert.ok(endedClient.endedAt! >= endedClient.establishedAt!);

    const text = pool.cli(['connections', '--limit', '2']);
    assert.match(text, new RegExp(`#${endedClient.id} .* client .*alice@example\\.test -> server\\.example\\.test \\(127\\.0\\.0\\.1:\\d+\\) TLS1\\.3 .* in 1\\.2 KiB out 2\\.9 KiB \\[closed\\]`));
  });
});
