/**
 * The desktop app's XDG autostart entry (the XDG Autostart specification):
 * $XDG_CONFIG_HOME/autostart/tlspool.desktop, or ~/.config/autostart. It is
 * the app's desktop entry (build/tlspool.desktop) with the command that
 * starts it, made to start it at login. Used by `tlspool autostart` and by
 * the Electron app's `--autostart`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from './package-root';

export const AUTOSTART_NAME = 'tlspool.desktop';

/** Where the entry goes: relative XDG_CONFIG_HOME values are ignored, as the XDG spec says. */
export function autostartFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME && path.isAbsolute(env.HOME) ? env.HOME : os.homedir(), '.config');
  return path.join(config, 'autostart', AUTOSTART_NAME);
}

/** A word of an Exec= line, quoted as the Desktop Entry specification says when it must be. */
function execArg(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word.replace(/%/g, '%%');
  return `"${word.replace(/[`$"\\]/g, (c) => `\\${c}`).replace(/%/g, '%%')}"`.replace(/\\/g, '\\\\');
}

/** The autostart entry: the app's desktop entry, running `command` (program and arguments). */
export function autostartEntry(command: readonly string[]): string {
  const app = fs.readFileSync(path.join(packageRoot(), 'build', 'tlspool.desktop'), 'utf8');
  const exec = command.map(execArg).join(' ');
  const lines = app
    .split('\n')
    .filter((l) => l !== '')
    // Started by the session, with no file or URL: no field codes.
    .map((l) => (l.startsWith('Exec=') ? `Exec=${exec}` : l));
  return [...lines, 'X-GNOME-Autostart-enabled=true', ''].join('\n');
}

/** Write the entry (replacing one there); returns its path. */
export function enableAutostart(command: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const file = autostartFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tlspool-new`;
  fs.writeFileSync(tmp, autostartEntry(command), { mode: 0o644 });
  fs.renameSync(tmp, file);
  return file;
}

/** Remove the entry; returns its path and whether there was one. */
export function disableAutostart(env: NodeJS.ProcessEnv = process.env): { file: string; removed: boolean } {
  const file = autostartFile(env);
  try {
    fs.unlinkSync(file);
    return { file, removed: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file, removed: false };
    throw e;
  }
}

/** The Exec= line of the entry there, or undefined when there is none. */
export function autostartCommand(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    return /^Exec=(.*)$/m.exec(fs.readFileSync(autostartFile(env), 'utf8'))?.[1];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
