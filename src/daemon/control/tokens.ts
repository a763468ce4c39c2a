/**
 * `tokens.list` for the control socket: the tokens the daemon's modules
 * show, probed in a child process (token-probe.ts says why), and whether
 * the pool holds each one unlocked.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { TokenInfo } from '../../model/tokens';
import type { ProbedToken } from './token-probe';

const PROBE = path.join(__dirname, 'token-probe.js');

/** The tokens of `modules`; `unlocked` says whether the pool holds one's PIN. */
export function listTokens(
  modules: string[],
  unlocked: (t: ProbedToken) => boolean,
  /** A module that could not be opened or listed: the others are still listed. */
  onProblem: (problem: string) => void = () => {},
): Promise<TokenInfo[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PROBE, ...modules], { timeout: 30000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(Object.assign(new Error(`listing the PKCS #11 tokens failed: ${stderr.trim() || err.message}`), { code: 'EIO' }));
        return;
      }
      try {
        const { tokens, problems } = JSON.parse(stdout) as { tokens: ProbedToken[]; problems: string[] };
        for (const p of problems) onProblem(p);
        resolve(tokens.map((t) => ({ ...t, unlocked: unlocked(t) })));
      } catch (e) {
        reject(Object.assign(new Error(`the token probe answered something unreadable: ${(e as Error).message}`), { code: 'EIO' }));
      }
    });
  });
}
