import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { LogLevel } from '../core/log.js';

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
    throw new UsageError((err as Error).message);
  }
}

export function logLevelOf(value: unknown, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !LEVELS.includes(value)) {
    throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got '${typeof value === 'string' ? value : JSON.stringify(value)}'`);
  }
  return value as LogLevel;
}

/** Run a command body, printing usage errors and typed errors cleanly. */
export async function guard(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}`);
      return 2;
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
