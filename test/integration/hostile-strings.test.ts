/**
 * String fields holding bytes that are not UTF-8, in every string field of
 * every command the pool takes: each packet is answered exactly once (ERROR
 * EINVAL naming the field), and the daemon stays up. One TOKEN_STATE with six
 * 0xff bytes in token_model used to end the process. Also: what a handler's
 * bug can no longer do (an answer that does not encode), and the process guard.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PoolClient } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { createLogger } from '../../src/log/logger';
import { PoolLimits } from '../../src/daemon/server/limits';
import { PoolServer } from '../../src/daemon/server/pool-server';
import { connectUnix } from '../../src/addon/ipc';
import { Cmd, decode, encode, Errno, LocalCmd, PAYLOADS, TLSPOOL_IDENTITY_V1, type Packet } from '../../src/protocol';
import { Framer } from '../../src/protocol/framer';
import { ROOT, startDaemon, tempDir } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';

/** Bytes that are not UTF-8 in any reading: lone continuation and 0xff bytes. */
const notUtf8 = (n: number) => new Uint8Array(n).fill(0xff);

const pinentry = (over: Record<string, unknown>) => ({
  flags: 0,
  attempt: 0,
  timeout_us: 0,
  pin: new Uint8Array(0),
  prompt: '',
  token_manuf: '',
  token_model: '',
  token_serial: '',
  token_label: '',
  ...over,
});
const starttls = (over: Record<string, unknown>) => ({ flags: 0, local: 0, ipproto: 6, streamid: 0, localid: '', remoteid: '', ...over });

/** One packet per (command, string field), each field filled with as many 0xff bytes as fit. */
function hostilePackets(): Array<{ what: string; packet: Packet }> {
  const out: Array<{ what: string; packet: Packet }> = [];
  let reqid = 1;
  const add = (what: string, p: object) => out.push({ what, packet: { reqid: reqid++, cbid: 0, ...p } as Packet });
  for (const f of PAYLOADS.pioc_ping) if (f.kind === 'string') add(`PING.${f.name}`, { cmd: Cmd.PING, ping: { [f.name]: notUtf8(f.size - 1) } });
  for (const cmd of [Cmd.STARTTLS_CLIENT, Cmd.STARTTLS_SERVER]) {
    for (const f of PAYLOADS.pioc_starttls) {
      if (f.kind === 'string') add(`STARTTLS(${cmd}).${f.name}`, { cmd, starttls: starttls({ [f.name]: notUtf8(f.size - 1) }) });
    }
  }
  for (const cmd of [LocalCmd.TOKEN_STATE, LocalCmd.LOOP_STATS, LocalCmd.LOCK]) {
    for (const f of PAYLOADS.pioc_pinentry) {
      if (f.kind === 'string' && f.name !== 'pin') add(`${cmd.toString(16)}.${f.name}`, { cmd, pinentry: pinentry({ [f.name]: notUtf8(f.size - 1) }) });
    }
  }
  // Even the TOKEN_STATE of the report: six 0xff bytes, which became 18 bytes once decoded.
  add('TOKEN_STATE.token_model (6 bytes)', { cmd: LocalCmd.TOKEN_STATE, pinentry: pinentry({ token_model: notUtf8(6) }) });
  return out;
}

test('string fields that are not UTF-8 are refused with EINVAL in every command, each answered once, and the daemon stays up', async () => {
  const daemon = await startDaemon();
  const conn = connectUnix(daemon.socket);
  const framer = new Framer();
  const answers: Packet[] = [];
  let ended = false;
  try {
    conn.start(
      (chunk, fds) => {
        for (const f of framer.push(chunk, fds)) {
          f.fd?.close();
          answers.push(decode(f.bytes));
        }
      },
      () => (ended = true),
    );
    const sent = hostilePackets();
    for (const { packet } of sent) conn.send(encode(packet));
    conn.send(encode({ reqid: 0xffff, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: 'last' } }));
    await waitFor('every answer', () => answers.length >= sent.length + 1 || ended);
    assert.equal(ended, false, `the daemon closed the connection; it logged:\n${daemon.logs().slice(-2000)}`);
    for (const { what, packet } of sent) {
      const got = answers.filter((a) => a.reqid === packet.reqid);
      assert.equal(got.length, 1, `${what}: one answer`);
      const a = got[0]!;
      assert.ok('error' in a, `${what}: an ERROR, got command ${a.cmd}`);
      assert.equal(a.error.tlserrno, Errno.EINVAL, `${what}: EINVAL, got ${a.error.tlserrno} ${a.error.message}`);
      assert.match(a.error.message, /not UTF-8/, what);
    }
    assert.equal(answers.at(-1)!.cmd, Cmd.PING, 'the last answer is the PING');
    const probe = PoolClient.connect(daemon.socket);
    assert.equal((await probe.ping()).identity, TLSPOOL_IDENTITY_V1);
    probe.close();
    assert.equal(daemon.proc.exitCode, null, 'the daemon is still running');
  } finally {
    conn.close();
    framer.dispose();
    assert.equal(await daemon.stop(), 0);
  }
});

test('a response the codec cannot encode becomes an ERROR for that request, and a callback that cannot be encoded fails its handler', async () => {
  const dir = tempDir();
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  const tooLong = 'x'.repeat(300);
  const server = PoolServer.listen({
    socket: path.join(dir, 'pool.sock'),
    log,
    limits: new PoolLimits(() => ({ handshakes: 1024, handshakes_per_uid: 512, connections: 1024, connections_per_uid: 256 }), log),
    handlers: (cmd) =>
      cmd === Cmd.PING
        ? async (req) => ({ packet: { reqid: req.packet.reqid, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: tooLong } } })
        : cmd === Cmd.STARTTLS_CLIENT
          ? async (req) => {
              await req.callback({ reqid: 0, cbid: 0, cmd: Cmd.STARTTLS_LOCALID, starttls: starttls({ localid: tooLong }) });
              return { packet: { reqid: req.packet.reqid, cbid: 0, cmd: Cmd.SUCCESS } };
            }
          : undefined,
  });
  const client = PoolClient.connect(server.socket);
  try {
    const ping = await client.ping().then(
      () => assert.fail('a PING whose answer cannot be encoded succeeded'),
      (e: unknown) => e as Failure,
    );
    assert.ok(ping instanceof Failure);
    assert.equal(ping.errno, Errno.EIO);
    assert.match(ping.message, /could not encode its answer/);
    const conn = connectUnix(server.socket);
    const framer = new Framer();
    const got: Packet[] = [];
    conn.start((chunk, fds) => {
      for (const f of framer.push(chunk, fds)) got.push(decode(f.bytes));
    }, () => {});
    conn.send(encode({ reqid: 7, cbid: 0, cmd: Cmd.STARTTLS_CLIENT, starttls: starttls({}) }));
    await waitFor('the STARTTLS answer', () => got.length > 0);
    conn.close();
    framer.dispose();
    assert.equal(got.length, 1);
    assert.ok('error' in got[0]! && got[0].error.tlserrno === Errno.EIO, JSON.stringify(got[0]));
    assert.match(got[0].error.message, /could not encode its question/);
    assert.ok(lines.some((l) => /"msg":"a response could not be encoded"/.test(l)), 'the bug is in the log');
  } finally {
    client.close();
    await server.close('test over');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the process guard logs and counts a rejection nobody handled, and the process goes on', async () => {
  const script = `
    const { guardProcess } = require(${JSON.stringify(path.join(ROOT, 'dist/src/log/process-guard.js'))});
    const { createLogger } = require(${JSON.stringify(path.join(ROOT, 'dist/src/log/logger.js'))});
    const count = guardProcess(createLogger('info'));
    Promise.reject(new Error('nobody handles this'));
    setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
    setTimeout(() => { process.stdout.write('alive ' + count()); }, 100);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'alive 2');
  assert.match(r.stderr, /"msg":"unexpected unhandled rejection; the pool goes on[^"]*".*nobody handles this/);
  assert.match(r.stderr, /"msg":"unexpected exception; the pool goes on[^"]*".*thrown from a timer/);
});
