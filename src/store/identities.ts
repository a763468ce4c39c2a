/**
 * Local identities (a domain or user@domain, bound to a certificate chain and
 * a private key) and trust anchors. The private key is not copied: an
 * identity refers to a key file (absolute path) or a PKCS #11 URI.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';
import { splitPemChain } from '../util/pem';
import { nameMatches } from './names';
import { readCertificate } from '../util/certificate';
import { Failure } from '../model/failure';

export interface Identity {
  readonly localid: string;
  /** Leaf first, then intermediates; PEM. */
  readonly chainPem: string;
  /** An absolute path to a PEM key file, or a `pkcs11:` URI. */
  readonly keyRef: string;
  readonly isDefault: boolean;
  readonly addedAt: string;
}

export interface TrustAnchor {
  readonly sha256: string;
  readonly subject: string;
  readonly certPem: string;
  readonly addedAt: string;
}

interface IdentityRow {
  localid: string;
  chain_pem: string;
  key_ref: string;
  is_default: number;
  added_at: string;
}

/** A local identity string: a domain name, or user@domain. */
export function checkIdentityString(id: string): void {
  const domain = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
  const at = id.lastIndexOf('@');
  const host = at >= 0 ? id.slice(at + 1) : id;
  const user = at >= 0 ? id.slice(0, at) : undefined;
  if (!domain.test(host) || (user !== undefined && !/^[^\s@\0]{1,64}$/.test(user)) || Buffer.byteLength(id) > 127) {
    throw new Failure('EINVAL', `"${id}" is not an identity: use a domain (example.org) or user@domain`);
  }
}

export class IdentityStore {
  // Prepared once each: the daemon reads identities on every STARTTLS.
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  private sql(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) this.statements.set(text, (st = this.db.prepare(text)));
    return st;
  }

  /**
   * Bind `localid` to a certificate chain and a key. The leaf certificate
   * must name the identity, and a key file must belong to the certificate.
   */
  addIdentity(localid: string, chainPem: string, keyRef: string, opts: { replace?: boolean; isDefault?: boolean } = {}): Identity {
    checkIdentityString(localid);
    const chain = splitPemChain(chainPem);
    if (chain.length === 0) throw new Failure('EINVAL', 'no PEM certificate found in the certificate file');
    const leaf = readCertificate(chain[0]!);
    const names = leaf.names;
    if (!nameMatches(localid, names)) {
      throw new Failure(
        'EINVAL',
        `the certificate does not name ${localid}; it names: ${[...names.dns, ...names.email, ...(names.cn ? [`CN=${names.cn}`] : [])].join(', ') || 'nothing'}`,
      );
    }
    let ref = keyRef;
    if (!keyRef.startsWith('pkcs11:')) {
      ref = path.resolve(keyRef);
      let key: crypto.KeyObject;
      try {
        key = crypto.createPrivateKey(fs.readFileSync(ref));
      } catch (e) {
        throw new Failure('EINVAL', `cannot read a private key from ${ref}: ${(e as Error).message}`);
      }
      if (!leaf.matchesKey(key)) throw new Failure('EINVAL', `the key in ${ref} does not belong to the certificate`);
    }
    const exists = this.getIdentity(localid) !== undefined;
    if (exists && !opts.replace) throw new Failure('EEXIST', `identity ${localid} exists; remove it first or use --replace`);
    const now = new Date().toISOString();
    this.db.transaction(() => {
      const isDefault = opts.isDefault || this.listIdentities().length === 0 || (exists && this.getIdentity(localid)!.isDefault);
      if (isDefault) this.sql('UPDATE identities SET is_default = 0').run();
      this.sql(
        `INSERT INTO identities (localid, chain_pem, key_ref, is_default, added_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(localid) DO UPDATE SET chain_pem = excluded.chain_pem, key_ref = excluded.key_ref, is_default = excluded.is_default`,
      ).run(localid, chain.join(''), ref, isDefault ? 1 : 0, now);
    })();
    return this.getIdentity(localid)!;
  }

  getIdentity(localid: string): Identity | undefined {
    const row = this.sql('SELECT * FROM identities WHERE localid = ?').get(localid) as IdentityRow | undefined;
    return row && toIdentity(row);
  }

  listIdentities(): Identity[] {
    return (this.sql('SELECT * FROM identities ORDER BY localid').all() as IdentityRow[]).map(toIdentity);
  }

  removeIdentity(localid: string): void {
    const r = this.sql('DELETE FROM identities WHERE localid = ?').run(localid);
    if (r.changes === 0) throw new Failure('ENOENT', `no identity ${localid}`);
  }

  setDefault(localid: string): void {
    if (!this.getIdentity(localid)) throw new Failure('ENOENT', `no identity ${localid}`);
    this.db.transaction(() => {
      this.sql('UPDATE identities SET is_default = 0').run();
      this.sql('UPDATE identities SET is_default = 1 WHERE localid = ?').run(localid);
    })();
  }

  /** Add every certificate in a PEM file as a trust anchor; returns those added. */
  addTrustAnchors(pem: string): TrustAnchor[] {
    const certs = splitPemChain(pem);
    if (certs.length === 0) throw new Failure('EINVAL', 'no PEM certificate found');
    const added: TrustAnchor[] = [];
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const certPem of certs) {
        const { isCA, sha256, subject } = readCertificate(certPem);
        if (!isCA) throw new Failure('EINVAL', `${subject} is not a CA certificate (basicConstraints CA:FALSE)`);
        const r = this.sql('INSERT OR IGNORE INTO trust_anchors (sha256, subject, cert_pem, added_at) VALUES (?, ?, ?, ?)').run(sha256, subject, certPem, now);
        if (r.changes) added.push({ sha256, subject, certPem, addedAt: now });
      }
    })();
    return added;
  }

  listTrustAnchors(): TrustAnchor[] {
    return (
      this.sql('SELECT sha256, subject, cert_pem, added_at FROM trust_anchors ORDER BY subject').all() as Array<{
        sha256: string;
        subject: string;
        cert_pem: string;
        added_at: string;
      }>
    ).map((r) => ({ sha256: r.sha256, subject: r.subject, certPem: r.cert_pem, addedAt: r.added_at }));
  }

  /** Remove by SHA-256 fingerprint, or by a unique prefix of at least 8 hex digits. */
  removeTrustAnchor(fingerprint: string): TrustAnchor {
    const fp = fingerprint.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(fp)) throw new Failure('EINVAL', 'give the SHA-256 fingerprint (at least 8 hex digits) from `tlspool trust list`');
    const matches = this.listTrustAnchors().filter((a) => a.sha256.startsWith(fp));
    if (matches.length === 0) throw new Failure('ENOENT', `no trust anchor with fingerprint ${fingerprint}`);
    if (matches.length > 1) throw new Failure('EINVAL', `${fingerprint} matches ${matches.length} anchors; give more digits`);
    this.sql('DELETE FROM trust_anchors WHERE sha256 = ?').run(matches[0].sha256);
    return matches[0];
  }
}

function toIdentity(r: IdentityRow): Identity {
  return { localid: r.localid, chainPem: r.chain_pem, keyRef: r.key_ref, isDefault: r.is_default === 1, addedAt: r.added_at };
}
