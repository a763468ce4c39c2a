/**
 * The RADIUS client's packet handling, against a UDP server in the test
 * that answers what it is told to: garbage, another identifier, a wrong
 * authenticator or Message-Authenticator are ignored (the question waits
 * on, and times out if nothing better comes); a verified reply is taken,
 * its Reply-Message made one printable line; the secret file is checked.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ask, type NoAnswer } from '../../src/daemon/radius/client';
import { readReply, sanitize, type AccessQuestion, type Reply } from '../../src/daemon/radius/packet';
import { checkSecretFile } from '../../src/config/radius-secret';
import { createLogger } from '../../src/log/logger';
import { tempDir } from '../../harness/daemon';

const SECRET = 'unit-secret-9xYw';
const dir = tempDir('tlspool-radius-unit-');
const secretFile = path.join(dir, 'secret');
fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const question: AccessQuestion = { step: 'authn', remoteid: 'peer.example.test', localid: 'me.example.test', program: '/usr/bin/app', peerAddress: '192.0.2.1:443', nasIdentifier: 'tlspool' };
const logLines: string[] = [];
const log = createLogger('debug', (line) => logLines.push(line));

/** A reply to `request` signed with `secret`: code, attributes as [type, value]. */
function reply(request: Buffer, code: number, attrs: Array<[number, Buffer]> = [], secret = SECRET, id = request[1]!): Buffer {
  const body = Buffer.concat(attrs.map(([t, v]) => Buffer.concat([Buffer.from([t, v.length + 2]), v])));
  const head = Buffer.from([code, id, 0, 0]);
  head.writeUInt16BE(20 + body.length, 2);
  const auth = crypto.createHash('md5').update(head).update(request.subarray(4, 20)).update(body).update(secret).digest();
  return Buffer.concat([head, auth, body]);
}

/** A UDP server on 127.0.0.1 that answers each request with what `answers` returns (datagrams, in order). */
async function server(answers: (request: Buffer) => Buffer[]): Promise<{ address: string; requests: Buffer[]; close(): void }> {
  const s = dgram.createSocket('udp4');
  const requests: Buffer[] = [];
  s.on('message', (msg, rinfo) => {
    requests.push(msg);
    for (const d of answers(msg)) s.send(d, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { address: `127.0.0.1:${s.address().port}`, requests, close: () => s.close() };
}

const askOf = (address: string, timeoutMs = 1500, retransmits = 0): Promise<Reply | NoAnswer> =>
  ask({ server: address, secret_file: secretFile }, question, { timeoutMs, retransmits, signal: new AbortController().signal, log });

describe('RADIUS replies', () => {
  test('garbage, another identifier and a wrong secret are ignored; the verified reply after them is taken', async () => {
    const s = await server((req) => [
      Buffer.from('garbage'),
      crypto.randomBytes(300),
      reply(req, 2, [], SECRET, (req[1]! + 1) & 0xff),
      reply(req, 2, [], 'another secret'),
      reply(req, 3, [[18, Buffer.from('not\u0007you\r\nbye\u202e')]]),
    ]);
    try {
      const answer = await askOf(s.address);
      assert.deepEqual(answer, { code: 'Access-Reject', message: 'not you bye' });
      assert.equal(s.requests.length, 1);
    } finally {
      s.close();
    }
  });

  test('only wrong replies: no answer when the time is up, after the retransmits', async () => {
    const s = await server((req) => [reply(req, 2, [], 'wrong')]);
    try {
      const answer = await askOf(s.address, 900, 2);
      assert.deepEqual(answer, { timedOut: true, lastError: undefined });
      assert.equal(s.requests.length, 3, 'sent once and again twice');
      assert.ok(s.requests.every((r) => r.equals(s.requests[0]!)), 'a retransmission is the same packet');
    } finally {
      s.close();
    }
  });

  test('the request carries the names, the program and a Message-Authenticator, and no secret in clear', async () => {
    const s = await server((req) => [reply(req, 2)]);
    try {
      assert.deepEqual(await askOf(s.address), { code: 'Access-Accept' });
      const req = s.requests[0]!;
      for (const text of ['peer.example.test', 'me.example.test', '/usr/bin/app', '192.0.2.1:443', 'tlspool']) assert.ok(req.includes(text), text);
      assert.ok(!req.includes(SECRET));
      assert.ok(!req.includes('tlspool\0'), 'User-Password is hidden');
      assert.ok(req.includes(Buffer.from([80, 18])), 'Message-Authenticator');
    } finally {
      s.close();
    }
  });

  test('readReply: a bad Message-Authenticator, broken attributes or a short packet are refused', () => {
    const req = Buffer.alloc(20);
    req[0] = 1;
    req[1] = 7;
    crypto.randomFillSync(req, 4, 16);
    const key = Buffer.from(SECRET);
    assert.equal(typeof readReply(req, reply(req, 2, [[80, Buffer.alloc(16, 1)]]), key), 'string');
    assert.equal(typeof readReply(req, reply(req, 2, [[18, Buffer.alloc(0)]]).subarray(0, 19), key), 'string');
    const broken = reply(req, 2, [[18, Buffer.from('x')]]);
    broken[21] = 200; // an attribute length past the end
    assert.equal(typeof readReply(req, broken, key), 'string');
    assert.equal(typeof readReply(req, Buffer.alloc(5000), key), 'string');
    assert.deepEqual(readReply(req, reply(req, 11), key), { code: 'Access-Challenge' });
  });

  test('sanitize makes one printable line of at most 256 bytes', () => {
    assert.equal(sanitize('a\nb\tc\u0000d'), 'a b c d');
    assert.ok(Buffer.byteLength(sanitize('é'.repeat(400))) <= 256);
  });

  test('a secret file others can read, or an empty one, is refused without showing it', () => {
    const open = path.join(dir, 'open');
    fs.writeFileSync(open, `${SECRET}\n`, { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    assert.throws(() => checkSecretFile(open), (e: Error) => /chmod o-rwx/.test(e.message) && !e.message.includes(SECRET));
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '\n', { mode: 0o600 });
    assert.throws(() => checkSecretFile(empty), /first line is empty/);
    checkSecretFile(secretFile);
    assert.ok(!logLines.join('').includes(SECRET));
  });
});
