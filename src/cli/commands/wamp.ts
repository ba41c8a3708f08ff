import { guard, parseCommandArgs, strs, UsageError } from '../args.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_USAGE, adminCliPath } from '../admin-flags.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal } from '../serve.js';
import { startFromFlags } from '../flag-config.js';
import { readFileSync } from 'node:fs';
import { crossbarProxyConfig, CrossbarConfigError } from '../../config/wamp-crossbar.js';

const USAGE = `Usage: switchyard wamp --listen HOST:PORT --backend URL [--backend URL ...] [--realm NAME ...]
                       [--role ROLE] [--crossbar WORKER.json] [--admin HOST:PORT] [--admin-token-file F] [--drain-timeout 10s]
                       [--log-level LEVEL]

A WAMP proxy: accepts WAMP clients on one port (WebSocket on /ws with JSON, MessagePack or CBOR, and RawSocket),
authenticates them at the edge (anonymous), opens one backend session per client on the next backend router
(round robin; a backend that refuses is retried on the next one) and relays messages both ways, translating
serializers. See docs/wamp.md.

Options:
  -l, --listen ADDR          where to accept WAMP clients
  -b, --backend URL          a backend router (repeatable: round robin over them):
                               ws://HOST:PORT/PATH[?serializers=json,cbor]   (WebSocket; default serializer json)
                               rawsocket://HOST:PORT[?serializer=cbor]       (RawSocket; default serializer json)
      --realm NAME           route only this realm (repeatable); any other realm gets wamp.error.no_such_realm
                             (default: every realm)
      --role ROLE            the role every client gets (anonymous auth at the edge); default: the role the client
                             asks for in HELLO (authrole), else "anonymous"
      --crossbar FILE        a Crossbar.io proxy worker's JSON (its "connections", "routes" and, without --listen,
                             "transports"): converted to clusters, routes and listeners (docs/wamp.md)
      --admin ADDR           also serve the admin API and /metrics (e.g. 127.0.0.1:9901): GET /api/v1/wamp/sessions
${ADMIN_FLAGS_USAGE}      --drain-timeout D      on SIGINT/SIGTERM, wait this long (default 10s)
      --log-level L          trace|debug|info|warn|error|fatal|silent
  -h, --help                 this help
`;

const SERIALIZERS = ['json', 'msgpack', 'cbor'];

/** `ws://h:p/path?serializers=a,b` or `rawsocket://h:p?serializer=s` → a cluster config. */
export function backendCluster(text: string, id: string): Record<string, unknown> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--backend ${JSON.stringify(text)}: expected ws://HOST:PORT/PATH or rawsocket://HOST:PORT`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'ws' && scheme !== 'rawsocket') throw new UsageError(`--backend ${JSON.stringify(text)}: scheme must be ws or rawsocket, got ${JSON.stringify(scheme)}`);
  if (url.hostname === '' || url.port === '') throw new UsageError(`--backend ${JSON.stringify(text)}: needs HOST:PORT`);
  const list = (url.searchParams.get(scheme === 'ws' ? 'serializers' : 'serializer') ?? 'json').split(',').map((s) => s.trim());
  for (const s of list) if (!SERIALIZERS.includes(s)) throw new UsageError(`--backend ${JSON.stringify(text)}: unknown serializer ${JSON.stringify(s)} (known: ${SERIALIZERS.join(', ')})`);
  if (scheme === 'rawsocket' && list.length !== 1) throw new UsageError(`--backend ${JSON.stringify(text)}: RawSocket takes one serializer`);
  const wamp: Record<string, unknown> = scheme === 'ws' ? { transport: 'websocket', path: url.pathname === '' ? '/' : url.pathname, serializers: list } : { transport: 'rawsocket', serializers: list };
  return { id, endpoints: [`${url.hostname}:${url.port}`], wamp };
}

export function wampCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string', short: 'l' },
      backend: { type: 'string', short: 'b', multiple: true },
      realm: { type: 'string', multiple: true },
      role: { type: 'string' },
      crossbar: { type: 'string' },
      ...ADMIN_FLAGS,
      'drain-timeout': { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const crossbar = typeof values.crossbar === 'string' ? readCrossbar(values.crossbar, values.listen === undefined ? undefined : 'wamp') : undefined;
    if (!values.listen && !crossbar?.listeners.length) throw new UsageError('missing --listen HOST:PORT');
    const backends = strs(values.backend);
    if (backends.length === 0 && !crossbar) throw new UsageError('missing --backend URL');
    const clusters = [...(crossbar?.clusters ?? []), ...backends.map((b, i) => backendCluster(b, `backend-${i + 1}`))];
    const realms = strs(values.realm);
    const own = clusters.slice(crossbar?.clusters.length ?? 0);
    const routes = [
      ...(crossbar?.routes ?? []),
      ...(realms.length === 0
        ? own.map((c) => ({ id: `route-${String(c['id'])}`, listener: 'wamp', cluster: c['id'] }))
        : realms.flatMap((realm) => own.map((c) => ({ id: `route-${realm}-${String(c['id'])}`, listener: 'wamp', match: { realm }, cluster: c['id'] })))),
    ];
    const protocol: Record<string, unknown> = { type: 'wamp' };
    if (typeof values.role === 'string') protocol['auth'] = { anonymous: { role: values.role } };
    const listeners = values.listen ? [{ id: 'wamp', listen: values.listen, protocol }] : crossbar!.listeners;
    const raw: Record<string, unknown> = { listeners, clusters, routes };
    const { yard, admin, config, logger } = await startFromFlags(raw, values, { describe: (e) => `${cliPath(e.path)}: ${e.message}` });
    const l = yard.listeners.get(String(listeners[0]!['id']))!;
    process.stdout.write(
      `switchyard wamp: ${l.address ? formatAddress(l.address) : String(values.listen)} (WebSocket /ws, RawSocket) -> ${backends.join(', ')}` +
        `${realms.length > 0 ? `; realms ${realms.join(', ')}` : '; every realm'}${typeof values.role === 'string' ? `; role ${values.role}` : ''}` +
        `${admin ? `; admin ${admin.url}` : ''}\n`,
    );
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  }, (where) => (where.listener ? 'choose another --listen' : 'choose another --admin'));
}

function readCrossbar(file: string, listener: string | undefined): ReturnType<typeof crossbarProxyConfig> {
  let worker: unknown;
  try {
    worker = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new UsageError(`--crossbar ${file}: ${(err as Error).message}`);
  }
  try {
    return crossbarProxyConfig(worker, listener === undefined ? {} : { listener });
  } catch (err) {
    if (err instanceof CrossbarConfigError) throw new UsageError(`--crossbar ${file}: ${err.message}`);
    throw err;
  }
}

/** Map config paths back to the flags they came from. */
function cliPath(path: string): string {
  return adminCliPath(path)
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^clusters\[(\d+)\]\.endpoints\[0\]/, (_m, i: string) => `--backend #${Number(i) + 1}`)
    .replace(/^listeners\[0\]\.protocol\.auth\.anonymous\.role/, '--role')
    .replace(/^routes\[\d+\]\.match\.realm/, '--realm')
    .replace(/^shutdown\.drainTimeout/, '--drain-timeout');
}
