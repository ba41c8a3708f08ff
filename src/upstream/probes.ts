/**
 * Active health-check probes: one short exchange with one endpoint, over the cluster's TLS when it has one.
 * Each resolves when the endpoint answered as expected and rejects with an Error whose message says what went
 * wrong. The caller aborts `signal` at the check's timeout; every probe then destroys its socket at once.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction, type Socket } from 'node:net';
import tls from 'node:tls';
import type { HealthCheckConfig, HttpHealthCheck } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { ProtocolRegistry } from '../protocols/registry.js';

/** Where a probe connects. */
export interface ProbeTarget {
  readonly address: Address;
  /** The cluster's DNS cache for host-name endpoints. */
  readonly lookup?: LookupFunction | undefined;
  /** Originate TLS with these options (the cluster's `tls`). */
  readonly tls?: tls.ConnectionOptions | undefined;
}

export type Probe = (target: ProbeTarget, signal: AbortSignal) => Promise<void>;

/**
 * The probe a health-check config asks for: `tcp` and `http` here; any other type is the protocol module of that
 * name's `healthProbe`, run over a socket connected here (TLS included). Throws SWY_CONFIG_INVALID when the module
 * has none.
 */
export function probeFor(check: HealthCheckConfig, protocols: ProtocolRegistry): Probe {
  if (check.type === 'tcp') return tcpProbe;
  if (check.type === 'http') return (t, s) => httpProbe(check, t, s);
  const module = protocols.get(check.type);
  if (module?.healthProbe === undefined) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `healthCheck type '${check.type}': no protocol module with a health probe of that name`);
  }
  const probe = module.healthProbe(check as unknown as Readonly<Record<string, unknown>>);
  return async (t, s) => probe(await dial(t, s), s);
}

const aborted = (): Error => new Error('aborted');

/** Connect (and finish the TLS handshake); destroyed at once when `signal` aborts. */
export function dial(target: ProbeTarget, signal: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(aborted());
      return;
    }
    const a = target.address;
    const base: net.NetConnectOpts =
      a.kind === 'unix' ? { path: a.path } : target.lookup ? { host: a.host, port: a.port, lookup: target.lookup } : { host: a.host, port: a.port };
    const socket = target.tls ? tls.connect({ ...target.tls, ...base } as tls.ConnectionOptions) : net.connect(base);
    const onAbort = (): void => {
      socket.destroy();
      reject(aborted());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err: Error) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
    socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(socket);
    });
  });
}

/** tcp: the connection (and TLS handshake) succeeds. */
export async function tcpProbe(target: ProbeTarget, signal: AbortSignal): Promise<void> {
  const socket = await dial(target, signal);
  socket.destroy();
}

function statusText(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(', ');
}

/** http: `method path` answered with a status in `expectStatus`. */
export function httpProbe(check: HttpHealthCheck, target: ProbeTarget, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const a = target.address;
    const host = check.host ?? (a.kind === 'tcp' ? (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`) : 'localhost');
    const options: http.RequestOptions = {
      method: check.method,
      path: check.path,
      headers: { host, 'user-agent': 'switchyard-health-check', connection: 'close' },
      agent: false,
      signal,
      ...(a.kind === 'unix' ? { socketPath: a.path } : { host: a.host, port: a.port }),
      ...(target.lookup ? { lookup: target.lookup } : {}),
    };
    const req = target.tls ? https.request({ ...target.tls, ...options } as https.RequestOptions) : http.request(options);
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      if (check.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)) resolve();
      else reject(new Error(`HTTP ${status} to ${check.method} ${check.path} (expected ${statusText(check.expectStatus)})`));
    });
    req.once('error', (err) => reject(err));
    req.end();
  });
}

