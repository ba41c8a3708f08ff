import { guard, parseCommandArgs, str, UsageError } from '../args.js';
import { loadConfigFile } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';

const USAGE = `Usage: switchyard validate -c FILE

Check a YAML or JSON config file against the schema (unknown keys, types, references, framer options).
Exits 0 and prints a summary when valid; exits 1 and prints every error with its path otherwise.

Options:
  -c, --config FILE   the config file (.yaml, .yml or .json)
      --log-level L   trace|debug|info|warn|error|fatal|silent
  -h, --help          this help
`;

export function validateCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, { config: { type: 'string', short: 'c' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const file = str(values.config);
    if (!file) throw new UsageError('missing -c FILE');
    try {
      const config = await loadConfigFile(file, createFramerRegistry());
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
