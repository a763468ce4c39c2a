/** PKCS #11 tokens as the control API, the log and the UI show them. */

export interface TokenInfo {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  /** The PKCS #11 module file it was found through. */
  readonly module: string;
  /** The pool holds its PIN (it is logged in). */
  readonly unlocked: boolean;
}

export interface TokenRefView {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
}
