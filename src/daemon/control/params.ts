/**
 * Checking a control method's params: each reader takes what it knows and
 * the last check refuses anything left over, so a misspelt key is an
 * INVALID_PARAMS answer rather than silently ignored.
 */
import { Failure } from '../../model/failure';

export class Params {
  private readonly seen = new Set<string>();
  private readonly p: Record<string, unknown>;

  constructor(
    private readonly method: string,
    params: unknown,
  ) {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw this.bad('params must be an object (by name)');
    }
    this.p = params as Record<string, unknown>;
  }

  bad(why: string): Failure {
    return new Failure('EINVAL', `${this.method}: ${why}`);
  }

  /** `hint`, if given, follows the refusal (what to do instead). */
  optInt(name: string, min: number, max: number, hint?: string): number | undefined {
    this.seen.add(name);
    const v = this.p[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw this.bad(`${name} must be a whole number from ${min} to ${max}${hint ? `; ${hint}` : ''}`);
    }
    return v;
  }

  int(name: string, min: number, max: number): number {
    const v = this.optInt(name, min, max);
    if (v === undefined) throw this.bad(`${name} is required`);
    return v;
  }

  optStr(name: string): string | undefined {
    this.seen.add(name);
    const v = this.p[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw this.bad(`${name} must be a non-empty string`);
    return v;
  }

  str(name: string): string {
    const v = this.optStr(name);
    if (v === undefined) throw this.bad(`${name} is required`);
    return v;
  }

  optOneOf<V extends string>(name: string, values: readonly V[]): V | undefined {
    const v = this.optStr(name);
    if (v !== undefined && !values.includes(v as V)) throw this.bad(`${name} must be one of ${values.join(', ')}`);
    return v as V | undefined;
  }

  oneOf<V extends string>(name: string, values: readonly V[]): V {
    const v = this.optOneOf(name, values);
    if (v === undefined) throw this.bad(`${name} is required (one of ${values.join(', ')})`);
    return v;
  }

  /** Refuse keys no reader asked for. */
  done(): void {
    const extra = Object.keys(this.p).filter((k) => !this.seen.has(k));
    if (extra.length > 0) {
      throw this.bad(`unknown param${extra.length > 1 ? 's' : ''} ${extra.join(', ')}${this.seen.size ? ` (known: ${[...this.seen].join(', ')})` : ' (it takes none)'}`);
    }
  }
}
