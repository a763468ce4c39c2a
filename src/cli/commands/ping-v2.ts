/**
 * One V2 PING on a connection of its own, for `tlspool ping`: which V2
 * identity and facilities the pool answers with, or why it did not.
 */
import * as net from 'node:net';
import { decodeV2, encodeV2 } from '../../protocol/v2-codec';
import { TLSPOOL_IDENTITY_V2, V2Cmd, V2Facility } from '../../protocol/v2-constants';
import { V2_COMMAND_SIZE } from '../../protocol/v2-layout';

export type V2PingResult = { identity: string; facilities: string[] } | { error: string };

const WAIT_MS = 5000;

export function facilityNames(bits: number): string[] {
  return Object.entries(V2Facility)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
}

export function pingV2(socket: string): Promise<V2PingResult> {
  return new Promise((resolve) => {
    const conn = net.createConnection(socket);
    let got = Buffer.alloc(0);
    const done = (r: V2PingResult) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: `no V2 answer within ${WAIT_MS / 1000} s` }), WAIT_MS);
    conn.on('error', (e) => done({ error: e.message }));
    conn.on('close', () => done({ error: 'the pool closed the V2 connection' }));
    conn.on('connect', () => {
      // One write of all 388 bytes: that is how the pool knows it is V2.
      conn.write(encodeV2({ reqid: 1, cbid: 0, cmd: V2Cmd.PING, ping: { YYYYMMDD_producer: TLSPOOL_IDENTITY_V2, facilities: 0xffffffff } }));
    });
    conn.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.byteLength < V2_COMMAND_SIZE) return;
      try {
        const p = decodeV2(new Uint8Array(got.subarray(0, V2_COMMAND_SIZE)));
        if ('ping' in p) done({ identity: p.ping.YYYYMMDD_producer, facilities: facilityNames(p.ping.facilities) });
        else if ('error' in p) done({ error: `V2 PING refused: ${p.error.message}` });
        else done({ error: `V2 PING answered with tag ${p.cmd}` });
      } catch (e) {
        done({ error: `V2 answer unreadable: ${(e as Error).message}` });
      }
    });
  });
}
