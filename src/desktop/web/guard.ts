/**
 * Who may talk to the browser UI's server. It listens on 127.0.0.1, but
 * every local process and every web page the user opens can reach that
 * port. Every request must name our own Host (so a DNS-rebound name cannot
 * pass as us). The files (the built renderer, the same for everyone, no
 * secret and no state in them) need nothing more; the WebSocket, which is
 * where the state and the PIN prompts and approvals are, must also come
 * from our own Origin and carry the random token in its URL.
 *
 * There is no cookie: cookies are not scoped by port, so one set here would
 * go to every other server on 127.0.0.1. The page keeps the token in its
 * tab's sessionStorage instead, which belongs to this origin, port included.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_PARAM } from '../../contract/ws';

/** 256 random bits, URL-safe. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameSecret(given: string | undefined | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export class Guard {
  constructor(
    readonly token: string,
    private readonly port: number,
  ) {}

  get hosts(): string[] {
    return [`127.0.0.1:${this.port}`, `localhost:${this.port}`];
  }

  get origins(): string[] {
    return this.hosts.map((h) => `http://${h}`);
  }

  /** A request for one of the files: only the Host matters. */
  checkFile(req: IncomingMessage): Verdict {
    if (!this.hosts.includes(req.headers.host ?? '')) {
      return { ok: false, reason: `Forbidden: this server answers only to Host ${this.hosts.join(' or ')}` };
    }
    return { ok: true };
  }

  /** The WebSocket handshake: our Host, our Origin, and the token in the URL. */
  checkSocket(req: IncomingMessage, url: URL): Verdict {
    const host = this.checkFile(req);
    if (!host.ok) return host;
    if (!this.origins.includes(req.headers.origin ?? '')) {
      return { ok: false, reason: 'Forbidden: the WebSocket must come from the TLS Pool page itself' };
    }
    if (sameSecret(url.searchParams.get(TOKEN_PARAM), this.token)) return { ok: true };
    return { ok: false, reason: 'Forbidden: open the URL that `tlspool ui --web` printed (it carries the access token)' };
  }
}
