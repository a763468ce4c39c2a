/**
 * `tlspool daemon` under systemd, with systemd's own tools: the sockets come
 * from `systemd-socket-activate` (which listens first and starts the daemon
 * at the first connection, as systemd does), readiness goes to a
 * NOTIFY_SOCKET datagram socket this test owns (python3 receives there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlClient } from '../../src/client/control-client';
import { PoolClient } from '../../src/client/pool-client';
import { CLI, tempDir } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';

const ACTIVATE = 'systemd-socket-activate';

interface Activated {
  readonly dir: string;
  readonly socket: string;
  readonly control: string;
  readonly proc: ChildProcess;
  /** Everything on stderr: systemd-socket-activate's lines, then the daemon's log. */
  stderr(): string;
  readonly exited: Promise<number | null>;
}

/**
 * systemd-socket-activate listening on the pool socket (and the control
 * socket unless `poolOnly`) in a fresh directory; the daemon is started when
 * the first client connects. `mode` is given to the socket files before
 * that, as systemd's SocketMode= would.
 */
async function activate(opts: { fdnames?: string; poolOnly?: boolean; mode?: number; config?: string } = {}): Promise<Activated> {
  const dir = tempDir('tlspool-activate-');
  const socket = path.join(dir, 'tlspool.sock');
  const control = path.join(dir, 'tlspool-control.sock');
  const listen = opts.poolOnly ? ['-l', socket] : ['-l', socket, '-l', control];
  const names = opts.fdnames ?? (opts.poolOnly ? 'tlspool' : 'tlspool:control');
  const daemonArgs = [CLI, 'daemon', '--state-dir', path.join(dir, 'state')];
  if (opts.config !== undefined) {
    fs.writeFileSync(path.join(dir, 'tlspool.yaml'), opts.config);
    daemonArgs.push('--config', path.join(dir, 'tlspool.yaml'));
  }
  const env = ['-E', `HOME=${dir}`, '-E', `XDG_RUNTIME_DIR=${dir}`];
  const proc = spawn(ACTIVATE, [...listen, `--fdname=${names}`, ...env, process.execPath, ...daemonArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await waitFor(`${ACTIVATE} to listen`, () => (proc.exitCode !== null ? assert.fail(stderr) : stderr.includes(`Listening on ${opts.poolOnly ? socket : control}`)));
  if (opts.mode !== undefined) for (const s of opts.poolOnly ? [socket] : [socket, control]) fs.chmodSync(s, opts.mode);
  return { dir, socket, control, proc, stderr: () => stderr, exited };
}

async function finish(a: Activated): Promise<void> {
  if (a.proc.exitCode === null && a.proc.signalCode === null) {
    a.proc.kill('SIGKILL');
    await a.exited;
  }
  fs.rmSync(a.dir, { recursive: true, force: true });
}

test('a client that connects before the daemon runs is served; SIGTERM leaves the socket files', async () => {
  const a = await activate();
  try {
    assert.ok(!a.stderr().includes('"msg":"starting"'), 'no daemon yet: systemd-socket-activate only listens');
    const pool = PoolClient.connect(a.socket);
    try {
      const { identity } = await pool.ping();
      assert.match(identity, /tlspool/);
    } finally {
      pool.close();
    }
    const listening = JSON.parse(a.stderr().split('\n').find((l) => l.includes('"msg":"listening"'))!) as Record<string, unknown>;
    assert.equal(listening.socket, a.socket);
    assert.equal(listening.control_socket, a.control);
    assert.deepEqual(listening.from_systemd, ['socket', 'control_socket']);

    const control = await ControlClient.connect(a.control);
    try {
      const status = await control.call('status', {});
      assert.equal(status.socket, a.socket);
      assert.equal(status.controlSocket, a.control);
    } finally {
      control.close();
    }

    // The descriptors systemd passed are close-on-exec in the daemon: no child inherits them.
    for (const fd of [3, 4]) {
      const flags = /flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/${a.proc.pid}/fdinfo/${fd}`, 'utf8'))![1]!;
      assert.ok(parseInt(flags, 8) & 0o2000000, `fd ${fd} has O_CLOEXEC (flags ${flags})`);
    }

    a.proc.kill('SIGTERM');
    assert.equal(await a.exited, 0);
    assert.ok(fs.lstatSync(a.socket).isSocket(), 'the pool socket file is still there');
    assert.ok(fs.lstatSync(a.control).isSocket(), 'the control socket file is still there');
    assert.match(a.stderr(), /"msg":"stopped"/);
  } finally {
    await finish(a);
  }
});

test('with only the pool socket passed, the daemon makes the control socket beside it and removes only that', async () => {
  const a = await activate({ poolOnly: true });
  try {
    const pool = PoolClient.connect(a.socket);
    try {
      await pool.ping();
    } finally {
      pool.close();
    }
    const control = await ControlClient.connect(a.control);
    control.close();
    a.proc.kill('SIGTERM');
    assert.equal(await a.exited, 0);
    assert.ok(fs.existsSync(a.socket), "systemd's socket stays");
    assert.ok(!fs.existsSync(a.control), 'the control socket the daemon made is removed');
  } finally {
    await finish(a);
  }
});

/** Connect once to wake the daemon; it refuses to start, and exits 1 with its reason. */
async function refusedStart(a: Activated): Promise<string> {
  const pool = PoolClient.connect(a.socket);
  await assert.rejects(pool.ping());
  pool.close();
  assert.equal(await a.exited, 1);
  return a.stderr();
}

test('a world-writable socket is refused with a line that says why', async () => {
  const a = await activate({ mode: 0o666 });
  try {
    const stderr = await refusedStart(a);
    assert.match(stderr, /tlspool daemon: refusing the socket systemd passed as "tlspool" \(.*tlspool\.sock\): it is writable by everyone \(mode 0666\)/);
    assert.ok(fs.existsSync(a.socket), 'a refused socket is left where it is');
  } finally {
    await finish(a);
  }
});

test('a group-writable pool socket needs socket_group, and then that group', async () => {
  const gid = process.getgid!();
  const refused = await activate({ mode: 0o660, poolOnly: true });
  try {
    assert.match(await refusedStart(refused), /writable by group \d+ \(mode 0660\), which nothing allows; set SocketMode=0600, or SocketMode=0660 with SocketGroup=/);
  } finally {
    await finish(refused);
  }
  const other = await activate({ mode: 0o660, poolOnly: true, config: `socket_group: ${gid + 1}\n` });
  try {
    assert.match(await refusedStart(other), new RegExp(`writable by group ${gid} \\(mode 0660\\), not socket_group \\(gid ${gid + 1}\\)`));
  } finally {
    await finish(other);
  }
  const allowed = await activate({ mode: 0o660, poolOnly: true, config: `socket_group: ${gid}\n` });
  try {
    const pool = PoolClient.connect(allowed.socket);
    try {
      await pool.ping();
    } finally {
      pool.close();
    }
    allowed.proc.kill('SIGTERM');
    assert.equal(await allowed.exited, 0);
  } finally {
    await finish(allowed);
  }
});

test('a group-writable control socket is refused: it is for the daemon’s user only', async () => {
  const a = await activate({ mode: 0o660, config: `socket_group: ${process.getgid!()}\n` });
  try {
    assert.match(await refusedStart(a), /refusing the socket systemd passed as "control" .*: set SocketMode=0600/);
  } finally {
    await finish(a);
  }
});

test('sockets with names the daemon does not take are refused, naming the names it takes', async () => {
  const a = await activate({ fdnames: 'tlspool:ctl' });
  try {
    assert.match(await refusedStart(a), /systemd passed a socket named "ctl" \(fd 4\); tlspool daemon takes "tlspool" \(the pool socket\) and "control" \(the control socket\)/);
  } finally {
    await finish(a);
  }
});

/** python3 bound to a datagram socket at `address` (`@name`: abstract), printing each datagram as one JSON line. */
class NotifyReceiver {
  private out = '';
  private constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => (this.out += s));
  }

  static async open(address: string): Promise<NotifyReceiver> {
    const script = [
      'import socket, sys, json',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      'a = sys.argv[1]',
      "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
      "print('bound', flush=True)",
      'while True:',
      '    print(json.dumps(s.recv(65536).decode()), flush=True)',
    ].join('\n');
    const r = new NotifyReceiver(spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await waitFor('the receiver to bind', () => r.out.startsWith('bound\n'));
    return r;
  }

  messages(): string[] {
    return this.out.split('\n').slice(1, -1).map((l) => JSON.parse(l) as string);
  }

  close(): void {
    this.proc.kill('SIGKILL');
  }
}

for (const kind of ['abstract', 'path'] as const) {
  test(`sd_notify over a ${kind} NOTIFY_SOCKET: READY=1 once the pool answers, STATUS= with the count, STOPPING=1`, async () => {
    const dir = tempDir('tlspool-notify-');
    const address = kind === 'abstract' ? `@tlspool-test-notify-${process.pid}` : path.join(dir, 'notify.sock');
    const receiver = await NotifyReceiver.open(address);
    const socket = path.join(dir, 'tlspool.sock');
    const proc = spawn(process.execPath, [CLI, 'daemon', '--socket', socket, '--state-dir', path.join(dir, 'state')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: address },
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      const ready = await waitFor('READY=1', () => receiver.messages().find((m) => m.split('\n').includes('READY=1')));
      assert.deepEqual(ready.split('\n'), ['READY=1', `MAINPID=${proc.pid}`, 'STATUS=serving 0 clients, 0 TLS connections']);
      // Ready means answering: a ping right after READY=1 gets its answer.
      const pool = PoolClient.connect(socket);
      try {
        await pool.ping();
        await waitFor('STATUS= with one client', () => receiver.messages().includes('STATUS=serving 1 client, 0 TLS connections'));
      } finally {
        pool.close();
      }
      await waitFor('STATUS= with no client again', () => receiver.messages().at(-1) === 'STATUS=serving 0 clients, 0 TLS connections');
      proc.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.deepEqual(receiver.messages().at(-1)!.split('\n'), ['STOPPING=1', 'STATUS=stopping (SIGTERM)']);
    } finally {
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      receiver.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a NOTIFY_SOCKET nobody listens on costs a warning, not the daemon', async () => {
  const dir = tempDir('tlspool-notify-');
  const socket = path.join(dir, 'tlspool.sock');
  try {
    const proc = spawn(process.execPath, [CLI, 'daemon', '--socket', socket, '--state-dir', path.join(dir, 'state')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: path.join(dir, 'nobody.sock') },
    });
    let stderr = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    await waitFor('the warning', () => stderr.includes('"msg":"cannot notify the service manager"'));
    const pool = PoolClient.connect(socket);
    await pool.ping();
    pool.close();
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(stderr.split('\n').filter((l) => l.includes('cannot notify')).length, 1, 'said once');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
