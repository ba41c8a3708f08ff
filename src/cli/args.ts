import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { LogLevel } from '../core/log.js';
import { suggestionSuffix } from '../config/did-you-mean.js';

export class UsageError extends Error {}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** parseArgs with friendly errors; every command gets --help and --log-level. */
export interface ParsedArgs {
  values: {
    help?: boolean | undefined;
    'log-level'?: string | undefined;
    [key: string]: string | boolean | string[] | undefined;
  };
}

export function parseCommandArgs(argv: string[], options: NonNullable<ParseArgsConfig['options']>): ParsedArgs {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' }, 'log-level': { type: 'string' } },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '([^']+)'/.exec(e.message)?.[1] : undefined;
    if (unknown !== undefined) {
      const flags = [...Object.keys(options), 'help', 'log-level'].map((k) => `--${k}`);
      const hint = unknown.startsWith('--') ? suggestionSuffix(unknown, flags) : '';
      // Node's wording (scripts may match it), with the suggestion appended.
      throw new UsageError(`Unknown option '${unknown}'${hint}`);
    }
    throw new UsageError(e.message);
  }
}

/** Where an address-in-use failure happened: the address and, for a listener, its id. */
export interface AddressInUse {
  /** `HOST:PORT` (or the unix path) that was busy, when the error says. */
  address: string | undefined;
  /** The listener that could not listen (undefined for the admin and other control APIs). */
  listener: string | undefined;
}

/** The address-in-use failure behind `err` (a listener's SWY_LISTEN_FAILED or a raw EADDRINUSE), if it is one. */
export function addressInUse(err: unknown): AddressInUse | undefined {
  type Link = { message?: unknown; code?: unknown; address?: unknown; port?: unknown; cause?: unknown; details?: { syscode?: unknown } };
  let found: Link | undefined;
  let listener: string | undefined;
  let e: unknown = err;
  for (let depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const link = e as Link;
    if (listener === undefined && typeof link.message === 'string') listener = /^listener '([^']+)'/.exec(link.message)?.[1];
    // The system error itself (it has the address) wins over a wrapper that only names its code.
    if (link.code === 'EADDRINUSE' || (link.details?.syscode === 'EADDRINUSE' && !found)) found = link;
    e = link.cause;
  }
  if (!found) return undefined;
  const { address, port } = found;
  let text: string | undefined;
  if (typeof address === 'string') text = typeof port === 'number' ? `${address.includes(':') ? `[${address}]` : address}:${port}` : address;
  return { address: text, listener };
}

/** What to change when an address is in use: the command's flag or config key for it. */
export type AddressInUseHint = (where: AddressInUse) => string | undefined;

function addressInUseLine(where: AddressInUse, hint: AddressInUseHint | undefined): string {
  const what = where.listener !== undefined ? `listener '${where.listener}' cannot listen` : 'cannot listen';
  const advice = hint?.(where) ?? `choose a free port for ${where.listener !== undefined ? 'it' : 'the API'} (see --help for the address options)`;
  return `error: ${what} on ${where.address ?? 'its address'}: address already in use (another process, or another switchyard, has it); ${advice}\n`;
}

export function logLevelOf(value: unknown, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !LEVELS.includes(value)) {
    throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got '${typeof value === 'string' ? value : JSON.stringify(value)}'`);
  }
  return value as LogLevel;
}

/**
 * Run a command body, printing usage errors and typed errors cleanly. An address already in use is one line naming
 * the address and what to change (`inUse` gives the command's flag or config key), never a stack trace.
 */
export async function guard(usage: string, body: () => Promise<number>, inUse?: AddressInUseHint): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}`);
      return 2;
    }
    const busy = addressInUse(err);
    if (busy) {
      process.stderr.write(addressInUseLine(busy, inUse));
      return 1;
    }
    const e = err as { code?: string; message?: string };
    process.stderr.write(`error${e.code ? ` [${e.code}]` : ''}: ${e.message ?? String(err)}\n`);
    return 1;
  }
}

/** A string option's value (parseArgs guarantees the type declared for the option). */
export function str(value: string | boolean | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable string option's values. */
export function strs(value: string | boolean | string[] | undefined): string[] {
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}
