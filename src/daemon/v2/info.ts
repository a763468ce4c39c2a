/**
 * V2 INFO (section 10): names from the peer's and our own certificate, and
 * the RFC 5929 channel bindings (and RFC 9266 tls-exporter, a kind of this
 * pool's own), of a session under this connection's control; as a query
 * (len 0xFFFF) or a check of a given value.
 */
import type { V2Packet } from '../../protocol/v2-codec';
import { INFO_QUERY, V2Cmd, V2InfoKind as K } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import { messageOf } from '../../model/failure';
import type { Handler } from '../server/request';
import { certNames } from './cert-der';
import { type CtlKeys, keyOf, type SessionFacts } from './ctlkeys';

const BUFFER = 334;

const notFound = (why: string) => new TlspFailure('E_TLSPOOL_INFO_NOT_FOUND', why);

type Kind = { mode: 'query'; value: (s: SessionFacts) => Buffer } | { mode: 'check'; values: (s: SessionFacts) => Buffer[] };

function cert(s: SessionFacts, mine: boolean): Buffer {
  const der = mine ? s.control.ownCertificate() : s.peerChainDer[0];
  if (!der) throw notFound(mine ? 'this side showed no certificate in this session' : 'the peer showed no certificate in this session');
  return der;
}

function names(s: SessionFacts, mine: boolean) {
  const n = certNames(cert(s, mine));
  if (!n) throw notFound('the certificate could not be read');
  return n;
}

function binding(kind: 'tls-unique' | 'tls-server-end-point' | 'tls-exporter') {
  return (s: SessionFacts): Buffer => {
    try {
      return s.control.channelBinding(kind);
    } catch (e) {
      throw notFound(`${kind}: ${messageOf(e)}`);
    }
  };
}

const KINDS = new Map<number, Kind>([
  [K.PEERCERT_SUBJECT, { mode: 'query', value: (s) => names(s, false).subject }],
  [K.PEERCERT_ISSUER, { mode: 'query', value: (s) => names(s, false).issuer }],
  [K.PEERCERT_SUBJECTALTNAME, { mode: 'check', values: (s) => names(s, false).altNames }],
  [K.MYCERT_SUBJECT, { mode: 'query', value: (s) => names(s, true).subject }],
  [K.MYCERT_ISSUER, { mode: 'query', value: (s) => names(s, true).issuer }],
  [K.MYCERT_SUBJECTALTNAME, { mode: 'check', values: (s) => names(s, true).altNames }],
  [K.CHANBIND_TLS_UNIQUE, { mode: 'query', value: binding('tls-unique') }],
  [K.CHANBIND_TLS_SERVER_END_POINT, { mode: 'query', value: binding('tls-server-end-point') }],
  [K.CHANBIND_TLS_EXPORTER, { mode: 'query', value: binding('tls-exporter') }],
]);

function answerInfo(req: { packet: V2Packet }, s: SessionFacts): V2Packet {
  if (!('info' in req.packet)) throw new Error('INFO handler got another command');
  const p = req.packet.info;
  if (p.len > BUFFER && p.len !== INFO_QUERY) {
    throw new TlspFailure('E_TLSPOOL_COMMAND_NOTIMPL', `INFO len ${p.len} is out of range: 0..${BUFFER - 1}, or 0xFFFF for a query`);
  }
  const kind = KINDS.get(p.info_kind);
  if (!kind) throw new TlspFailure('E_TLSPOOL_INFOKIND_UNKNOWN', `INFO kind 0x${(p.info_kind >>> 0).toString(16)} is not one this pool answers`);
  const query = p.len === INFO_QUERY;
  if (kind.mode === 'query') {
    if (!query) throw notFound('this INFO kind is a query: send len 0xFFFF');
    const value = kind.value(s);
    if (value.length > BUFFER) throw notFound(`the value is ${value.length} bytes, more than the ${BUFFER} INFO carries`);
    const buffer = new Uint8Array(BUFFER);
    buffer.set(value);
    return { reqid: req.packet.reqid, cbid: 0, cmd: V2Cmd.INFO, info: { ...p, len: value.length, buffer } };
  }
  if (query) throw notFound('this INFO kind is a check: send the GeneralName in DER, with its length');
  const given = Buffer.from(p.buffer.subarray(0, p.len));
  if (!kind.values(s).some((v) => v.equals(given))) throw notFound('the certificate has no such subjectAltName');
  return { reqid: req.packet.reqid, cbid: 0, cmd: V2Cmd.INFO, info: p };
}

export function infoHandler(keys: CtlKeys): Handler<V2Packet> {
  return async (req) => {
    if (!('info' in req.packet)) throw new Error('INFO handler got another command');
    try {
      const s = keys.controlled(keyOf(req.packet.info.ctlkey), req.client.id);
      return { packet: answerInfo(req, s.session) };
    } catch (e) {
      req.log.info('INFO refused', { client: req.client.id, kind: req.packet.info.info_kind, reason: messageOf(e) });
      throw e;
    }
  };
}
