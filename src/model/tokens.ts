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
  /**
   * False for a slot whose token was never initialised (an empty SoftHSM
   * slot): it has no PIN and no keys, so it is neither locked nor unlocked.
   */
  readonly initialized: boolean;
}

export interface TokenRefView {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
}
