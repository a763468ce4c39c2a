/** The configuration's failure: EINVAL, with where the problem is (file, line, key) for tools that point at it. */
import { Failure } from '../model/failure';

/** Where a problem is: a place in the file, or a command-line flag or environment variable. */
export interface ConfigErrorPlace {
  file?: string;
  /** 1-based, as editors count. */
  line?: number;
  column?: number;
  /** Dotted key as written in the file: `log.level`, `tls.ciphers[2]`. */
  key?: string;
  /** `--socket` or `TLSPOOL_SOCKET` when the value did not come from the file. */
  origin?: string;
}

export class ConfigError extends Failure {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly key?: string;

  constructor(problem: string, place: ConfigErrorPlace = {}) {
    super('EINVAL', formatProblem(problem, place));
    this.file = place.file;
    this.line = place.line;
    this.column = place.column;
    this.key = place.key;
  }
}

/**
 * One line in the shape compilers use, so editors and terminals can jump to it:
 * `file:line:column: key: problem`. A flag or variable names itself instead of
 * a file, and then the key would only repeat it.
 */
function formatProblem(problem: string, place: ConfigErrorPlace): string {
  if (place.origin !== undefined) return `${place.origin}: ${problem}`;
  let where = place.file;
  if (where !== undefined && place.line !== undefined) where += `:${place.line}:${place.column ?? 1}`;
  return [where, place.key || undefined, problem].filter((s) => s !== undefined).join(': ');
}
