/**
 * What PostgreSQL's two authentication sides share: the method names, the Authentication* request codes and
 * message, the MD5 password response, and splitting a typed message into type and payload.
 */
import { createHash } from 'node:crypto';
import { BE, HEADER_LENGTH, encodeMessage } from './messages.js';

export type PgAuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';
export const PG_AUTH_METHODS: readonly PgAuthMethod[] = ['trust', 'password', 'md5', 'scram-sha-256'];

/** Authentication request codes (the int32 after 'R'). */
export const AUTH = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  SCMCredential: 6,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** A NUL-terminated string. */
export const cstr = (s: string | Buffer): Buffer => Buffer.concat([typeof s === 'string' ? Buffer.from(s, 'utf8') : s, Buffer.alloc(1)]);

/** A big-endian int32. */
export const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const md5hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

/** An Authentication* message ('R' + int32 code + extra). */
export function encodeAuthentication(code: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  return encodeMessage(BE.Authentication, Buffer.concat([int32(code), extra]));
}

/** PostgreSQL's MD5 password response: `'md5' + md5hex(md5hex(password + user) + salt)`. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex(password + user), 'latin1'), salt]));
}

/** Type byte and payload of a complete typed message, or undefined when the length field does not match. */
export function splitMessage(message: Buffer): { type: number; payload: Buffer } | undefined {
  if (message.length < HEADER_LENGTH) return undefined;
  if (message.readUInt32BE(1) !== message.length - 1) return undefined;
  return { type: message[0]!, payload: message.subarray(HEADER_LENGTH) };
}
