/**
 * Durations and sizes as people write them in config files.
 *
 * Durations → milliseconds: a number (ms) or a string `<number><unit>` with unit ms, s, m, h
 * (e.g. "500ms", "1.5s", "2m", "1h"; a bare "250" is ms). Results are rounded to whole milliseconds.
 *
 * Sizes → bytes: a number (bytes) or a string `<number><unit>` with unit B, KB, MB, GB, TB (powers of 1000)
 * or KiB, MiB, GiB, TiB (powers of 1024); units are case-insensitive ("64kib"), a bare "512" is bytes.
 * The result must be a whole number of bytes.
 */
import { ErrorCodes, SwitchyardError } from './errors.js';

export const DURATION_FORMS = 'a duration like "500ms", "5s", "2m", "1h" or a number of milliseconds';
export const SIZE_FORMS = 'a size like "512", "64KiB", "1MiB", "10MB" or a number of bytes';

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
    return Math.round(input);
  }
  if (typeof input !== 'string') fail(`expected ${DURATION_FORMS}, got ${got(input)}`, input);
  const m = NUMBER_WITH_UNIT.exec(input.trim());
  const unit = m ? (m[2] ?? '') : '';
  const factor = unit === '' ? 1 : DURATION_UNITS[unit];
  if (!m || factor === undefined) {
    const hint = m && DURATION_UNITS[unit.toLowerCase()] !== undefined ? ` (units are lower case: "${unit.toLowerCase()}")` : '';
    fail(`expected ${DURATION_FORMS}, got ${got(input)}${hint}`, input);
  }
  const ms = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(ms)) fail(`duration ${got(input)} is too large`, input);
  return ms;
}

/** Parse a size to bytes (non-negative whole number); throws SwitchyardError(SWY_CONFIG_INVALID). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) fail(`expected ${SIZE_FORMS} (a whole number >= 0), got ${got(input)}`, input);
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
  return bytes;
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
