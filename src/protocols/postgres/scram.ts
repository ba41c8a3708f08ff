/**
 * SCRAM-SHA-256 maths (RFC 5802 + RFC 7677) for PostgreSQL authentication, without channel binding. Pure
 * functions over strings and Buffers; the state machines live in frontend-auth.ts and backend-auth.ts.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const SCRAM_PLUS_MECHANISM = 'SCRAM-SHA-256-PLUS';
/** PostgreSQL's default iteration count (scram_iterations). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** PostgreSQL's salt length in bytes. */
export const SCRAM_SALT_LENGTH = 16;
/** PostgreSQL's server nonce length in raw bytes (before base64). */
export const SCRAM_NONCE_LENGTH = 18;
/** SHA-256 output length: ClientProof, keys and signatures. */
export const SCRAM_KEY_LENGTH = 32;

/** What a server stores for one user (PostgreSQL's `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`). */
export interface ScramSecret {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** The client's computed answer to a server-first-message. */
export interface ScramClientFinal {
  /** client-final-message (`c=...,r=...,p=...`). */
  readonly message: string;
  /** The ServerSignature the server must send back in server-final-message. */
  readonly serverSignature: Buffer;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

// RFC 3454 table C.1.2 (non-ASCII spaces) and B.1 (commonly mapped to nothing).
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// An alternation, not one character class: B.1 holds combining marks and joiners, which a class would render joined.
const MAPPED_TO_NOTHING = /\u00AD|\u034F|\u1806|[\u180B-\u180D]|\u200C|\u200D|\u2060|[\uFE00-\uFE0F]|\uFEFF/g;

/**
 * The lenient SASLprep (RFC 4013) PostgreSQL, libpq and node-postgres apply to passwords: map non-ASCII spaces to
 * U+0020, drop "mapped to nothing" characters, NFKC. Prohibited-character and bidi checks are skipped (as libpq
 * and the server fall back to the raw password there). Pure ASCII passwords are returned unchanged.
 */
export function saslPrep(password: string): string {
  if (!/[\u0080-\uffff]/.test(password)) return password;
  return password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
}

/** SaltedPassword := Hi(Normalize(password), salt, i). */
export function scramSaltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, SCRAM_KEY_LENGTH, 'sha256');
}

/** The stored secret for `password` (random 16-byte salt unless given). */
export function scramSecret(password: string, salt: Buffer = randomBytes(SCRAM_SALT_LENGTH), iterations = SCRAM_DEFAULT_ITERATIONS): ScramSecret {
  const salted = scramSaltedPassword(password, salt, iterations);
  return { salt, iterations, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/** A fresh printable nonce: base64 of 18 random bytes (as PostgreSQL and node-postgres do). */
export function scramNonce(): string {
  return randomBytes(SCRAM_NONCE_LENGTH).toString('base64');
}

/** printable = %x21-2B / %x2D-7E (printable ASCII except ','); a nonce must be a non-empty run of them. */
export function isScramPrintable(s: string): boolean {
  return s.length > 0 && /^[\x21-\x2b\x2d-\x7e]+$/.test(s);
}

/** Strict base64 (RFC 5802 `base64`), padding required. */
export function isBase64(s: string): boolean {
  return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s);
}

/** saslname: ',' → '=2C', '=' → '=3D'. */
export function escapeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** `a=1,b=2` → [['a','1'], ['b','2']]; undefined when an attribute is not `letter=value`. */
export function parseScramAttributes(text: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) return undefined;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

/** Constant-time equality of two byte strings (false when the lengths differ). */
export function bytesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Client side: compute client-final-message and the expected ServerSignature.
 * `clientFirstBare` = `n=...,r=<client nonce>`, `serverFirst` as received, `nonce` = the combined nonce from it.
 */
export function scramClientFinal(args: {
  password: string;
  salt: Buffer;
  iterations: number;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  /** The gs2 header sent in client-first-message (default `n,,`). */
  gs2Header?: string;
}): ScramClientFinal {
  const withoutProof = `c=${Buffer.from(args.gs2Header ?? 'n,,', 'utf8').toString('base64')},r=${args.nonce}`;
  const authMessage = `${args.clientFirstBare},${args.serverFirst},${withoutProof}`;
  const salted = scramSaltedPassword(args.password, args.salt, args.iterations);
  const clientKey = hmac(salted, 'Client Key');
  const clientSignature = hmac(sha256(clientKey), authMessage);
  const proof = Buffer.alloc(SCRAM_KEY_LENGTH);
  for (let i = 0; i < SCRAM_KEY_LENGTH; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  return {
    message: `${withoutProof},p=${proof.toString('base64')}`,
    serverSignature: hmac(hmac(salted, 'Server Key'), authMessage),
  };
}

/** Server side: does `proof` prove knowledge of the password behind `secret` for this AuthMessage? */
export function scramVerifyProof(secret: ScramSecret, authMessage: string, proof: Buffer): boolean {
  if (proof.length !== SCRAM_KEY_LENGTH) return false;
  const clientSignature = hmac(secret.storedKey, authMessage);
  const clientKey = Buffer.alloc(SCRAM_KEY_LENGTH);
  for (let i = 0; i < SCRAM_KEY_LENGTH; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
  return bytesEqual(sha256(clientKey), secret.storedKey);
}

/** Server side: ServerSignature := HMAC(ServerKey, AuthMessage). */
export function scramServerSignature(secret: ScramSecret, authMessage: string): Buffer {
  return hmac(secret.serverKey, authMessage);
}
