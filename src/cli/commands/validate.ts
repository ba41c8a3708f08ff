import { guard, parseCommandArgs, str, UsageError } from '../args.js';
import { loadConfigFile } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { formatAddress, type Address } from '../../core/address.js';
import { formatConfigIssue } from '../../config/issues.js';

const USAGE = `Usage: switchyard validate -c FILE [--print]

Check a YAML or JSON config file against the schema (unknown keys, types, references, framer options).
Exits 0 and prints a summary when valid (and a warning on stderr for each route that can never match); exits 1
and prints every error with its path otherwise.

Options:
  -c, --config FILE   the config file (.yaml, .yml or .json)
      --print         when valid, print the normalised config as JSON on stdout instead of the summary: every
                      default filled in, durations in milliseconds, sizes in bytes, addresses as HOST:PORT,
                      tokens shown as "<redacted>"
      --log-level L   trace|debug|info|warn|error|fatal|silent
  -h, --help          this help
`;

export function validateCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, { config: { type: 'string', short: 'c' }, print: { type: 'boolean' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const file = str(values.config);
    if (!file) throw new UsageError('missing -c FILE');
    try {
      const config = await loadConfigFile(file, createFramerRegistry(), {
        onWarnings: (warnings) => {
          for (const w of warnings) process.stderr.write(`warning: ${formatConfigIssue(w, file)}\n`);
        },
      });
      if (values['print']) {
        process.stdout.write(`${JSON.stringify(config, printable, 2)}\n`);
        return 0;
      }
      process.stdout.write(
        `${file}: valid (${config.listeners.length} listener(s), ${config.clusters.length} cluster(s), ${config.routes.length} route(s)${config.admin ? ', admin API' : ''})\n`,
      );
      return 0;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code !== 'SWY_CONFIG_INVALID') throw err;
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
  });
}

/** JSON.stringify replacer for `--print`: addresses as text, regexes as /source/flags, maps as objects, no secrets. */
function printable(key: string, value: unknown): unknown {
  if (key === 'token' && typeof value === 'string') return '<redacted>';
  if (value instanceof RegExp) return String(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const a = value as { kind?: unknown; host?: unknown; port?: unknown; path?: unknown };
    const keys = Object.keys(value);
    if (a.kind === 'tcp' && typeof a.host === 'string' && typeof a.port === 'number' && keys.length === 3) return formatAddress(value as Address);
    if (a.kind === 'unix' && typeof a.path === 'string' && keys.length === 2) return formatAddress(value as Address);
  }
  return value;
}
