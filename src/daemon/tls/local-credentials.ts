/**
 * Local identities as the TLS engine needs them: certificate chain and key,
 * loaded once and reused by every handshake until the store changes. The
 * identities themselves are read once too: every STARTTLS asks for them, and
 * reset() (the store changed) reads them again.
 */
import * as fs from 'node:fs';
import type { Identity, IdentityStore } from '../../store/identities';
import { loadCredentials, type NativeCredentials } from '../../addon/tls/credentials';
import { Failure } from '../../model/failure';
import { wire } from '../../protocol/wire-text';
import { readCertificate } from '../../util/certificate';
import { validityOf, validityWarning } from '../../model/identity';

export class LocalCredentials {
  private readonly loaded = new Map<string, NativeCredentials>();
  /** Each identity's certificate dates, read when first needed. */
  private readonly validity = new Map<string, { notBefore: Date; notAfter: Date }>();
  private rows: Map<string, Identity> | undefined;
  private ordered: readonly string[] | undefined;

  constructor(
    private readonly store: IdentityStore,
    /** Told each time a token key is handed to a handshake (the PIN cache's idle clock). */
    private readonly onTokenKeyUse: (keyUri: string) => void = () => {},
    /** OCSP response files to staple, by identity (revocation.ocsp_files); read when the identity is loaded. */
    private readonly ocspFiles: () => Readonly<Record<string, string>> = () => ({}),
  ) {}

  /** Forget the loaded credentials whose key URI `matches` (their token was locked). */
  dropKeys(matches: (keyUri: string) => boolean): void {
    for (const [localid, c] of this.loaded) {
      const id = this.identity(localid);
      if (id && id.keyRef.startsWith('pkcs11:') && matches(id.keyRef)) {
        c.close();
        this.loaded.delete(localid);
      }
    }
  }

  /** Forget everything loaded; sessions in progress keep their own reference. */
  reset(): void {
    for (const c of this.loaded.values()) c.close();
    this.loaded.clear();
    this.validity.clear();
    this.rows = this.ordered = undefined;
  }

  identity(localid: string): Identity | undefined {
    return this.identities().get(localid);
  }

  /** Identities to propose when the application named none: the default first. */
  candidates(): readonly string[] {
    if (!this.ordered) {
      const all = [...this.identities().values()];
      this.ordered = [...all.filter((i) => i.isDefault), ...all.filter((i) => !i.isDefault)].map((i) => i.localid);
    }
    return this.ordered;
  }

  /**
   * Why peers will refuse the certificate of `localid` (expired, or not yet
   * valid), or undefined when they need not.
   */
  refusable(localid: string): string | undefined {
    const id = this.identity(localid);
    if (!id) return undefined;
    let dates = this.validity.get(localid);
    if (!dates) {
      try {
        const { notBefore, notAfter } = readCertificate(id.chainPem);
        dates = { notBefore, notAfter };
      } catch {
        dates = { notBefore: new Date(0), notAfter: new Date(8.64e15) }; // the engine says what is wrong with it
      }
      this.validity.set(localid, dates); // parsed once per identity, not on every handshake
    }
    const v = validityOf(dates);
    return v === 'expired' || v === 'not-yet-valid' ? validityWarning(dates) : undefined;
  }

  private identities(): Map<string, Identity> {
    return (this.rows ??= new Map(this.store.listIdentities().map((i) => [i.localid, i])));
  }

  /** The credentials of `localid`; ENOKEY when there is no such identity or its key cannot be read. */
  get(localid: string): NativeCredentials {
    const id = this.identity(localid);
    if (id?.keyRef.startsWith('pkcs11:')) this.onTokenKeyUse(id.keyRef);
    const cached = this.loaded.get(localid);
    if (cached && !cached.closed) return cached;
    if (!id) {
      throw new Failure('ENOKEY', wire`no local identity ${localid}; add one with: tlspool identity add ${localid} --cert FILE --key FILE`);
    }
    let creds: NativeCredentials;
    try {
      creds = id.keyRef.startsWith('pkcs11:')
        ? loadCredentials(id.chainPem, { uri: id.keyRef })
        : loadCredentials(id.chainPem, { pem: fs.readFileSync(id.keyRef, 'utf8') });
    } catch (e) {
      throw new Failure('ENOKEY', wire`cannot load the key of ${localid} (${id.keyRef}): ${(e as Error).message}`);
    }
    const ocsp = this.ocspFiles()[localid];
    if (ocsp !== undefined) {
      try {
        creds.setOcsp(fs.readFileSync(ocsp));
      } catch (e) {
        creds.close();
        throw new Failure('ENOKEY', wire`cannot read the OCSP response of ${localid} (${ocsp}): ${(e as Error).message}`);
      }
    }
    this.loaded.set(localid, creds);
    return creds;
  }
}
