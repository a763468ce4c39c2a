/**
 * The text a PIN entry program shows: what is asked and for whom, within the
 * 128 bytes of `prompt`. The requester (executable and pid from the STARTTLS
 * requester's peer credentials, its command line when known) and the remote peer are named so that a
 * person can tell a PIN request they expect from one they do not.
 */
import * as path from 'node:path';
import { shortCommand } from '../../model/command';
import { fitString } from '../../protocol/codec';
import type { TokenRef } from './token';
import { PROMPT_BYTES } from '../../protocol/wire-text';

export interface PromptFacts {
  token: TokenRef;
  wrong: boolean;
  finalTry: boolean;
  countLow: boolean;
  requester?: { pid: number; executable?: string; command?: readonly string[] };
  peer?: string;
}

export function promptText(f: PromptFacts): string {
  const head = [f.wrong ? 'Wrong PIN, try again.' : '', f.finalTry ? 'FINAL TRY before the token locks.' : f.countLow ? 'Few tries left.' : '']
    .filter(Boolean)
    .join(' ');
  const what = `PIN for token "${f.token.label}"`;
  const who = (exe: string | undefined) =>
    f.requester ? ` for ${exe ?? 'pid'}${exe ? `${exe.includes(' ') ? ' ' : ''}[${f.requester.pid}]` : ` ${f.requester.pid}`}` : '';
  const to = f.peer ? ` to ${f.peer}` : '';
  const fits = (t: string) => Buffer.byteLength(t) <= PROMPT_BYTES;
  // The command line tells one Node or Python program from another; the executable is what is left when it does not fit.
  const command = f.requester?.command?.length ? shortCommand(f.requester.command, 48) : undefined;
  const names = [command, f.requester?.executable, f.requester?.executable && path.basename(f.requester.executable)].filter((n) => !!n);
  for (const exe of names.length > 0 ? names : [undefined]) {
    const text = [head, `${what}${who(exe || undefined)}${to}`].filter(Boolean).join(' ');
    if (fits(text)) return text;
  }
  return fitString([head, `${what}${who(f.requester?.executable && path.basename(f.requester.executable))}${to}`].filter(Boolean).join(' '), PROMPT_BYTES + 1);
}
