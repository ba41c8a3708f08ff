/**
 * Durations and sizes as people write them in config files.
 *
 * Durations → milliseconds: a number (ms) or a string `<number><unit>` with unit ms, s, m, h
 * (e.g. "500ms", "1.5s", "2m", "1h"; a bare "250" is ms). Results are rounded to whole milliseconds and are at
 * most MAX_DURATION_MS (2^31−1 ms, about 24.8 days): Node's timers treat anything longer as 1 ms.
 *
 * Sizes → bytes: a number (bytes) or a string `<number><unit>` with unit B, KB, MB, GB, TB (powers of 1000)
 * or KiB, MiB, GiB, TiB (powers of 1024); units are case-insensitive ("64kib"), a bare "512" is bytes.
 * The result must be a whole number of bytes, at most MAX_SIZE (2^50 bytes = 1 PiB: beyond that, byte counts lose
 * precision in arithmetic on them).
 *
 * `sizeOption()` is the zod schema of a size field (the config's own sizes and the framers' size options).
 */
import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from './errors.js';

export const DURATION_FORMS = 'a duration like "500ms", "5s", "2m", "1h" or a number of milliseconds';
export const SIZE_FORMS = 'a size like "512", "64KiB", "1MiB", "10MB" or a number of bytes';

/** The longest duration a Node timer honours (setTimeout with more fires after 1 ms): 2^31−1 ms ≈ 24.8 days. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** The largest size accepted: 2^50 bytes (1 PiB). */
export const MAX_SIZE = 2 ** 50;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const NUMBER_WITH_UNIT = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)$/;

function got(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input);
  if (typeof input === 'number') return String(input);
  return input === null ? 'null' : typeof input;
}

function fail(message: string, input: unknown): never {
  throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, message, { details: { input } });
}

/** Parse a duration to milliseconds (non-negative); throws SwitchyardError(SWY_CONFIG_INVALID). */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) fail(`expected ${DURATION_FORMS} (>= 0), got ${got(input)}`, input);
    return checkDurationRange(Math.round(input), input);
  }
  if (typeof input !== 'string') fail(`expected ${DURATION_FORMS}, got ${got(input)}`, input);
  const m = NUMBER_WITH_UNIT.exec(input.trim());
  const unit = m ? (m[2] ?? '') : '';
  const factor = unit === '' ? 1 : DURATION_UNITS[unit];
  if (!m || factor === undefined) {
    const hint = m && DURATION_UNITS[unit.toLowerCase()] !== undefined ? ` (units are lower case: "${unit.toLowerCase()}")` : '';
    fail(`expected ${DURATION_FORMS}, got ${got(input)}${hint}`, input);
  }
  return checkDurationRange(Math.round(Number(m[1]) * factor), input);
}

function checkDurationRange(ms: number, input: unknown): number {
  if (ms > MAX_DURATION_MS) fail(`duration ${got(input)} is too large: at most ${MAX_DURATION_MS}ms (about 24.8 days; Node timers overflow beyond)`, input);
  return ms;
}

/** Parse a size to bytes (non-negative whole number); throws SwitchyardError(SWY_CONFIG_INVALID). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) fail(`expected ${SIZE_FORMS} (a whole number >= 0), got ${got(input)}`, input);
    if (input > MAX_SIZE) fail(`size ${got(input)} is too large: at most ${MAX_SIZE} bytes (1PiB)`, input);
    return input;
  }
  if (typeof input !== 'string') fail(`expected ${SIZE_FORMS}, got ${got(input)}`, input);
  const m = NUMBER_WITH_UNIT.exec(input.trim());
  const unit = m ? (m[2] ?? '').toLowerCase() : '';
  const factor = unit === '' ? 1 : SIZE_UNITS[unit];
  if (!m || factor === undefined) fail(`expected ${SIZE_FORMS}, got ${got(input)}`, input);
  const bytes = Number(m[1]) * factor;
  if (!Number.isInteger(bytes)) fail(`size ${got(input)} is not a whole number of bytes`, input);
  if (!Number.isSafeInteger(bytes)) fail(`size ${got(input)} is too large`, input);
  if (bytes > MAX_SIZE) fail(`size ${got(input)} is too large: at most ${MAX_SIZE} bytes (1PiB)`, input);
  return bytes;
}

/** A found value as config messages show it: `"64KB0"`, `12`, `null`, `true`, `a list`, `an object`. */
function describeInput(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/**
 * A zod schema for a size field: a non-negative integer (bytes) or a size string ("64KiB", "1MB", "512"), output in
 * bytes, between `min` and `max` inclusive. Failures are custom issues with the config's message style
 * (`expected a size like ..., got "64KB0"`, `expected a size of at least 1 byte, got 0`, `missing (expected a size
 * like ...)`), so they read the same in config files (which add the path) and in `FramerRegistry.build`. Use
 * `.default(bytes)` / `.optional()` as with any schema.
 */
export function sizeOption(min = 0, max: number = Number.MAX_SAFE_INTEGER): z.ZodType<number> {
  return z.unknown().transform((v, ctx): number => {
    const fail = (message: string): never => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (v === undefined) return fail(`missing (expected ${SIZE_FORMS})`);
    if (typeof v !== 'string' && typeof v !== 'number') return fail(`expected ${SIZE_FORMS}, got ${describeInput(v)}`);
    let bytes: number;
    try {
      bytes = parseSize(v);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err));
    }
    if (bytes >= min && bytes <= max) return bytes;
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min} ${min === 1 ? 'byte' : 'bytes'}` : `${min}-${max} bytes`;
    return fail(`expected a size of ${range}, got ${describeInput(v)}`);
  });
}

/** "1.5s", "250ms", "2m", "1h" — a compact human form for logs and the admin API. */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** "64KiB", "1MiB", "10MB", "512B" — exact, never rounded. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024], ['GB', 1e9], ['MB', 1e6], ['KB', 1e3]] as const) {
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
