/**
 * `switchyard nvariant`: N-variant execution as a one-liner. One listener in front of N variants of a service
 * (`--variant` once per variant, the first is the primary); every request goes to all of them, their answers are
 * compared after protocol-aware normalisation and the policy decides what the client gets. Each divergence is
 * printed to stderr as one line as it happens; the admin API (`--admin`) serves the full events.
 */
import pino from 'pino';
import { guard, logLevelOf, parseCommandArgs, str, strs, UsageError } from '../args.js';
import { validateConfig } from '../../runtime/config.js';
import type { SwitchyardConfig } from '../../config/types.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import type { FramerRegistry } from '../../framing/registry.js';
import type { Logger, LogLevel } from '../../core/log.js';
import { formatAddress, parseAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_USAGE, ADMIN_NAMES, adminBlockFromFlags, adminCliPath } from '../admin-flags.js';
import { createProtocolRegistry } from '../../protocols/builtins.js';
import { suggestionSuffix } from '../../config/did-you-mean.js';
import { POLICIES } from '../../config/replication.js';
import type { DivergenceEvent } from '../../replication/events.js';

const LISTENER = 'nvariant';
const ROUTE = 'nvariant';

const USAGE = `Usage: switchyard nvariant --listen HOST:PORT --variant HOST:PORT --variant HOST:PORT [--variant ...]
                         [--protocol P | --framing NAME] [--policy unanimous|majority|primary] [--timeout 5s]
                         [--filter-pair] [--quarantine] [--mask POINTER ...] [--ignore-header NAME ...]
                         [--admin HOST:PORT [--admin-token-file F]] [--events FILE] [--log-level LEVEL]

N-variant execution: every request is sent to every variant, their answers are compared after protocol-aware
normalisation, and the policy decides what the client gets. Each divergence is printed to stderr as one line.
See docs/nvariant-cli.md.

Options:
  -l, --listen ADDR          where to accept clients
      --variant ADDR         a variant of the service (repeat: at least 2; the first is the primary)
      --protocol P           tcp (default: raw bytes, compared chunk by chunk or frame by frame with --framing)
                             or a protocol module: ${createProtocolRegistry().names().join(', ')}
  -f, --framing NAME         raw TCP only: split both directions into frames (line, delimiter, length-prefixed, ...)
      --policy P             unanimous (default): any difference blocks the request (HTTP 502, raw TCP closes)
                             majority: the majority's answer is served, the odd variant reported
                             primary: the primary's answer is served at once, differences reported in the background
      --timeout D            how long each variant has to answer a request (default 5s)
      --filter-pair          the first two variants are identical copies: their differences are learned as noise
      --quarantine           majority: take an out-voted variant out of the set (restore via the admin API)
      --mask POINTER         ignore this field when comparing, a JSON pointer with * and ** segments
                             (repeatable), e.g. --mask '/body/**/requestId' --mask /headers/etag
      --ignore-header NAME   HTTP: ignore this response header when comparing (repeatable; Date, Server, ...
                             are ignored already)
      --admin ADDR           also serve the admin API: GET /api/v1/divergences, live GET /api/v1/events (SSE)
${ADMIN_FLAGS_USAGE}      --events FILE          append every divergence event to FILE as one JSON line
      --log-level L          trace|debug|info|warn|error|fatal|silent (default warn)
  -h, --help                 this help
`;

export interface NvariantOptions {
  listen: string;
  /** At least 2; the first is the primary. */
  variants: string[];
  /** `tcp` (raw) or a protocol module name (default tcp). */
  protocol?: string | undefined;
  /** Raw TCP framer name (not with a protocol module). */
  framing?: string | undefined;
  /** unanimous (default), majority or primary. */
  policy?: string | undefined;
  /** Duration text, e.g. "5s" (default 5s). */
  timeout?: string | undefined;
  filterPair?: boolean | undefined;
  quarantine?: boolean | undefined;
  masks?: string[] | undefined;
  ignoreHeaders?: string[] | undefined;
  admin?: string | undefined;
  /** The rest of the admin API's block (token, tokenFile, allowedHosts, allowedOrigins, insecure), from its flags. */
  adminOptions?: Record<string, unknown> | undefined;
  /** JSONL file for divergence events. */
  events?: string | undefined;
}

/**
 * Check the options and turn them into a validated config: listener `nvariant`, replicate route `nvariant`,
 * optional admin API and divergence file. Throws UsageError naming the flag on bad input.
 */
export function nvariantConfig(opts: NvariantOptions, framers: FramerRegistry = createFramerRegistry()): SwitchyardConfig {
  if (!opts.listen) throw new UsageError('missing --listen HOST:PORT');
  checkAddress('--listen', opts.listen, 'listen');
  if (opts.variants.length < 2) {
    throw new UsageError(`--variant: N-variant execution needs at least 2 variants, got ${opts.variants.length}; give --variant HOST:PORT once per variant`);
  }
  opts.variants.forEach((v, i) => checkAddress(`--variant #${i + 1}`, v, 'connect'));
  if (opts.admin !== undefined) checkAddress('--admin', opts.admin, 'listen');
  const protocols = createProtocolRegistry();
  const known = ['tcp', ...protocols.names()];
  const protocol = opts.protocol ?? 'tcp';
  if (!known.includes(protocol)) {
    throw new UsageError(`--protocol: unknown protocol '${protocol}'${suggestionSuffix(protocol, known)} (known: ${known.join(', ')})`);
  }
  if (opts.framing !== undefined && protocol !== 'tcp') {
    throw new UsageError(`--framing and --protocol ${protocol} are mutually exclusive: framing is for raw TCP, a protocol module frames its own messages`);
  }
  const policy = opts.policy ?? 'unanimous';
  if (!(POLICIES as readonly string[]).includes(policy)) {
    throw new UsageError(`--policy: unknown policy '${policy}'${suggestionSuffix(policy, POLICIES)} (known: ${POLICIES.join(', ')})`);
  }
  if (opts.filterPair && opts.variants.length < 3) {
    throw new UsageError('--filter-pair: the filter pair is the first two variants, so give at least 3 (--variant primary, --variant its copy, --variant the other)');
  }
  const listener: Record<string, unknown> = { id: LISTENER, transport: 'tcp', listen: opts.listen };
  if (protocol !== 'tcp') listener['protocol'] = protocol;
  if (opts.framing !== undefined) listener['framing'] = opts.framing;
  // Each variant is a one-endpoint cluster named v1..vN, so events, diffs and metrics say "v3", not an address.
  const clusters = opts.variants.map((address, i) => ({ id: `v${i + 1}`, endpoints: [address] }));
  const replicate: Record<string, unknown> = {
    variants: clusters.map((c) => c.id),
    policy,
    timeout: opts.timeout ?? '5s',
    filterPair: opts.filterPair ?? false,
    quarantine: opts.quarantine ?? false,
    normalise: { masks: opts.masks ?? [], ignoreHeaders: opts.ignoreHeaders ?? [] },
  };
  const raw: Record<string, unknown> = {
    listeners: [listener],
    clusters,
    routes: [{ id: ROUTE, listener: LISTENER, replicate }],
    shutdown: { drainTimeout: '1s' },
  };
  if (opts.admin !== undefined) raw['admin'] = { ...opts.adminOptions, listen: opts.admin };
  if (opts.events !== undefined) raw['divergences'] = { file: opts.events };
  const result = validateConfig(raw, framers);
  if (!result.ok) {
    const lines = result.errors.map((e) => `  ${cliPath(e.path)}: ${e.message}`);
    throw new UsageError(`invalid options:\n${lines.join('\n')}`);
  }
  return result.config;
}

function checkAddress(flag: string, text: string, role: 'listen' | 'connect'): void {
  try {
    parseAddress(text, { role });
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** Map config paths back to the flags they came from. */
function cliPath(path: string): string {
  return adminCliPath(path)
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^listeners\[0\]\.framing.*/, '--framing')
    .replace(/^listeners\[0\]\.protocol.*/, '--protocol')
    .replace(/^routes\[0\]\.replicate\.variants\[(\d+)\].*/, (_m, i: string) => `--variant #${Number(i) + 1}`)
    .replace(/^clusters\[(\d+)\]\.endpoints.*/, (_m, i: string) => `--variant #${Number(i) + 1}`)
    .replace(/^routes\[0\]\.replicate\.variants.*/, '--variant')
    .replace(/^routes\[0\]\.replicate\.policy.*/, '--policy')
    .replace(/^routes\[0\]\.replicate\.timeout.*/, '--timeout')
    .replace(/^routes\[0\]\.replicate\.normalise\.masks\[(\d+)\].*/, (_m, i: string) => `--mask #${Number(i) + 1}`)
    .replace(/^routes\[0\]\.replicate\.normalise\.ignoreHeaders\[(\d+)\].*/, (_m, i: string) => `--ignore-header #${Number(i) + 1}`)
    .replace(/^divergences\.file/, '--events');
}

/** A variant's role in the set: the first is the primary; with a filter pair the second is its identical copy. */
export function variantRole(index: number, filterPair: boolean): 'primary' | 'filter pair' | 'variant' {
  return index === 0 ? 'primary' : index === 1 && filterPair ? 'filter pair' : 'variant';
}

const POLICY_TEXT: Record<string, string> = {
  unanimous: 'any difference blocks the request (HTTP 502 that reveals nothing; raw TCP closes the connection)',
  majority: "the majority's answer is served, the odd variant is reported",
  primary: "the primary's answer is served at once, the others are compared in the background and reported",
};

/** What the policy does, in words. */
export function describePolicy(policy: string, quarantine = false): string {
  const text = POLICY_TEXT[policy] ?? policy;
  return policy === 'majority' && quarantine ? `${text} and quarantined` : text;
}

const MAX_FIELDS = 6;

/**
 * One line for a divergence event: `divergence 3 blocked: GET /secret?x=1 — v3 differs at /status, /body/secret`.
 * Variants are named v1..vN in their configured order (the event lists them in that order).
 */
export function formatDivergence(e: DivergenceEvent): string {
  const label = (i: number): string => `v${i + 1}`;
  const odd: string[] = [];
  e.variants.forEach((v, i) => {
    if (v.agreed) return;
    odd.push(v.status === 'ok' ? label(i) : `${label(i)} (${v.status})`);
  });
  const fields = e.fields.length > MAX_FIELDS ? `${e.fields.slice(0, MAX_FIELDS).join(', ')}, … (+${e.fields.length - MAX_FIELDS} more)` : e.fields.join(', ');
  let what: string;
  if (odd.length === 0) what = fields ? `variants differ at ${fields}` : 'variants differ';
  else what = `${odd.join(', ')} ${odd.length === 1 ? 'differs' : 'differ'}${fields ? ` at ${fields}` : ''}`;
  const servedAt = e.served === undefined ? -1 : e.variants.findIndex((v) => v.name === e.served);
  const served = servedAt >= 0 ? `; served ${label(servedAt)}` : '';
  const request = e.request.summary.replace(/ 0 B$/, '');
  return `divergence ${e.id} ${e.decision}: ${request} — ${what}${served}`;
}

/**
 * A command logger: pino on stderr like every command's, minus the runtime's own "variants diverged" warning
 * (for commands that print each divergence as a readable line instead: nvariant, demo).
 */
export function divergenceLineLogger(level: LogLevel): Logger {
  const hooks = {
    logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...a: unknown[]) => void): void {
      if (args[1] === 'variants diverged') return;
      method.apply(this, args);
    },
  };
  if (process.stderr.isTTY) {
    return pino({ level, base: undefined, hooks, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino({ level, base: { pid: process.pid }, hooks }, pino.destination({ dest: 2, sync: false }));
}

export function nvariantCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string', short: 'l' },
      variant: { type: 'string', multiple: true },
      protocol: { type: 'string' },
      framing: { type: 'string', short: 'f' },
      policy: { type: 'string' },
      timeout: { type: 'string' },
      'filter-pair': { type: 'boolean' },
      quarantine: { type: 'boolean' },
      mask: { type: 'string', multiple: true },
      'ignore-header': { type: 'string', multiple: true },
      ...ADMIN_FLAGS,
      events: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const opts: NvariantOptions = {
      listen: str(values['listen']) ?? '',
      variants: strs(values['variant']),
      protocol: str(values['protocol']),
      framing: str(values['framing']),
      policy: str(values['policy']),
      timeout: str(values['timeout']),
      filterPair: values['filter-pair'] === true,
      quarantine: values['quarantine'] === true,
      masks: strs(values['mask']),
      ignoreHeaders: strs(values['ignore-header']),
      admin: str(values['admin']),
      adminOptions: adminBlockFromFlags(values),
      events: str(values['events']),
    };
    const level = logLevelOf(values['log-level'], 'warn');
    const framers = createFramerRegistry();
    const config = nvariantConfig(opts, framers); // usage errors before anything starts
    const logger = divergenceLineLogger(level);
    const { yard, admin } = await startAll(config, framers, logger, ADMIN_NAMES);
    const replicate = config.routes[0]!.replicate!;
    const l = yard.listeners.get(LISTENER)!;
    const kind = opts.protocol !== undefined && opts.protocol !== 'tcp' ? `protocol ${opts.protocol}` : opts.framing !== undefined ? `raw tcp, framing ${opts.framing}` : 'raw tcp';
    const lines = [`switchyard nvariant: listening on ${l.address ? formatAddress(l.address) : opts.listen} (${kind})`];
    replicate.variants.forEach((v, i) => {
      const address = config.clusters.find((c) => c.id === v)?.endpoints[0]?.address;
      lines.push(`  variant ${v} ${address ? formatAddress(address) : v} (${variantRole(i, replicate.filterPair)})`);
    });
    lines.push(`  policy ${replicate.policy}: ${describePolicy(replicate.policy, replicate.quarantine)}; timeout ${opts.timeout ?? '5s'}`);
    if (config.divergences?.file) lines.push(`  events appended to ${config.divergences.file} (JSONL)`);
    if (admin) lines.push(`  admin ${admin.url} (divergences: GET ${admin.url}/api/v1/divergences, live: GET ${admin.url}/api/v1/events)`);
    process.stdout.write(`${lines.join('\n')}\n`);
    yard.divergences.subscribe((e) => process.stderr.write(`${formatDivergence(e)}\n`));
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  });
}
