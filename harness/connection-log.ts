/**
 * A state directory whose connection log already holds many connections,
 * written through the daemon's own ConnectionLog (as the daemon writes
 * them), for tests and benchmarks that need a big log without making each
 * connection.
 */
import * as path from 'node:path';
import { EventBus } from '../src/events/bus';
import { openDb } from '../src/store/db';
import { ConnectionLog } from '../src/store/connection-log';
import { tempDir } from './daemon';

/** A new temporary directory (remove it when done) whose `state/` log holds `n` connections, two in three ended. */
export function stateWithLog(n: number, prefix = 'tlspool-log-'): string {
  const dir = tempDir(prefix);
  const db = openDb(path.join(dir, 'state'));
  const log = new ConnectionLog(db, new EventBus());
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const r = log.open({
        role: i % 2 ? 'client' : 'server',
        transport: 'tls',
        requester: { pid: 1000 + (i % 50), uid: 1000, gid: 1000, executable: `/usr/bin/app${i % 7}` },
        localid: 'alice@example.org',
        remoteid: `host${i % 1000}.example.net`,
      });
      Object.assign(r, { version: 'TLS1.3', cipher: 'TLS_AES_128_GCM_SHA256' });
      log.established(r);
      r.bytesIn = i * 37;
      r.bytesOut = i * 11;
      if (i % 3) log.ended(r, 'closed by peer');
    }
    log.flush();
  })();
  db.close();
  return dir;
}
