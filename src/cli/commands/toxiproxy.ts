import { readFile } from 'node:fs/promises';
import { guard, logLevelOf, parseCommandArgs, str, strs, UsageError } from '../args.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { exposureProblem } from '../../core/exposure.js';
import { readTokenFile } from '../../config/admin-schema.js';
import { createLogger } from '../../core/log.js';
import { parseAddress } from '../../core/address.js';
import { Switchyard } from '../../runtime/switchyard.js';
import { ToxiproxyApi } from '../../compat/toxiproxy.js';
import { serveUntilSignal } from '../serve.js';

const USAGE = `Usage: switchyard toxiproxy [--host 127.0.0.1] [--port 8474] [--config proxies.json] [--seed N]
                           [--token-file FILE] [--allowed-host H] [--allowed-origin O] [--insecure] [--log-level LEVEL]

A drop-in toxiproxy-server: an empty proxy with the Toxiproxy HTTP API, so toxiproxy-cli, toxiproxy-node-client,
the Go client and Testcontainers' Toxiproxy module drive it unchanged (docs/toxiproxy-compat.md). Go-style
single-dash flags (-host, -port, -config, -seed) are accepted too.

Options:
      --host HOST      where the API listens (default 127.0.0.1)
      --port PORT      API port (default 8474; 0 = any free port)
  -c, --config FILE    JSON array of proxies [{name, listen, upstream, enabled}], loaded like POST /populate;
                       errors are logged and the server keeps running
      --seed N         seed for every random draw of toxics (toxicity, jitter): reproducible runs
      --token-file F   require the bearer token in file F (its first line) on every API call; or set the
                       environment variable SWITCHYARD_TOXIPROXY_TOKEN
      --allowed-host H accept Host H besides the API's address (name or name:port; repeatable)
      --allowed-origin O  accept browser requests from origin O, e.g. http://localhost:3000 (repeatable)
      --insecure       allow a non-loopback --host without a token (docs/security.md)
      --log-level L    trace|debug|info|warn|error|fatal|silent (default info; logs go to stderr)
  -h, --help           this help
`;

const GO_FLAGS = new Set(['host', 'port', 'config', 'seed', 'help']);

const FIX = 'Give --token-file FILE (or the environment variable SWITCHYARD_TOXIPROXY_TOKEN), or --insecure to allow it';

/** Toxiproxy's server takes Go flags (`-host=0.0.0.0`, `-port 8474`): accept them as their `--` forms. */
function goFlags(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^-([a-z-]+)(=.*)?$/.exec(a);
    return m && GO_FLAGS.has(m[1]!) ? `-${a}` : a;
  });
}

export function toxiproxyCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(goFlags(argv), {
      host: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string', short: 'c' },
      seed: { type: 'string' },
      'token-file': { type: 'string' },
      'allowed-host': { type: 'string', multiple: true },
      'allowed-origin': { type: 'string', multiple: true },
      insecure: { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const host = str(values.host) ?? '127.0.0.1';
    const portText = str(values.port) ?? '8474';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port: expected an integer 0-65535, got '${portText}'`);
    let listen;
    try {
      listen = parseAddress(host.includes(':') && !host.startsWith('[') ? `[${host}]:${portText}` : `${host}:${portText}`);
    } catch (err) {
      throw new UsageError(`--host: ${(err as Error).message}`);
    }
    const seedText = str(values.seed);
    let seed: number | undefined;
    if (seedText !== undefined) {
      seed = Number(seedText);
      if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: expected an integer, got '${seedText}'`);
    }
    const tokenFile = str(values['token-file']);
    let token: string | undefined;
    if (tokenFile !== undefined) {
      try {
        token = readTokenFile(tokenFile);
      } catch (err) {
        throw new UsageError(`--token-file: ${(err as Error).message}`);
      }
    } else {
      const env = process.env['SWITCHYARD_TOXIPROXY_TOKEN'];
      if (env !== undefined && env !== '') token = env;
    }
    const insecure = values.insecure === true;
    const problem = exposureProblem(listen, { token, insecure }, FIX);
    if (problem !== undefined) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `toxiproxy --host: ${problem}`);
    const access = {
      token,
      insecure,
      allowedHosts: strs(values['allowed-host']),
      allowedOrigins: strs(values['allowed-origin']),
      setting: 'toxiproxy --host',
      fix: FIX,
      accessNames: { allowedHosts: '--allowed-host', allowedOrigins: '--allowed-origin' },
    };
    const logger = createLogger({ level: logLevelOf(values['log-level']) });
    const yard = new Switchyard({ logger, seed });
    let api: ToxiproxyApi;
    try {
      api = await ToxiproxyApi.start(yard, { listen, logger, ...access });
    } catch (err) {
      await yard.close({ drainTimeout: 0 });
      throw err;
    }
    const file = str(values.config);
    if (file !== undefined) {
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        logger.error({ config: file, err: (err as Error).message }, 'Error reading config file');
      }
      if (text !== undefined) await api.populateFromText(text, file);
    }
    process.stdout.write(`switchyard toxiproxy: API on ${api.url}\n`);
    return serveUntilSignal(yard, undefined, 0, logger, [api]);
  });
}
