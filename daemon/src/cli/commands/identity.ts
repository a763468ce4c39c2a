/** `tlspool identity …` and `tlspool trust …`: edit the state database directly. */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { loadConfig } from '../../config';
import { openDb } from '../../identity/db';
import { certificateNames } from '../../identity/names';
import { IdentityStore } from '../../identity/store';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

const stateOptions = {
  'state-dir': { type: 'string' },
  config: { type: 'string' },
} as const;
const stateHelp = {
  'state-dir': 'state directory (default: $TLSPOOL_STATE_DIR, the config file, then ~/.local/state/tlspool or /var/lib/tlspool)',
  config: 'configuration file (default: $TLSPOOL_CONFIG, then the per-user or system file)',
};

function openStore(values: { 'state-dir'?: string; config?: string }): IdentityStore {
  const config = loadConfig({ flags: { state_dir: values['state-dir'], config: values.config }, env: process.env });
  return new IdentityStore(openDb(config.state_dir));
}

type Sub = { spec: CommandSpec<Record<string, { type: 'string' | 'boolean' }>>; run: (values: Record<string, string | boolean | undefined>, positionals: string[]) => number };

function group(name: string, summary: string, subs: Record<string, Sub>) {
  const usage = () =>
    [`Usage: tlspool ${name} SUBCOMMAND [OPTIONS]`, '', summary, '', 'Subcommands:', ...Object.entries(subs).map(([n, s]) => `  ${n.padEnd(10)}${s.spec.summary}`), '', `Run 'tlspool ${name} SUBCOMMAND --help' for its options.`, ''].join('\n');
  return async (argv: string[]): Promise<number> => {
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
    return sub.run(args.values as Record<string, string | boolean | undefined>, args.positionals);
  };
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
    usage: 'identity add ID --cert FILE --key FILE|URI [--default] [--replace]',
    summary: 'bind a local identity (domain or user@domain) to a certificate chain and its key',
    options: { cert: { type: 'string' }, key: { type: 'string' }, default: { type: 'boolean' }, replace: { type: 'boolean' }, ...stateOptions },
    help: {
      cert: 'PEM file with the certificate, then its intermediates',
      key: 'PEM private key file (kept where it is; referenced by path) or a pkcs11: URI',
      default: 'make this the default identity',
      replace: 'replace an identity of the same name',
      ...stateHelp,
    },
    positionals: true,
  },
  run(v, pos) {
    const id = one(pos, identityAdd.spec, 'identity');
    if (typeof v.cert !== 'string' || typeof v.key !== 'string') throw new UsageError('tlspool identity add: --cert and --key are required');
    const chain = fs.readFileSync(v.cert, 'utf8');
    const identity = openStore(v).addIdentity(id, chain, v.key, { replace: v.replace === true, isDefault: v.default === true });
    out(`added ${identity.localid}${identity.isDefault ? ' (default)' : ''}, key ${identity.keyRef}`);
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
      const leaf = new crypto.X509Certificate(i.chainPem);
      const names = certificateNames(leaf);
      return { localid: i.localid, default: i.isDefault, key: i.keyRef, not_after: new Date(leaf.validTo).toISOString(), names: [...names.dns, ...names.email] };
    });
    if (v.json) out(JSON.stringify(list, null, 2));
    else if (list.length === 0) out('no local identities; add one with: tlspool identity add ID --cert FILE --key FILE');
    else for (const i of list) out(`${i.default ? '*' : ' '} ${i.localid}  valid until ${i.not_after.slice(0, 10)}  key ${i.key}`);
    return 0;
  },
};

const identityRemove: Sub = {
  spec: { name: 'identity remove', usage: 'identity remove ID', summary: 'remove a local identity', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true },
  run(v, pos) {
    const id = one(pos, identityRemove.spec, 'identity');
    openStore(v).removeIdentity(id);
    out(`removed ${id}`);
    return 0;
  },
};

const identityDefault: Sub = {
  spec: { name: 'identity default', usage: 'identity default ID', summary: 'make an identity the default one', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true },
  run(v, pos) {
    const id = one(pos, identityDefault.spec, 'identity');
    openStore(v).setDefault(id);
    out(`${id} is now the default identity`);
    return 0;
  },
};

const trustAdd: Sub = {
  spec: { name: 'trust add', usage: 'trust add FILE', summary: 'trust the CA certificates in a PEM file', options: { ...stateOptions }, help: { ...stateHelp }, positionals: true },
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

export const identity = group('identity', 'Manage local identities: the names this pool can show, with their certificates and keys.', {
  add: identityAdd,
  list: identityList,
  remove: identityRemove,
  default: identityDefault,
});

export const trust = group('trust', 'Manage the trust anchors that remote certificates are validated against.', {
  add: trustAdd,
  list: trustList,
  remove: trustRemove,
});
