import { guard, logLevelOf, parseCommandArgs, strs, UsageError } from '../args.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_USAGE, ADMIN_NAMES, adminBlockFromFlags, adminCliPath } from '../admin-flags.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger } from '../../core/log.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';

const USAGE = `Usage: switchyard proxy --listen HOST:PORT --upstream HOST:PORT [--upstream HOST:PORT ...]
                        [--framing NAME] [--udp] [--admin HOST:PORT] [--admin-token-file F]
                        [--connect-timeout 5s] [--idle-timeout 0] [--max-connections N] [--max-connections-per-source N] [--drain-timeout 10s]
                        [--log-level LEVEL]

A one-line proxy. Several --upstream options are balanced round robin. Addresses: HOST:PORT, [IPv6]:PORT,
or unix:/path (TCP only).

Options:
  -l, --listen ADDR          where to accept clients
  -u, --upstream ADDR        an upstream endpoint (repeatable: round robin)
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
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string', short: 'l' },
      upstream: { type: 'string', short: 'u', multiple: true },
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
    if (upstreams.length === 0) throw new UsageError('missing --upstream HOST:PORT');
    const listener: Record<string, unknown> = {
      id: 'proxy',
      transport: values.udp ? 'udp' : 'tcp',
      listen: values.listen,
    };
    if (values.framing) listener['framing'] = values.framing;
    if (values['idle-timeout']) listener['idleTimeout'] = values['idle-timeout'];
    if (values['max-connections']) listener['maxConnections'] = Number(values['max-connections']);
    if (values['max-connections-per-source']) listener['maxConnectionsPerSource'] = Number(values['max-connections-per-source']);
    const cluster: Record<string, unknown> = { id: 'upstream', endpoints: upstreams };
    if (values['connect-timeout']) cluster['connectTimeout'] = values['connect-timeout'];
    const raw: Record<string, unknown> = {
      listeners: [listener],
      clusters: [cluster],
      routes: [{ id: 'default', listener: 'proxy', cluster: 'upstream' }],
    };
    if (values['drain-timeout']) raw['shutdown'] = { drainTimeout: values['drain-timeout'] };
    const adminBlock = adminBlockFromFlags(values);
    if (adminBlock) raw['admin'] = adminBlock;
    const framers = createFramerRegistry();
    const result = validateConfig(raw, framers);
    if (!result.ok) {
      const lines = result.errors.map((e) => `  ${cliPath(e.path)}: ${e.message}`);
      throw new UsageError(`invalid options:\n${lines.join('\n')}`);
    }
    const config = result.config;
    const logger = createLogger({ level: logLevelOf(values['log-level']) });
    const { yard, admin } = await startAll(config, framers, logger, ADMIN_NAMES);
    const l = yard.listeners.get('proxy')!;
    process.stdout.write(
      `switchyard proxy: ${l.address ? formatAddress(l.address) : String(values.listen)} -> ${upstreams.join(', ')}` +
        `${values.udp ? ' (udp)' : ''}${values.framing ? ` framing=${String(values.framing)}` : ''}${admin ? `; admin ${admin.url}` : ''}\n`,
    );
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  }, (where) => (where.listener ? 'choose another --listen' : 'choose another --admin'));
}

/** Map config paths back to the flags they came from, so errors name what the user typed. */
function cliPath(path: string): string {
  return adminCliPath(path)
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^clusters\[0\]\.endpoints\[(\d+)\]/, (_m, i: string) => `--upstream #${Number(i) + 1}`)
    .replace(/^listeners\[0\]\.framing.*/, '--framing')
    .replace(/^clusters\[0\]\.connectTimeout/, '--connect-timeout')
    .replace(/^listeners\[0\]\.idleTimeout/, '--idle-timeout')
    .replace(/^listeners\[0\]\.maxConnectionsPerSource/, '--max-connections-per-source')
    .replace(/^listeners\[0\]\.maxConnections/, '--max-connections')
    .replace(/^shutdown\.drainTimeout/, '--drain-timeout');
}
