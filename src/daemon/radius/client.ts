/**
 * One RADIUS question over UDP (RFC 2865): an Access-Request sent from a
 * socket of its own, connected to the server (so the kernel drops datagrams
 * from anywhere else), sent again unchanged (same identifier, same Request
 * Authenticator) until an answer passes readReply or the time is up.
 * Whatever else arrives is ignored. The socket is closed and the secret
 * wiped on every way out: answer, timeout, abort, error.
 */
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import * as net from 'node:net';
import { readSecret } from '../../config/radius-secret';
import { RADIUS_PORT } from '../../config/radius-keys';
import type { Logger } from '../../log/logger';
import { Failure } from '../../model/failure';
import { type AccessQuestion, encodeRequest, readReply, type Reply } from './packet';

export interface RadiusServer {
  /** HOST or HOST:PORT as configured. */
  readonly server: string;
  readonly secret_file: string;
}

export interface AskOptions {
  /** The whole question, all transmissions and the name lookup included. */
  readonly timeoutMs: number;
  /** Transmissions after the first, spread evenly over the timeout. */
  readonly retransmits: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** No verified answer in time, and the last socket error if there was one (ECONNREFUSED from an ICMP port unreachable). */
export interface NoAnswer {
  readonly timedOut: true;
  readonly lastError?: string;
}

/** HOST and PORT of a configured server ("[::1]:1812", "radius.example.com"). */
export function hostPort(server: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(server);
  if (!m) throw new Failure('EINVAL', `radius server "${server}" is not HOST or HOST:PORT`);
  const port = m[2] === undefined ? RADIUS_PORT : Number(m[2]);
  if (port < 1 || port > 65535) throw new Failure('EINVAL', `radius server "${server}" has no valid port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export async function ask(server: RadiusServer, question: AccessQuestion, opts: AskOptions): Promise<Reply | NoAnswer> {
  const deadline = Date.now() + opts.timeoutMs;
  const { host, port } = hostPort(server.server);
  const secret = await readSecret(server.secret_file);
  try {
    const address = net.isIP(host) ? host : await lookup(host, deadline, opts.signal);
    if (address === undefined) return { timedOut: true, lastError: `no address for ${host} in time` };
    const request = encodeRequest(question, secret, crypto.randomInt(256));
    return await exchange(request, secret, { address, port, deadline, ...opts });
  } finally {
    secret.fill(0);
  }
}

/** The name's first address, or undefined when the lookup outlasts the deadline. A failed lookup is a Failure. */
async function lookup(host: string, deadline: number, signal: AbortSignal): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()))));
  try {
    const found = dns.promises.lookup(host).then(
      (r) => r.address,
      (e: NodeJS.ErrnoException) => {
        throw new Failure('EHOSTUNREACH', `cannot resolve RADIUS server ${host}: ${e.code ?? e.message}`);
      },
    );
    signal.throwIfAborted();
    return await Promise.race([found, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Exchange extends AskOptions {
  readonly address: string;
  readonly port: number;
  readonly deadline: number;
}

function exchange(request: Buffer, secret: Buffer, x: Exchange): Promise<Reply | NoAnswer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(x.address) ? 'udp6' : 'udp4');
    const timers: NodeJS.Timeout[] = [];
    let lastError: string | undefined;
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      x.signal.removeEventListener('abort', onAbort);
      socket.close();
      settle();
    };
    const onAbort = () => finish(() => reject(x.signal.reason));
    const send = () => {
      if (done) return;
      socket.send(request, (e) => {
        if (e) lastError = (e as NodeJS.ErrnoException).code ?? e.message;
      });
    };
    socket.on('error', (e: NodeJS.ErrnoException) => {
      lastError = e.code ?? e.message;
    });
    socket.on('message', (datagram) => {
      if (done) return;
      const reply = readReply(request, datagram, secret);
      if (typeof reply !== 'string') return finish(() => resolve(reply));
      x.log.debug('ignored a datagram from the RADIUS server', { server: `${x.address}:${x.port}`, why: reply });
    });
    if (x.signal.aborted) return onAbort();
    x.signal.addEventListener('abort', onAbort, { once: true });
    const left = Math.max(0, x.deadline - Date.now());
    timers.push(setTimeout(() => finish(() => resolve({ timedOut: true, lastError })), left));
    socket.connect(x.port, x.address, () => {
      const every = left / (x.retransmits + 1);
      send();
      for (let i = 1; i <= x.retransmits; i++) timers.push(setTimeout(send, every * i));
    });
  });
}
