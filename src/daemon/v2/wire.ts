/**
 * The V2 wire for a pool session (388-byte packets, `tlsP` error codes), and
 * the answer for an early V2 client: one that writes V2 tags in 376-byte
 * packets (the V2 header before mid-2016), which this pool does not serve.
 */
import { decodeHeader, encode, errorPacket, type Packet } from '../../protocol/codec';
import { Errno } from '../../protocol/errno';
import { COMMAND_SIZE, DATA_OFFSET, DATA_SIZE } from '../../protocol/layout';
import { decodeV2, decodeV2Header, encodeV2, v2ErrorPacket, type V2Packet } from '../../protocol/v2-codec';
import { V2Cmd, v2CmdName } from '../../protocol/v2-constants';
import { TlspFailure, v2ErrorCode } from '../../protocol/v2-errors';
import { V2_COMMAND_SIZE } from '../../protocol/v2-layout';

import type { Wire } from '../server/wire';

function namesCode(e: unknown): boolean {
  if (e instanceof TlspFailure) return true;
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && code in Errno;
}

const unknownV2 = (cmd: number) =>
  new TlspFailure('E_TLSPOOL_COMMAND_UNKNOWN', `command ${v2CmdName(cmd)} is not a V2 request this pool knows`);

export const v2Wire: Wire<V2Packet> = {
  name: 'v2',
  size: V2_COMMAND_SIZE,
  decode: decodeV2,
  decodeHeader: decodeV2Header,
  encode: encodeV2,
  error: (reqid, cbid, f) => v2ErrorPacket(reqid, cbid, v2ErrorCode(f, f.errno), f.message),
  namesCode,
  cmdName: v2CmdName,
  holdsSecret: (cmd) => cmd === V2Cmd.PINENTRY,
  strayAnswer: 'request',
  answersCarryFds: true,
  unknown: unknownV2,
};

/** What an early V2 client is told, for every request it sends. */
export const EARLY_V2_REFUSAL = new TlspFailure(
  'E_TLSPOOL_COMMAND_NOTIMPL',
  'this V2 API version is too old (376-byte packets); rebuild the client with the 388-byte V2 header',
);

/** An early V2 connection: framed at 376 bytes, every request refused in the 376-byte ERROR layout. */
export const earlyV2Wire: Wire<Packet> = {
  name: 'v2-early',
  size: COMMAND_SIZE,
  decode: (bytes) => ({ ...decodeHeader(bytes), raw: bytes.slice(DATA_OFFSET, DATA_OFFSET + DATA_SIZE) }),
  decodeHeader,
  encode,
  error: (reqid, cbid, f) => errorPacket(reqid, cbid, v2ErrorCode(f, f.errno), f.message),
  namesCode,
  cmdName: v2CmdName,
  holdsSecret: (cmd) => cmd === V2Cmd.PINENTRY,
  strayAnswer: 'request',
  answersCarryFds: false,
  unknown: () => EARLY_V2_REFUSAL,
};

