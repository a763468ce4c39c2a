/**
 * The byte layout of `struct tlspool_command`, as docs/protocol.md tables
 * it. This table is the single source: the codec reads and writes through
 * it, and the C header test compares every offsetof/sizeof against it.
 */

export const COMMAND_SIZE = 376;
/** Offset of the `pio_data` union inside the command. */
export const DATA_OFFSET = 8;
export const DATA_SIZE = 368;

export type FieldKind = 'u8' | 'u16' | 'u32' | 'i32' | 'string' | 'pad';

export interface Field {
  readonly name: string;
  /** Offset from the start of the 376-byte command (not from `pio_data`). */
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
}

function fields(base: number, list: ReadonlyArray<[string, number, number, FieldKind]>): readonly Field[] {
  return list.map(([name, offset, size, kind]) => ({ name, offset: base + offset, size, kind }));
}

/** Header fields, at the start of every command. */
export const HEADER = fields(0, [
  ['pio_reqid', 0, 2, 'u16'],
  ['pio_cbid', 2, 2, 'u16'],
  ['pio_cmd', 4, 4, 'u32'],
]);

/** The payloads of the `pio_data` union; offsets are absolute. */
export const PAYLOADS = {
  pioc_error: fields(DATA_OFFSET, [
    ['tlserrno', 0, 4, 'i32'],
    ['message', 4, 128, 'string'],
  ]),
  pioc_ping: fields(DATA_OFFSET, [
    ['YYYYMMDD_producer', 0, 136, 'string'],
  ]),
  pioc_starttls: fields(DATA_OFFSET, [
    ['flags', 0, 4, 'u32'],
    ['local', 4, 4, 'u32'],
    ['ipproto', 8, 1, 'u8'],
    ['padding', 9, 1, 'pad'],
    ['streamid', 10, 2, 'u16'],
    ['localid', 12, 128, 'string'],
    ['remoteid', 140, 128, 'string'],
  ]),
  pioc_pinentry: fields(DATA_OFFSET, [
    ['flags', 0, 4, 'u32'],
    ['attempt', 4, 4, 'u32'],
    ['timeout_us', 8, 4, 'u32'],
    ['pin', 12, 128, 'string'],
    ['prompt', 140, 128, 'string'],
    ['token_manuf', 268, 33, 'string'],
    ['token_model', 301, 17, 'string'],
    ['token_serial', 318, 17, 'string'],
    ['token_label', 335, 33, 'string'],
  ]),
} as const;

export type PayloadName = keyof typeof PAYLOADS;

/** Look a field up by payload and name; throws on a typo, which is a bug. */
export function field(payload: PayloadName | 'header', name: string): Field {
  const list = payload === 'header' ? HEADER : PAYLOADS[payload];
  const f = list.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${payload}.${name}`);
  return f;
}
