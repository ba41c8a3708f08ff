import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { SocketOptions } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError, upstreamConnectError } from '../core/errors.js';

export interface ConnectOptions {
  /** Give up after this many ms (SWY_UPSTREAM_TIMEOUT). */
  connectTimeout: number;
  socket: SocketOptions;
  /** Originate TLS with these options (already built; servername etc. included). */
  tls?: tls.ConnectionOptions | undefined;
  signal?: AbortSignal | undefined;
  /** Pause the socket as it connects, before Node's first read: nothing is read until it is resumed. */
  paused?: boolean | undefined;
  /** Name resolution for a host-name endpoint (the cluster's DNS cache); absent = the system resolver per connect. */
  lookup?: net.LookupFunction | undefined;
}

export function describeAddress(a: Address): string {
  return a.kind === 'unix' ? `unix:${a.path}` : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * Open one upstream stream.
 *
 * `signal` is honoured when the attempt settles (an aborted attempt's socket is destroyed and the promise rejects
 * with SWY_SHUTDOWN), which is at most `connectTimeout` later. It is deliberately not subscribed to: in Node 20 an
 * AbortSignal listener costs ~5 µs to add and remove, a few percent of a proxied connection's whole CPU budget. Resolves once connected (after the TLS handshake when originating TLS); rejects
 * with a typed error: SWY_UPSTREAM_REFUSED, _UNREACHABLE, _TIMEOUT, _RESET, _TLS or _ERROR.
 * The socket is half-open capable, so FINs can be forwarded one direction at a time.
 */
export function connectUpstream(address: Address, opts: ConnectOptions): Promise<Socket> {
  const target = describeAddress(address);
  return new Promise<Socket>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new SwitchyardError(ErrorCodes.SHUTDOWN, `connect to ${target} aborted`));
      return;
    }
    const base: net.NetConnectOpts =
      address.kind === 'unix' ? { path: address.path } : opts.lookup ? { host: address.host, port: address.port, lookup: opts.lookup } : { host: address.host, port: address.port };
    let socket: Socket;
    if (opts.tls) {
      // tls.connect accepts allowHalfOpen (documented; missing from @types/node).
      socket = tls.connect({ ...opts.tls, ...base, allowHalfOpen: true } as unknown as tls.ConnectionOptions);
    } else {
      socket = net.connect({ ...base, allowHalfOpen: true, noDelay: opts.socket.noDelay } as net.NetConnectOpts);
    }
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      if (settled) return;
      cleanup();
      socket.destroy();
      reject(err instanceof SwitchyardError ? err : upstreamConnectError(err, target));
    };
    const timer = setTimeout(() => {
      onError(new SwitchyardError(ErrorCodes.UPSTREAM_TIMEOUT, `upstream ${target}: connect timeout after ${opts.connectTimeout} ms`, { details: { target } }));
    }, opts.connectTimeout);
    timer.unref();
    socket.once('error', onError);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      if (settled) return;
      if (opts.signal?.aborted) {
        onError(new SwitchyardError(ErrorCodes.SHUTDOWN, `connect to ${target} aborted`));
        return;
      }
      cleanup();
      // Node starts reading right after the 'connect' listeners return, unless the socket is paused by then.
      if (opts.paused === true) socket.pause();
      if (opts.tls) socket.setNoDelay(opts.socket.noDelay);
      if (opts.socket.keepAlive > 0) socket.setKeepAlive(true, opts.socket.keepAlive);
      resolve(socket);
    });
  });
}
