/**
 * How a fault type describes its options (Vaurien's `options` mapping) and the zod schema built from that
 * description: the config schema, the fault registry and the admin API validate `attributes` with it.
 */
import { z } from 'zod';
import { MAX_DURATION_MS, parseDuration } from '../core/units.js';
import { describeValue } from './describe-value.js';

/**
 * One self-describing option of a fault: the description and default are what the CLI flags
 * (`--behavior-delay-sleep`), `GET /faults/types` and docs/faults.md show.
 */
export interface OptionSpec {
  readonly description: string;
  /**
   * `integer` and `number` accept JSON numbers (and, with unit `ms` or `s`, duration strings with a unit: "200ms",
   * "1.5s"); `boolean` true/false; `string` text (numbers are turned into text).
   */
  readonly type: 'integer' | 'number' | 'boolean' | 'string';
  readonly default: number | boolean | string | null;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly (string | number)[];
  /**
   * The unit shown in docs, e.g. 'ms', 'µs', 'KB/s', 's', 'bytes'. Units 'ms', 's', 'µs' and 'bytes' make the option
   * non-negative when `min` is not given; 'ms' and 's' cap it at 2^31−1 ms (Node's timer limit) when `max` is not.
   */
  readonly unit?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;
export type FaultOptions = Readonly<Record<string, number | boolean | string | null>>;

/** A zod schema for a fault type's options: each option optional with its default; unknown keys rejected. */
export function optionsSchema(specs: OptionSpecs): z.ZodType<FaultOptions> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(specs)) {
    let t: z.ZodType;
    if (spec.choices) {
      t = z.union(spec.choices.map((c) => z.literal(c)) as unknown as [z.ZodLiteral, z.ZodLiteral]);
    } else if (spec.type === 'boolean') {
      t = z.boolean();
    } else if (spec.type === 'string') {
      // Numbers are accepted where text is expected (an HTTP status given as 503 instead of "503").
      t = z.union([z.string(), z.number().transform(String)]);
    } else {
      t = numberOption(spec);
    }
    if (spec.default === null) t = t.nullable();
    shape[name] = t.default(spec.default as never);
  }
  return z.strictObject(shape) as unknown as z.ZodType<FaultOptions>;
}

const NON_NEGATIVE_UNITS = new Set(['ms', 's', 'µs', 'bytes']);

/** The range of a numeric option: its own min/max, else what its unit implies (see OptionSpec.unit). */
export function optionRange(spec: OptionSpec): { min: number | undefined; max: number | undefined } {
  const min = spec.min ?? (spec.unit !== undefined && NON_NEGATIVE_UNITS.has(spec.unit) ? 0 : undefined);
  const max = spec.max ?? (spec.unit === 'ms' ? MAX_DURATION_MS : spec.unit === 's' ? MAX_DURATION_MS / 1000 : undefined);
  return { min, max };
}

/**
 * A numeric option: a JSON number in the option's unit; with unit `ms` or `s` also a duration string that carries
 * its unit ("200ms", "1.5s", "2m": converted to the option's unit). A bare digit string stays refused (Toxiproxy's
 * API answers 400 to `"latency": "300"`, and so do we).
 */
function numberOption(spec: OptionSpec): z.ZodType<number> {
  const { min, max } = optionRange(spec);
  const kind = spec.type === 'integer' ? 'a whole number' : 'a number';
  const range = min !== undefined && max !== undefined ? ` ${min}-${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
  const durationUnit = spec.unit === 'ms' || spec.unit === 's' ? spec.unit : undefined;
  const expected = `${kind}${range}${spec.unit ? ` (${spec.unit})` : ''}${durationUnit ? ' or a duration like "200ms", "1.5s"' : ''}`;
  return z.unknown().transform((v, ctx): number => {
    let n: number | undefined;
    if (typeof v === 'number') n = v;
    else if (durationUnit !== undefined && typeof v === 'string' && /[a-z]\s*$/i.test(v)) {
      try {
        const ms = parseDuration(v);
        n = durationUnit === 'ms' ? ms : ms / 1000;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // "too large" says more than the generic message; other parse failures read as "expected ..., got ...".
        if (/too large/.test(message)) {
          ctx.addIssue({ code: 'custom', message });
          return z.NEVER;
        }
      }
    }
    const ok = n !== undefined && Number.isFinite(n) && (spec.type !== 'integer' || Number.isInteger(n)) && (min === undefined || n >= min) && (max === undefined || n <= max);
    if (ok) return n!;
    ctx.addIssue({ code: 'custom', message: v === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${describeValue(v)}` });
    return z.NEVER;
  });
}
