/**
 * A real OpenLDAP directory for tests: slapd on 127.0.0.1 (a free port),
 * mdb databases in a temp dir, one per suffix, filled with slapadd before
 * it starts. With `tls`, slapd offers StartTLS with that certificate (and
 * only then). Users are added or changed later with ldapadd / ldapmodify
 * as the directory's manager (a test password, never the pool's). stop()
 * ends slapd and removes the directory; a process exit kills slapd too.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './temp';
import { freePort, type Peer, startPeer } from './peers';

export interface LdapUser {
  readonly uid: string;
  /** DER certificates published as userCertificate;binary. */
  readonly certificates: Buffer[];
}

export interface LdapOptions {
  /** Suffix (dc=example,dc=test) → its users. */
  readonly suffixes: Record<string, LdapUser[]>;
  /** A certificate and key for StartTLS. */
  readonly tls?: { certPath: string; keyPath: string };
}

export interface LdapServer {
  readonly port: number;
  readonly url: string;
  /** Add a user (or replace its certificates when it exists) while slapd runs. */
  publish(suffix: string, user: LdapUser): void;
  stop(): Promise<void>;
}

const MANAGER_PASSWORD = 'test-manager-secret';

function userLdif(suffix: string, u: LdapUser): string {
  return [
    `dn: uid=${u.uid},${suffix}`,
    'objectClass: inetOrgPerson',
    'objectClass: pkiUser',
    `uid: ${u.uid}`,
    `cn: ${u.uid}`,
    `sn: ${u.uid}`,
    ...u.certificates.map((c) => `userCertificate;binary:: ${c.toString('base64')}`),
    '',
  ].join('\n');
}

function suffixLdif(suffix: string, users: LdapUser[]): string {
  const dc = /^dc=([^,]+)/.exec(suffix)![1];
  return [[`dn: ${suffix}`, 'objectClass: dcObject', 'objectClass: organization', `o: ${dc}`, `dc: ${dc}`, ''].join('\n'), ...users.map((u) => userLdif(suffix, u))].join('\n');
}

export async function startLdap(opts: LdapOptions): Promise<LdapServer> {
  const dir = tempDir('tlspool-ldap-');
  const port = await freePort('tcp');
  // slapd wants a database below another (dc=a,dc=b under dc=b) listed first.
  const suffixes = Object.keys(opts.suffixes).sort((a, b) => b.split(',').length - a.split(',').length);
  const conf = [
    ...['core', 'cosine', 'inetorgperson'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    `pidfile ${dir}/slapd.pid`,
    `argsfile ${dir}/slapd.args`,
    ...(opts.tls ? [`TLSCertificateFile ${opts.tls.certPath}`, `TLSCertificateKeyFile ${opts.tls.keyPath}`] : []),
    ...suffixes.flatMap((suffix, i) => {
      fs.mkdirSync(path.join(dir, `db${i}`));
      return ['database mdb', `suffix "${suffix}"`, `rootdn "cn=manager,${suffix}"`, `rootpw ${MANAGER_PASSWORD}`, `directory ${dir}/db${i}`, 'maxsize 10485760'];
    }),
    '',
  ].join('\n');
  const confPath = path.join(dir, 'slapd.conf');
  fs.writeFileSync(confPath, conf);
  for (const suffix of suffixes) {
    const ldif = path.join(dir, `${suffixes.indexOf(suffix)}.ldif`);
    fs.writeFileSync(ldif, suffixLdif(suffix, opts.suffixes[suffix]!));
    execFileSync('/usr/sbin/slapadd', ['-f', confPath, '-b', suffix, '-l', ldif], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  }
  const url = `ldap://127.0.0.1:${port}/`;
  const slapd: Peer = startPeer('slapd', '/usr/sbin/slapd', ['-f', confPath, '-h', url, '-d', '256'], port);
  try {
    await slapd.waitFor('slapd starting', 15000);
  } catch (e) {
    await slapd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    url,
    publish(suffix, user) {
      const manager = ['-x', '-H', url, '-D', `cn=manager,${suffix}`, '-w', MANAGER_PASSWORD];
      const file = path.join(dir, 'change.ldif');
      const replace = [`dn: uid=${user.uid},${suffix}`, 'changetype: modify', 'replace: userCertificate;binary', ...user.certificates.map((c) => `userCertificate;binary:: ${c.toString('base64')}`), ''].join('\n');
      try {
        fs.writeFileSync(file, replace);
        execFileSync('ldapmodify', [...manager, '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
      } catch {
        fs.writeFileSync(file, userLdif(suffix, user));
        execFileSync('ldapadd', [...manager, '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
      }
    },
    async stop() {
      await slapd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
