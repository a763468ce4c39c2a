/**
 * CRLs fetched from the distribution points certificates name: over HTTP
 * only, each fetch bounded in time and size, one fetch per URL at a time,
 * and kept until the CRL's nextUpdate (as the checker found it) so that a
 * handshake seldom waits for one. A failed fetch is remembered for a while
 * (revocation.retry_after), so a dead server costs one timeout per period,
 * not one per handshake.
 */
import * as http from 'node:http';

export interface FetchLimits {
  /** Seconds one fetch may take. */
  readonly fetch_timeout: number;
  /** Bytes the CRL may have. */
  readonly max_crl_size: number;
  /** Seconds a failure is remembered. */
  readonly retry_after: number;
}

export type Fetched = { ok: true; crl: Buffer; cached: boolean } | { ok: false; why: string; cached: boolean };

/** Distinct URLs kept at most (the oldest is dropped first). */
const MAX_ENTRIES = 256;

interface Entry {
  readonly crl: Buffer;
  readonly until: number;
}

export class CrlCache {
  private readonly entries = new Map<string, Entry>();
  private readonly failures = new Map<string, { why: string; until: number }>();
  private readonly inflight = new Map<string, Promise<Fetched>>();

  constructor(private readonly limits: () => FetchLimits) {}

  /** The CRL at `url`: from the cache unless `fresh`, else fetched (joining a fetch in progress). */
  get(url: string, fresh: boolean): Promise<Fetched> {
    const now = Date.now();
    const hit = this.entries.get(url);
    if (!fresh && hit && hit.until > now) return Promise.resolve({ ok: true, crl: hit.crl, cached: true });
    const failed = this.failures.get(url);
    if (!fresh && failed && failed.until > now) return Promise.resolve({ ok: false, why: failed.why, cached: true });
    let p = this.inflight.get(url);
    if (!p) {
      const limits = this.limits();
      p = fetchCrl(url, limits).then((r) => {
        this.inflight.delete(url);
        if (r.ok) this.failures.delete(url);
        else this.fail(url, r.why, limits.retry_after);
        return r;
      });
      this.inflight.set(url, p);
    }
    return p;
  }

  /** Keep a CRL that verified until `until` (its nextUpdate). */
  remember(url: string, crl: Buffer, until: Date): void {
    this.entries.delete(url);
    if (until.getTime() <= Date.now()) return;
    this.entries.set(url, { crl, until: until.getTime() });
    trim(this.entries);
  }

  /** The CRL at `url` is unusable (bad signature, out of date): drop it and remember why. */
  reject(url: string, why: string): void {
    this.entries.delete(url);
    this.fail(url, why, this.limits().retry_after);
  }

  /** Forget everything (the configuration was reloaded). */
  clear(): void {
    this.entries.clear();
    this.failures.clear();
  }

  private fail(url: string, why: string, retryAfter: number): void {
    this.failures.delete(url);
    if (retryAfter > 0) this.failures.set(url, { why, until: Date.now() + retryAfter * 1000 });
    trim(this.failures);
  }
}

function trim(map: Map<string, unknown>): void {
  while (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
}

/** One HTTP GET of a CRL, bounded by the limits; never rejects. */
export function fetchCrl(url: string, limits: FetchLimits): Promise<Fetched> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Fetched) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const failed = (why: string) => finish({ ok: false, why, cached: false });
    const timer = setTimeout(() => failed(`no answer within ${limits.fetch_timeout} s`), limits.fetch_timeout * 1000);
    let req: http.ClientRequest;
    try {
      req = http.get(url, { headers: { accept: 'application/pkix-crl' } });
    } catch (e) {
      clearTimeout(timer);
      resolve({ ok: false, why: `cannot fetch it: ${(e as Error).message}`, cached: false });
      return;
    }
    req.on('error', (e: NodeJS.ErrnoException) => failed(e.code ? `cannot fetch it (${e.code})` : `cannot fetch it: ${e.message}`));
    req.on('response', (res) => {
      if (res.statusCode !== 200) return failed(`the server answered HTTP ${res.statusCode}`);
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > limits.max_crl_size) return failed(`it is larger than revocation.max_crl_size (${limits.max_crl_size} bytes)`);
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limits.max_crl_size) return failed(`it is larger than revocation.max_crl_size (${limits.max_crl_size} bytes)`);
        parts.push(chunk);
      });
      res.on('end', () => finish({ ok: true, crl: Buffer.concat(parts), cached: false }));
      res.on('error', (e) => failed(`the download broke off: ${e.message}`));
    });
  });
}
