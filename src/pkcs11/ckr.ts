/**
 * PKCS #11 return values (CKR_*) as sentences for a person: what the token
 * or module said, and what to do about it. One table; pkcs11js reports a
 * failure as an Error whose message is the bare CKR name, which is how
 * they are recognised here. No pkcs11js import: the daemon may use the table.
 */

const SENTENCES: Record<string, string> = {
  CKR_PIN_INCORRECT: 'the token refused the PIN: it is not the right one',
  CKR_PIN_LOCKED: 'the token has locked its user PIN after too many wrong ones; its security officer (SO PIN) must unblock it',
  CKR_PIN_LEN_RANGE: 'the PIN is too short or too long for this token',
  CKR_PIN_INVALID: 'the PIN holds characters this token does not take',
  CKR_PIN_EXPIRED: "the token's PIN has expired; set a new one with the token's own tool",
  CKR_USER_PIN_NOT_INITIALIZED: "the token has no user PIN yet; set one with the token's own tool",
  CKR_USER_NOT_LOGGED_IN: 'this needs a login to the token first (--login)',
  CKR_USER_ALREADY_LOGGED_IN: 'a login to this token is already open',
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: 'another user is logged in to this token',
  CKR_USER_TYPE_INVALID: 'the token does not know that kind of user',
  CKR_TOKEN_NOT_PRESENT: 'the token is not in its slot (was it removed?)',
  CKR_TOKEN_NOT_RECOGNIZED: 'the module does not recognise the token in this slot',
  CKR_DEVICE_REMOVED: 'the token was removed',
  CKR_DEVICE_ERROR: 'the token reported a device error',
  CKR_DEVICE_MEMORY: 'the token has no room left',
  CKR_TOKEN_WRITE_PROTECTED: 'the token is write-protected',
  CKR_SESSION_READ_ONLY: 'the session with the token is read-only',
  CKR_SESSION_CLOSED: 'the session with the token was closed',
  CKR_SESSION_HANDLE_INVALID: 'the session with the token is no longer valid',
  CKR_SESSION_COUNT: 'the token has no more sessions to give',
  CKR_SLOT_ID_INVALID: 'the module has no such slot',
  CKR_OBJECT_HANDLE_INVALID: 'the object is no longer on the token',
  CKR_KEY_HANDLE_INVALID: 'the key is no longer on the token',
  CKR_KEY_TYPE_INCONSISTENT: 'the key is of a type this operation cannot use',
  CKR_MECHANISM_INVALID: 'the token does not support this kind of key or signature',
  CKR_MECHANISM_PARAM_INVALID: 'the token refused the parameters of this kind of key or signature',
  CKR_TEMPLATE_INCOMPLETE: 'the token needs attributes that were not given',
  CKR_TEMPLATE_INCONSISTENT: 'the token refused a combination of attributes',
  CKR_ATTRIBUTE_VALUE_INVALID: 'the token refused an attribute value',
  CKR_ATTRIBUTE_TYPE_INVALID: 'the token does not know an attribute that was asked for',
  CKR_ATTRIBUTE_SENSITIVE: 'the token does not reveal that attribute (it is sensitive)',
  CKR_FUNCTION_NOT_SUPPORTED: 'the module does not support this operation',
  CKR_CRYPTOKI_NOT_INITIALIZED: 'the module was not initialised',
  CKR_CRYPTOKI_ALREADY_INITIALIZED: 'the module is already initialised in this process',
  CKR_ARGUMENTS_BAD: 'the module refused the arguments it was given',
  CKR_HOST_MEMORY: 'the module ran out of memory',
  CKR_GENERAL_ERROR: 'the module failed (general error)',
  CKR_FUNCTION_FAILED: 'the token could not do it (function failed)',
};

/** The CKR name in an error from pkcs11js, if it is one. */
export function ckrName(e: unknown): string | undefined {
  const message = e instanceof Error ? e.message : undefined;
  const m = message === undefined ? null : /^(CKR_[A-Z0-9_]+)(?::\d+)?$/.exec(message.trim());
  return m ? m[1] : undefined;
}

/** A sentence for a CKR name: "the token refused the PIN: it is not the right one (CKR_PIN_INCORRECT)". */
export function ckrSentence(name: string): string {
  const s = SENTENCES[name];
  return s ? `${s} (${name})` : `the PKCS #11 module failed with ${name}`;
}

/** The sentence for a pkcs11js error, or undefined for any other error. */
export function pkcs11Sentence(e: unknown): string | undefined {
  const name = ckrName(e);
  return name === undefined ? undefined : ckrSentence(name);
}
