/**
 * RDATA of the record types the directory path asks for: SRV (RFC 2782)
 * and addresses (A, AAAA). Hostile answers give undefined, never a throw.
 */
import * as net from 'node:net';

export interface Srv {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** The target host, without the final dot; '.' means "no such service here". */
  readonly target: string;
}

/** A domain name in wire form (RFC 1035 §3.1), uncompressed as RFC 2782 requires of SRV targets. */
function wireName(buf: Buffer, at: number): string | undefined {
  const labels: string[] = [];
  let i = at;
  while (i < buf.length) {
    const len = buf[i]!;
    if (len === 0) return i + 1 === buf.length ? (labels.length === 0 ? '.' : labels.join('.')) : undefined;
    if (len > 63 || i + 1 + len > buf.length) return undefined;
    const label = buf.subarray(i + 1, i + 1 + len).toString('latin1');
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return undefined;
    labels.push(label.toLowerCase());
    i += 1 + len;
  }
  return undefined;
}

export function parseSrv(rdata: Buffer): Srv | undefined {
  if (rdata.length < 7 || rdata.length > 262) return undefined;
  const target = wireName(rdata, 6);
  if (target === undefined) return undefined;
  return { priority: rdata.readUInt16BE(0), weight: rdata.readUInt16BE(2), port: rdata.readUInt16BE(4), target };
}

/** SRV records in the order to try them: lowest priority first, then the heaviest weight (a fixed order, not RFC 2782's lottery). */
export function srvOrder(records: readonly Srv[]): Srv[] {
  return [...records].sort((a, b) => a.priority - b.priority || b.weight - a.weight);
}

/** An A (4 bytes) or AAAA (16 bytes) record as an address string. */
export function parseAddress(rdata: Buffer): string | undefined {
  if (rdata.length === 4) return [...rdata].join('.');
  if (rdata.length !== 16) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(rdata.readUInt16BE(i).toString(16));
  const text = groups.join(':');
  return net.isIPv6(text) ? text : undefined;
}
