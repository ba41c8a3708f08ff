import { guard, parseCommandArgs, strs, UsageError } from '../args.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_USAGE, adminCliPath } from '../admin-flags.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal } from '../serve.js';
import { startFromFlags } from '../flag-config.js';
import { routesFromFlags } from '../route-flag.js';

const USAGE = `Usage: switchyard proxy --listen HOST:PORT --upstream HOST:PORT [--upstream HOST:PORT ...]
       switchyard proxy --listen HOST:PORT [--protocol NAME] --route 'MATCH -> HOST:PORT[,HOST:PORT]' [--route ...]
                        [--framing NAME] [--udp] [--admin HOST:PORT] [--admin-token-file F]
                        [--connect-timeout 5s] [--idle-timeout 0] [--max-connections N] [--max-connections-per-source N] [--drain-timeout 10s]
                        [--log-level LEVEL]

A one-line proxy. Several --upstream options are balanced round robin. Addresses: HOST:PORT, [IPv6]:PORT,
or unix:/path (TCP only). With --route, each connection (or request, for protocols routed per request) goes to
the first route whose MATCH holds; --upstream then adds a last, catch-all route.

Options:
  -l, --listen ADDR          where to accept clients
  -u, --upstream ADDR        an upstream endpoint (repeatable: round robin)
  -r, --route 'MATCH -> ADDR[,ADDR]'
                             a route (repeatable, tried in order): MATCH is KEY=VALUE conditions separated by
                             ',' (KEY!=VALUE negates; a|b = any of; header.NAME= and query.NAME= for HTTP);
                             empty MATCH = everything, e.g. --route 'host=api.example.com,path=/v1/* -> 127.0.0.1:3001'
                             --route '-> 127.0.0.1:3000'
  -p, --protocol NAME        the listeners' protocol (http, redis, postgres, mysql, memcache, smtp): request
                             attributes for --route, the protocol's own error answers
  -f, --framing NAME         framer for both directions (passthrough, line, delimiter, length-prefixed,
                             netstring, cobs, fixed); default passthrough
      --udp                  proxy UDP datagrams (per-client flows) instead of TCP
      --admin ADDR           also serve the admin API (e.g. 127.0.0.1:9901)
${ADMIN_FLAGS_USAGE}      --connect-timeout D    upstream connect timeout (default 5s)
      --idle-timeout D       close connections idle this long (default 0 = never)
      --max-connections N    most simultaneous client connections (default 10000)
      --max-connections-per-source N
                             most simultaneous connections from one client IP address (default 0: no limit)
      --drain-timeout D      on SIGINT/SIGTERM, let connections finish this long (default 10s)
      --log-level L          trace|debug|info|warn|error|fatal|silent
  -h, --help                 this help
`;

export function proxyCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(joinRouteValues(argv), {
      listen: { type: 'string', short: 'l' },
      upstream: { type: 'string', short: 'u', multiple: true },
      route: { type: 'string', short: 'r', multiple: true },
      protocol: { type: 'string', short: 'p' },
      framing: { type: 'string', short: 'f' },
      udp: { type: 'boolean' },
      ...ADMIN_FLAGS,
      'connect-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-source': { type: 'string' },
      'drain-timeout': { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (!values.listen) throw new UsageError('missing --listen HOST:PORT');
    const upstreams = strs(values.upstream);
    const routeFlags = strs(values.route);
    if (upstreams.length === 0 && routeFlags.length === 0) throw new UsageError("missing --upstream HOST:PORT (or --route 'MATCH -> HOST:PORT')");
    let table: ReturnType<typeof routesFromFlags>;
    try {
      table = routesFromFlags('proxy', routeFlags, upstreams);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const listener: Record<string, unknown> = {
      id: 'proxy',
      transport: values.udp ? 'udp' : 'tcp',
      listen: values.listen,
    };
    if (values.framing) listener['framing'] = values.framing;
    if (values.protocol) listener['protocol'] = values.protocol;
    if (values['idle-timeout']) listener['idleTimeout'] = values['idle-timeout'];
    if (values['max-connections']) listener['maxConnections'] = Number(values['max-connections']);
    if (values['max-connections-per-source']) listener['maxConnectionsPerSource'] = Number(values['max-connections-per-source']);
    if (values['connect-timeout']) for (const c of table.clusters) c['connectTimeout'] = values['connect-timeout'];
    const raw: Record<string, unknown> = { listeners: [listener], clusters: table.clusters, routes: table.routes };
    const protocol = typeof values.protocol === 'string' ? values.protocol : undefined;
    const { yard, admin, config, logger } = await startFromFlags(raw, values, {
      describe: (e, kind) =>
        kind === 'error'
          ? `${cliPath(e.path, routeFlags.length)}: ${e.message}${hint(e.path, e.message, protocol)}`
          : `${cliPath(e.path, routeFlags.length)}: ${e.message.replace(/routes\[(\d+)\] \("[^"]*"\)/, (_m, i: string) => flagName(Number(i), routeFlags.length))}`,
    });
    const l = yard.listeners.get('proxy')!;
    process.stdout.write(
      `switchyard proxy: ${l.address ? formatAddress(l.address) : String(values.listen)} -> ${routeFlags.length > 0 ? `${table.routes.length} routes` : upstreams.join(', ')}` +
        `${values.udp ? ' (udp)' : ''}${values.framing ? ` framing=${String(values.framing)}` : ''}${admin ? `; admin ${admin.url}` : ''}\n`,
    );
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  }, (where) => (where.listener ? 'choose another --listen' : 'choose another --admin'));
}

/** `--route '-> ADDR'` as `--route=-> ADDR`: a value starting with "-" would read as an option otherwise. */
function joinRouteValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--route' || a === '-r') && i + 1 < argv.length) out.push(`--route=${argv[++i]!}`);
    else out.push(a);
  }
  return out;
}

/** The flag a generated route or cluster came from: `--route #N`, or the `--upstream`s (the last catch-all). */
function flagName(index: number, routeFlags: number): string {
  return index < routeFlags ? `--route #${index + 1}` : '--upstream';
}

/** A hint for a match key a listener without a protocol cannot route on. */
function hint(path: string, message: string, protocol: string | undefined): string {
  return protocol === undefined && /^routes\[\d+\]\.match/.test(path) && message.includes('raw TCP') ? ' (add --protocol NAME to route on request attributes)' : '';
}

/** Map config paths back to the flags they came from, so errors name what the user typed. */
function cliPath(path: string, routeFlags: number): string {
  return adminCliPath(path)
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^listeners\[0\]\.protocol.*/, '--protocol')
    .replace(/^clusters\[(\d+)\]\.endpoints\[(\d+)\]/, (_m, c: string, i: string) => (Number(c) < routeFlags ? `--route #${Number(c) + 1} upstream #${Number(i) + 1}` : `--upstream #${Number(i) + 1}`))
    .replace(/^routes\[(\d+)\]\.?/, (_m, r: string) => `${flagName(Number(r), routeFlags)} `)
    .replace(/^listeners\[0\]\.framing.*/, '--framing')
    .replace(/^clusters\[\d+\]\.connectTimeout/, '--connect-timeout')
    .replace(/^listeners\[0\]\.idleTimeout/, '--idle-timeout')
    .replace(/^listeners\[0\]\.maxConnectionsPerSource/, '--max-connections-per-source')
    .replace(/^listeners\[0\]\.maxConnections/, '--max-connections')
    .replace(/^shutdown\.drainTimeout/, '--drain-timeout');
}
