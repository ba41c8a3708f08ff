/**
 * Small helpers shared by the UDP listener and proxy: option checks, address → socket family, buffer sizing,
 * and closing a dgram socket as a promise.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { UdpOptions } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';

/** Largest UDP payload over IPv4 (65535 - 20 IP header - 8 UDP header). */
export const MAX_UDP_PAYLOAD_IPV4 = 65507;
/** Largest UDP payload over IPv6 without jumbograms (65535 - 8 UDP header). */
export const MAX_UDP_PAYLOAD_IPV6 = 65527;

const KiB = 1024;
const MiB = 1024 * KiB;

/** An address ready for dgram: an IP literal plus the socket type that can reach it. */
export interface UdpEndpoint {
  readonly host: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  readonly type: 'udp4' | 'udp6';
}

/** Throw SWY_CONFIG_INVALID unless the UDP options are usable. */
export function validateUdpOptions(udp: UdpOptions): void {
  if (!Number.isFinite(udp.flowIdleTimeout) || udp.flowIdleTimeout < 0) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp.flowIdleTimeout: expected a duration >= 0, got ${udp.flowIdleTimeout}`);
  }
  if (!Number.isSafeInteger(udp.maxFlows) || udp.maxFlows < 1) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp.maxFlows: expected an integer >= 1, got ${udp.maxFlows}`);
  }
  // Up to 65535 like the config schema; above the protocol maxima (65507 IPv4, 65527 IPv6) it changes nothing.
  if (!Number.isSafeInteger(udp.maxDatagramSize) || udp.maxDatagramSize < 1 || udp.maxDatagramSize > 65535) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp.maxDatagramSize: expected an integer in [1, 65535], got ${udp.maxDatagramSize}`);
  }
}

function fromLiteral(host: string, port: number): UdpEndpoint | undefined {
  const v = isIP(host);
  if (v === 4) return { host, port, family: 'IPv4', type: 'udp4' };
  if (v === 6) return { host, port, family: 'IPv6', type: 'udp6' };
  return undefined;
}

function checkAddress(address: Address, what: string): { host: string; port: number } {
  if (address.kind !== 'tcp') {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${what}: UDP needs a host and port, not a Unix socket path`);
  }
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${what}: port must be an integer in [0, 65535], got ${address.port}`);
  }
  // An empty host means "all interfaces" (IPv4).
  return { host: address.host === '' ? '0.0.0.0' : address.host, port: address.port };
}

/**
 * The endpoint for an address whose host is an IP literal, without any I/O; `undefined` for a hostname (use
 * `resolveUdpEndpoint`). Throws SWY_CONFIG_INVALID for a Unix address or a bad port.
 */
export function literalUdpEndpoint(address: Address, what: string): UdpEndpoint | undefined {
  const { host, port } = checkAddress(address, what);
  return fromLiteral(host, port);
}

/** The endpoint for any host+port address; hostnames are resolved with the system resolver (first answer). */
export async function resolveUdpEndpoint(address: Address, what: string): Promise<UdpEndpoint> {
  const { host, port } = checkAddress(address, what);
  const literal = fromLiteral(host, port);
  if (literal !== undefined) return literal;
  const found = await lookup(host);
  const resolved = fromLiteral(found.address, port);
  if (resolved === undefined) {
    throw new SwitchyardError(ErrorCodes.UPSTREAM_UNREACHABLE, `${what}: ${host} resolved to no IP address`);
  }
  return resolved;
}

/**
 * Kernel buffer size for a socket carrying datagrams up to `maxDatagramSize`: room for `datagrams` of them,
 * clamped to [min, max]. The kernel caps it further at net.core.rmem_max / wmem_max.
 */
export function socketBufferSize(maxDatagramSize: number, datagrams: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, maxDatagramSize * datagrams));
}

/** Buffer sizes for the shared listening socket (all flows' traffic): 1–8 MiB. */
export function listenerBufferSize(maxDatagramSize: number): number {
  return socketBufferSize(maxDatagramSize, 32, 1 * MiB, 8 * MiB);
}

/** Buffer sizes for one flow's upstream socket: 256 KiB–1 MiB. */
export function flowBufferSize(maxDatagramSize: number): number {
  return socketBufferSize(maxDatagramSize, 8, 256 * KiB, 1 * MiB);
}

/**
 * Set both kernel buffer sizes on a bound socket, never below what the kernel already gives. Best effort:
 * a refusal leaves the defaults (a datagram is still never truncated by Node, which receives into 64 KiB).
 */
export function applyBufferSizes(socket: dgram.Socket, size: number): void {
  try {
    if (socket.getRecvBufferSize() < size) socket.setRecvBufferSize(size);
  } catch {
    // keep the kernel default
  }
  try {
    if (socket.getSendBufferSize() < size) socket.setSendBufferSize(size);
  } catch {
    // keep the kernel default
  }
}

/**
 * Close a dgram socket. The fd is released at once, but dgram emits 'close' on the next tick while libuv
 * finishes closing the handle in its close phase; two check-phase turns later the handle is gone from the event
 * loop too (no longer in `process.getActiveResourcesInfo()`), and only then does this resolve.
 */
export function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      setImmediate(() => setImmediate(resolve));
    };
    try {
      socket.close(done);
    } catch {
      // ERR_SOCKET_DGRAM_NOT_RUNNING: already closed
      resolve();
    }
  });
}

/** Bind a new socket; rejects with SWY_LISTEN_FAILED (cause: the system error) when binding fails. */
export function bindSocket(endpoint: UdpEndpoint, what: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: endpoint.type, reuseAddr: false });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.off('listening', onListening);
      void closeSocket(socket);
      reject(
        new SwitchyardError(ErrorCodes.LISTEN_FAILED, `${what}: cannot bind udp ${endpoint.host}:${endpoint.port}: ${err.message}`, {
          cause: err,
          details: { syscode: err.code, host: endpoint.host, port: endpoint.port },
        }),
      );
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ port: endpoint.port, address: endpoint.host, exclusive: true });
  });
}
