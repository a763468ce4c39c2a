/**
 * A real FreeRADIUS (3.2, `freeradius -f`) on 127.0.0.1 and a free UDP
 * port, configured in a temporary directory: a client 127.0.0.1 with a
 * shared secret, and a `users` file where server.example.test is accepted,
 * www.example.test rejected with a Reply-Message (authn), server.example.test
 * refused to talk to alice@example.test (authz), and silent.example.test
 * never answered (Response-Packet-Type := Do-Not-Respond).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './peers';
import { tempDir } from './temp';

export const RADIUS_SECRET = 'radius-test-secret-Zq7Kx2';
export const REJECT_MESSAGE = 'www.example.test is disabled';
export const AUTHZ_MESSAGE = 'server.example.test may not talk to alice@example.test';
export const SILENT_USER = 'silent.example.test';

export interface RadiusRig {
  /** "127.0.0.1:PORT" */
  readonly server: string;
  /** A secret file the pool accepts (mode 0600). */
  readonly secretFile: string;
  readonly dir: string;
  logs(): string;
  stop(): Promise<void>;
}

function radiusdConf(dir: string, port: number): string {
  return `prefix = /usr
raddbdir = ${dir}
confdir = ${dir}
run_dir = ${dir}
logdir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
name = radiusd
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
	destination = stderr
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
client local {
	ipaddr = 127.0.0.1
	secret = ${RADIUS_SECRET}
	require_message_authenticator = yes
}
thread pool {
	start_servers = 2
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 2
}
modules {
	files {
		filename = ${dir}/users
	}
	always handled {
		rcode = handled
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${port}
	}
	authorize {
		if (&User-Name == "${SILENT_USER}") {
			update control {
				&Response-Packet-Type := Do-Not-Respond
			}
			handled
		}
		files
	}
	authenticate {
	}
}
`;
}

const USERS = `server.example.test	Service-Type == Authorize-Only, Called-Station-Id == "alice@example.test", Auth-Type := Reject
	Reply-Message = "${AUTHZ_MESSAGE}"

www.example.test	Service-Type == Authenticate-Only, Auth-Type := Reject
	Reply-Message = "${REJECT_MESSAGE}"

DEFAULT	Auth-Type := Accept
`;

export async function startRadius(): Promise<RadiusRig> {
  const dir = tempDir('tlspool-radius-');
  const port = await freePort('udp');
  fs.writeFileSync(path.join(dir, 'radiusd.conf'), radiusdConf(dir, port));
  fs.writeFileSync(path.join(dir, 'users'), USERS);
  const secretFile = path.join(dir, 'radius.secret');
  fs.writeFileSync(secretFile, `${RADIUS_SECRET}\n`, { mode: 0o600 });
  const proc = spawn('/usr/sbin/freeradius', ['-f', '-d', dir, '-l', 'stdout'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 20000;
  while (!/Ready to process requests/.test(out)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`freeradius did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    server: `127.0.0.1:${port}`,
    secretFile,
    dir,
    logs: () => out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
