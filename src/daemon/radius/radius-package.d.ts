/**
 * The part of the `radius` package (1.1.x, plain JavaScript) the RADIUS
 * client uses: encoding an Access-Request and decoding a verified reply.
 */
declare module 'radius' {
  type Attribute = [name: string | number, value: string | number | Buffer];
  interface EncodeArgs {
    code: string;
    /** A Buffer works: the package only feeds it to MD5 and HMAC-MD5. */
    secret: string | Buffer;
    identifier?: number;
    attributes?: Attribute[];
    add_message_authenticator?: boolean;
  }
  interface Decoded {
    code: string;
    identifier: number;
    length: number;
    attributes: Record<string, unknown>;
  }
  const radius: {
    encode(args: EncodeArgs): Buffer;
    decode(args: { packet: Buffer; secret: string | Buffer }): Decoded;
    load_dictionaries(): void;
  };
  export default radius;
}
