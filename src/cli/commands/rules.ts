/**
 * `tlspool rules list|revoke`: the remembered disclosure choices ("show
 * identity X to remote Y: allow/deny, forever"), read and revoked straight
 * in the state database, so it works with or without a daemon or desktop.
 * Choices kept only until restart live in the daemon and are seen through
 * its control socket (`rules.list`).
 */
import { loadConfig } from '../../config';
import { openDb } from '../../store/db';
import { listStoredRules, revokeStoredRule } from '../../daemon/disclosure/rules';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

const options = { json: { type: 'boolean' }, 'state-dir': { type: 'string' }, config: { type: 'string' } } as const;
const help = {
  'state-dir': 'state directory (default: $TLSPOOL_STATE_DIR, the config file, then ~/.local/state/tlspool or /var/lib/tlspool)',
  config: 'configuration file (default: $TLSPOOL_CONFIG, then the per-user or system file)',
};

export const listSpec = {
  name: 'rules list',
  usage: 'rules list [--json] [--state-dir DIR]',
  summary: 'list the remembered disclosure rules: id, local identity, remote, allow or deny, and since when they hold',
  options,
  help: { json: 'print JSON', ...help },
} satisfies CommandSpec<typeof options>;

export const revokeSpec = {
  name: 'rules revoke',
  usage: 'rules revoke ID [--state-dir DIR]',
  summary: 'forget the rule with this id (from `tlspool rules list`); the next such handshake is asked again',
  options,
  help: { json: 'print the rules left as JSON', ...help },
  positionals: true,
} satisfies CommandSpec<typeof options>;

const USAGE = [
  'Usage: tlspool rules SUBCOMMAND [OPTIONS]',
  '',
  'Disclosure rules say whether the pool may show a local identity to a remote peer.',
  'They are made when the approval agent (the desktop app) answers with "forever".',
  '',
  'Subcommands:',
  `  list      ${listSpec.summary}`,
  `  revoke    ${revokeSpec.summary}`,
  '',
  "Run 'tlspool rules SUBCOMMAND --help' for its options.",
  '',
].join('\n');

function openState(values: { 'state-dir'?: string; config?: string }) {
  const config = loadConfig({ flags: { state_dir: values['state-dir'], config: values.config }, env: process.env });
  return openDb(config.state_dir);
}

export async function rules(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const spec = sub === 'list' ? listSpec : sub === 'revoke' ? revokeSpec : undefined;
  if (!spec) throw new UsageError(`tlspool rules: unknown subcommand "${sub}" (see tlspool rules --help)`);
  const args = parse(spec, rest);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const v = args.values;
  if (sub === 'list' && args.positionals.length > 0) throw new UsageError('tlspool rules list: takes no arguments (see tlspool rules list --help)');
  let id = 0;
  if (sub === 'revoke') {
    if (args.positionals.length !== 1 || !/^[1-9]\d{0,15}$/.test(args.positionals[0]!)) {
      throw new UsageError('tlspool rules revoke: give exactly one rule id, a number from `tlspool rules list` (see tlspool rules revoke --help)');
    }
    id = Number(args.positionals[0]);
  }
  const db = openState(v);
  try {
    if (sub === 'revoke') {
      const r = revokeStoredRule(db, id);
      process.stdout.write(`revoked rule ${r.id}: ${r.decision} showing ${r.localid} to ${r.remote}\n`);
    }
    const list = listStoredRules(db);
    if (v.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    else if (sub === 'list') {
      if (list.length === 0) process.stdout.write('no disclosure rules remembered\n');
      for (const r of list) process.stdout.write(`${r.id}  ${r.decision.padEnd(5)}  ${r.localid} -> ${r.remote}  (since ${r.createdAt.replace('T', ' ').slice(0, 19)})\n`);
    }
    return 0;
  } finally {
    db.close();
  }
}
