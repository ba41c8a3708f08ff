import { guard, logLevelOf, parseCommandArgs, str, strs, UsageError, type ParsedArgs } from '../args.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { exposureProblem } from '../../core/exposure.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger } from '../../core/log.js';
import { formatAddress, parseAddress } from '../../core/address.js';
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
      --admin-token TOKEN    require this bearer token on the admin API (visible to other local users in the
                             process list: prefer --admin-token-file or env SWITCHYARD_ADMIN_TOKEN)
      --admin-token-file F   read the admin API's bearer token from file F (its first line)
      --admin-allowed-host H accept Host H on the admin API besides its address (name or name:port; repeatable)
      --admin-allowed-origin O  accept browser requests from origin O, e.g. https://ui.example (repeatable)
      --admin-insecure       allow --admin on a non-loopback address without a token (docs/security.md)
      --connect-timeout D    upstream connect timeout (default 5s)
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
      admin: { type: 'string' },
      'admin-token': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'admin-allowed-host': { type: 'string', multiple: true },
      'admin-allowed-origin': { type: 'string', multiple: true },
      'admin-insecure': { type: 'boolean' },
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
    if (values.admin) {
      checkAdminExposure(String(values.admin), values);
      const hosts = strs(values['admin-allowed-host']);
      const origins = strs(values['admin-allowed-origin']);
      raw['admin'] = {
        listen: values.admin,
        ...(values['admin-token'] ? { token: values['admin-token'] } : {}),
        ...(values['admin-token-file'] ? { tokenFile: values['admin-token-file'] } : {}),
        ...(hosts.length > 0 ? { allowedHosts: hosts } : {}),
        ...(origins.length > 0 ? { allowedOrigins: origins } : {}),
        ...(values['admin-insecure'] ? { insecure: true } : {}),
      };
    }
    const framers = createFramerRegistry();
    const result = validateConfig(raw, framers);
    if (!result.ok) {
      const lines = result.errors.map((e) => `  ${cliPath(e.path)}: ${e.message}`);
      throw new UsageError(`invalid options:\n${lines.join('\n')}`);
    }
    const config = result.config;
    const logger = createLogger({ level: logLevelOf(values['log-level']) });
    const { yard, admin } = await startAll(config, framers, logger, { setting: '--admin', fix: ADMIN_FIX });
    const l = yard.listeners.get('proxy')!;
    process.stdout.write(
      `switchyard proxy: ${l.address ? formatAddress(l.address) : String(values.listen)} -> ${upstreams.join(', ')}` +
        `${values.udp ? ' (udp)' : ''}${values.framing ? ` framing=${String(values.framing)}` : ''}${admin ? `; admin ${admin.url}` : ''}\n`,
    );
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  }, (where) => (where.listener ? 'choose another --listen' : 'choose another --admin'));
}

const ADMIN_FIX = 'Give --admin-token-file FILE (or the environment variable SWITCHYARD_ADMIN_TOKEN), or --admin-insecure to allow it';

/** A non-loopback --admin without a token refuses to start (exit 1), before anything binds. */
function checkAdminExposure(listen: string, values: ParsedArgs['values']): void {
  let address;
  try {
    address = parseAddress(listen);
  } catch {
    return; // a bad address is reported with the other options
  }
  const env = process.env['SWITCHYARD_ADMIN_TOKEN'];
  const token = str(values['admin-token']) ?? str(values['admin-token-file']) ?? (env === '' ? undefined : env);
  const problem = exposureProblem(address, { token, insecure: values['admin-insecure'] === true }, ADMIN_FIX);
  if (problem !== undefined) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `--admin: ${problem}`);
}

/** Map config paths back to the flags they came from, so errors name what the user typed. */
function cliPath(path: string): string {
  return path
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^clusters\[0\]\.endpoints\[(\d+)\]/, (_m, i: string) => `--upstream #${Number(i) + 1}`)
    .replace(/^listeners\[0\]\.framing.*/, '--framing')
    .replace(/^admin\.listen/, '--admin')
    .replace(/^admin\.tokenFile/, '--admin-token-file')
    .replace(/^admin\.allowedHosts/, '--admin-allowed-host')
    .replace(/^admin\.allowedOrigins/, '--admin-allowed-origin')
    .replace(/^clusters\[0\]\.connectTimeout/, '--connect-timeout')
    .replace(/^listeners\[0\]\.idleTimeout/, '--idle-timeout')
    .replace(/^listeners\[0\]\.maxConnectionsPerSource/, '--max-connections-per-source')
    .replace(/^listeners\[0\]\.maxConnections/, '--max-connections')
    .replace(/^shutdown\.drainTimeout/, '--drain-timeout');
}
