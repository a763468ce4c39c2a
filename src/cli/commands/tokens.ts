/** `tlspool tokens`: PKCS #11 modules, slots and tokens, and what is on each. */
import * as pkcs11js from 'pkcs11js';
import { loadConfig } from '../../config';
import { listObjects, type TokenObject } from '../../pkcs11/inventory';
import { findToken, openModule, pinState, TOKEN_FLAGS, tokenSlots, type Module } from '../../pkcs11/modules';
import { NOT_VISIBLE, poolTokens, type PoolTokens } from '../pool-tokens';
import { type CommandSpec, helpText, parse } from '../args';
import { loginWithPin, modulePaths, tokenHelp, tokenOptions } from '../token-access';
import { poolHelp, poolOptions } from './common';

const options = { ...poolOptions, ...tokenOptions, json: { type: 'boolean' }, login: { type: 'string' } } as const;
export const spec = {
  name: 'tokens',
  usage: 'tokens [--pkcs11-module PATH]... [--login LABEL [--pin-fd N]] [--json]',
  summary: 'List PKCS #11 modules, their slots and tokens (flags, PIN state, whether the pool has the token\nunlocked), and the certificates and keys on each token.',
  options,
  help: { ...poolHelp, ...tokenHelp, login: 'log in to the token with this label to list its private keys too', json: 'print JSON' },
} satisfies CommandSpec<typeof options>;

export async function tokens(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const v = args.values;
  const modules: Module[] = modulePaths(v).map(openModule);
  let pool: PoolTokens | undefined;
  try {
    // An unknown label is a mistake to say at once, naming the labels there are.
    if (v.login !== undefined) findToken(modules, v.login);
    pool = await poolTokens(loadConfig({ flags: { socket: v.socket, config: v.config }, env: process.env }));
    const report = [];
    for (const m of modules) {
      const slots = [];
      for (const t of tokenSlots([m])) {
        let objects: TokenObject[] = [];
        if (t.token.flags & pkcs11js.CKF_TOKEN_INITIALIZED) {
          const session = m.p11.C_OpenSession(t.slot, pkcs11js.CKF_SERIAL_SESSION);
          try {
            if (v.login === t.label) await loginWithPin(v, t, session);
            objects = listObjects(t, session);
          } finally {
            m.p11.C_CloseSession(session);
          }
        }
        const tok = t.token;
        const facts = { label: t.label, serial: tok.serialNumber.trim(), manufacturer: tok.manufacturerID.trim(), model: tok.model.trim() };
        const token = {
          label: t.label,
          manufacturer: facts.manufacturer,
          model: facts.model,
          serial: facts.serial,
          flags: TOKEN_FLAGS.filter(([bit]) => tok.flags & bit).map(([, n]) => n),
          pin: pinState(tok.flags),
          pool: await pool.state(facts),
        };
        slots.push({ slot: t.slotDescription, token, objects });
      }
      report.push({ module: m.path, description: m.description, slots });
    }
    if (v.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    let notVisible = false;
    for (const m of report) {
      process.stdout.write(`module ${m.module} (${m.description})\n`);
      if (m.slots.length === 0) process.stdout.write('  no tokens\n');
      for (const s of m.slots) {
        const t = s.token;
        process.stdout.write(`  slot "${s.slot}": token "${t.label}" (${t.manufacturer}, ${t.model}, serial ${t.serial})\n`);
        process.stdout.write(`    flags: ${t.flags.join(', ') || 'none'}; PIN: ${t.pin}; in the pool: ${t.pool}\n`);
        if (t.pool === NOT_VISIBLE) notVisible = true;
        if (s.objects.length === 0) process.stdout.write('    no objects visible' + (v.login === t.label ? '' : ' (private keys show after --login)') + '\n');
        for (const o of s.objects) {
          const extra = o.kind === 'private key' ? `${o.extractable ? ', EXTRACTABLE' : ', not extractable'}${o.sensitive ? ', sensitive' : ''}` : '';
          process.stdout.write(`    ${o.kind} "${o.label}" id ${o.id || '-'}: ${o.detail}${extra}\n`);
        }
      }
    }
    if (notVisible) {
      process.stdout.write(
        'A token "not visible to the running daemon" is one this command sees and the daemon does not: it was started\n' +
          'with other PKCS #11 modules or another environment (SOFTHSM2_CONF, the p11-kit configuration). Start it\n' +
          'with the same ones (pkcs11.modules, --pkcs11-module, the same environment), or its handshakes cannot use the token.\n',
      );
    }
    return 0;
  } finally {
    pool?.close();
    for (const m of modules) m.close();
  }
}
