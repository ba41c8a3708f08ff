import { guard, logLevelOf, parseCommandArgs, str, UsageError } from '../args.js';
import { loadConfigFile } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger } from '../../core/log.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';

const USAGE = `Usage: switchyard run -c FILE [--log-level LEVEL]

Run the proxy described by a YAML or JSON config file (see docs/configuration.md). Starts clusters, routes,
listeners and (when configured) the admin API; SIGINT/SIGTERM drain live connections for shutdown.drainTimeout,
then close. A second signal closes at once.

Options:
  -c, --config FILE   the config file (.yaml, .yml or .json)
      --log-level L   trace|debug|info|warn|error|fatal|silent (overrides log.level)
  -h, --help          this help
`;

export function runCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, { config: { type: 'string', short: 'c' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const file = str(values.config);
    if (!file) throw new UsageError('missing -c FILE');
    const framers = createFramerRegistry();
    let config;
    try {
      config = await loadConfigFile(file, framers);
    } catch (err) {
      if ((err as { code?: string }).code === 'SWY_CONFIG_INVALID') {
        process.stderr.write(`${(err as Error).message}\n`);
        return 1;
      }
      throw err;
    }
    const logger = createLogger({ level: logLevelOf(values['log-level'], config.log.level) });
    const { yard, admin } = await startAll(config, framers, logger);
    for (const l of yard.listeners.values()) {
      process.stdout.write(`listener ${l.id}: ${l.address ? formatAddress(l.address) : '?'} (${l.config.transport})\n`);
    }
    if (admin) process.stdout.write(`admin API: ${admin.url || formatAddress(admin.address!)}\n`);
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  });
}
