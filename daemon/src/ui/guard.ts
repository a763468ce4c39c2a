/**
 * Who may talk to the browser UI's server. It listens on 127.0.0.1, but
 * every local process and every web page the user opens can reach that
 * port, so each request must also carry the random token (query parameter,
 * or the cookie the first page load sets), name our own Host (so a
 * DNS-rebound name cannot pass as us), and for the WebSocket come from our
 * own Origin.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_PARAM } from '../control/ws-protocol';

export const COOKIE_NAME = 'tlspool_token';

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

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export type Verdict = { ok: true; viaQuery: boolean } | { ok: false; reason: string };

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

  /** The Set-Cookie value that lets later requests (assets, the WebSocket) go without the query token. */
  get setCookie(): string {
    return `${COOKIE_NAME}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  check(req: IncomingMessage, url: URL, websocket: boolean): Verdict {
    if (!this.hosts.includes(req.headers.host ?? '')) {
      return { ok: false, reason: `Forbidden: this server answers only to Host ${this.hosts.join(' or ')}` };
    }
    if (websocket && !this.origins.includes(req.headers.origin ?? '')) {
      return { ok: false, reason: 'Forbidden: the WebSocket must come from the TLS Pool page itself' };
    }
    const viaQuery = sameSecret(url.searchParams.get(TOKEN_PARAM), this.token);
    if (viaQuery || sameSecret(cookie(req, COOKIE_NAME), this.token)) return { ok: true, viaQuery };
    return { ok: false, reason: 'Forbidden: open the URL that `tlspool ui --web` printed (it carries the access token)' };
  }
}
