/**
 * `switchyard chaos`: a Vaurien-style chaos proxy. Behaviors (`--behavior 20:delay,10:error`) are drawn per request
 * (per chunk on raw TCP); their options are flags generated from the fault plugins' self-describing options; with
 * `--http HOST:PORT` Vaurien's control API changes the behavior and backend while traffic flows.
 */
import { guard, logLevelOf, parseCommandArgs, str, strs, UsageError, type ParsedArgs } from '../args.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { exposureProblem } from '../../core/exposure.js';
import { MATCH_NOT, type MatchSpec } from '../../config/fault-input.js';
import { readTokenFile } from '../../config/admin-schema.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger, type Logger } from '../../core/log.js';
import { formatAddress, parseAddress } from '../../core/address.js';
import { serveUntilSignal } from '../serve.js';
import { createFaultRegistry } from '../../faults/builtins.js';
import { createProtocolRegistry } from '../../protocols/builtins.js';
import type { FaultRegistry } from '../../faults/registry.js';
import { Switchyard } from '../../runtime/switchyard.js';
import { suggestionSuffix } from '../../config/did-you-mean.js';
import {
  behaviorFlag,
  behaviorNames,
  BehaviorError,
  DEFAULT_BEHAVIOR,
  describeType,
  parseBehaviorSpec,
  VaurienBehaviors,
  type BehaviorOptions,
  type OptionValue,
} from '../../compat/vaurien-behaviors.js';
import { VaurienApi } from '../../compat/vaurien.js';

const LISTENER = 'chaos';
const HTTP_FIX = 'Give --http-token-file FILE (or the environment variable SWITCHYARD_CHAOS_TOKEN), or --http-insecure to allow it';
const ROUTE = 'chaos';

export interface ChaosOptions {
  proxy: string;
  backend: string;
  /** `tcp` (raw bytes) or a protocol module name. */
  protocol: string;
  /** Percentage syntax, e.g. `20:delay,10:error`. */
  behavior: string;
  /** Per-behavior options (typed, or text to parse by the option's type). */
  options?: Record<string, Record<string, unknown>>;
  /** Only requests whose attributes match get a behavior (the faults' `match`, docs/faults.md); the rest pass. */
  match?: MatchSpec | undefined;
  /**
   * Behaviors also apply to the protocol's connection setup requests (Redis HELLO, AUTH, the first INFO...; the
   * faults' `handshake`, docs/faults.md). Default false: clients connect, then their commands get the behaviors.
   */
  handshake?: boolean | undefined;
  /** Control API address, off when absent. */
  http?: string | undefined;
  /** The control API's protection (docs/security.md): token, extra Host/Origin values, insecure. */
  httpAccess?: { token?: string | undefined; allowedHosts?: string[]; allowedOrigins?: string[]; insecure?: boolean } | undefined;
  seed?: number | undefined;
  logger: Logger;
  faults?: FaultRegistry;
  /** Grace period for live connections on shutdown (ms, default 1000). */
  drainTimeout?: number;
}

export interface ChaosRunning {
  yard: Switchyard;
  api: VaurienApi | undefined;
  behaviors: VaurienBehaviors;
  close(): Promise<void>;
}

/** Build the chaos proxy's config and start it (and the control API when asked). Throws UsageError on bad input. */
export async function startChaos(opts: ChaosOptions): Promise<ChaosRunning> {
  const faults = opts.faults ?? createFaultRegistry();
  const protocols = createProtocolRegistry();
  const known = ['tcp', ...protocols.names()];
  if (!known.includes(opts.protocol)) {
    throw new UsageError(`--protocol: unknown protocol '${opts.protocol}'${suggestionSuffix(opts.protocol, known)} (known: ${known.join(', ')})`);
  }
  const raw = opts.protocol === 'tcp';
  let mix;
  try {
    mix = parseBehaviorSpec(opts.behavior, behaviorNames(faults));
  } catch (err) {
    throw new UsageError(`--behavior: ${(err as Error).message}`);
  }
  const check = new VaurienBehaviors(faults, { mix, raw });
  const options: BehaviorOptions = {};
  for (const [b, o] of Object.entries(opts.options ?? {})) {
    try {
      options[b] = check.validateOptions(b, o);
    } catch (err) {
      const field = err instanceof BehaviorError ? err.field : '';
      throw new UsageError(`--${behaviorFlag(b, field)}: ${(err as Error).message}`);
    }
  }
  const behaviors = new VaurienBehaviors(faults, { mix, raw, options, match: opts.match, handshake: opts.handshake });
  let httpAddress;
  if (opts.http !== undefined) {
    try {
      httpAddress = parseAddress(opts.http);
    } catch (err) {
      throw new UsageError(`--http: ${(err as Error).message}`);
    }
    if (httpAddress.kind !== 'tcp') throw new UsageError('--http: expected HOST:PORT');
    const problem = exposureProblem(httpAddress, opts.httpAccess ?? {}, HTTP_FIX);
    if (problem !== undefined) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `chaos --http: ${problem}`);
  }
  const rawConfig: Record<string, unknown> = {
    listeners: [{ id: LISTENER, transport: 'tcp', listen: opts.proxy, ...(raw ? {} : { protocol: opts.protocol }), faults: behaviors.faultInputs() }],
    clusters: [{ id: 'backend', endpoints: [opts.backend] }],
    routes: [{ id: ROUTE, listener: LISTENER, cluster: 'backend' }],
    shutdown: { drainTimeout: `${opts.drainTimeout ?? 1000}ms` },
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  };
  const framers = createFramerRegistry();
  const result = validateConfig(rawConfig, framers, { chaos: { protocols, faults } });
  if (!result.ok) {
    const lines = result.errors.map((e) => `  ${cliPath(e.path)}: ${e.message}`);
    throw new UsageError(`invalid options:\n${lines.join('\n')}`);
  }
  const config = result.config;
  const yard = await Switchyard.start(config, { logger: opts.logger, framers, protocols, faults });
  let api: VaurienApi | undefined;
  try {
    behaviors.attach(yard.faultSet(LISTENER));
    if (httpAddress) api = await VaurienApi.start(yard, { listen: httpAddress, behaviors: behaviors, routeId: ROUTE, logger: opts.logger, ...opts.httpAccess });
  } catch (err) {
    await yard.close({ drainTimeout: 0 });
    throw err;
  }
  return {
    yard,
    api,
    behaviors: behaviors,
    close: async () => {
      await api?.close();
      await yard.close({ drainTimeout: 0 });
    },
  };
}

/** Map config paths back to the flags they came from. */
function cliPath(path: string): string {
  return path
    .replace(/^listeners\[0\]\.listen/, '--proxy')
    .replace(/^clusters\[0\]\.endpoints\[0\].*/, '--backend')
    .replace(/^listeners\[0\]\.protocol.*/, '--protocol')
    .replace(/^listeners\[0\]\.faults\[\d+\]\.match.*/, '--match')
    .replace(/^seed/, '--seed');
}

/** The generated `--behavior-<name>-<option>` flags: flag → [behavior, option]. */
function behaviorFlags(faults: FaultRegistry): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const b of behaviorNames(faults)) {
    for (const o of Object.keys(faults.get(b)!.options)) out.set(behaviorFlag(b, o), [b, o]);
  }
  return out;
}

function usage(faults: FaultRegistry): string {
  const lines: string[] = [];
  lines.push(`Usage: switchyard chaos [--proxy HOST:PORT] [--backend HOST:PORT] [--protocol P] [--behavior 20:delay,10:error] [--match KEY=VALUE ...]
                        [--handshake] [--behavior-<name>-<option> VALUE ...] [--http HOST:PORT [--http-token-file F]]
                        [--seed N] [--log-level L]

A Vaurien-style chaos proxy: each request (each chunk on raw TCP) gets one behavior drawn from the mix; the
control API (--http) changes the behavior and the backend while traffic flows. See docs/chaos-cli.md.

Options:
      --proxy ADDR           where to accept clients (default 127.0.0.1:8000)
      --backend ADDR         where to forward (default 127.0.0.1:80)
      --protocol P           tcp (default: raw bytes, behaviors per chunk) or ${createProtocolRegistry().names().join(', ')}
      --behavior SPEC        comma list of PERCENT:NAME, integer percents summing to 100 or less; the rest is
                             dummy (default ${DEFAULT_BEHAVIOR})
      --match KEY=VALUE      only requests whose attribute KEY matches VALUE get a behavior (exact, * wildcards or
                             /regex/; repeat a key for any of several values); KEY!=VALUE excludes; every --match
                             must hold. Keys are the protocol's attributes (docs/faults.md), e.g. path, command
      --handshake            behaviors also hit the protocol's connection setup (Redis HELLO, AUTH, SELECT, CLIENT
                             SETNAME/SETINFO, READONLY, the first INFO; PostgreSQL startup; MySQL login; SMTP
                             EHLO/HELO/STARTTLS/AUTH); by default they skip it, so clients connect
      --http ADDR            serve Vaurien's control API (GET/PUT /behavior, GET /behaviors, GET/PUT /backend)
      --http-host HOST       the control API's host (with --http-port; default 127.0.0.1)
      --http-port PORT       the control API's port (with --http-host; default 8080)
      --http-token-file F    require the bearer token in file F (its first line) on the control API; or set the
                             environment variable SWITCHYARD_CHAOS_TOKEN
      --http-allowed-host H  accept Host H on the control API besides its address (name or name:port; repeatable)
      --http-allowed-origin O  accept browser requests from origin O (repeatable)
      --http-insecure        allow the control API on a non-loopback address without a token (docs/security.md)
      --seed N               seed every random draw (reproducible runs)
      --log-level L          trace|debug|info|warn|error|fatal|silent
  -h, --help                 this help

Behaviors and their options (booleans take a value: --behavior-delay-before false):`);
  for (const b of behaviorNames(faults)) {
    const plugin = faults.get(b)!;
    lines.push(`  ${b.padEnd(10)} ${plugin.description}`);
    for (const [o, spec] of Object.entries(plugin.options)) {
      const flag = `--${behaviorFlag(b, o)} ${spec.type === 'boolean' ? 'BOOL' : spec.type === 'string' ? 'TEXT' : 'N'}`;
      const def = spec.default === null ? 'none' : `${String(spec.default)}${spec.unit ? ` ${spec.unit}` : ''}`;
      lines.push(`      ${flag}`);
      lines.push(`          ${spec.description} (${describeType(spec)}; default ${def})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Reject unknown long options with a did-you-mean before parseArgs' generic message. */
function checkFlags(argv: string[], known: Set<string>, valued: Set<string>): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (!known.has(name)) {
      const candidates = name.startsWith('behavior-') ? [...known].filter((k) => k.startsWith('behavior-')) : [...known];
      const hint = suggestionSuffix(`--${name}`, candidates.map((k) => `--${k}`));
      const more = name.startsWith('behavior-') && hint === '' ? ' (see --help for the behavior options)' : '';
      throw new UsageError(`unknown option '--${name}'${hint}${more}`);
    }
    if (eq < 0 && valued.has(name)) i++;
  }
}

/** The control API's token (--http-token-file, else SWITCHYARD_CHAOS_TOKEN), extra Host/Origin values and insecure mark. */
function chaosHttpAccess(values: ParsedArgs['values']): NonNullable<ChaosOptions['httpAccess']> {
  const file = str(values['http-token-file']);
  let token: string | undefined;
  if (file !== undefined) {
    try {
      token = readTokenFile(file);
    } catch (err) {
      throw new UsageError(`--http-token-file: ${(err as Error).message}`);
    }
  } else {
    const env = process.env['SWITCHYARD_CHAOS_TOKEN'];
    if (env !== undefined && env !== '') token = env;
  }
  return { token, allowedHosts: strs(values['http-allowed-host']), allowedOrigins: strs(values['http-allowed-origin']), insecure: values['http-insecure'] === true };
}

export function chaosCommand(argv: string[]): Promise<number> {
  const faults = createFaultRegistry();
  const USAGE = usage(faults);
  const SHORT = `${USAGE.slice(0, USAGE.indexOf('\n\n'))}\nRun 'switchyard chaos --help' for every option, behavior and behavior option.\n`;
  return guard(SHORT, async () => {
    const flags = behaviorFlags(faults);
    const base = ['proxy', 'backend', 'protocol', 'behavior', 'match', 'http', 'http-host', 'http-port', 'http-token-file', 'http-allowed-host', 'http-allowed-origin', 'seed', 'log-level'];
    const valued = new Set([...base, ...flags.keys()]);
    checkFlags(argv, new Set([...valued, 'help', 'http-insecure', 'handshake']), valued);
    const spec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { 'http-insecure': { type: 'boolean' }, handshake: { type: 'boolean' } };
    for (const k of valued) if (k !== 'log-level') spec[k] = { type: 'string' };
    spec['match'] = { type: 'string', multiple: true };
    spec['http-allowed-host'] = { type: 'string', multiple: true };
    spec['http-allowed-origin'] = { type: 'string', multiple: true };
    const { values } = parseCommandArgs(argv, spec);
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const options: Record<string, Record<string, OptionValue | string>> = {};
    for (const [flag, [b, o]] of flags) {
      const v = str(values[flag]);
      if (v !== undefined) (options[b] ??= {})[o] = v;
    }
    let seed: number | undefined;
    const seedText = str(values['seed']);
    if (seedText !== undefined) {
      if (!/^\d+$/.test(seedText) || Number(seedText) > 2 ** 32 - 1) throw new UsageError(`--seed: expected an integer from 0 to 4294967295, got '${seedText}'`);
      seed = Number(seedText);
    }
    let http = str(values['http']);
    const httpHost = str(values['http-host']);
    const httpPort = str(values['http-port']);
    if (http !== undefined && (httpHost !== undefined || httpPort !== undefined)) throw new UsageError('give either --http HOST:PORT or --http-host/--http-port, not both');
    if (httpHost !== undefined || httpPort !== undefined) {
      const host = httpHost ?? '127.0.0.1';
      http = `${host.includes(':') ? `[${host}]` : host}:${httpPort ?? '8080'}`;
    }
    const proxy = str(values['proxy']) ?? '127.0.0.1:8000';
    const backend = str(values['backend']) ?? '127.0.0.1:80';
    const protocol = str(values['protocol']) ?? 'tcp';
    const behavior = str(values['behavior']) ?? DEFAULT_BEHAVIOR;
    const httpAccess = chaosHttpAccess(values);
    const match = parseMatchFlags(strs(values['match']) ?? []);
    const logger = createLogger({ level: logLevelOf(values['log-level']) });
    const handshake = values['handshake'] === true;
    const running = await startChaos({ proxy, backend, protocol, behavior, options, match, handshake, http, httpAccess, seed, logger, faults });
    const l = running.yard.listeners.get(LISTENER)!;
    process.stdout.write(
      `switchyard chaos: ${l.address ? formatAddress(l.address) : proxy} -> ${backend} protocol=${protocol} behavior=${running.behaviors.spec}` +
        `${seed !== undefined ? ` seed=${seed}` : ''}${running.api ? `; control API ${running.api.url}` : ''}\n`,
    );
    const code = await serveUntilSignal(running.yard, undefined, 1000, logger);
    await running.api?.close();
    return code;
  });
}

/**
 * `--match KEY=VALUE` (repeatable) into a fault `match`: the same key twice means any of the values, `KEY!=VALUE`
 * goes under `not` (excluded). Keys and values are checked by the config schema like any fault's match.
 */
export function parseMatchFlags(flags: readonly string[]): MatchSpec | undefined {
  if (flags.length === 0) return undefined;
  const want: Record<string, string[]> = {};
  const not: Record<string, string[]> = {};
  for (const flag of flags) {
    const m = /^([^=!]+?)(!?)=(.*)$/s.exec(flag);
    if (!m || m[1]!.trim() === '') throw new UsageError(`--match: expected KEY=VALUE or KEY!=VALUE, got '${flag}'`);
    ((m[2] === '!' ? not : want)[m[1]!.trim()] ??= []).push(m[3]!);
  }
  const one = (values: string[]): string | string[] => (values.length === 1 ? values[0]! : values);
  const spec: Record<string, string | string[] | Record<string, string | string[]>> = {};
  for (const [k, v] of Object.entries(want)) spec[k] = one(v);
  if (Object.keys(not).length > 0) spec[MATCH_NOT] = Object.fromEntries(Object.entries(not).map(([k, v]) => [k, one(v)]));
  return spec;
}
