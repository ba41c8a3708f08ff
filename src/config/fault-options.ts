/**
 * How a fault type describes its options (Vaurien's `options` mapping) and the zod schema built from that
 * description: the config schema, the fault registry and the admin API validate `attributes` with it.
 */
import { z } from 'zod';

/**
 * One self-describing option of a fault: the description and default are what the CLI flags
 * (`--behavior-delay-sleep`), `GET /faults/types` and docs/faults.md show.
 */
export interface OptionSpec {
  readonly description: string;
  /** `integer` and `number` accept JSON numbers; `boolean` true/false; `string` text (numbers are turned into text). */
  readonly type: 'integer' | 'number' | 'boolean' | 'string';
  readonly default: number | boolean | string | null;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly (string | number)[];
  /** The unit shown in docs, e.g. 'ms', 'µs', 'KB/s', 's', 'bytes'. */
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
      let n = spec.type === 'integer' ? z.number().int() : z.number();
      if (spec.min !== undefined) n = n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      t = n;
    }
    if (spec.default === null) t = t.nullable();
    shape[name] = t.default(spec.default as never);
  }
  return z.strictObject(shape) as unknown as z.ZodType<FaultOptions>;
}
