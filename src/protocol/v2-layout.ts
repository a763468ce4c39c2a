/**
 * The byte layout of the V2 `struct tlspool_command` (388 bytes, 2-byte
 * packing, host byte order), as docs/protocol.md tables it. The single
 * source of V2 offsets: the V2 codec reads and writes through it and the
 * C header test compares include/tlspool/commands-v2.h against it.
 */

export const V2_COMMAND_SIZE = 388;
/** Offset of the `pio_data` union inside the command. */
export const V2_DATA_OFFSET = 8;
export const V2_DATA_SIZE = 380;

/**
 * `string`: a C string that must hold its NUL; `name`: a C string whose NUL
 * may be left out when it fills the field (the service name); `bytes`: raw.
 */
export type V2FieldKind = 'u8' | 'u16' | 'i16' | 'u32' | 'i32' | 'string' | 'name' | 'bytes' | 'pad';

export interface V2Field {
  readonly name: string;
  /** Offset from the start of the 388-byte command. */
  readonly offset: number;
  readonly size: number;
  readonly kind: V2FieldKind;
}

function fields(list: ReadonlyArray<[string, number, number, V2FieldKind]>): readonly V2Field[] {
  return list.map(([name, offset, size, kind]) => ({ name, offset, size, kind }));
}

export const V2_HEADER = fields([
  ['pio_reqid', 0, 2, 'u16'],
  ['pio_cbid', 2, 2, 'u16'],
  ['pio_cmd', 4, 4, 'u32'],
]);

/** The payloads of the union; offsets are from the start of the packet. */
export const V2_PAYLOADS = {
  pioc_error: fields([
    ['tlserrno', 8, 4, 'i32'],
    ['message', 12, 128, 'string'],
  ]),
  pioc_ping: fields([
    ['YYYYMMDD_producer', 8, 136, 'string'],
    ['facilities', 144, 4, 'u32'],
  ]),
  pioc_starttls: fields([
    ['flags', 8, 4, 'u32'],
    ['local', 12, 4, 'u32'],
    ['ipproto', 16, 1, 'u8'],
    ['padding', 17, 1, 'pad'],
    ['streamid', 18, 2, 'u16'],
    ['localid', 20, 128, 'string'],
    ['remoteid', 148, 128, 'string'],
    ['ctlkey', 276, 16, 'bytes'],
    ['service', 292, 16, 'name'],
    ['timeout', 308, 4, 'u32'],
  ]),
  pioc_pinentry: fields([
    ['flags', 8, 4, 'u32'],
    ['attempt', 12, 4, 'u32'],
    ['timeout_us', 16, 4, 'u32'],
    ['pin', 20, 128, 'string'],
    ['prompt', 148, 128, 'string'],
    ['token_manuf', 276, 36, 'string'],
    ['token_model', 312, 20, 'string'],
    ['token_serial', 332, 20, 'string'],
    ['token_label', 352, 36, 'string'],
  ]),
  pioc_lidentry: fields([
    ['flags', 8, 4, 'u32'],
    ['maxlevels', 12, 2, 'u16'],
    ['timeout', 14, 4, 'u32'],
    ['localid', 18, 128, 'string'],
    ['remoteid', 146, 128, 'string'],
  ]),
  pioc_control: fields([
    ['flags', 8, 4, 'u32'],
    ['ctlkey', 12, 16, 'bytes'],
    ['name', 28, 128, 'bytes'],
  ]),
  pioc_prng: fields([
    ['in1_len', 8, 2, 'i16'],
    ['in2_len', 10, 2, 'i16'],
    ['prng_len', 12, 2, 'i16'],
    ['buffer', 14, 350, 'bytes'],
  ]),
  pioc_info: fields([
    ['ctlkey', 8, 16, 'bytes'],
    ['info_kind', 24, 4, 'u32'],
    ['len', 28, 2, 'u16'],
    ['buffer', 30, 334, 'bytes'],
  ]),
} as const;

export type V2PayloadName = keyof typeof V2_PAYLOADS;

/** Look a field up by payload and name; throws on a typo, which is a bug. */
export function v2Field(payload: V2PayloadName | 'header', name: string): V2Field {
  const list = payload === 'header' ? V2_HEADER : V2_PAYLOADS[payload];
  const f = list.find((x) => x.name === name);
  if (!f) throw new Error(`no V2 field ${payload}.${name}`);
  return f;
}
