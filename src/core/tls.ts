/**
 * TLS options built once, at config time, from the validated config (`ServerTlsConfig`, `ClientTlsConfig`).
 *
 * PEM files are read and parsed into `tls.SecureContext`s here, so a connection costs no file read and no
 * certificate parsing: the returned options object is cached per config object (and per host for clients) and is
 * meant to be reused by every connection. Treat it as read-only.
 *
 * Every failure (missing file, bad PEM, key not matching its certificate) is a SwitchyardError SWY_CONFIG_INVALID
 * that names the file(s).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, SwitchyardError } from './errors.js';

/** TLS termination options of a listener (validated config). */
export interface ServerTlsConfig {
  /** PEM file paths (read at build time). */
  cert: string;
  key: string;
  /** Extra certificates per SNI server name: { "api.example.com": { cert, key } }. */
  sni: Record<string, { cert: string; key: string }>;
  /** CA bundle used to verify client certificates. */
  ca?: string | undefined;
  /** Ask clients for a certificate. */
  requestClientCert: boolean;
  /** With requestClientCert: reject clients without a valid certificate (default true). */
  rejectUnauthorized: boolean;
  minVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
  alpn: string[];
}

export interface ClientTlsConfig {
  /** CA bundle file; default: Node's root store. */
  ca?: string | undefined;
  /** Server name for SNI and certificate verification; default: the endpoint host. */
  servername?: string | undefined;
  /** Verify the upstream certificate (default true). */
  rejectUnauthorized: boolean;
  /** Client certificate (mutual TLS). */
  cert?: string | undefined;
  key?: string | undefined;
  minVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
  alpn: string[];
}


type PemKind = 'certificate' | 'private key' | 'CA bundle';

function readPem(path: string, kind: PemKind, where: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: cannot read TLS ${kind} file '${path}': ${e.message}`, {
      cause: err,
      details: { file: path, kind, syscode: e.code },
    });
  }
  if (!data.includes('-----BEGIN ')) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: TLS ${kind} file '${path}' holds no PEM block (expected "-----BEGIN ...")`, {
      details: { file: path, kind },
    });
  }
  return data;
}

function secureContext(options: tls.SecureContextOptions, files: string[], where: string): tls.SecureContext {
  try {
    return tls.createSecureContext(options);
  } catch (err) {
    throw new SwitchyardError(
      ErrorCodes.CONFIG_INVALID,
      `${where}: invalid TLS material in ${files.map((f) => `'${f}'`).join(', ')}: ${(err as Error).message}`,
      { cause: err, details: { files } },
    );
  }
}

/** Lower-case, without a trailing dot. */
function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/**
 * Picks a secure context for an SNI server name: an exact match first, then a wildcard `*.example.com`, which
 * covers exactly one label (`a.example.com`, not `example.com` nor `a.b.example.com`, as in RFC 6125).
 * `undefined` = use the default certificate.
 */
export function sniLookup<T>(contexts: ReadonlyMap<string, T>, servername: string): T | undefined {
  const name = normalizeName(servername);
  const exact = contexts.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  if (dot <= 0) return undefined;
  return contexts.get(`*${name.slice(dot)}`);
}

const serverCache = new WeakMap<ServerTlsConfig, tls.TlsOptions>();

/**
 * Options for `tls.createServer()` / a server-side `tls.TLSSocket` (listen with TLS, server-side STARTTLS).
 * Carries both the PEM material (tls.Server builds its context from it) and a prebuilt `secureContext` (used by
 * bare TLS sockets), an `SNICallback` when `cfg.sni` has entries, client-certificate settings, minVersion and ALPN.
 * Cached per `cfg` object.
 */
export function buildServerTlsOptions(cfg: ServerTlsConfig): tls.TlsOptions {
  const cached = serverCache.get(cfg);
  if (cached) return cached;

  const where = 'listener tls';
  const cert = readPem(cfg.cert, 'certificate', where);
  const key = readPem(cfg.key, 'private key', where);
  const ca = cfg.ca === undefined ? undefined : readPem(cfg.ca, 'CA bundle', where);
  const base: tls.SecureContextOptions = {};
  if (ca) base.ca = ca;
  if (cfg.minVersion) base.minVersion = cfg.minVersion;
  const caFiles = cfg.ca === undefined ? [] : [cfg.ca];

  const defaultContext = secureContext({ ...base, cert, key }, [cfg.cert, cfg.key, ...caFiles], where);

  const sniContexts = new Map<string, tls.SecureContext>();
  for (const [name, pair] of Object.entries(cfg.sni)) {
    const w = `${where}.sni["${name}"]`;
    const n = normalizeName(name);
    if (n.length === 0 || (n.includes('*') && !/^\*\.[^*]+$/.test(n))) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${w}: bad server name (use "host.example.com" or "*.example.com")`, {
        details: { name },
      });
    }
    const sniCert = readPem(pair.cert, 'certificate', w);
    const sniKey = readPem(pair.key, 'private key', w);
    // Each SNI context carries the CA too: after the switch OpenSSL verifies client certificates with its store.
    sniContexts.set(n, secureContext({ ...base, cert: sniCert, key: sniKey }, [pair.cert, pair.key, ...caFiles], w));
  }

  const requestCert = cfg.requestClientCert;
  const options: tls.TlsOptions = {
    cert,
    key,
    secureContext: defaultContext,
    requestCert,
    rejectUnauthorized: requestCert && cfg.rejectUnauthorized,
  };
  if (ca) options.ca = ca;
  if (cfg.minVersion) options.minVersion = cfg.minVersion;
  if (cfg.alpn.length > 0) options.ALPNProtocols = [...cfg.alpn];
  if (sniContexts.size > 0) {
    const sni: typeof options.SNICallback = (servername, cb) => cb(null, sniLookup(sniContexts, servername));
    options.SNICallback = sni;
  }
  serverCache.set(cfg, options);
  return options;
}

interface ClientEntry {
  context: tls.SecureContext;
  byHost: Map<string, tls.ConnectionOptions>;
}

const clientCache = new WeakMap<ClientTlsConfig, ClientEntry>();

function clientContext(cfg: ClientTlsConfig): ClientEntry {
  const cached = clientCache.get(cfg);
  if (cached) return cached;
  const where = 'cluster tls';
  if ((cfg.cert === undefined) !== (cfg.key === undefined)) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: a client certificate needs both cert and key`, {
      details: { cert: cfg.cert, key: cfg.key },
    });
  }
  const opts: tls.SecureContextOptions = {};
  const files: string[] = [];
  if (cfg.ca !== undefined) {
    opts.ca = readPem(cfg.ca, 'CA bundle', where);
    files.push(cfg.ca);
  }
  if (cfg.cert !== undefined && cfg.key !== undefined) {
    opts.cert = readPem(cfg.cert, 'certificate', where);
    opts.key = readPem(cfg.key, 'private key', where);
    files.push(cfg.cert, cfg.key);
  }
  if (cfg.minVersion) opts.minVersion = cfg.minVersion;
  const entry: ClientEntry = { context: secureContext(opts, files, where), byHost: new Map() };
  clientCache.set(cfg, entry);
  return entry;
}

/**
 * Options for `tls.connect()` to `host` (pass them with the connection's own host/port or socket). Verification
 * is on unless `cfg.rejectUnauthorized` is false; the certificate is checked against `cfg.servername` or else
 * `host`. SNI is only sent for names: RFC 6066 forbids IP addresses in SNI, so for an IP no `servername` is set
 * and Node checks the certificate's IP SANs against the connection host. Cached per (`cfg`, `host`).
 */
export function buildClientTlsOptions(cfg: ClientTlsConfig, host: string): tls.ConnectionOptions {
  const entry = clientContext(cfg);
  const hit = entry.byHost.get(host);
  if (hit) return hit;

  const options: tls.ConnectionOptions = {
    secureContext: entry.context,
    rejectUnauthorized: cfg.rejectUnauthorized,
  };
  if (cfg.minVersion) options.minVersion = cfg.minVersion;
  if (cfg.alpn.length > 0) options.ALPNProtocols = [...cfg.alpn];
  const name = cfg.servername ?? host;
  if (isIP(name) === 0) {
    options.servername = name;
  } else if (cfg.servername !== undefined && cfg.servername !== host) {
    // An IP identity that differs from the connection host: no SNI, but verify against that IP.
    const identity = cfg.servername;
    const checkServerIdentity: typeof options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(identity, cert);
    options.checkServerIdentity = checkServerIdentity;
  }
  entry.byHost.set(host, options);
  return options;
}
