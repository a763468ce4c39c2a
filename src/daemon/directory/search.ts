/**
 * One search of a directory for a user's published certificates, with
 * ldapts: connect (ldaps://, or ldap:// and then StartTLS when the server
 * offers it), search anonymously under the base for `userCertificate;binary`,
 * unbind. The whole of it is bounded by one deadline; on expiry the sockets
 * are destroyed, so nothing is left waiting. The directory's certificate
 * chain is handed back for the caller to judge: here TLS only encrypts.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Client } from 'ldapts';
import { Failure } from '../../model/failure';
import type { DirectoryPlace } from './locate';

export interface SearchResult {
  /** DER of every userCertificate;binary value of the entries found. */
  readonly certificates: Buffer[];
  /** How the search travelled. */
  readonly transport: 'plain' | 'starttls' | 'ldaps';
  /** The directory's certificate chain (leaf first), when it was reached over TLS. */
  readonly serverChain: Buffer[];
  /** Entries that matched the filter (with or without certificates). */
  readonly entries: number;
}

/** Entries and values kept at most: a hostile directory stays bounded. */
const MAX_ENTRIES = 16;
const MAX_CERTS = 32;
const ATTRIBUTE = 'userCertificate;binary';

function chainOf(socket: tls.TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && chain.length < 10) {
    if (chain.some((d) => d.equals(cert!.raw))) break;
    chain.push(Buffer.from(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err.code === 'ECONNREFUSED') return 'refused the connection';
  if (err.code === 'ETIMEDOUT') return 'did not answer';
  return (err.message ?? String(e)).split('\n')[0]!.slice(0, 60);
}

export async function searchDirectory(place: DirectoryPlace, filter: string, timeoutMs: number): Promise<SearchResult> {
  const sockets: net.Socket[] = [];
  let tlsSocket: tls.TLSSocket | undefined;
  const servername = net.isIP(place.host) ? undefined : place.host;
  const secure = (...args: unknown[]): tls.TLSSocket => {
    // ldaps: (port, host, options); StartTLS: (options with the plain socket).
    const options = (args.length === 1 ? args[0] : args[2]) as tls.ConnectionOptions;
    const base = args.length === 1 ? {} : { port: args[0] as number, host: args[1] as string };
    tlsSocket = tls.connect({ ...base, ...options, servername, rejectUnauthorized: false });
    sockets.push(tlsSocket);
    return tlsSocket;
  };
  const hostPart = net.isIPv6(place.address) ? `[${place.address}]` : place.address;
  const client = new Client({
    url: `${place.scheme}://${hostPart}:${place.port}`,
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
    strictDN: false,
    createConnection: ((port: number, host: string) => {
      const s = net.connect(port, host);
      sockets.push(s);
      return s;
    }) as typeof net.connect,
    createSecureConnection: secure as unknown as typeof tls.connect,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Failure('ETIMEDOUT', `did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  const work = async (): Promise<SearchResult> => {
    let transport: SearchResult['transport'] = place.scheme === 'ldaps' ? 'ldaps' : 'plain';
    if (place.scheme === 'ldap') {
      try {
        await client.startTLS({});
        transport = 'starttls';
      } catch (e) {
        // A directory without TLS says so and stays usable in the clear; a failed handshake leaves nothing to use.
        if (tlsSocket) throw e;
      }
    }
    const { searchEntries } = await client.search(place.base, {
      scope: 'sub',
      filter,
      attributes: [ATTRIBUTE],
      explicitBufferAttributes: [ATTRIBUTE],
      sizeLimit: MAX_ENTRIES,
      timeLimit: Math.max(1, Math.ceil(timeoutMs / 1000)),
    });
    const certificates: Buffer[] = [];
    for (const entry of searchEntries.slice(0, MAX_ENTRIES)) {
      const key = Object.keys(entry).find((k) => k.toLowerCase() === ATTRIBUTE.toLowerCase());
      const values = key === undefined ? [] : entry[key];
      for (const v of Array.isArray(values) ? values : [values]) {
        if (Buffer.isBuffer(v) && certificates.length < MAX_CERTS) certificates.push(v);
      }
    }
    return { certificates, transport, serverChain: tlsSocket ? chainOf(tlsSocket) : [], entries: searchEntries.length };
  };
  const running = work();
  running.catch(() => {}); // the deadline may have answered already
  try {
    return await Promise.race([running, deadline]);
  } catch (e) {
    if (e instanceof Failure) throw e;
    const code = (e as { code?: string }).code === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'EHOSTUNREACH';
    throw new Failure(code, describe(e));
  } finally {
    clearTimeout(timer);
    await Promise.race([client.unbind().catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
    for (const s of sockets) s.destroy();
  }
}
