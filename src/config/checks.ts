/**
 * What the schema cannot tell from the text: that GnuTLS takes tls.priority,
 * that the files in tls.trust_files and tls.crl_files load as the engine
 * loads them, that socket_group names a group. The daemon runs these at
 * start, before it makes anything or listens, and on SIGHUP, where a failure
 * keeps the running configuration; a problem is a ConfigError at the key's
 * place in the file, as the schema's are. The other commands that read the
 * file (ping, identity, …) need none of this and do not pay for it.
 */
import * as fs from 'node:fs';
import { checkPriority } from '../addon/tls/engine';
import { createTrustStore } from '../addon/tls/certs';
import { lookupGroup } from '../addon/sys';
import { Resolver } from '../addon/dns';
import { ConfigError } from './error';
import { type Config, placeOf } from './index';
import { whyUnreadable } from './paths';
import { hasAnyPem, hasPem } from '../util/pem';
import { closest } from './suggest';
import { checkSecretFile } from './radius-secret';

export interface CheckedConfig {
  /** socket_group as a gid, looked up here (undefined when the key is not set). */
  socketGid?: number;
}

/** Throws a ConfigError for the first problem, in the order of the keys in the file. */
export function checkDaemonConfig(config: Config): CheckedConfig {
  const socketGid = socketGroupId(config);
  if (config.tls.priority !== undefined) checkPriorityString(config, config.tls.priority);
  config.tls.trust_files.forEach((file, i) => checkTrustFile(config, `tls.trust_files[${i}]`, file));
  config.tls.crl_files.forEach((file, i) => checkCrlFile(config, `tls.crl_files[${i}]`, file));
  if (config.dns.enabled) checkDns(config);
  for (const step of ['authn', 'authz'] as const) checkRadiusSecret(config, step);
  return { socketGid };
}

/**
 * A name through NSS, as `getent group` and chown see groups (sssd, LDAP and
 * systemd-userdb ones too), not by reading /etc/group. A number is taken as
 * it is: chown takes any gid, named or not.
 */
function socketGroupId(config: Config): number | undefined {
  const group = config.socket_group;
  if (group === undefined || typeof group === 'number') return group;
  let gid: number | undefined;
  try {
    gid = lookupGroup(group);
  } catch (e) {
    fail(config, 'socket_group', `cannot look up group "${group}": ${(e as Error).message}`);
  }
  if (gid !== undefined) return gid;
  // Suggestions come from the local file only: enumerating every NSS source (LDAP) is no start-up job.
  const near = closest(group, localGroupNames());
  fail(config, 'socket_group', `group "${group}" does not exist${near ? ` (did you mean ${near}?)` : ''}; create it or remove the key`);
}

function localGroupNames(): string[] {
  try {
    return fs.readFileSync('/etc/group', 'utf8').split('\n').map((line) => line.split(':')[0]).filter((name) => name !== '');
  } catch {
    return [];
  }
}

/** As a session parses it (gnutls_priority_init2), with GnuTLS's position of the problem. */
function checkPriorityString(config: Config, priority: string): void {
  const key = 'tls.priority';
  if (priority.trim() === '') fail(config, key, 'must not be empty (leave the key out for the default)');
  // GnuTLS reads a C string: it would silently stop at a NUL.
  if (priority.includes('\0')) fail(config, key, 'must not contain a NUL character');
  const problem = checkPriority(priority);
  if (problem === undefined) return;
  const gnutls = `gnutls_priority_init: ${problem.message}`;
  if (problem.gnutls === 'GNUTLS_E_INVALID_REQUEST' && problem.offset !== undefined) {
    // GnuTLS counts bytes; a person counts characters, from 1.
    const at = Buffer.from(priority).subarray(0, problem.offset).toString().length;
    const element = priority.slice(at).split(':')[0];
    const what = element === '' ? 'an empty element (a doubled or trailing ":")' : `${JSON.stringify(element)}, an unknown or misplaced keyword`;
    fail(config, key, `GnuTLS refuses the priority string at character ${at + 1}: ${what} (${gnutls})`);
  }
  if (problem.gnutls === 'GNUTLS_E_NO_PRIORITIES_WERE_SET') {
    fail(config, key, `the priority string leaves no protocol version, key exchange or cipher enabled, so no handshake could succeed (${gnutls})`);
  }
  fail(config, key, `GnuTLS refuses the priority string (${gnutls})`);
}

/** As the validator loads it: the text, as a trust list's anchors (tls/validation.ts). */
function checkTrustFile(config: Config, key: string, file: string): void {
  const pem = readFor(config, key, file);
  try {
    createTrustStore({ anchorsPem: [pem] }).close();
  } catch (e) {
    const hint =
      hasPem(pem, 'X509 CRL') && !hasPem(pem, 'CERTIFICATE') ? '; it holds a CRL, which belongs in tls.crl_files'
      : looksBinary(pem) ? '; it looks like binary DER, and the file must be PEM'
      : '';
    fail(config, key, `${file}: GnuTLS cannot load CA certificates from it (${gnutlsSentence(e)})${hint}`);
  }
}

/** As the validator loads it: the text, as a trust list's CRLs (tls/validation.ts). */
function checkCrlFile(config: Config, key: string, file: string): void {
  const pem = readFor(config, key, file);
  let refused: unknown;
  try {
    createTrustStore({ anchorsPem: [], crlsPem: [pem] }).close();
  } catch (e) {
    refused = e;
  }
  // GnuTLS only reads PEM CRLs: a file without one would revoke nothing, even if GnuTLS let it pass.
  if (!hasPem(pem, 'X509 CRL')) {
    const holds =
      hasPem(pem, 'CERTIFICATE') ? 'it holds a certificate (BEGIN CERTIFICATE), and CA certificates to trust go in tls.trust_files'
      : looksBinary(pem) ? 'it looks like binary DER, and the file must be PEM (BEGIN X509 CRL)'
      : 'it holds no PEM CRL (BEGIN X509 CRL)';
    fail(config, key, `${file} is not a CRL: ${holds}`);
  }
  if (refused !== undefined) fail(config, key, `${file}: GnuTLS cannot load the CRL in it (${gnutlsSentence(refused)})`);
}

/** Trust anchors as libunbound reads them (DNSKEY or DS records), and servers it takes; it reports neither before its first lookup. */
function checkDns(config: Config): void {
  config.dns.trust_anchors.forEach((file, i) => {
    const key = `dns.trust_anchors[${i}]`;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const hint = file === '/usr/share/dns/root.key' ? ' (install dns-root-data, or set dns.enabled: false)' : '';
      fail(config, key, `cannot read ${file}: ${whyUnreadable(e)}${hint}`);
    }
    if (!/\s(DNSKEY|DS)\s/.test(text)) fail(config, key, `${file} holds no DNSKEY or DS record (zone file format) to validate DNSSEC from`);
  });
  try {
    new Resolver({ trustAnchorFiles: [], forwarders: config.dns.forwarders, stubs: Object.entries(config.dns.stubs).map(([zone, addrs]) => ({ zone, addrs })) }).close();
  } catch (e) {
    fail(config, 'dns', `libunbound refuses it: ${(e as Error).message}`);
  }
}

/** The shared secret a RADIUS step needs: readable, ours, and not readable by others. */
function checkRadiusSecret(config: Config, step: 'authn' | 'authz'): void {
  const file = config.radius[step]?.secret_file;
  if (file === undefined) return;
  try {
    checkSecretFile(file);
  } catch (e) {
    fail(config, `radius.${step}.secret_file`, (e as Error).message);
  }
}

function readFor(config: Config, key: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(config, key, `cannot read ${file}: ${whyUnreadable(e)}`);
  }
}

/** Bytes that are not UTF-8 text (read as utf8, they became U+FFFD). */
function looksBinary(text: string): boolean {
  return !hasAnyPem(text) && text.includes('\uFFFD');
}

/** The native message is "<what>: <GnuTLS's sentence>" (tls_common.h); the sentence is what says why. */
function gnutlsSentence(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const colon = message.indexOf(': ');
  return colon < 0 ? message : message.slice(colon + 2);
}

function fail(config: Config, key: string, problem: string): never {
  throw new ConfigError(problem, placeOf(config, key));
}
