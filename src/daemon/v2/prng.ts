/**
 * V2 PRNG (section 9): keying material from the TLS exporter of a session
 * under this connection's control, for a registered or EXPERIMENTAL label.
 */
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import { messageOf } from '../../model/failure';
import type { Handler } from '../server/request';
import { type CtlKeys, keyOf } from './ctlkeys';

/** The buffer's size, and what a request's ctlkey takes of it. */
const BUFFER = 350;
const KEY = 16;

/** Exporter labels of the IANA registry that applications may ask for (RFC 9266's channel binding among them). */
const REGISTERED = new Set([
  'client EAP encryption',
  'ttls keying material',
  'ttls challenge',
  'EXTRACTOR-dtls_srtp',
  'EXPORTER_DTLS_OVER_SCTP',
  'EXPORTER-ETSI-TC-M2M-Bootstrap',
  'EXPORTER-ETSI-TC-M2M-Connection',
  'TLS_MK_Extr',
  'EXPORTER_GBA_Digest',
  'EXPORTER: teap session key seed',
  'EXPORTER-oneM2M-Bootstrap',
  'EXPORTER-oneM2M-Connection',
  'EXPORTER-Channel-Binding',
]);

/** Why a label is refused, or undefined when it is acceptable. */
export function labelRefusal(label: string): string | undefined {
  if (REGISTERED.has(label)) return undefined;
  if (label.startsWith('EXPERIMENTAL') && label.length > 'EXPERIMENTAL'.length) return undefined;
  if (['client finished', 'server finished', 'master secret', 'key expansion'].includes(label)) {
    return `the label "${label}" is reserved by TLS itself (RFC 5705)`;
  }
  return 'the label is neither a registered exporter label nor EXPERIMENTAL-prefixed';
}

const unavailable = (why: string) => new TlspFailure('E_TLSPOOL_PRNG_UNAVAILABLE', why);

export function prngHandler(keys: CtlKeys): Handler<V2Packet> {
  return async (req) => {
    if (!('prng' in req.packet)) throw new Error('PRNG handler got another command');
    const { in1_len, in2_len, prng_len, buffer } = req.packet.prng;
    const refuse = (e: TlspFailure): never => {
      req.log.info('PRNG refused', { client: req.client.id, reason: e.message });
      throw e;
    };
    if (in1_len <= 0 || prng_len < 0 || prng_len > BUFFER || KEY + in1_len + Math.max(in2_len, 0) > BUFFER) {
      refuse(unavailable(`bad lengths: label ${in1_len} (> 0), context ${in2_len}, output ${prng_len} (0..${BUFFER}); 16+label+context <= ${BUFFER}`));
    }
    const label = Buffer.from(buffer.subarray(KEY, KEY + in1_len));
    const context = in2_len < 0 ? null : Buffer.from(buffer.subarray(KEY + in1_len, KEY + in1_len + in2_len));
    const why = labelRefusal(label.toString('latin1'));
    if (why) refuse(unavailable(`${why}; use EXPERIMENTAL-... or a registered label`));
    let s;
    try {
      s = keys.controlled(keyOf(buffer.subarray(0, KEY)), req.client.id);
    } catch (e) {
      return refuse(e as TlspFailure);
    }
    let out: Buffer;
    try {
      out = prng_len === 0 ? Buffer.alloc(0) : s.session.control.exportKeyingMaterial(label, context, prng_len);
    } catch (e) {
      return refuse(unavailable(`the session's exporter refused: ${messageOf(e)}`));
    }
    const answer = new Uint8Array(BUFFER);
    answer.set(out);
    out.fill(0);
    return { packet: { reqid: req.packet.reqid, cbid: 0, cmd: V2Cmd.PRNG, prng: { in1_len, in2_len, prng_len, buffer: answer } } };
  };
}
