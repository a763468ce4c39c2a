/** `tlspool identity …` and `tlspool trust …`: edit the state database directly. */
import * as fs from 'node:fs';
import { loadConfig } from '../../config';
import { openDb } from '../../store/db';
import { readCertificate } from '../../util/certificate';
import { type Validity, validityOf, validityWarning } from '../../model/identity';

/** How `identity list` shows a certificate's end date. */
const VALIDITY_WORDS: Record<Validity, string> = {
  valid: 'valid until',
  expiring: 'EXPIRES SOON',
  expired: 'EXPIRED on',
  'not-yet-valid': 'NOT YET VALID; ends',
};
import { IdentityStore } from '../../store/identities';
import * as pkcs11js from 'pkcs11js';
import { checkIdentityString } from '../../store/identities';
import { pem } from '../../util/pem';
import { generateIdentityKey } from '../../pkcs11/generate';
import { findObjects } from '../../pkcs11/inventory';
import { parsePkcs11Uri } from '../../pkcs11/uri';
import { checkKeyOnToken } from '../../pkcs11/key-match';
import { findToken, openModule } from '../../pkcs11/modules';
import { type AnySpec, type CommandSpec, helpText, parse, UsageError } from '../args';
import { loginWithPin, modulePaths, tokenHelp, tokenOptions } from '../token-access';
import { identityTlsa, tlsaSpec } from './identity-tlsa';

const stateOptions = {
  'state-dir': { type: 'string' },
  config: { type: 'string' },
} as const;
const stateHelp = {
  'state-dir': 'state directory (default: $TLSPOOL_STATE_DIR, the config file, then ~/.local/state/tlspool or /var/lib/tlspool)',
  config: 'configuration file (default: $TLSPOOL_CONFIG, then the per-user or system file)',
};

function openStore(values: { 'state-dir'?: unknown; config?: unknown }): IdentityStore {
  const config = loadConfig({ flags: { state_dir: values['state-dir'] as string | undefined, config: values.config as string | undefined }, env: process.env });
  return new IdentityStore(openDb(config.state_dir));
}

type Sub = {
  spec: CommandSpec<Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>;
  run: (values: Record<string, string | boolean | string[] | undefined>, positionals: string[]) => number | Promise<number>;
};

/** A command made of subcommands (`identity add`, …): its help lists them; `specs` are theirs, for the man page and completion. */
function group(name: string, summary: string, subs: Record<string, Sub>) {
  const usage = () =>
    [`Usage: tlspool ${name} SUBCOMMAND [OPTIONS]`, '', summary, '', 'Subcommands:', ...Object.entries(subs).map(([n, s]) => `  ${n.padEnd(10)}${s.spec.summary}`), '', `Run 'tlspool ${name} SUBCOMMAND --help' for its options.`, ''].join('\n');
  const run = async (argv: string[]): Promise<number> => {
    const [subName, ...rest] = argv;
    if (subName === undefined || subName === '--help' || subName === '-h') {
      process.stdout.write(usage());
      return subName === undefined ? 2 : 0;
    }
    const sub = subs[subName];
    if (!sub) throw new UsageError(`tlspool ${name}: unknown subcommand "${subName}" (see tlspool ${name} --help)`);
    const args = parse(sub.spec, rest);
    if (!args) {
      process.stdout.write(helpText(sub.spec));
      return 0;
    }
    return sub.run(args.values as Record<string, string | boolean | string[] | undefined>, args.positionals);
  };
  return { run, summary, specs: Object.values(subs).map((s) => s.spec as AnySpec) };
}

function one(positionals: string[], spec: { name: string }, what: string): string {
  if (positionals.length !== 1) throw new UsageError(`tlspool ${spec.name}: give exactly one ${what} (see tlspool ${spec.name} --help)`);
  return positionals[0];
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

const identityAdd: Sub = {
  spec: {
    name: 'identity add',
    usage: 'identity add ID --cert FILE --key FILE|URI [--default] [--replace] [--pkcs11-module PATH]... [--pin-fd N]',
    summary: 'bind a local identity (domain or user@domain) to a certificate chain and its key',
    options: { cert: { type: 'string' }, key: { type: 'string' }, default: { type: 'boolean' }, replace: { type: 'boolean' }, ...tokenOptions, ...stateOptions },
    help: {
      cert: 'PEM file with the certificate, then its intermediates',
      key: 'PEM private key file (kept where it is; referenced by path) or a pkcs11: URI (the token and the key are checked against the certificate first)',
      default: 'make this the default identity',
      replace: 'replace an identity of the same name',
      'pkcs11-module': tokenHelp['pkcs11-module'],
      'pin-fd': "read the token's PIN from descriptor N, when the key can only be checked after a login (no public key or certificate beside it)",
      ...stateHelp,
    },
    positionals: true,
  },
  async run(v, pos) {
    const id = one(pos, identityAdd.spec, 'identity');
    if (typeof v.cert !== 'string' || typeof v.key !== 'string') throw new UsageError('tlspool identity add: --cert and --key are required');
    const chain = fs.readFileSync(v.cert, 'utf8');
    let checked: string | undefined;
    if (v.key.startsWith('pkcs11:')) {
      // As a key file is read and matched with the certificate, so is a key on a token: now, not at the first handshake.
      checkIdentityString(id);
      const modules = modulePaths(v as { 'pkcs11-module'?: string[]; config?: string }).map(openModule);
      try {
        checked = await checkKeyOnToken(modules, v.key, chain, (t, session) => loginWithPin(v as { 'pin-fd'?: string }, t, session));
      } finally {
        for (const m of modules) m.close();
      }
    }
    const identity = openStore(v).addIdentity(id, chain, v.key, { replace: v.replace === true, isDefault: v.default === true });
    out(`added ${identity.localid}${identity.isDefault ? ' (default)' : ''}, key ${identity.keyRef}${checked ? ` (${checked})` : ''}`);
    const leaf = readCertificate(identity.chainPem);
    const warning = validityWarning(leaf);
    const refused = validityOf(leaf) === 'expiring' ? '' : '; peers will refuse it';
    if (warning) process.stderr.write(`tlspool identity add: warning: the certificate of ${identity.localid} ${warning}${refused}\n`);
    return 0;
  },
};

const identityList: Sub = {
  spec: {
    name: 'identity list',
    usage: 'identity list [--json]',
    summary: 'list local identities',
    options: { json: { type: 'boolean' }, ...stateOptions },
    help: { json: 'print JSON', ...stateHelp },
  },
  run(v) {
    const list = openStore(v).listIdentities().map((i) => {
      const leaf = readCertificate(i.chainPem);
      const validity = validityOf(leaf);
      return { localid: i.localid, default: i.isDefault, key: i.keyRef, not_after: leaf.notAfter.toISOString(), validity, names: [...leaf.names.dns, ...leaf.names.email] };
    });
    if (v.json) out(JSON.stringify(list, null, 2));
    else if (list.length === 0) out('no local identities; add one with: tlspool identity add ID --cert FILE --key FILE');
    else for (const i of list) out(`${i.default ? '*' : ' '} ${i.localid}  ${VALIDITY_WORDS[i.validity]} ${i.not_after.slice(0, 10)}  key ${i.key}`);
    return 0;
  },
};

const identityRemove: Sub = {
  spec: { name: 'identity remove', usage: 'identity remove ID', summary: 'remove a local identity', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true, operand: 'identity' },
  run(v, pos) {
    const id = one(pos, identityRemove.spec, 'identity');
    openStore(v).removeIdentity(id);
    out(`removed ${id}`);
    return 0;
  },
};

const identityDefault: Sub = {
  spec: { name: 'identity default', usage: 'identity default ID', summary: 'make an identity the default one', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true, operand: 'identity' },
  run(v, pos) {
    const id = one(pos, identityDefault.spec, 'identity');
    openStore(v).setDefault(id);
    out(`${id} is now the default identity`);
    return 0;
  },
};

const trustAdd: Sub = {
  spec: { name: 'trust add', usage: 'trust add FILE', summary: 'trust the CA certificates in a PEM file', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true, operand: 'file' },
  run(v, pos) {
    const file = one(pos, trustAdd.spec, 'PEM file');
    const added = openStore(v).addTrustAnchors(fs.readFileSync(file, 'utf8'));
    if (added.length === 0) out('already trusted; nothing added');
    for (const a of added) out(`trusted ${a.subject}  sha256 ${a.sha256}`);
    return 0;
  },
};

const trustList: Sub = {
  spec: { name: 'trust list', usage: 'trust list [--json]', summary: 'list trust anchors', options: { json: { type: 'boolean' }, ...stateOptions }, help: { json: 'print JSON', ...stateHelp } },
  run(v) {
    const list = openStore(v).listTrustAnchors().map((a) => ({ sha256: a.sha256, subject: a.subject, added_at: a.addedAt }));
    if (v.json) out(JSON.stringify(list, null, 2));
    else if (list.length === 0) out('no trust anchors of our own (the system store may still apply); add one with: tlspool trust add FILE');
    else for (const a of list) out(`${a.sha256.slice(0, 16)}  ${a.subject}`);
    return 0;
  },
};

const trustRemove: Sub = {
  spec: { name: 'trust remove', usage: 'trust remove FINGERPRINT', summary: 'stop trusting an anchor (SHA-256, or a unique prefix of 8+ hex digits)', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true },
  run(v, pos) {
    const removed = openStore(v).removeTrustAnchor(one(pos, trustRemove.spec, 'fingerprint'));
    out(`no longer trusted: ${removed.subject}`);
    return 0;
  },
};

const identityGenerate: Sub = {
  spec: {
    name: 'identity generate',
    usage: 'identity generate ID --token LABEL [--csr FILE] [--label NAME] [--days N] [--pin-fd N] [--pkcs11-module PATH]...',
    summary: 'make a P-256 key pair on a token (never extractable), and for ID either a self-signed certificate on the token or, with --csr, a certificate request',
    options: {
      token: { type: 'string' },
      csr: { type: 'string' },
      label: { type: 'string' },
      days: { type: 'string' },
      default: { type: 'boolean' },
      replace: { type: 'boolean' },
      ...tokenOptions,
      ...stateOptions,
    },
    help: {
      token: 'the label of the token to make the key on',
      csr: 'write a certificate request (PEM) to FILE instead of making a self-signed certificate; once a CA has issued the certificate, add the identity with tlspool identity add ID --cert FILE --key URI',
      label: 'object label of the key and certificate (default: ID)',
      days: 'validity of the self-signed certificate in days (default 365)',
      default: 'make this the default identity',
      replace: 'replace an identity of the same name',
      ...tokenHelp,
      ...stateHelp,
    },
    positionals: true,
  },
  async run(v, pos) {
    const id = one(pos, identityGenerate.spec, 'identity');
    checkIdentityString(id);
    if (typeof v.token !== 'string') throw new UsageError('tlspool identity generate: --token LABEL is required');
    const days = v.days === undefined ? 365 : Number(v.days);
    if (!Number.isInteger(days) || days < 1) throw new UsageError(`tlspool identity generate: --days must be a positive integer`);
    const store = typeof v.csr === 'string' ? undefined : openStore(v);
    if (store?.getIdentity(id) && !v.replace) throw new Error(`identity ${id} exists; remove it first or use --replace`);
    const modules = modulePaths(v as { 'pkcs11-module'?: string[]; config?: string }).map(openModule);
    try {
      const t = findToken(modules, v.token);
      const session = t.module.p11.C_OpenSession(t.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      let g;
      try {
        await loginWithPin(v as { 'pin-fd'?: string }, t, session);
        g = generateIdentityKey(t, session, id, { label: typeof v.label === 'string' ? v.label : undefined, csr: typeof v.csr === 'string', days });
        t.module.p11.C_Logout(session);
      } finally {
        t.module.p11.C_CloseSession(session);
      }
      if (typeof v.csr === 'string') {
        fs.writeFileSync(v.csr, g.pem);
        out(`made a P-256 key on token "${t.label}": ${g.keyUri}`);
        out(`wrote the certificate request to ${v.csr}; with the certificate: tlspool identity add ${id} --cert FILE --key '${g.keyUri}'`);
      } else {
        const identity = store!.addIdentity(id, g.pem, g.keyUri, { replace: v.replace === true, isDefault: v.default === true });
        out(`made a P-256 key and a self-signed certificate on token "${t.label}"`);
        out(`added ${identity.localid}${identity.isDefault ? ' (default)' : ''}, key ${identity.keyRef}`);
    const leaf = readCertificate(identity.chainPem);
    const warning = validityWarning(leaf);
    const refused = validityOf(leaf) === 'expiring' ? '' : '; peers will refuse it';
    if (warning) process.stderr.write(`tlspool identity add: warning: the certificate of ${identity.localid} ${warning}${refused}\n`);
      }
    } finally {
      for (const m of modules) m.close();
    }
    return 0;
  },
};

const identityImport: Sub = {
  spec: {
    name: 'identity import',
    usage: 'identity import ID --pkcs11 URI [--pkcs11-module PATH]...',
    summary: 'bind ID to a certificate and key already on a token (the certificate is found by the URI\'s object label or id)',
    options: { pkcs11: { type: 'string' }, default: { type: 'boolean' }, replace: { type: 'boolean' }, 'pkcs11-module': tokenOptions['pkcs11-module'], ...stateOptions },
    help: {
      pkcs11: 'a PKCS #11 URI naming the token and the object: pkcs11:token=LABEL;object=NAME (or id=%01)',
      default: 'make this the default identity',
      replace: 'replace an identity of the same name',
      'pkcs11-module': tokenHelp['pkcs11-module'],
      ...stateHelp,
    },
    positionals: true,
  },
  run(v, pos) {
    const id = one(pos, identityImport.spec, 'identity');
    if (typeof v.pkcs11 !== 'string' || !v.pkcs11.startsWith('pkcs11:')) throw new UsageError('tlspool identity import: --pkcs11 URI is required');
    const uri = parsePkcs11Uri(v.pkcs11);
    if (!uri.token) throw new UsageError('tlspool identity import: the URI must name the token (token=LABEL)');
    if (!uri.object && !uri.id) throw new UsageError('tlspool identity import: the URI must name the object (object=NAME or id=%..)');
    const store = openStore(v);
    const modules = modulePaths(v as { 'pkcs11-module'?: string[]; config?: string }).map(openModule);
    try {
      const t = findToken(modules, uri.token);
      const session = t.module.p11.C_OpenSession(t.slot, pkcs11js.CKF_SERIAL_SESSION);
      let der: Buffer;
      try {
        const template: pkcs11js.Template = [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE }];
        if (uri.object) template.push({ type: pkcs11js.CKA_LABEL, value: uri.object });
        if (uri.id) template.push({ type: pkcs11js.CKA_ID, value: uri.id });
        const found = findObjects(t, session, template);
        if (found.length !== 1) throw new Error(`${found.length === 0 ? 'no' : found.length} certificate${found.length === 1 ? '' : 's'} on token "${t.label}" match ${v.pkcs11}`);
        der = t.module.p11.C_GetAttributeValue(session, found[0]!, [{ type: pkcs11js.CKA_VALUE }])[0]!.value as Buffer;
      } finally {
        t.module.p11.C_CloseSession(session);
      }
      const keyRef = v.pkcs11.replace(/;type=[^;?]*/, '') + ';type=private';
      const identity = store.addIdentity(id, pem('CERTIFICATE', der), keyRef, { replace: v.replace === true, isDefault: v.default === true });
      out(`added ${identity.localid}${identity.isDefault ? ' (default)' : ''}, key ${identity.keyRef}`);
    const leaf = readCertificate(identity.chainPem);
    const warning = validityWarning(leaf);
    const refused = validityOf(leaf) === 'expiring' ? '' : '; peers will refuse it';
    if (warning) process.stderr.write(`tlspool identity add: warning: the certificate of ${identity.localid} ${warning}${refused}\n`);
    } finally {
      for (const m of modules) m.close();
    }
    return 0;
  },
};

export const identity = group('identity', 'Manage local identities: the names this pool can show, with their certificates and keys.', {
  add: identityAdd,
  generate: identityGenerate,
  import: identityImport,
  list: identityList,
  remove: identityRemove,
  default: identityDefault,
  tlsa: { spec: tlsaSpec, run: identityTlsa },
});

export const trust = group('trust', 'Manage the trust anchors that remote certificates are validated against.', {
  add: trustAdd,
  list: trustList,
  remove: trustRemove,
});
