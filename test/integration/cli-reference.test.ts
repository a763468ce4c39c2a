/**
 * What the `tlspool` command says about itself, everywhere it says it:
 * --help and --version, usage errors, the man pages tlspool(1) and
 * tlspool.conf(5) (checked with mandoc and groff), and bash completion (run
 * in bash). All of them are made from the command specs and
 * docs/configuration.md; these tests hold them to each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configSchema, loadConfig } from '../../src/config';
import { describeValues } from '../../src/config/schema';
import { METAVARS } from '../../src/cli/args';
import { COMMANDS, subcommands } from '../../src/cli/registry';
import { manPages } from '../../src/cli/man/write';
import { CLI, ROOT, tempDir } from '../../harness/daemon';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';

function tlspool(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SPECS = COMMANDS.flatMap((c) => c.specs);
const MAN1 = path.join(ROOT, 'dist', 'man', 'man1', 'tlspool.1');
const MAN5 = path.join(ROOT, 'dist', 'man', 'man5', 'tlspool.conf.5');

test('--version prints the version of package.json', () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = tlspool(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `tlspool ${version}\n`);
});

test('every usage error exits 2 with one line that points at --help', () => {
  const cases: Array<[string[], RegExp]> = [
    [['ping', '--count', 'abc'], /^tlspool ping: --count must be a positive integer, got "abc" \(see tlspool ping --help\)\n$/],
    [['ping', '--count', '0'], /^tlspool ping: --count must be a positive integer, got "0"/],
    [['connections', '--limit', '-1'], /^tlspool connections: --limit must be a positive integer, got "-1" \(see tlspool connections --help\)\n$/],
    [['connections', '-n', '-5'], /^tlspool connections: --limit must be a positive integer, got "-5"/],
    [['ping', '--bogus'], /^tlspool ping: Unknown option '--bogus' \(see tlspool ping --help\)\n$/],
    [['ping', '--socket'], /^tlspool ping: Option '--socket <value>' argument missing/],
    [['--bogus'], /^tlspool: unknown option "--bogus" \(see tlspool --help\)\n$/],
    [['nonsense'], /^tlspool: unknown command "nonsense" \(see tlspool --help\)\n$/],
    [['identity', 'nonsense'], /^tlspool identity: unknown subcommand "nonsense"/],
    [['identity', 'remove'], /^tlspool identity remove: give exactly one identity/],
    [['autostart', 'maybe'], /^tlspool autostart: say on, off or status/],
    [['completion', 'fish'], /^tlspool completion: say which shell: bash/],
    [['ui', '--web', '--port', '-3'], /^tlspool ui: --port must be 0\.\.65535, not -3\n$/],
  ];
  for (const [args, message] of cases) {
    const r = tlspool(args);
    assert.equal(r.code, 2, `tlspool ${args.join(' ')} exits 2 (got ${r.code}: ${r.stderr})`);
    assert.match(r.stderr, message, `tlspool ${args.join(' ')}`);
    assert.equal(r.stdout, '');
  }
});

test('tlspool --help names every command and subcommand', () => {
  const r = tlspool(['--help']);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) {
    const subs = subcommands(c);
    const label = subs.length > 0 ? `${c.name} ${subs.join('|')}` : c.name;
    assert.match(r.stdout, new RegExp(`^  ${label.replace(/[|]/g, '\\|')}( |$)`, 'm'), `tlspool --help shows ${label}`);
  }
  for (const s of ['identity generate', 'identity import', 'identity default']) assert.ok(SPECS.some((spec) => spec.name === s), `${s} is a command`);
});

test('every --help shows what each option takes, and no sentence is left unfinished', () => {
  for (const spec of SPECS) {
    const r = tlspool([...spec.name.split(' '), '--help']);
    assert.equal(r.code, 0, `${spec.name} --help: ${r.stderr}`);
    assert.ok(!r.stdout.includes('VALUE'), `tlspool ${spec.name} --help names what each value is:\n${r.stdout}`);
    for (const [name, o] of Object.entries(spec.options)) {
      const shown = o.type === 'string' ? `--${name} ${METAVARS[name]}` : `--${name}`;
      assert.ok(r.stdout.includes(`${shown}  `), `tlspool ${spec.name} --help shows ${shown}`);
    }
    // A help text that ends on one of these words stopped mid-sentence.
    for (const text of [spec.summary, ...Object.values(spec.help as Record<string, string>)]) {
      assert.doesNotMatch(text, /\b(a|an|the|is|are|of|to|or|and|with|for|once|if|when)\s*$/i, `tlspool ${spec.name}: "${text}" ends mid-sentence`);
    }
  }
  const generate = tlspool(['identity', 'generate', '--help']).stdout;
  assert.match(generate, /--csr FILE .*add the identity with tlspool identity add ID --cert FILE --key URI\n/);
});

test('the man pages in dist/man are the ones the specs and docs/configuration.md make now', () => {
  const pages = manPages();
  assert.equal(fs.readFileSync(MAN1, 'utf8').replace(/^\.TH .*$/m, ''), pages['man1/tlspool.1']!.replace(/^\.TH .*$/m, ''), 'rebuild: npm run build:ts');
  assert.equal(fs.readFileSync(MAN5, 'utf8').replace(/^\.TH .*$/m, ''), pages['man5/tlspool.conf.5']!.replace(/^\.TH .*$/m, ''), 'rebuild: npm run build:ts');
});

/** The page as man(1) shows it: plain text, no hyphenation across lines. */
function rendered(page: string): string {
  const r = spawnSync('mandoc', ['-T', 'utf8', '-O', 'width=400', page], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/.\x08/g, '');
}

test('tlspool(1) has every command, subcommand and option of the specs', () => {
  const text = rendered(MAN1);
  for (const spec of SPECS) {
    const section = new RegExp(`^   tlspool ${spec.name}\\n([\\s\\S]*?)(?=^   tlspool |^[A-Z])`, 'm').exec(text);
    assert.ok(section, `tlspool(1) has a section for tlspool ${spec.name}`);
    for (const [name, o] of Object.entries(spec.options)) {
      const label = o.type === 'string' ? `--${name} ${METAVARS[name]}` : `--${name}`;
      assert.ok(section[1]!.includes(label), `tlspool(1), tlspool ${spec.name}: ${label}`);
    }
    assert.ok(text.includes(`tlspool ${spec.usage.split('\n')[0]}`), `tlspool(1) synopsis: tlspool ${spec.usage.split('\n')[0]}`);
  }
  assert.match(text, /FileDescriptorName= is tlspool as the pool socket and control as the control socket/);
});

test('tlspool.conf(5) has every key of the configuration', () => {
  const text = rendered(MAN5);
  const keys = describeValues(configSchema, loadConfig({ flags: {}, env: { HOME: '/home/u' }, uid: 1000 })).map(([k]) => k);
  assert.ok(keys.length > 20);
  for (const key of keys) assert.match(text, new RegExp(`^       ${key.replace('.', '\\.')}\\s`, 'm'), `tlspool.conf(5) has a paragraph for ${key}`);
  assert.match(text, /^       limits\.connections_per_uid\s+the same for one uid\n\s+Default: 256$/m);
});

test('mandoc -T lint and groff -ww find nothing to say about the pages', () => {
  for (const page of [MAN1, MAN5]) {
    const lint = spawnSync('mandoc', ['-T', 'lint', page], { encoding: 'utf8' });
    assert.equal(lint.stdout + lint.stderr, '', `mandoc -T lint ${page}`);
    assert.equal(lint.status, 0);
    const groff = spawnSync('groff', ['-man', '-ww', '-z', page], { encoding: 'utf8' });
    assert.equal(groff.stderr, '', `groff -ww ${page}`);
    assert.equal(groff.status, 0);
  }
});

/** What bash offers for the command line `words`, the last being the word completed. */
function complete(words: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const script = tlspool(['completion', 'bash']);
  assert.equal(script.code, 0, script.stderr);
  const dir = tempDir('tlspool-complete-');
  try {
    const file = path.join(dir, 'tlspool.bash');
    fs.writeFileSync(file, script.stdout);
    // COMP_WORDS[0] is this checkout's command, as it would be the tlspool on PATH.
    const array = [CLI, ...words.slice(1)].map((w) => `'${w}'`).join(' ');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source '${file}'; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _tlspool; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout.split('\n').filter((l) => l !== '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('bash completion offers the commands, subcommands and options of the specs', () => {
  assert.deepEqual(complete(['tlspool', '']), [...COMMANDS.map((c) => c.name), '--help', '--version']);
  assert.deepEqual(complete(['tlspool', 'in']), ['install-units']);
  assert.deepEqual(complete(['tlspool', 'identity', '']), ['add', 'generate', 'import', 'list', 'remove', 'default', 'tlsa', '--help']);
  assert.deepEqual(complete(['tlspool', 'ping', '--']), ['--socket', '--config', '--count', '--json', '--help']);
  assert.deepEqual(complete(['tlspool', 'identity', 'generate', '--c']), ['--csr', '--config']);
  assert.deepEqual(complete(['tlspool', 'autostart', '']), ['on', 'off', 'status']);
  assert.deepEqual(complete(['tlspool', 'ping', '--count', '']), [], 'a number is not completed');
});

test('bash completion offers files and directories where an option takes one', () => {
  const dir = tempDir('tlspool-complete-files-');
  try {
    fs.writeFileSync(path.join(dir, 'pool.yaml'), '');
    fs.mkdirSync(path.join(dir, 'pool-state'));
    assert.deepEqual(complete(['tlspool', 'daemon', '--config', `${dir}/po`]).sort(), [`${dir}/pool-state`, `${dir}/pool.yaml`]);
    assert.deepEqual(complete(['tlspool', 'daemon', '--state-dir', `${dir}/po`]), [`${dir}/pool-state`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bash completion offers the local identities of the store the command line names', () => {
  const dir = tempDir('tlspool-complete-ids-');
  try {
    const pki = getPki();
    const state = path.join(dir, 'state');
    for (const [id, cert, key] of [
      [SERVER_NAME, pki.server.chainPath, pki.server.keyPath],
      [CLIENT_EMAIL, pki.client.chainPath, pki.client.keyPath],
    ]) {
      const r = tlspool(['identity', 'add', id!, '--cert', cert!, '--key', key!, '--state-dir', state]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(complete(['tlspool', 'identity', 'remove', '--state-dir', state, '']).sort(), [CLIENT_EMAIL, SERVER_NAME].sort());
    assert.deepEqual(complete(['tlspool', 'identity', 'default', '']), [], 'the default store (none here) has no identities');
    assert.deepEqual(complete(['tlspool', 'identity', 'default', SERVER_NAME.slice(0, 3)], { TLSPOOL_STATE_DIR: state }), [SERVER_NAME]);
    assert.deepEqual(complete(['tlspool', 'tunnel', '--local-id', ''], { TLSPOOL_STATE_DIR: state }).sort(), [CLIENT_EMAIL, SERVER_NAME].sort());
    assert.deepEqual(complete(['tlspool', 'identity', 'remove', SERVER_NAME, ''], { TLSPOOL_STATE_DIR: state }), [], 'one identity only');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
