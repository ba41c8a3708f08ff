/**
 * Address parsing and formatting.
 *
 * Accepted forms:
 *   127.0.0.1:8080      IPv4 and port
 *   [::1]:8080          IPv6 in brackets and port (a zone like [fe80::1%eth0]:80 is kept)
 *   localhost:80        host name and port
 *   unix:/run/x.sock    Unix domain socket (relative paths are allowed after `unix:`)
 *   /run/x.sock         bare absolute path = Unix domain socket
 *
 * Port 0 means "any free port" and is only meaningful when listening (`role: 'listen'`, the default).
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { ListenOptions, NetConnectOpts } from 'node:net';
import type { BindOptions } from 'node:dgram';
import { ErrorCodes, SwitchyardError } from './errors.js';

/** A parsed address: TCP host+port (IPv4, IPv6 without brackets, or hostname) or a Unix socket path. */
export type Address =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };


export interface ParseAddressOptions {
  /** 'listen' (default) allows port 0 (an ephemeral port); 'connect' requires 1-65535. */
  role?: 'listen' | 'connect';
}

/** What every address error says it expected. */
export const ADDRESS_FORMS = 'HOST:PORT, [IPv6]:PORT or unix:/path';

const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

function fail(message: string, input: string): never {
  throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, message, { details: { input } });
}

function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 97)}...` : text);
}

function parsePort(portText: string, input: string, role: 'listen' | 'connect'): number {
  if (!/^\d{1,5}$/.test(portText)) {
    fail(`bad port ${quote(portText)} in ${quote(input)}: expected an integer 0-65535`, input);
  }
  const port = Number(portText);
  if (port > 65535) fail(`bad port ${quote(portText)} in ${quote(input)}: expected an integer 0-65535`, input);
  if (port === 0 && role === 'connect') {
    fail(`port 0 in ${quote(input)} is only valid for listening (any free port); a destination needs a real port`, input);
  }
  return port;
}

/** Parse an address; throws SwitchyardError(SWY_CONFIG_INVALID) with a message that says what was wrong. */
export function parseAddress(text: string, options: ParseAddressOptions = {}): Address {
  const role = options.role ?? 'listen';
  if (typeof text !== 'string') fail(`expected ${ADDRESS_FORMS}, got ${String(text)}`, String(text));
  const input = text.trim();

  if (input.startsWith('unix:')) {
    const path = input.slice('unix:'.length);
    if (path.length === 0) fail(`expected a socket path after "unix:", got ${quote(text)}`, text);
    if (path.includes('\0')) fail(`unix socket path must not contain NUL bytes, got ${quote(text)}`, text);
    return { kind: 'unix', path };
  }
  if (input.startsWith('/')) {
    if (input.includes('\0')) fail(`unix socket path must not contain NUL bytes, got ${quote(text)}`, text);
    return { kind: 'unix', path: input };
  }

  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) fail(`missing "]" in IPv6 address ${quote(text)}: expected [IPv6]:PORT`, text);
    const host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (!isIPv6(host)) fail(`${quote(host)} in ${quote(text)} is not an IPv6 address: expected [IPv6]:PORT`, text);
    if (rest === '') fail(`missing port in ${quote(text)}: expected [IPv6]:PORT`, text);
    if (!rest.startsWith(':')) fail(`expected ":PORT" after "]" in ${quote(text)}`, text);
    return { kind: 'tcp', host, port: parsePort(rest.slice(1), text, role) };
  }

  const colon = input.lastIndexOf(':');
  if (colon < 0) {
    fail(`expected ${ADDRESS_FORMS}, got ${quote(text)}`, text);
  }
  const host = input.slice(0, colon);
  const portText = input.slice(colon + 1);
  if (host.includes(':')) {
    // Several colons and no brackets: an IPv6 address written bare.
    const example = isIPv6(host) && /^\d+$/.test(portText) ? `[${host}]:${portText}` : `[${isIPv6(input) ? input : host}]:PORT`;
    fail(`IPv6 addresses need brackets, e.g. "${example}", got ${quote(text)}`, text);
  }
  if (host === '') {
    fail(`missing host in ${quote(text)}: use 0.0.0.0:${portText} (all IPv4 interfaces), [::]:${portText} (all interfaces) or 127.0.0.1:${portText}`, text);
  }
  if (portText === '') fail(`missing port in ${quote(text)}: expected ${ADDRESS_FORMS}`, text);
  if (/^[\d.]+$/.test(host) && !isIPv4(host)) fail(`${quote(host)} in ${quote(text)} is not a valid IPv4 address`, text);
  if (isIP(host) === 0 && !HOSTNAME.test(host)) fail(`${quote(host)} in ${quote(text)} is not a valid host name or IP address`, text);
  return { kind: 'tcp', host, port: parsePort(portText, text, role) };
}

/** The inverse of parseAddress: `host:port`, `[v6]:port` or `unix:/path`. */
export function formatAddress(a: Address): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Options for `net.Server.listen()`. */
export function toListenOptions(a: Address, extra: { backlog?: number } = {}): ListenOptions {
  const base: ListenOptions = a.kind === 'unix' ? { path: a.path } : { host: a.host, port: a.port };
  if (extra.backlog !== undefined) base.backlog = extra.backlog;
  return base;
}

/** Options for `net.connect()` (also valid as the base of `tls.connect()` options). */
export function toConnectOptions(a: Address): NetConnectOpts {
  return a.kind === 'unix' ? { path: a.path } : { host: a.host, port: a.port };
}

/** Options for `dgram.Socket.bind()`; UDP has no Unix socket form here. */
export function toBindOptions(a: Address): BindOptions {
  if (a.kind === 'unix') {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `UDP cannot bind a unix socket (${formatAddress(a)})`);
  }
  return { address: a.host, port: a.port };
}

/** True for 127.0.0.0/8, ::1, localhost and Unix sockets (the admin API's default reach). */
export function isLoopback(a: Address): boolean {
  if (a.kind === 'unix') return true;
  const h = a.host.toLowerCase();
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}
