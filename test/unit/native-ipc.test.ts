/**
 * The IPC half of the native addon, with real sockets: UNIX stream
 * connections with fd passing and peer credentials, backpressure, ends and
 * errors, fdInfo and socketpair. Every test checks that the process has as
 * many descriptors open afterwards as before.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  adoptFd,
  connectUnix,
  fdInfo,
  listenUnix,
  peerHungUp,
  socketpair,
  type NativeError,
  type OwnedFd,
  type UnixConnection,
} from '../../src/addon/ipc';

const IPC_MODULE = path.join(__dirname, '..', '..', 'src', 'addon', 'ipc.js');
const MiB = 1024 * 1024;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

// A watchdog only, so a broken build fails instead of hanging the run; no
// assertion depends on how long anything takes.
const WATCHDOG = { timeout: 120_000 };

let dir = '';
let sockets = 0;
const sockPath = (): string => path.join(dir, `s${++sockets}.sock`);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const openFdCount = (): number => fs.readdirSync('/proc/self/fd').length;
/** Open sockets: fd number → link text ('socket:[inode]'), which tells sockets apart even when numbers are reused. */
function openSockets(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory handle readdir used, closed since
    }
    if (link.startsWith('socket:')) out.set(fd, link);
  }
  return out;
}
/** The `flags:` field of /proc/self/fdinfo/<fd> (octal open flags). */
const fdFlags = (fd: number | string): number =>
  parseInt(/^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Turns of the loop until `pred` holds (a watchdog bounds the test). */
const waitTurns = async (pred: () => boolean): Promise<void> => {
  while (!pred()) await new Promise((r) => setImmediate(r));
};

/** A test that must leave exactly as many descriptors open as it found. */
function fdTest(name: string, fn: (t: TestContext) => Promise<void> | void): void {
  test(name, WATCHDOG, async (t) => {
    const start = openFdCount();
    await fn(t);
    assert.equal(openFdCount(), start, 'descriptors open after the test');
  });
}

/** Collects what a started connection delivers, and lets a test wait for it. */
class Reader {
  readonly chunks: Buffer[] = [];
  /** Each received fd with the stream offsets of the chunk it came with. */
  readonly fds: { fd: OwnedFd; start: number; end: number }[] = [];
  readonly ends: (NativeError | undefined)[] = [];
  bytes = 0;
  private wake: (() => void)[] = [];

  constructor(conn: UnixConnection, private readonly onChunk?: (chunk: Buffer) => void) {
    conn.start(
      (chunk, fds) => {
        for (const fd of fds) this.fds.push({ fd, start: this.bytes, end: this.bytes + chunk.length });
        this.bytes += chunk.length;
        this.chunks.push(chunk);
        this.onChunk?.(chunk);
        this.notify();
      },
      (error) => {
        this.ends.push(error);
        this.notify();
      },
    );
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves once `pred` holds, checked after every delivery. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.wake.push(r));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }
}

/** The bytes a reader should see next, as the sender queued them. */
class ExpectedStream {
  private readonly parts: Buffer[] = [];
  private head = 0; // how much of parts[0] has been seen

  push(part: Buffer): void {
    this.parts.push(part);
  }

  /** Whether `chunk` is exactly what comes next (and consumes it). */
  take(chunk: Buffer): boolean {
    let off = 0;
    while (off < chunk.length) {
      const part = this.parts[0];
      if (part === undefined) return false;
      const n = Math.min(part.length - this.head, chunk.length - off);
      if (!chunk.subarray(off, off + n).equals(part.subarray(this.head, this.head + n))) return false;
      off += n;
      this.head += n;
      if (this.head === part.length) {
        this.parts.shift();
        this.head = 0;
      }
    }
    return true;
  }
}

/** A connected server/client pair through a real listening socket. */
async function connectedPair(): Promise<{ server: UnixConnection; client: UnixConnection }> {
  const file = sockPath();
  let accepted!: (conn: UnixConnection) => void;
  const got = new Promise<UnixConnection>((r) => (accepted = r));
  const listener = listenUnix(file, 8, (conn) => accepted(conn));
  try {
    const client = connectUnix(file);
    return { server: await got, client };
  } finally {
    listener.close();
    fs.rmSync(file, { force: true });
  }
}

/** Length-prefixed framing, as the protocol above this does it. */
const frame = (payload: Buffer): Buffer => {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
};
function deframe(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= stream.length) {
    const len = stream.readUInt32BE(at);
    if (at + 4 + len > stream.length) break;
    out.push(stream.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  assert.equal(at, stream.length, 'no partial frame left over');
  return out;
}

function assertNativeError(error: unknown, code: string, syscall: string): NativeError {
  assert.ok(error instanceof Error, 'an Error');
  const e = error as NativeError;
  assert.equal(e.code, code);
  assert.equal(e.syscall, syscall);
  assert.equal(typeof e.errno, 'number');
  assert.ok(e.errno > 0);
  assert.ok(e.message.startsWith(`${syscall}`), e.message);
  return e;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlspool-ipc-'));
  // Node opens some descriptors of its own the first time a feature is used
  // (signal pipe for child processes, ...); do that here, outside the counts.
  spawnSync(process.execPath, ['-e', '0']);
  await new Promise<void>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1', () => {
        c.destroy();
        srv.close(() => resolve());
      });
    });
  });
  await new Promise<void>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => s.close(() => resolve()));
  });
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'pipe' });
    child.on('close', () => resolve());
  });
  const { server, client } = await connectedPair();
  server.close();
  client.close();
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

fdTest('a listener and connectUnix exchange bytes both ways', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  const atClient = new Reader(client);
  assert.equal(client.send(Buffer.from('hello, pool')), true);
  await atServer.until(() => atServer.bytes === 11);
  assert.equal(atServer.data().toString(), 'hello, pool');
  assert.equal(server.send(new Uint8Array(Buffer.from('hello, app'))), true);
  await atClient.until(() => atClient.bytes === 10);
  assert.equal(atClient.data().toString(), 'hello, app');
  assert.equal(server.queuedBytes, 0);
  assert.equal(client.queuedBytes, 0);
  server.close();
  client.close();
  assert.deepEqual(atServer.ends, []);
  assert.deepEqual(atClient.ends, []);
});

fdTest('both ends see the peer credentials of this process', async () => {
  const { server, client } = await connectedPair();
  const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
  assert.deepEqual({ ...server.peer }, me);
  assert.deepEqual({ ...client.peer }, me);
  assert.ok(Object.isFrozen(server.peer));
  server.close();
  client.close();
});

fdTest('listening, accepted and connected sockets are non-blocking and close-on-exec', async () => {
  const known = openSockets();
  const file = sockPath();
  let accepted!: (conn: UnixConnection) => void;
  const got = new Promise<UnixConnection>((r) => (accepted = r));
  const listener = listenUnix(file, 8, (conn) => accepted(conn));
  assert.equal(listener.path, file);
  const client = connectUnix(file);
  const server = await got;
  const fresh = [...openSockets()].filter(([, link]) => ![...known.values()].includes(link)).map(([fd]) => fd);
  assert.equal(fresh.length, 3, 'listener, client and server sockets');
  for (const fd of fresh) {
    assert.equal(fdFlags(fd) & O_NONBLOCK, O_NONBLOCK, `fd ${fd} non-blocking`);
    assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, `fd ${fd} close-on-exec`);
  }
  listener.close();
  listener.close(); // idempotent
  assert.ok(fs.existsSync(file), 'close() leaves the path alone');
  fs.rmSync(file);
  server.close();
  client.close();
});

fdTest('an fd sent with a message arrives as an OwnedFd for the same file', async () => {
  const file = path.join(dir, 'passed.txt');
  fs.writeFileSync(file, 'the contents of the passed file');
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  const mine = adoptFd(fs.openSync(file, 'r'));
  const lead = frame(Buffer.from('no fd with this one'));
  const carrier = frame(Buffer.from('this one carries the file'));
  assert.equal(client.send(lead), true);
  assert.equal(client.send(carrier, mine), true);
  // The addon sent a duplicate: ours is still open and still ours.
  assert.equal(mine.closed, false);
  assert.equal(fdInfo(mine.fd).isSocket, false);
  mine.close();
  await atServer.until(() => atServer.bytes === lead.length + carrier.length);
  assert.deepEqual(
    deframe(atServer.data()).map((b) => b.toString()),
    ['no fd with this one', 'this one carries the file'],
  );
  assert.equal(atServer.fds.length, 1);
  const got = atServer.fds[0]!;
  // It came with the read that holds the first byte of the message it was sent with.
  assert.ok(got.start <= lead.length && lead.length < got.end, `fd with bytes ${got.start}..${got.end}`);
  assert.equal(fdFlags(got.fd.fd) & O_CLOEXEC, O_CLOEXEC, 'received fds are close-on-exec');
  const buf = Buffer.alloc(100);
  const n = fs.readSync(got.fd.fd, buf, 0, buf.length, 0);
  assert.equal(buf.subarray(0, n).toString(), 'the contents of the passed file');
  got.fd.close();
  server.close();
  client.close();
});

fdTest('several fds in a row each arrive with their own message, and a passed socket works', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  const [near, far] = socketpair('stream');
  const offsets: number[] = [];
  let sent = 0;
  for (let i = 0; i < 5; i++) {
    const msg = frame(Buffer.from(`message ${i}`));
    offsets.push(sent);
    client.send(msg, near);
    sent += msg.length;
    const plain = frame(Buffer.alloc(100, i));
    client.send(plain);
    sent += plain.length;
  }
  near.close();
  await atServer.until(() => atServer.bytes === sent && atServer.fds.length === 5);
  atServer.fds.forEach((got, i) => {
    assert.ok(got.start <= offsets[i]! && offsets[i]! < got.end, `fd ${i} with its message`);
  });
  assert.equal(deframe(atServer.data()).length, 10);
  // Each received fd is the same socket: write through one, read at the other end.
  fs.writeSync(atServer.fds[3]!.fd.fd, 'through the passed socket');
  const buf = Buffer.alloc(64);
  const n = fs.readSync(far.fd, buf);
  assert.equal(buf.subarray(0, n).toString(), 'through the passed socket');
  for (const got of atServer.fds) got.fd.close();
  far.close();
  server.close();
  client.close();
});

fdTest('a message split over many sends reassembles', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  const message = frame(randomBytes(100_000));
  let at = 0;
  for (let size = 1; at < message.length; size = (size * 3) % 997 + 1) {
    client.send(message.subarray(at, at + size));
    at += size;
  }
  await atServer.until(() => atServer.bytes === message.length);
  const frames = deframe(atServer.data());
  assert.equal(frames.length, 1);
  assert.ok(frames[0]!.equals(message.subarray(4)));
  server.close();
  client.close();
});

fdTest('several messages in one send arrive whole and in order', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(i * 37));
  const all = Buffer.concat(payloads.map(frame));
  client.send(all);
  await atServer.until(() => atServer.bytes === all.length);
  const frames = deframe(atServer.data());
  assert.equal(frames.length, payloads.length);
  frames.forEach((f, i) => assert.ok(f.equals(payloads[i]!), `message ${i}`));
  server.close();
  client.close();
});

fdTest('32 MiB sent to a reader that starts late arrive intact', async () => {
  const { server, client } = await connectedPair();
  const total = 32 * MiB;
  const pattern = randomBytes(total);
  for (let at = 0; at < total; at += 256 * 1024) client.send(pattern.subarray(at, at + 256 * 1024));
  // The socket took what fits; the rest waits in the queue, not in the kernel.
  assert.ok(client.queuedBytes > total - 8 * MiB, `queued ${client.queuedBytes}`);
  await turns(10);
  assert.ok(client.queuedBytes > total - 8 * MiB, `queued ${client.queuedBytes}`);
  let got = 0;
  const atServer = new Reader(server, (chunk) => {
    assert.ok(chunk.equals(pattern.subarray(got, got + chunk.length)), `bytes at ${got}`);
    got += chunk.length;
  });
  await atServer.until(() => got === total);
  assert.equal(client.queuedBytes, 0);
  assert.deepEqual(atServer.ends, []);
  server.close();
  client.close();
});

fdTest('a client that does not read its answers stops the accepted side reading until it does', async () => {
  const { server, client } = await connectedPair();
  const requests = 3 * MiB;
  const pattern = randomBytes(requests);
  const record = 376; // reads of one request at most, as the pool reads its clients
  const factor = 2; // every request byte makes two answer bytes
  const expected = new ExpectedStream();
  let serverGot = 0;
  let maxQueued = 0;
  let reachedPause!: () => void;
  const pausing = new Promise<void>((r) => (reachedPause = r));
  let serverReads = 0;
  server.start(
    (chunk) => {
      serverReads++;
      assert.ok(chunk.equals(pattern.subarray(serverGot, serverGot + chunk.length)), `request bytes at ${serverGot}`);
      serverGot += chunk.length;
      for (let i = 0; i < factor; i++) {
        server.send(chunk);
        expected.push(chunk);
      }
      maxQueued = Math.max(maxQueued, server.queuedBytes);
      if (server.queuedBytes > 64 * 1024) reachedPause();
    },
    () => assert.fail('the server side ended'),
    record,
  );
  client.send(pattern);
  await pausing;
  // Plenty of turns for a server that went on reading to show it.
  await turns(50);
  assert.ok(serverGot < requests / 4, `the server stopped reading (read ${serverGot} of ${requests})`);
  assert.ok(client.queuedBytes > 0, 'requests wait in the client queue');
  // At most one read's answers past the mark before reading stops.
  const bound = 64 * 1024 + factor * record;
  assert.ok(maxQueued <= bound, `server queue peaked at ${maxQueued}`);

  // Now the client reads its answers; the server resumes reading below 16 KiB.
  let clientGot = 0;
  const atClient = new Reader(client, (chunk) => {
    assert.ok(expected.take(chunk), `answer bytes at ${clientGot}`);
    clientGot += chunk.length;
  });
  await atClient.until(() => clientGot === requests * factor);
  assert.equal(serverGot, requests);
  assert.ok(maxQueued <= bound, `server queue peaked at ${maxQueued}`);
  assert.ok(serverReads >= requests / record);
  assert.equal(server.queuedBytes, 0);
  assert.equal(client.queuedBytes, 0);
  assert.deepEqual(atClient.ends, []);
  server.close();
  client.close();
});

fdTest('pauseReading holds reading, from inside onData too, until resumeReading', async () => {
  const { server, client } = await connectedPair();
  let paused = false;
  const atServer = new Reader(server, () => {
    if (!paused) {
      paused = true;
      server.pauseReading();
    }
  });
  client.send(Buffer.from('first'));
  await atServer.until(() => atServer.bytes === 5);
  client.send(Buffer.from('second'));
  await turns(50);
  assert.equal(atServer.bytes, 5, 'nothing read while paused');
  server.resumeReading();
  await atServer.until(() => atServer.bytes === 11);
  assert.equal(atServer.data().toString(), 'firstsecond');
  server.close();
  client.close();
});

fdTest('whenDrained calls back once, from the loop, when queued output has all been read', async () => {
  const { server, client } = await connectedPair();
  new Reader(server);
  // Nothing queued: called on a later turn, not inside the call.
  let calls = 0;
  server.whenDrained(() => calls++);
  assert.equal(calls, 0);
  await turns(5);
  assert.equal(calls, 1);
  await turns(5);
  assert.equal(calls, 1, 'once per whenDrained');

  const total = 16 * MiB;
  server.send(randomBytes(total));
  assert.ok(server.queuedBytes > 0, 'more than the socket takes at once');
  let queuedAtDrain = -1;
  server.whenDrained(() => (queuedAtDrain = server.queuedBytes));
  await turns(20);
  assert.equal(queuedAtDrain, -1, 'not while the peer does not read');
  let got = 0;
  const atClient = new Reader(client, (chunk) => (got += chunk.length));
  await atClient.until(() => got === total);
  await waitTurns(() => queuedAtDrain !== -1);
  assert.equal(queuedAtDrain, 0);

  // Never after close().
  server.send(randomBytes(8 * MiB));
  let afterClose = 0;
  server.whenDrained(() => afterClose++);
  server.close();
  await turns(20);
  assert.equal(afterClose, 0);
  client.close();
});

fdTest('a connecting side goes on reading however much of its own output waits', async () => {
  // If both ends stopped reading while their output waits, a client that
  // pipelines requests and a server whose answers pile up would wait for
  // each other forever: only the accepted side pauses.
  const { server, client } = await connectedPair();
  const total = 16 * MiB;
  client.send(randomBytes(total)); // the server does not read: nearly all of it stays queued
  assert.ok(client.queuedBytes > 8 * MiB, `queued ${client.queuedBytes}`);
  let clientGot = 0;
  const atClient = new Reader(client, (chunk) => (clientGot += chunk.length));
  const answers = 4 * MiB;
  server.send(randomBytes(answers));
  await atClient.until(() => clientGot === answers);
  assert.ok(client.queuedBytes > 8 * MiB, 'the client still had its output queued while it read');
  server.close();
  client.close();
});

fdTest('the peer closing ends the stream once, without an error', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  client.send(Buffer.from('last words'));
  client.close();
  await atServer.until(() => atServer.ends.length > 0);
  assert.equal(atServer.data().toString(), 'last words');
  await turns(10);
  assert.deepEqual(atServer.ends, [undefined]);
  server.close();
});

fdTest('a peer that closes with unread data makes the stream end with ECONNRESET', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  server.send(Buffer.from('never read'));
  client.close(); // with 'never read' still in its receive queue
  await atServer.until(() => atServer.ends.length > 0);
  await turns(10);
  assert.equal(atServer.ends.length, 1);
  const e = assertNativeError(atServer.ends[0], 'ECONNRESET', 'recvmsg');
  assert.match(e.message, /^recvmsg: Connection reset by peer$/);
  server.close();
});

fdTest('sending to a closed peer drops the output and ends once with EPIPE', async () => {
  const { server, client } = await connectedPair();
  const atServer = new Reader(server);
  client.close();
  const ok = server.send(Buffer.alloc(1000, 1));
  assert.equal(ok, false, 'the data was dropped');
  assert.equal(atServer.ends.length, 0, 'not called back from inside send()');
  assert.equal(server.queuedBytes, 0);
  await atServer.until(() => atServer.ends.length > 0);
  await turns(10);
  assert.equal(atServer.ends.length, 1);
  assertNativeError(atServer.ends[0], 'EPIPE', 'sendmsg');
  assert.equal(server.send(Buffer.from('more')), false);
  server.close();
});

fdTest('a send that fails before start() is reported once start() is called', async () => {
  const { server, client } = await connectedPair();
  client.close();
  assert.equal(server.send(Buffer.from('nobody there')), false);
  const atServer = new Reader(server);
  await atServer.until(() => atServer.ends.length > 0);
  await turns(10);
  assert.equal(atServer.ends.length, 1);
  assertNativeError(atServer.ends[0], 'EPIPE', 'sendmsg');
  server.close();
});

fdTest('close() stops all callbacks, even with data and an end still pending', async () => {
  const { server, client } = await connectedPair();
  let serverCalls = 0;
  server.start(
    () => {
      serverCalls++;
      server.close(); // from inside its own callback
      server.close(); // idempotent
    },
    () => serverCalls++,
  );
  const atClient = new Reader(client);
  client.send(randomBytes(512 * 1024)); // several reads' worth
  // The client hears of the server's close; by then the server had its chance.
  await atClient.until(() => atClient.ends.length > 0);
  await turns(10);
  assert.equal(serverCalls, 1);
  assert.equal(server.send(Buffer.from('x')), false);
  assert.equal(server.queuedBytes, 0);
  // The server closed with unread data: reset (or a failed write, whichever the client met first).
  assert.equal(atClient.ends.length, 1);
  assert.ok(['ECONNRESET', 'EPIPE'].includes(atClient.ends[0]!.code), atClient.ends[0]!.code);
  client.close();
});

fdTest('close() right after start() delivers nothing', async () => {
  const { server, client } = await connectedPair();
  client.send(Buffer.from('pending'));
  client.close();
  let calls = 0;
  server.start(
    () => calls++,
    () => calls++,
  );
  server.close();
  server.start(
    () => calls++,
    () => calls++,
  ); // after close(): nothing to start
  await turns(20);
  assert.equal(calls, 0);
});

fdTest('start() twice throws; bad arguments are TypeErrors', async () => {
  const { server, client } = await connectedPair();
  server.start(
    () => {},
    () => {},
  );
  assert.throws(
    () =>
      server.start(
        () => {},
        () => {},
      ),
    /already started/,
  );
  assert.throws(() => server.send('text' as unknown as Uint8Array), TypeError);
  assert.throws(() => server.send(Buffer.from('x'), 3 as unknown as OwnedFd), TypeError);
  const [a, b] = socketpair('stream');
  assert.throws(() => server.send(Buffer.alloc(0), a), TypeError, 'an fd needs a byte to travel with');
  assert.equal(server.send(Buffer.alloc(0)), true);
  a.close();
  b.close();
  server.close();
  client.close();
});

fdTest('promise jobs run after each callback into JavaScript', async () => {
  const { server, client } = await connectedPair();
  const order: string[] = [];
  let got = 0;
  const total = 4 * 64 * 1024;
  let left = total;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  server.start(
    (chunk) => {
      const n = ++got;
      order.push(`data ${n}`);
      void Promise.resolve().then(() => order.push(`job ${n}`));
      process.nextTick(() => order.push(`tick ${n}`));
      if ((left -= chunk.length) === 0) setImmediate(done);
    },
    () => {},
  );
  client.send(randomBytes(total));
  await finished;
  const expected = Array.from({ length: got }, (_, i) => [`data ${i + 1}`, `tick ${i + 1}`, `job ${i + 1}`]).flat();
  assert.deepEqual(order, expected);
  server.close();
  client.close();
});

fdTest('a listener accepts every waiting client in one go, and none after close()', async () => {
  const file = sockPath();
  const conns: UnixConnection[] = [];
  let wake!: () => void;
  let woken = new Promise<void>((r) => (wake = r));
  const listener = listenUnix(file, 64, (conn) => {
    conns.push(conn);
    wake();
  });
  const clients = Array.from({ length: 20 }, () => connectUnix(file));
  while (conns.length < 20) {
    await woken;
    woken = new Promise<void>((r) => (wake = r));
  }
  assert.equal(conns.length, 20);
  for (const c of conns) assert.equal(c.peer.pid, process.pid);
  // Close from inside the callback: later clients are not handed over.
  let later = 0;
  const listener2File = sockPath();
  const listener2 = listenUnix(listener2File, 8, (conn) => {
    later++;
    conn.close();
    listener2.close();
  });
  const waiting = Array.from({ length: 3 }, () => connectUnix(listener2File));
  const atFirst = new Reader(waiting[0]!);
  await atFirst.until(() => atFirst.ends.length > 0); // the accepted one was closed
  await turns(10);
  assert.equal(later, 1);
  listener.close();
  assert.throws(() => connectUnix(file), (e) => !!assertNativeError(e, 'ECONNREFUSED', 'connect'));
  for (const c of [...conns, ...clients, ...waiting]) c.close();
  fs.rmSync(file);
  fs.rmSync(listener2File);
});

fdTest('errors carry code, errno and syscall', async () => {
  const missing = path.join(dir, 'missing.sock');
  const e1 = assertNativeError(
    (() => {
      try {
        connectUnix(missing);
      } catch (e) {
        return e;
      }
    })(),
    'ENOENT',
    'connect',
  );
  assert.equal(e1.errno, os.constants.errno.ENOENT);
  assert.equal(e1.message, `connect(${missing}): No such file or directory`);

  const file = sockPath();
  const listener = listenUnix(file, 8, (c) => c.close());
  assert.throws(() => listenUnix(file, 8, () => {}), (e) => !!assertNativeError(e, 'EADDRINUSE', 'bind'));
  listener.close();
  // The socket file is still there with nobody listening: refused.
  assert.throws(() => connectUnix(file), (e) => !!assertNativeError(e, 'ECONNREFUSED', 'connect'));
  fs.rmSync(file);

  const long = path.join(dir, 'x'.repeat(120));
  assert.throws(
    () => connectUnix(long),
    (e) => /holds at most 107/.test(assertNativeError(e, 'ENAMETOOLONG', 'connect').message),
  );
  assert.throws(() => listenUnix(long, 8, () => {}), (e) => !!assertNativeError(e, 'ENAMETOOLONG', 'bind'));
  assert.throws(() => connectUnix(''), (e) => !!assertNativeError(e, 'EINVAL', 'connect'));
  assert.throws(() => listenUnix(path.join(dir, 'no-such-dir', 's.sock'), 8, () => {}), (e) =>
    !!assertNativeError(e, 'ENOENT', 'bind'),
  );
  assert.throws(() => listenUnix(sockPath(), -1, () => {}), TypeError);
});

fdTest('native classes cannot be constructed from JavaScript', async () => {
  const { server, client } = await connectedPair();
  const [a, b] = socketpair('stream');
  type Ctor = new () => unknown;
  assert.throws(() => new ((server as object).constructor as Ctor)(), TypeError);
  assert.throws(() => new ((a as object).constructor as Ctor)(), TypeError);
  const file = sockPath();
  const listener = listenUnix(file, 1, () => {});
  assert.throws(() => new ((listener as object).constructor as Ctor)(), TypeError);
  listener.close();
  fs.rmSync(file);
  a.close();
  b.close();
  server.close();
  client.close();
});

fdTest('OwnedFd: close, release and dup', () => {
  const file = path.join(dir, 'owned.txt');
  fs.writeFileSync(file, 'owned');
  const owned = adoptFd(fs.openSync(file, 'r'));
  const n = owned.fd;
  assert.equal(owned.closed, false);

  const copy = owned.dup();
  assert.notEqual(copy.fd, n);
  assert.equal(fs.fstatSync(copy.fd).ino, fs.fstatSync(n).ino);
  assert.equal(fdFlags(copy.fd) & O_CLOEXEC, O_CLOEXEC);

  owned.close();
  owned.close(); // a second call does nothing
  assert.equal(owned.closed, true);
  assert.equal(owned.fd, -1);
  assert.throws(() => owned.dup(), (e) => !!assertNativeError(e, 'EBADF', 'fcntl'));
  assert.throws(() => owned.release(), (e) => !!assertNativeError(e, 'EBADF', 'release'));

  const raw = copy.release();
  assert.equal(copy.closed, true);
  assert.equal(copy.fd, -1);
  assert.equal(fdInfo(raw).isSocket, false, 'released, not closed');
  fs.closeSync(raw);

  assert.throws(() => adoptFd(1_000_000), (e) => !!assertNativeError(e, 'EBADF', 'fcntl'));
  assert.throws(() => adoptFd(-1), TypeError);
  assert.throws(() => adoptFd(1.5), TypeError);
});

fdTest('fdInfo: files, TCP, UDP and errors', async () => {
  const file = path.join(dir, 'plain.txt');
  fs.writeFileSync(file, '');
  const plain = fs.openSync(file, 'r');
  assert.deepEqual({ ...fdInfo(plain) }, { isSocket: false });
  fs.closeSync(plain);

  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const handleFd = (s: object): number => (s as { _handle: { fd: number } })._handle.fd;
  assert.deepEqual(
    { ...fdInfo(handleFd(server)) },
    { isSocket: true, type: 'stream', family: 2, protocol: 6, connected: false },
  );
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const tcp = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => tcp.once('connect', r));
  assert.deepEqual(
    { ...fdInfo(handleFd(tcp)) },
    { isSocket: true, type: 'stream', family: 2, protocol: 6, connected: true, peerAddress: `127.0.0.1:${(server.address() as net.AddressInfo).port}` },
  );
  const peer = await accepted;
  await Promise.all([
    new Promise((r) => tcp.once('close', r)),
    new Promise((r) => peer.once('close', r)),
    new Promise((r) => server.close(r)),
    tcp.destroy(),
    peer.destroy(),
  ]);

  const udpFd = (s: dgram.Socket): number => {
    const state = Object.getOwnPropertySymbols(s).find((sym) => String(sym) === 'Symbol(state symbol)')!;
    return (s as unknown as Record<symbol, { handle: { fd: number } }>)[state]!.handle.fd;
  };
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  assert.deepEqual({ ...fdInfo(udpFd(udp)) }, { isSocket: true, type: 'dgram', family: 2, protocol: 17, connected: false });
  await new Promise<void>((r) => udp.connect(9, '127.0.0.1', r));
  assert.equal(fdInfo(udpFd(udp)).connected, true);
  await new Promise<void>((r) => udp.close(r));

  assert.throws(() => fdInfo(1_000_000), (e) => !!assertNativeError(e, 'EBADF', 'fstat'));
  assert.throws(() => fdInfo(-1), (e) => !!assertNativeError(e, 'EBADF', 'fstat'));
  assert.throws(() => fdInfo('0' as unknown as number), TypeError);
});

fdTest('peerHungUp: false while the peer is there (data queued or not), true once it shut down or closed; EBADF for a closed fd', async () => {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const handleFd = (s: object): number => (s as { _handle: { fd: number } })._handle.fd;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const tcp = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((r) => tcp.once('connect', r));
  const peer = await accepted;
  // Our side stops reading, so what the peer sends stays queued, as it does under a waiting handshake.
  tcp.pause();
  assert.equal(peerHungUp(handleFd(tcp)), false);
  peer.write('queued, unread');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(peerHungUp(handleFd(tcp)), false, 'queued bytes are not a hang-up');
  peer.end();
  const deadline = Date.now() + 5000;
  while (!peerHungUp(handleFd(tcp))) {
    assert.ok(Date.now() < deadline, 'the hang-up is seen');
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all([new Promise((r) => tcp.once('close', r)), new Promise((r) => server.close(r)), tcp.destroy(), peer.destroy()]);
  const [a, b] = socketpair('stream');
  assert.equal(peerHungUp(a.fd), false);
  b.close();
  assert.equal(peerHungUp(a.fd), true, 'a closed socketpair end');
  const n = a.fd;
  a.close();
  assert.throws(() => peerHungUp(n), (e) => !!assertNativeError(e, 'EBADF', 'poll'));
});

fdTest('socketpair: each type, connected, close-on-exec and blocking', () => {
  for (const type of ['stream', 'dgram', 'seqpacket'] as const) {
    const [a, b] = socketpair(type);
    for (const end of [a, b]) {
      assert.deepEqual({ ...fdInfo(end.fd) }, { isSocket: true, type, family: 1, protocol: 0, connected: true });
      assert.equal(fdFlags(end.fd) & O_CLOEXEC, O_CLOEXEC);
      assert.equal(fdFlags(end.fd) & O_NONBLOCK, 0, 'left blocking for whoever takes it');
    }
    fs.writeSync(a.fd, `over ${type}`);
    const buf = Buffer.alloc(32);
    const n = fs.readSync(b.fd, buf);
    assert.equal(buf.subarray(0, n).toString(), `over ${type}`);
    a.close();
    b.close();
  }
  assert.throws(() => socketpair('raw' as 'stream'), TypeError);
});

fdTest('the garbage collector closes what JavaScript dropped, but not a started connection', async () => {
  const start = openFdCount();
  const file = path.join(dir, 'dropped.txt');
  fs.writeFileSync(file, '');
  (() => {
    for (let i = 0; i < 10; i++) adoptFd(fs.openSync(file, 'r'));
    socketpair('dgram');
  })();
  assert.equal(openFdCount(), start + 12);
  for (let i = 0; i < 100 && openFdCount() > start; i++) {
    gc();
    await turns(1); // finalizers run from the loop
  }
  assert.equal(openFdCount(), start, 'dropped OwnedFds closed by their finalizers');

  // A started connection stays alive with no JavaScript reference to it.
  let clientRef: UnixConnection | undefined;
  let gotData!: (text: string) => void;
  const received = new Promise<string>((r) => (gotData = r));
  let gotEnd!: () => void;
  const ended = new Promise<void>((r) => (gotEnd = r));
  await (async () => {
    const { server, client } = await connectedPair();
    clientRef = client;
    server.start(
      (chunk) => gotData(chunk.toString()),
      () => gotEnd(),
    );
  })();
  for (let i = 0; i < 5; i++) {
    gc();
    await turns(1);
  }
  const atClient = new Reader(clientRef!);
  clientRef!.send(Buffer.from('still there?'));
  assert.equal(await received, 'still there?');
  clientRef!.close();
  await ended;
  // Ended and unreferenced: now the collector may close its socket.
  clientRef = undefined;
  for (let i = 0; i < 100 && openFdCount() > start; i++) {
    gc();
    await turns(1);
  }
  assert.equal(openFdCount(), start, 'the ended connection was collected');
  assert.deepEqual(atClient.ends, []);
});

/** Runs `code` in a child node (with `ulimit -n limit` when given); returns its stdout. */
function runChild(code: string, limit?: number): string {
  const prelude = `const ipc = require(${JSON.stringify(IPC_MODULE)}); const fs = require('fs'); const DIR = ${JSON.stringify(dir)};\n`;
  const r =
    limit === undefined
      ? spawnSync(process.execPath, ['-e', prelude + code], { encoding: 'utf8' })
      : spawnSync('/bin/sh', ['-c', `ulimit -n ${limit} && exec "$0" -e "$1"`, process.execPath, prelude + code], {
          encoding: 'utf8',
        });
  assert.equal(r.status, 0, `child failed:\n${r.stderr}`);
  return r.stdout;
}

fdTest('out of descriptors, the listener pauses, says why each time, and later accepts the waiting client', () => {
  const out = runChild(
    `
    const file = DIR + '/emfile.sock';
    let accepted = 0;
    const errors = [];
    const listener = ipc.listenUnix(file, 8, (conn) => {
      accepted++;
      conn.close();
      listener.close();
      client.close();
      console.log('accepted');
    }, (e) => errors.push(e.code + ' ' + e.syscall + ' ' + e.retryMs));
    const client = ipc.connectUnix(file); // waits in the backlog until the loop runs
    const fillers = [];
    try { for (;;) fillers.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    // The first accept4 meets EMFILE; free the descriptors after a few of its
    // pauses (100 ms each: retried, not spun on).
    setTimeout(() => {
      console.log('accepted before freeing: ' + accepted);
      console.log('told: ' + errors[0] + (errors.length >= 2 && errors.length < 20 ? ', again after each pause' : ' ' + errors.length + ' times'));
      for (const fd of fillers) fs.closeSync(fd);
    }, 450);
    process.on('exit', () => fs.rmSync(file, { force: true }));
    `,
    64,
  );
  assert.equal(out, 'accepted before freeing: 0\ntold: EMFILE accept 100, again after each pause\naccepted\n');
});

fdTest('a descriptor that cannot be received for want of a free one is reported lost, with its bytes', () => {
  const out = runChild(
    `
    const file = DIR + '/ctrunc.sock';
    const listener = ipc.listenUnix(file, 8, (server) => {
      listener.close();
      fs.rmSync(file);
      let n = 0;
      server.start((chunk, fds, lost) => {
        console.log(chunk.toString() + ': ' + fds.length + ' fds, lost ' + lost);
        for (const fd of fds) fd.close();
        if (++n === 1) {
          for (const fd of fillers.splice(0)) fs.closeSync(fd);
          client.send(Buffer.from('second'), pair[0]);
        } else {
          server.close();
          client.close();
          pair.forEach((p) => p.close());
        }
      }, () => {});
      // The first message is already on its way; no descriptor is free to receive its fd with.
      try { for (;;) fillers.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    });
    const fillers = [];
    const pair = ipc.socketpair('stream');
    const client = ipc.connectUnix(file);
    client.send(Buffer.from('first'), pair[0]);
    `,
    64,
  );
  assert.equal(out, 'first: 0 fds, lost true\nsecond: 1 fds, lost false\n');
});

fdTest('a callback that throws becomes an uncaught exception; the connection carries on', () => {
  const out = runChild(`
    process.on('uncaughtException', (e) => console.log('uncaught: ' + e.message));
    const file = DIR + '/throws.sock';
    const listener = ipc.listenUnix(file, 8, (server) => {
      listener.close();
      fs.rmSync(file);
      let n = 0;
      server.start((chunk) => {
        n++;
        console.log('data ' + n);
        if (n === 1) { client.send(Buffer.from('second')); throw new Error('thrown from onData'); }
        server.close();
        client.close();
      }, () => {});
    });
    const client = ipc.connectUnix(file);
    client.send(Buffer.from('first'));
  `);
  assert.equal(out, 'data 1\nuncaught: thrown from onData\ndata 2\n');
});

fdTest('a worker terminated in the middle of traffic takes its sockets with it', async () => {
  // Busy connections in a worker; terminating it stops JavaScript under the
  // addon's feet, and the environment teardown must close every socket.
  const code = `
    const { parentPort } = require('node:worker_threads');
    const ipc = require(${JSON.stringify(IPC_MODULE)});
    const file = ${JSON.stringify(path.join(dir, 'worker.sock'))};
    const listener = ipc.listenUnix(file, 16, (conn) => conn.start((d) => conn.send(d), () => conn.close()));
    for (let i = 0; i < 8; i++) {
      const c = ipc.connectUnix(file);
      let echoed = 0;
      c.start((d) => { c.send(d); if ((echoed += d.length) > 4 << 20) parentPort.postMessage('busy'); }, () => {});
      c.send(Buffer.alloc(256 * 1024, i));
    }
    require('node:fs').rmSync(file);
  `;
  const worker = new Worker(code, { eval: true });
  await new Promise((r) => worker.once('message', r));
  const exited = new Promise<number>((r) => worker.once('exit', r));
  await worker.terminate();
  assert.equal(await exited, 1);
});

fdTest('more fds in one message than the control buffer holds: data intact, the rest lost', async (t) => {
  if (spawnSync('python3', ['--version']).status !== 0) {
    t.skip('python3 is not installed');
    return;
  }
  const file = sockPath();
  let accepted!: (conn: UnixConnection) => void;
  const got = new Promise<UnixConnection>((r) => (accepted = r));
  const listener = listenUnix(file, 8, (conn) => accepted(conn));
  // Python can send many descriptors in one sendmsg; Node cannot.
  const py = spawn('python3', [
    '-c',
    `import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(20)]
socket.send_fds(s, [b'twenty fds with this'], fds)
s.recv(1)
`,
    file,
  ]);
  const exited = new Promise((r) => py.once('close', r));
  const server = await got;
  listener.close();
  fs.rmSync(file);
  const atServer = new Reader(server);
  await atServer.until(() => atServer.bytes === 20);
  assert.equal(atServer.data().toString(), 'twenty fds with this');
  assert.ok(atServer.fds.length > 0 && atServer.fds.length < 20, `${atServer.fds.length} fds arrived`);
  for (const f of atServer.fds) f.fd.close();
  server.close(); // python's recv returns
  await exited;
});
