/**
 * What a pool connection's protocol decides for the session (session.ts):
 * the packet size, the codec, how errors are written, and the few rules in
 * which V1 and V2 differ. The V1 wire is here; V2's is in src/daemon/v2/.
 */
import { decode, decodeHeader, encode, errorPacket, type Packet } from '../../protocol/codec';
import { Cmd, cmdName } from '../../protocol/constants';
import { Errno, type ErrnoName } from '../../protocol/errno';
import { COMMAND_SIZE } from '../../protocol/layout';
import type { Failure } from '../../model/failure';

export interface WireHead {
  reqid: number;
  cbid: number;
  cmd: number;
}

export interface Wire<P extends WireHead = WireHead> {
  readonly name: 'v1' | 'v2' | 'v2-early';
  /** Bytes per packet. */
  readonly size: number;
  /** Throws MalformedPacket for a packet it cannot read. */
  decode(bytes: Uint8Array): P;
  decodeHeader(bytes: Uint8Array): WireHead;
  encode(packet: P): Uint8Array;
  /** An ERROR for `reqid`; `failure` says which code (errno, or a V2 table code) and why. */
  error(reqid: number, cbid: number, failure: Failure): P;
  /** Whether thrown `e` names its own code (else it is an internal error). */
  namesCode(e: unknown): boolean;
  cmdName(cmd: number): string;
  /** Commands whose bytes hold a PIN: wiped once decoded. */
  holdsSecret(cmd: number): boolean;
  /**
   * A packet with a cbid that no pending callback has: V1 refuses it with
   * EINVAL; V2 handles it as a new request by its tag ('request'), except
   * a late ERROR or SUCCESS, which is dropped.
   */
  readonly strayAnswer: 'refuse' | 'request';
  /** Callback answers may carry a descriptor (V2's plaintext fd); V1 closes any. */
  readonly answersCarryFds: boolean;
  /** The failure for a tag without a handler. */
  unknown(cmd: number): Failure;
}

export const v1Wire = (unknown: (cmd: number) => Failure): Wire<Packet> => ({
  name: 'v1',
  size: COMMAND_SIZE,
  decode,
  decodeHeader,
  encode,
  error: (reqid, cbid, f) => errorPacket(reqid, cbid, f.errno, f.message),
  namesCode: (e) => {
    const code = (e as { code?: unknown })?.code;
    return typeof code === 'string' && code in Errno;
  },
  cmdName,
  holdsSecret: (cmd) => cmd === Cmd.PINENTRY,
  strayAnswer: 'refuse',
  answersCarryFds: false,
  unknown,
});

export type { ErrnoName };
