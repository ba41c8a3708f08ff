/**
 * The tail every flag-driven command shares (`proxy`, `grpc`, `wamp`): the config it built from its flags gets the
 * common flags (`--drain-timeout`, the admin flags), is validated with each refusal named by the flag it came from,
 * and is started with its admin API.
 */
import type { ConfigIssue } from '../config/issues.js';
import type { SwitchyardConfig } from '../config/types.js';
import { createLogger, type Logger } from '../core/log.js';
import { createFramerRegistry } from '../framing/builtins.js';
import { validateConfig } from '../runtime/config.js';
import { ADMIN_NAMES, adminBlockFromFlags } from './admin-flags.js';
import { logLevelOf, UsageError, type ParsedArgs } from './args.js';
import { startAll, type Running } from './serve.js';

export interface FlagConfigOptions {
  /** How a refusal or a warning reads: the flag its config path came from, its message, an optional hint. */
  describe(issue: ConfigIssue, kind: 'error' | 'warning'): string;
}

export interface StartedFromFlags extends Running {
  readonly config: SwitchyardConfig;
  readonly logger: Logger;
}

/** Validate `raw` (plus `--drain-timeout` and the admin flags) and start it; invalid options throw a UsageError. */
export async function startFromFlags(raw: Record<string, unknown>, values: ParsedArgs['values'], options: FlagConfigOptions): Promise<StartedFromFlags> {
  if (values['drain-timeout']) raw['shutdown'] = { drainTimeout: values['drain-timeout'] };
  const adminBlock = adminBlockFromFlags(values);
  if (adminBlock) raw['admin'] = adminBlock;
  const framers = createFramerRegistry();
  const result = validateConfig(raw, framers);
  if (!result.ok) throw new UsageError(`invalid options:\n${result.errors.map((e) => `  ${options.describe(e, 'error')}`).join('\n')}`);
  const config = result.config;
  const logger = createLogger({ level: logLevelOf(values['log-level']) });
  for (const w of result.warnings ?? []) process.stderr.write(`warning: ${options.describe(w, 'warning')}\n`);
  const running = await startAll(config, framers, logger, ADMIN_NAMES);
  return { ...running, config, logger };
}
