/** `tlspool`: one command with subcommands; each has --help. */
import { pkcs11Sentence } from '../pkcs11/ckr';
import { UsageError } from './args';
import { systemErrorSentence } from './system-error';
import { COMMANDS, usage } from './registry';
import { packageVersion } from '../util/package-root';

/** Runs the CLI and returns the exit code; failures print one line to stderr. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage(packageVersion()));
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`tlspool ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const what = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`;
    process.stderr.write(`tlspool: ${what} (see tlspool --help)\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error & { code?: string };
    // A bare CKR_… from a PKCS #11 module, or Node's ENOENT with a path, becomes a sentence.
    process.stderr.write(`tlspool ${name}: ${pkcs11Sentence(err) ?? systemErrorSentence(err) ?? err.message}\n`);
    if (process.env.TLSPOOL_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
