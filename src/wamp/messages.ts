/** WAMP message codes, URIs and the shape checks the proxy applies before relaying. */

export const HELLO = 1;
export const WELCOME = 2;
export const ABORT = 3;
export const CHALLENGE = 4;
export const AUTHENTICATE = 5;
export const GOODBYE = 6;
export const ERROR = 8;
export const PUBLISH = 16;
export const PUBLISHED = 17;
export const SUBSCRIBE = 32;
export const SUBSCRIBED = 33;
export const UNSUBSCRIBE = 34;
export const UNSUBSCRIBED = 35;
export const EVENT = 36;
export const CALL = 48;
export const CANCEL = 49;
export const RESULT = 50;
export const REGISTER = 64;
export const REGISTERED = 65;
export const UNREGISTER = 66;
export const UNREGISTERED = 67;
export const INVOCATION = 68;
export const INTERRUPT = 69;
export const YIELD = 70;

export const MESSAGE_NAMES: Readonly<Record<number, string>> = {
  1: 'HELLO', 2: 'WELCOME', 3: 'ABORT', 4: 'CHALLENGE', 5: 'AUTHENTICATE', 6: 'GOODBYE', 8: 'ERROR',
  16: 'PUBLISH', 17: 'PUBLISHED', 32: 'SUBSCRIBE', 33: 'SUBSCRIBED', 34: 'UNSUBSCRIBE', 35: 'UNSUBSCRIBED', 36: 'EVENT',
  48: 'CALL', 49: 'CANCEL', 50: 'RESULT', 64: 'REGISTER', 65: 'REGISTERED', 66: 'UNREGISTER', 67: 'UNREGISTERED',
  68: 'INVOCATION', 69: 'INTERRUPT', 70: 'YIELD',
};

/** Messages a client may send once joined (relayed to the backend). */
export const CLIENT_SESSION_MESSAGES: ReadonlySet<number> = new Set([GOODBYE, ERROR, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, CALL, CANCEL, REGISTER, UNREGISTER, YIELD]);
/** Messages a router may send once joined (relayed to the client). */
export const ROUTER_SESSION_MESSAGES: ReadonlySet<number> = new Set([GOODBYE, ERROR, PUBLISHED, SUBSCRIBED, UNSUBSCRIBED, EVENT, RESULT, REGISTERED, UNREGISTERED, INVOCATION, INTERRUPT]);

export const URI = {
  noSuchRealm: 'wamp.error.no_such_realm',
  noSuchRole: 'wamp.error.no_such_role',
  authenticationFailed: 'wamp.error.authentication_failed',
  noAuthMethod: 'wamp.error.no_auth_method',
  protocolViolation: 'wamp.error.protocol_violation',
  runtimeError: 'wamp.error.runtime_error',
  systemShutdown: 'wamp.close.system_shutdown',
  goodbyeAndOut: 'wamp.close.goodbye_and_out',
  closeNormal: 'wamp.close.normal',
} as const;

export type Dict = Record<string, unknown>;

export function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** The message's code, or a description of why it is not a WAMP message. */
export function messageCode(msg: unknown): number | string {
  if (!Array.isArray(msg) || msg.length === 0) return 'a WAMP message must be a non-empty array';
  const code: unknown = msg[0];
  if (typeof code !== 'number' || !Number.isInteger(code) || MESSAGE_NAMES[code] === undefined) return `unknown message type ${JSON.stringify(code)}`;
  return code;
}

/** `[ABORT, {message}, reason]`. */
export function abort(reason: string, message: string): unknown[] {
  return [ABORT, { message }, reason];
}

export function goodbye(reason: string, message?: string): unknown[] {
  return [GOODBYE, message === undefined ? {} : { message }, reason];
}

/** A random global-scope id in [1, 2^53]. */
export function globalId(): number {
  return Math.floor(Math.random() * 2 ** 53) + 1;
}
