import { guard, logLevelOf, parseCommandArgs, str, UsageError, type AddressInUse } from '../args.js';
import type { ListenerConfig, SwitchyardConfig } from '../../config/types.js';
import type { Fault } from '../../faults/fault-set.js';
import { loadConfigFile } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger } from '../../core/log.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';
import { configDigest, reloadTriggers } from '../reload-triggers.js';

const USAGE = `Usage: switchyard run -c FILE [--watch] [--log-level LEVEL]

Run the proxy described by a YAML or JSON config file (see docs/configuration.md). Starts clusters, routes,
listeners and (when configured) the admin API; SIGINT/SIGTERM drain live connections for shutdown.drainTimeout,
then close. A second signal closes at once.

SIGHUP reloads the file (docs/configuration.md, "Hot reload"): an invalid file is rejected with every issue logged
and the running config kept; a valid one is applied as a difference (unchanged listeners keep their connections).

Options:
  -c, --config FILE   the config file (.yaml, .yml or .json)
      --watch         also reload when the file's content changes
      --log-level L   trace|debug|info|warn|error|fatal|silent (overrides log.level)
  -h, --help          this help
`;

/**
 * `tcp, protocol http, faults: slow (latency, downstream), flaky (error, 10%)`: the transport, what the listener
 * understands (a protocol module, a framer, or plain bytes) and the faults active at start.
 */
export function listenerSummary(config: ListenerConfig, faults: readonly Fault[]): string {
  const parts: string[] = [config.transport];
  const up = config.framing.toUpstream.type;
  const down = config.framing.toDownstream.type;
  if (config.protocol) parts.push(`protocol ${config.protocol.type}`);
  else if (up !== 'passthrough' || down !== 'passthrough') parts.push(`framing ${up === down ? up : `${up}/${down}`}`);
  else parts.push('no protocol (bytes)');
  if (config.transport === 'tcp') {
    const list = faults.map((f) => `${f.name} (${f.type}, ${f.streamAsGiven}${f.toxicity < 1 ? `, ${Math.round(f.toxicity * 1000) / 10}%` : ''})`);
    parts.push(list.length > 0 ? `faults: ${list.join(', ')}` : 'no faults');
  }
  return parts.join(', ');
}

export function runCommand(argv: string[]): Promise<number> {
  let config: SwitchyardConfig | undefined;
  let file: string | undefined;
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, { config: { type: 'string', short: 'c' }, watch: { type: 'boolean' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    file = str(values.config);
    if (!file) throw new UsageError('missing -c FILE');
    const framers = createFramerRegistry();
    // The content the process starts with, read before the config is: a save during start-up is then a change.
    const startDigest = await configDigest(file);
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
    // Watching (and SIGHUP) starts before the addresses are printed: whoever reads them may save the file at once.
    const triggers = reloadTriggers(yard, file, framers, { watchFile: values.watch === true, startDigest });
    for (const l of yard.listeners.values()) {
      process.stdout.write(`listener ${l.id}: ${l.address ? formatAddress(l.address) : '?'} (${listenerSummary(l.config, yard.faultSets.get(l.id)?.list() ?? [])})\n`);
    }
    if (admin) process.stdout.write(`admin API: ${admin.url || formatAddress(admin.address!)}\n`);
    try {
      // The drain deadline as reloaded (shutdown.drainTimeout applies live).
      return await serveUntilSignal(yard, admin, () => yard.sections.shutdown.drainTimeout, logger);
    } finally {
      triggers.close();
    }
  }, (where) => inUseHint(config, file, where));
}

/** Which config key to change for a busy address. */
function inUseHint(config: SwitchyardConfig | undefined, file: string | undefined, where: AddressInUse): string | undefined {
  if (!config) return undefined;
  const inFile = file ? ` in ${file}` : '';
  if (where.listener !== undefined) {
    const i = config.listeners.findIndex((l) => l.id === where.listener);
    return `change listeners[${i}].listen (listener '${where.listener}')${inFile}`;
  }
  const admin = config.admin?.listen;
  if (admin && where.address === formatAddress(admin)) return `change admin.listen${inFile}`;
  const toxiproxy = config.toxiproxy?.listen;
  if (toxiproxy && where.address === formatAddress(toxiproxy)) return `change toxiproxy.listen${inFile}`;
  return `change the listen address of the admin API (admin.listen) or the Toxiproxy API (toxiproxy.listen)${inFile}`;
}
