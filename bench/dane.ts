/**
 * The "DANE-EE handshake" figure: pool client handshakes against one server
 * (`openssl s_server`) whose TLSA record (DANE-EE 3 1 1) is in a signed zone
 * served by Knot (harness/dns.ts), by a pool with DNS enabled (stub to that
 * server), against the same pool setup without DNS (PKIX with the trusted
 * test CA). Lookups are cached (a warm-up fills the cache), so the figure is
 * what DANE costs per handshake once its answer is known.
 */
import { startDnsRig, tlsaRecord } from '../harness/dns';
import { startOpensslServer } from '../harness/peers';
import { getPki, SERVER_NAME } from '../harness/pki';
import { startPool, tcpConnect, type Pool } from '../harness/starttls';
import { log } from './work';

export interface DaneFigure {
  handshakes: number;
  dane_p50_ms: number;
  pkix_p50_ms: number;
  /** pkix / dane: above 1, DANE-EE is faster. */
  ratio: number;
  validation: string | undefined;
}

async function handshakes(pool: Pool, port: number, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const fd = await tcpConnect(port);
    const t = performance.now();
    try {
      const r = await pool.client.starttls({ role: 'client', fd, remoteid: SERVER_NAME, onLocalId: () => '' });
      times.push(performance.now() - t);
      r.fd.close();
    } finally {
      fd.close();
    }
  }
  return times;
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function daneFigure(n: number): Promise<DaneFigure> {
  const pki = getPki();
  const dns = await startDnsRig();
  const server = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath });
  const pools: Pool[] = [];
  try {
    dns.setRecords('example.test', [tlsaRecord(pki.server.certPath, SERVER_NAME, server.port, { usage: 3, selector: 1, matching: 1 })]);
    const dane = await startPool({ trust: [pki.ca], dns: { trust_anchors: [dns.trustAnchor], stubs: dns.stubs, timeout: 5 } });
    pools.push(dane);
    const pkix = await startPool({ trust: [pki.ca], dns: { enabled: false } });
    pools.push(pkix);
    log(`DANE-EE: ${n} handshakes each, with DNS and without`);
    await handshakes(dane, server.port, 3);
    await handshakes(pkix, server.port, 3);
    const validation = dane.connections()[0]?.validation;
    const d = p50(await handshakes(dane, server.port, n));
    const p = p50(await handshakes(pkix, server.port, n));
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return { handshakes: n, dane_p50_ms: r(d), pkix_p50_ms: r(p), ratio: r(p / d), validation };
  } finally {
    for (const pool of pools) await pool.stop().catch(() => {});
    await server.stop();
    await dns.stop();
  }
}
