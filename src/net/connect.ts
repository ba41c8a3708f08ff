/**
 * connectFramed: open a TCP (IPv4/IPv6), Unix or TLS connection and wrap it as a FramedConnection.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { formatAddress, parseAddress, toConnectOptions } from '../core/address.js';
import { ErrorCodes, SwitchyardError, upstreamConnectError } from '../core/errors.js';
import { FramedConnection } from './framed-connection.js';
import { clientHandshake } from './tls-handshake.js';
import { abortError, type Address, type FramedConnectionOptions } from './types.js';

const DEFAULT_CONNECT_TIMEOUT = 30_000;

export interface ConnectFramedOptions extends FramedConnectionOptions {
  /** Where to connect: an Address, an address string ("127.0.0.1:80", "[::1]:80", "unix:/path"), or host/port/path. */
  address?: Address | string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  /** Unix socket path. */
  path?: string | undefined;
  /** Force IPv4 or IPv6 name resolution. */
  family?: 4 | 6 | undefined;
  /** Local address to bind before connecting. */
  localAddress?: string | undefined;
  /**
   * Originate TLS after connecting: `true` for defaults (system CAs, verification on, SNI = host name) or
   * `tls.connect()` options (e.g. from `buildClientTlsOptions`). Without `servername` the host is used when it is a
   * name (never for IP addresses); the certificate is verified against `servername` or else the host.
   */
  tls?: tls.ConnectionOptions | boolean | undefined;
  /** Time limit in ms for connecting plus the TLS handshake (default 30 s; 0 = none). */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

function targetOf(opts: ConnectFramedOptions): Address {
  if (opts.address !== undefined) {
    return typeof opts.address === 'string' ? parseAddress(opts.address, { role: 'connect' }) : opts.address;
  }
  if (opts.path !== undefined) return { kind: 'unix', path: opts.path };
  if (opts.port === undefined) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, 'connectFramed: give address, host/port or path');
  }
  return { kind: 'tcp', host: opts.host ?? 'localhost', port: opts.port };
}

/** Connect the raw socket, honouring the deadline and the signal. */
function connectRaw(target: Address, opts: ConnectFramedOptions, deadline: number | undefined): Promise<net.Socket> {
  const name = formatAddress(target);
  return new Promise((resolve, reject) => {
    const connectOpts: net.NetConnectOpts = { ...toConnectOptions(target), allowHalfOpen: true };
    if (target.kind === 'tcp') {
      if (opts.family !== undefined) (connectOpts as net.TcpNetConnectOpts).family = opts.family;
      if (opts.localAddress !== undefined) (connectOpts as net.TcpNetConnectOpts).localAddress = opts.localAddress;
    }
    const signal = opts.signal;
    let timer: NodeJS.Timeout | undefined;
    const sock = net.connect(connectOpts);
    const settle = (err?: Error): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.off('connect', onConnect);
      sock.off('error', onError);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        resolve(sock);
      }
    };
    const onConnect = (): void => settle();
    const onError = (err: NodeJS.ErrnoException): void => settle(upstreamConnectError(err, name));
    const onAbort = (): void => settle(abortError(signal!));
    sock.once('connect', onConnect);
    sock.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadline !== undefined) {
      const ms = Math.max(0, deadline - Date.now());
      timer = setTimeout(
        () => settle(new SwitchyardError(ErrorCodes.UPSTREAM_TIMEOUT, `connect to ${name} timed out after ${opts.timeout} ms`, { details: { target: name, timeout: opts.timeout } })),
        ms,
      );
    }
  });
}

/**
 * Connect and return a FramedConnection (side 'client'). Rejects with SWY_UPSTREAM_REFUSED / _UNREACHABLE /
 * _TIMEOUT / _TLS / _ERROR (the system code in `details.syscode`), or an AbortError when `signal` aborts.
 */
export async function connectFramed(opts: ConnectFramedOptions): Promise<FramedConnection> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const target = targetOf(opts);
  const timeout = opts.timeout ?? DEFAULT_CONNECT_TIMEOUT;
  const deadline = timeout > 0 ? Date.now() + timeout : undefined;
  const raw = await connectRaw(target, opts, deadline);
  let socket: net.Socket = raw;
  if (opts.tls !== undefined && opts.tls !== false) {
    const tlsOpts: tls.ConnectionOptions = opts.tls === true ? {} : opts.tls;
    socket = await clientHandshake(raw, tlsOpts, {
      host: target.kind === 'tcp' ? target.host : undefined,
      timeout: deadline === undefined ? 0 : Math.max(1, deadline - Date.now()),
      signal: opts.signal,
      target: formatAddress(target),
    });
  }
  return new FramedConnection(socket, {
    side: 'client',
    raw,
    unixPath: target.kind === 'unix' ? target.path : undefined,
    host: target.kind === 'tcp' ? target.host : undefined,
    framers: opts.framers,
    socket: opts.socket,
    readHighWaterMark: opts.readHighWaterMark,
  });
}
