/**
 * RADIUS packets of the external checks (RFC 2865): the Access-Request the
 * pool sends about a peer, and the checks a datagram must pass to count as
 * the answer to it. The `radius` package encodes the request (hiding
 * User-Password and signing with Message-Authenticator, RFC 3579); the reply
 * is verified here, in constant time, because the package compares
 * authenticators as UTF-8 text, which can take two different digests for equal.
 */
/// <reference path="./radius-package.d.ts" />
import * as crypto from 'node:crypto';
import radius from 'radius';
import { Failure } from '../../model/failure';
import { cutText, wire } from '../../protocol/wire-text';

export type Step = 'authn' | 'authz';

/** What one Access-Request asks about. */
export interface AccessQuestion {
  readonly step: Step;
  /** The validated remote identity: User-Name. */
  readonly remoteid: string;
  /** The local identity ('' when none is known yet): Called-Station-Id. */
  readonly localid: string;
  /** The requesting program (its executable): NAS-Port-Id. */
  readonly program?: string;
  /** The peer's address ("ADDR:PORT"): Calling-Station-Id. */
  readonly peerAddress?: string;
  readonly nasIdentifier: string;
}

/** A verified answer. `message`: the Reply-Message attributes, sanitized. */
export interface Reply {
  readonly code: 'Access-Accept' | 'Access-Reject' | 'Access-Challenge';
  readonly message?: string;
}

/**
 * The User-Password every request carries. RFC 2865 requires one in an
 * Access-Request; the peer proved who it is with TLS, so this is a fixed,
 * public marker, not a secret: servers decide on User-Name and Service-Type.
 */
export const USER_PASSWORD = 'tlspool';

/** Service-Type says which question it is: authentication, or authorization alone (RFC 5176's value). */
const SERVICE_TYPE: Record<Step, string> = { authn: 'Authenticate-Only', authz: 'Authorize-Only' };
const CODES: Record<number, Reply['code']> = { 2: 'Access-Accept', 3: 'Access-Reject', 11: 'Access-Challenge' };
const HEADER = 20;
const MAX_PACKET = 4096;
/** An attribute value holds at most 253 bytes. */
const MAX_VALUE = 253;
const REPLY_MESSAGE = 18;
const MESSAGE_AUTHENTICATOR = 80;

let dictionariesLoaded = false;
/** The package reads its dictionaries synchronously on first use: at start, not during a handshake. */
export function loadDictionaries(): void {
  if (dictionariesLoaded) return;
  radius.load_dictionaries();
  dictionariesLoaded = true;
}

export function encodeRequest(q: AccessQuestion, secret: Buffer, identifier: number): Buffer {
  for (const [what, value] of [['remote identity', q.remoteid], ['local identity', q.localid]] as const) {
    if (Buffer.byteLength(value) > MAX_VALUE) throw new Failure('ENAMETOOLONG', wire`the ${what} ${value} is over ${MAX_VALUE} bytes, too long for RADIUS`);
  }
  loadDictionaries();
  const attributes: Array<[string, string]> = [
    ['User-Name', q.remoteid],
    ['User-Password', USER_PASSWORD],
    ['Service-Type', SERVICE_TYPE[q.step]],
    ['NAS-Identifier', q.nasIdentifier],
    ['NAS-Port-Type', 'Virtual'],
  ];
  if (q.localid) attributes.push(['Called-Station-Id', q.localid]);
  if (q.peerAddress) attributes.push(['Calling-Station-Id', cutText(q.peerAddress, MAX_VALUE)]);
  if (q.program) attributes.push(['NAS-Port-Id', cutText(q.program, MAX_VALUE)]);
  return radius.encode({ code: 'Access-Request', secret, identifier, attributes, add_message_authenticator: true });
}

/**
 * `datagram` as the answer to `request`, or why it is not one (to ignore
 * it): too short, another code or identifier, malformed attributes, or an
 * authenticator that does not check out with the secret.
 */
export function readReply(request: Buffer, datagram: Buffer, secret: Buffer): Reply | string {
  if (datagram.length < HEADER || datagram.length > MAX_PACKET) return `a datagram of ${datagram.length} bytes`;
  const code = CODES[datagram[0]!];
  if (!code) return `code ${datagram[0]}`;
  if (datagram[1] !== request[1]) return `identifier ${datagram[1]}, not ${request[1]}`;
  const length = datagram.readUInt16BE(2);
  // Octets past Length are padding (RFC 2865 section 3); fewer than Length are a broken packet.
  if (length < HEADER || length > datagram.length) return `length ${length} in ${datagram.length} bytes`;
  const packet = datagram.subarray(0, length);
  const attributes = attributesOf(packet);
  if (!attributes) return 'malformed attributes';
  const requestAuth = request.subarray(4, HEADER);
  const expected = crypto.createHash('md5').update(packet.subarray(0, 4)).update(requestAuth).update(packet.subarray(HEADER)).update(secret).digest();
  if (!crypto.timingSafeEqual(expected, packet.subarray(4, HEADER))) return 'a Response Authenticator that does not match (wrong secret?)';
  const ma = attributes.find((a) => a.type === MESSAGE_AUTHENTICATOR);
  if (ma && !messageAuthenticatorMatches(packet, requestAuth, ma, secret)) return 'a Message-Authenticator that does not match';
  const texts = attributes.filter((a) => a.type === REPLY_MESSAGE).map((a) => a.value.toString('utf8'));
  const message = sanitize(texts.join(' '));
  return message ? { code, message } : { code };
}

interface RawAttribute {
  readonly type: number;
  /** Where the value starts in the packet. */
  readonly at: number;
  readonly value: Buffer;
}

function attributesOf(packet: Buffer): RawAttribute[] | undefined {
  const out: RawAttribute[] = [];
  for (let at = HEADER; at < packet.length; ) {
    if (at + 2 > packet.length) return undefined;
    const len = packet[at + 1]!;
    if (len < 2 || at + len > packet.length) return undefined;
    out.push({ type: packet[at]!, at: at + 2, value: packet.subarray(at + 2, at + len) });
    at += len;
  }
  return out;
}

/** HMAC-MD5 over the reply with the request's authenticator in place and the attribute's value zeroed (RFC 3579 3.2). */
function messageAuthenticatorMatches(packet: Buffer, requestAuth: Buffer, ma: RawAttribute, secret: Buffer): boolean {
  if (ma.value.length !== 16) return false;
  const copy = Buffer.from(packet);
  requestAuth.copy(copy, 4);
  copy.fill(0, ma.at, ma.at + 16);
  return crypto.timingSafeEqual(crypto.createHmac('md5', secret).update(copy).digest(), ma.value);
}

/** A server's text as one line: control and format characters become spaces; at most 256 bytes. */
export function sanitize(text: string): string {
  const line = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFFFD]+/gu, ' ').replace(/\s+/g, ' ').trim();
  return cutText(line, 256);
}
