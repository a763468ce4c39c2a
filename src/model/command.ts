/**
 * A process's command line as a person tells programs apart by it: `tlspool
 * tunnel --server :8443` rather than `node (4711)`. The daemon reads the
 * argv of a requester from /proc; this shortens it, the same way for the
 * connection log, the CLI and the UI's list and dialogs.
 */

/** Most arguments kept of a requester's command line (the rest is dropped when it is read). */
export const COMMAND_MAX_ARGS = 32;
/** Longest argument kept, in characters. */
export const COMMAND_MAX_ARG_CHARS = 256;

/** Programs that run a script named by their first argument that is not an option. */
const INTERPRETERS = /^(node|nodejs|python[0-9.]*|perl|ruby|bash|sh|dash|java)$/;

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

/**
 * The program as its name (no directory; an interpreter's script instead of
 * the interpreter, without .js/.py), then its arguments, cut to `max`
 * characters with "…". Empty for an empty argv.
 */
export function shortCommand(argv: readonly string[], max = 60): string {
  if (argv.length === 0) return '';
  let words = argv.slice();
  const prog = basename(words[0]!);
  if (INTERPRETERS.test(prog)) {
    // Skip the interpreter and its options: `node --enable-source-maps bin/tlspool.js tunnel` is `tlspool tunnel`.
    let i = 1;
    while (i < words.length && words[i]!.startsWith('-')) i++;
    words = i < words.length ? [basename(words[i]!).replace(/\.(c?js|mjs|py|pl|rb|sh)$/, ''), ...words.slice(i + 1)] : [prog, ...words.slice(1)];
  } else {
    words[0] = prog;
  }
  const text = words.map((w) => (w === '' || /\s/.test(w) ? JSON.stringify(w) : w)).join(' ');
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}

/** "tlspool tunnel --server :8443 (4711)", "curl (4711)" from the executable, or "pid 4711". */
export function requesterName(r: { readonly pid: number; readonly executable?: string; readonly command?: readonly string[] }, max = 60): string {
  const name = r.command && r.command.length > 0 ? shortCommand(r.command, max) : r.executable ? basename(r.executable) : '';
  return name ? `${name} (${r.pid})` : `pid ${r.pid}`;
}
