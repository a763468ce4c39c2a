/**
 * Run as a child of the daemon: lists the tokens of the PKCS #11 modules
 * named on the command line as JSON on stdout. A separate process because
 * GnuTLS (through p11-kit) already initialises the modules in the daemon,
 * and a second C_Initialize there through pkcs11js would fail or, worse,
 * finalise the module under GnuTLS's feet.
 */
import { openModule, tokenInitialized, tokenSlots, type Module } from '../../pkcs11/modules';

export interface ProbedToken {
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  module: string;
  initialized: boolean;
}

function probe(paths: string[]): { tokens: ProbedToken[]; problems: string[] } {
  const tokens: ProbedToken[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    let m: Module;
    try {
      m = openModule(p);
    } catch (e) {
      problems.push(`${p}: ${(e as Error).message}`);
      continue;
    }
    try {
      for (const t of tokenSlots([m])) {
        tokens.push({
          label: t.label,
          manufacturer: t.token.manufacturerID.trim(),
          model: t.token.model.trim(),
          serial: t.token.serialNumber.trim(),
          module: p,
          initialized: tokenInitialized(t.token.flags),
        });
      }
    } catch (e) {
      problems.push(`${p}: ${(e as Error).message}`);
    } finally {
      m.close();
    }
  }
  return { tokens, problems };
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(probe(process.argv.slice(2))));
}
