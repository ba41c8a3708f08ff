/**
 * Is a control API reachable from other machines? A control API (admin, Toxiproxy-compatible, chaos control) on
 * a non-loopback address without a token lets anyone who can reach the port reconfigure the proxy; the config
 * schema and the CLI refuse to start one unless it is explicitly marked insecure (docs/security.md).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Address } from './address.js';

/** A loopback host: `localhost`, 127.0.0.0/8, `::1` (also as an IPv4-mapped address). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** Reachable only from this machine: a loopback TCP address or a Unix socket. */
export function isLocalOnly(address: Address): boolean {
  return address.kind === 'unix' || isLoopbackHost(address.host);
}

/** What guards a control API: a token, or the explicit choice to run it unprotected. */
export interface ExposureGuard {
  readonly token?: string | undefined;
  readonly insecure?: boolean | undefined;
}

/**
 * Why a control API must not start on `address` (undefined when it may): it is not loopback-only, has no token and
 * is not marked insecure. `setting` names what the user wrote (`admin.listen`, `--admin`, ...); `fix` says how to
 * give a token or mark it insecure in that place.
 */
export function exposureProblem(address: Address, guard: ExposureGuard, fix: string): string | undefined {
  if (isLocalOnly(address) || (guard.token !== undefined && guard.token !== '') || guard.insecure === true) return undefined;
  const where = address.kind === 'tcp' ? (address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`) : '';
  return (
    `${where} is not a loopback address and no token is set: anyone who can reach it could reconfigure the proxy. ` +
    `${fix} (see docs/security.md)`
  );
}
