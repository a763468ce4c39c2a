/**
 * A declarative schema for the human-edited YAML file: small combinators that
 * check YAML nodes, fill in defaults and say exactly what is wrong and where.
 * Value types are inferred from the schema (Infer<S>), so the TypeScript type
 * of the configuration cannot drift from what the file accepts.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node, Scalar } from 'yaml';
import { ConfigError, type ConfigErrorPlace } from './error';
import { resolvePath } from './paths';
import { closest } from './suggest';

/** The nodes being decoded came from a file, or from one flag or environment variable. */
export type Source = FileSource | { origin: string };
export interface FileSource {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** A value from a flag or the environment that takes the place of the file's. */
export interface Override {
  value: string;
  /** `--socket`, `TLSPOOL_SOCKET`: named in errors instead of a file position. */
  origin: string;
  /** What a relative path in `value` is relative to. */
  base: string;
}

export interface DecodeContext {
  readonly source: Source;
  /** What relative paths are relative to: the config file's directory. */
  readonly base: string;
  readonly env: NodeJS.ProcessEnv;
  readonly uid: number;
  /** By dotted key (`socket`, `log.level`). */
  readonly overrides?: ReadonlyMap<string, Override>;
}

/** The key a node sits under, and the offset in the file to report problems at. */
export interface Site {
  key: string;
  offset?: number;
}

/** What a YAML node holds, as far as choosing between schemas goes. */
export type Kind = 'string' | 'number' | 'boolean' | 'map' | 'list' | 'other';

export interface Schema<T> {
  /** The accepted values in words, to finish "must be …": `a path`, `one of a, b`. */
  readonly expected: string;
  /** The kinds of node this schema takes; union() picks its alternative by them. */
  readonly kinds: readonly Kind[];
  /** An optional key may be left out, and then its value is undefined. */
  readonly optional: boolean;
  /** `node` is undefined when the key is absent or its value is empty. */
  decode(node: Node | undefined, site: Site, ctx: DecodeContext): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** A fixed default, or one that depends on the user and environment (paths do). */
export type Default<T> = T | ((ctx: DecodeContext) => T);

type Fields = { readonly [name: string]: Schema<unknown> };
type OptionalKeys<F extends Fields> = { [K in keyof F]-?: F[K] extends { readonly optional: true } ? K : never }[keyof F];
type Flatten<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<F extends Fields> = Flatten<
  { -readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & {
    -readonly [K in OptionalKeys<F>]?: Infer<F[K]>;
  }
>;

export interface ObjectSchema<F extends Fields> extends Schema<ObjectOf<F>> {
  readonly fields: F;
}

export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
}

// ---------------------------------------------------------------------------
// Combinators

export function str(opts: { default?: Default<string>; pattern?: RegExp; expected?: string } = {}): Schema<string> {
  const expected = opts.expected ?? (opts.pattern ? `a string matching ${opts.pattern}` : 'a string');
  return scalar<string>(expected, ['string'], opts.default, (value: string, site, ctx) => {
    if (opts.pattern && !opts.pattern.test(value)) fail(ctx, site, `must be ${expected} (got ${quote(value)})`);
    return value;
  });
}

export function int(opts: { min?: number; max?: number; default?: Default<number>; expected?: string } = {}): Schema<number> {
  const { min = -Infinity, max = Infinity } = opts;
  const range =
    min > -Infinity && max < Infinity ? ` from ${min} to ${max}`
    : min > -Infinity ? ` of at least ${min}`
    : max < Infinity ? ` of at most ${max}`
    : '';
  const expected = opts.expected ?? `an integer${range}`;
  return scalar<number>(expected, ['number'], opts.default, (value: number, site, ctx) => {
    if (!Number.isInteger(value) || value < min || value > max) fail(ctx, site, `must be ${expected} (got ${value})`);
    return value;
  });
}

export function bool(opts: { default?: Default<boolean> } = {}): Schema<boolean> {
  return scalar<boolean>('true or false', ['boolean'], opts.default, (value: boolean) => value);
}

export function oneOf<const V extends readonly string[]>(values: V, opts: { default?: Default<V[number]> } = {}): Schema<V[number]> {
  const expected = `one of ${values.join(', ')}`;
  return scalar<V[number]>(expected, ['string'], opts.default, (value: string, site, ctx) => {
    if (values.includes(value)) return value as V[number];
    const near = closest(value, values);
    fail(ctx, site, `must be ${expected} (got ${quote(value)}${near ? `; did you mean ${near}?` : ''})`);
  });
}

/** A file or directory name; `~/` means HOME, and relative names are taken from ctx.base. */
export function path(opts: { default?: Default<string> } = {}): Schema<string> {
  return scalar<string>('a path', ['string'], opts.default, (value: string, site, ctx) => {
    const resolved = resolvePath(value, ctx.base, ctx.env);
    if (typeof resolved !== 'string') fail(ctx, site, resolved.problem);
    return resolved;
  });
}

export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  return {
    expected: inner.expected,
    kinds: inner.kinds,
    optional: true,
    decode: (node, site, ctx) => (node === undefined ? undefined : inner.decode(node, site, ctx)),
  };
}

/** Either of two schemas, chosen by the kind of node: `union(int(), str())` for "gid or group name". */
export function union<A, B>(a: Schema<A>, b: Schema<B>, opts: { default?: Default<A | B> } = {}): Schema<A | B> {
  const expected = `${a.expected} or ${b.expected}`;
  return {
    expected,
    kinds: [...a.kinds, ...b.kinds],
    optional: false,
    decode(node, site, ctx) {
      if (node === undefined) return useDefault(opts.default, expected, site, ctx);
      const kind = kindOf(node);
      if (a.kinds.includes(kind)) return a.decode(node, site, ctx);
      if (b.kinds.includes(kind)) return b.decode(node, site, ctx);
      return mismatch(expected, [...a.kinds, ...b.kinds], node, site, ctx);
    },
  };
}

export function list<T>(item: Schema<T>, opts: { default?: readonly T[] } = {}): Schema<T[]> {
  const expected = `a list, each ${item.expected}`;
  return {
    expected,
    kinds: ['list'],
    optional: false,
    decode(node, site, ctx) {
      if (node === undefined) return [...(opts.default ?? [])];
      if (!isSeq(node)) return mismatch(expected, ['list'], node, site, ctx);
      return node.items.map((it, i) =>
        item.decode(present(it, ctx), { key: `${site.key}[${i}]`, offset: offsetOf(it) ?? site.offset }, ctx),
      );
    },
  };
}

/** A section whose keys the file chooses (DNS zones, ...), each matching `key` and holding a value of `item`. */
export function dict<T>(item: Schema<T>, opts: { key: RegExp; keyExpected: string }): Schema<Record<string, T>> {
  const expected = `a section of "${opts.keyExpected}: value" lines, each value ${item.expected}`;
  return {
    expected,
    kinds: ['map'],
    optional: false,
    decode(node, site, ctx) {
      if (node === undefined) return {};
      if (!isMap(node)) return mismatch(expected, ['map'], node, site, ctx);
      const out: Record<string, T> = {};
      for (const pair of node.items) {
        const keyOffset = offsetOf(pair.key) ?? site.offset;
        const name = isScalar(pair.key) ? pair.key.value : undefined;
        if (typeof name !== 'string' || !opts.key.test(name)) {
          fail(ctx, { key: site.key, offset: keyOffset }, `keys must be ${opts.keyExpected}s (got ${shown(pair.key)})`);
        }
        out[name] = item.decode(present(pair.value, ctx), { key: join(site.key, name), offset: keyOffset }, ctx);
      }
      return out;
    },
  };
}

/**
 * A section of named keys. Unknown keys are errors (a typo must not silently
 * fall back to a default); an absent or empty section takes every default.
 */
export function object<const F extends Fields>(fields: F): ObjectSchema<F> {
  const names = Object.keys(fields);
  const expected = 'a section of "key: value" lines';
  return {
    expected,
    kinds: ['map'],
    optional: false,
    fields,
    decode(node, site, ctx) {
      if (node !== undefined && !isMap(node)) return mismatch(expected, ['map'], node, site, ctx);
      const given = new Map<string, { keyOffset?: number; value: unknown }>();
      for (const pair of node?.items ?? []) {
        const keyOffset = offsetOf(pair.key) ?? site.offset;
        if (!isScalar(pair.key) || typeof pair.key.value !== 'string') {
          fail(ctx, { key: site.key, offset: keyOffset }, `keys must be plain names (got ${shown(pair.key)})`);
        }
        const name = pair.key.value;
        if (!Object.hasOwn(fields, name)) {
          const near = closest(name, names);
          const hint = near ? `did you mean ${near}?` : `known keys here: ${names.join(', ')}`;
          fail(ctx, { key: join(site.key, name), offset: keyOffset }, `unknown key (${hint})`);
        }
        given.set(name, { keyOffset, value: pair.value });
      }

      const out: Record<string, unknown> = {};
      for (const name of names) {
        const field = fields[name];
        const entry = given.get(name);
        // Errors about a value point at its key, where the reader's eye starts.
        const fieldSite = { key: join(site.key, name), offset: entry?.keyOffset ?? site.offset };
        const inFile = present(entry?.value, ctx);
        const override = ctx.overrides?.get(fieldSite.key);
        if (override === undefined) {
          out[name] = field.decode(inFile, fieldSite, ctx);
          continue;
        }
        // The file's value still has to be valid: it is used again when the flag is not given.
        if (inFile !== undefined) field.decode(inFile, fieldSite, ctx);
        const from = { ...ctx, source: { origin: override.origin }, base: override.base };
        out[name] = field.decode(new Scalar(override.value), { key: fieldSite.key }, from);
      }
      return out as ObjectOf<F>;
    },
  };
}

/** Decode a whole parsed file; an empty file is an absent top-level section. */
export function decodeDocument<T>(schema: Schema<T>, ctx: DecodeContext & { source: FileSource }): T {
  const contents = ctx.source.doc.contents;
  return schema.decode(present(contents, ctx), { key: '', offset: offsetOf(contents) ?? 0 }, ctx);
}

/**
 * Where the file writes `key` (dotted, `[i]` for a list item, as errors name
 * keys), in the place decode() reports problems at: a section's key, a
 * list's item. Undefined when the file does not write it (a default).
 */
export function placeOfKey(source: FileSource, key: string): ConfigErrorPlace | undefined {
  let node: unknown = source.doc.contents;
  let offset: number | undefined;
  for (const part of key.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (isAlias(node)) node = node.resolve(source.doc);
    if (part.startsWith('[')) {
      if (!isSeq(node)) return undefined;
      node = node.items[Number(part.slice(1, -1))];
      offset = offsetOf(node);
    } else {
      if (!isMap(node)) return undefined;
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === part);
      if (!pair) return undefined;
      offset = offsetOf(pair.key);
      node = pair.value;
    }
    if (offset === undefined) return undefined;
  }
  return placeOf(source, { key, offset });
}

// ---------------------------------------------------------------------------
// Describing values

/** `[key, text]` for every leaf under `schema`, keys dotted as in the file. */
export function describeValues(schema: Schema<unknown>, value: unknown, prefix = ''): Array<[string, string]> {
  if ('fields' in schema && value !== undefined) {
    const fields = (schema as ObjectSchema<Fields>).fields;
    const record = value as Record<string, unknown>;
    return Object.keys(fields).flatMap((name) => describeValues(fields[name], record[name], join(prefix, name)));
  }
  return [[prefix, showValue(value)]];
}

function showValue(value: unknown): string {
  if (value === undefined) return '(not set)';
  if (typeof value === 'string') return value === '' || value.trim() !== value ? quote(value) : value;
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map(showValue).join(', ');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------------------
// Shared machinery

/** A scalar schema: absent takes the default, a node of the wrong kind says what was expected. */
function scalar<T>(
  expected: string,
  kinds: readonly Kind[],
  dflt: Default<T> | undefined,
  // `any`: each combinator receives the JavaScript type its `kinds` guarantee.
  check: (value: any, site: Site, ctx: DecodeContext) => T,
): Schema<T> {
  return {
    expected,
    kinds,
    optional: false,
    decode(node, site, ctx) {
      if (node === undefined) return useDefault(dflt, expected, site, ctx);
      if (!kinds.includes(kindOf(node))) return mismatch(expected, kinds, node, site, ctx);
      return check((node as Scalar).value, site, ctx);
    },
  };
}

function useDefault<T>(dflt: Default<T> | undefined, expected: string, site: Site, ctx: DecodeContext): T {
  if (dflt === undefined) fail(ctx, site, `missing (must be ${expected})`);
  return typeof dflt === 'function' ? (dflt as (ctx: DecodeContext) => T)(ctx) : dflt;
}

function mismatch(expected: string, kinds: readonly Kind[], node: Node, site: Site, ctx: DecodeContext): never {
  const kind = kindOf(node);
  // YAML reads `1234` as a number and `true` as a boolean, where a person may have meant text.
  const hint = kinds.includes('string') && (kind === 'number' || kind === 'boolean') ? '; put it in quotes if it is text' : '';
  fail(ctx, site, `must be ${expected} (got ${shown(node)}${hint})`);
}

function fail(ctx: DecodeContext, site: Site, problem: string): never {
  throw new ConfigError(problem, placeOf(ctx.source, site));
}

function placeOf(source: Source, site: Site): ConfigErrorPlace {
  const key = site.key || undefined;
  if ('origin' in source) return { origin: source.origin, key };
  const pos = site.offset === undefined ? undefined : source.lines.linePos(site.offset);
  return { file: source.file, line: pos?.line, column: pos?.col, key };
}

/** The node a value stands for: aliases followed; an empty value (`key:`) counts as absent. */
function present(value: unknown, ctx: DecodeContext): Node | undefined {
  let node = value;
  if (isAlias(node) && 'doc' in ctx.source) node = node.resolve(ctx.source.doc);
  if (node === null || node === undefined) return undefined;
  if (isScalar(node) && node.value === null) return undefined;
  return node as Node;
}

function kindOf(node: Node): Kind {
  if (isMap(node)) return 'map';
  if (isSeq(node)) return 'list';
  if (isScalar(node)) {
    const t = typeof node.value;
    if (t === 'string' || t === 'number' || t === 'boolean') return t;
  }
  return 'other';
}

/** A node as an error message shows it: the text itself for scalars, the shape otherwise. */
function shown(node: unknown): string {
  if (isMap(node)) return 'a section of keys';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (typeof node.value === 'string') return quote(node.value);
    if (typeof node.value === 'number' || typeof node.value === 'boolean') return String(node.value);
    if (node.value === null) return 'nothing';
  }
  return 'a value of another type';
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

function offsetOf(node: unknown): number | undefined {
  return (node as { range?: readonly number[] } | null)?.range?.[0];
}
