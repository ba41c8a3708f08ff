import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { optionsSchema, type FaultOptions } from '../config/fault-options.js';
import type { FaultCatalog } from '../config/catalogs.js';
import { configErrorMap } from '../config/issues.js';
import { suggestionSuffix } from '../config/did-you-mean.js';
import type { FaultPlugin } from './plugin.js';

/** Fault types by name (habit 5: explicit registries; `builtins.ts` registers the built-in ones). */
export class FaultRegistry implements FaultCatalog {
  readonly #plugins = new Map<string, { plugin: FaultPlugin; schema: z.ZodType<FaultOptions> }>();

  register(plugin: FaultPlugin): this {
    if (this.#plugins.has(plugin.type)) throw new Error(`fault type '${plugin.type}' is already registered`);
    this.#plugins.set(plugin.type, { plugin, schema: optionsSchema(plugin.options) });
    return this;
  }

  get(type: string): FaultPlugin | undefined {
    return this.#plugins.get(type)?.plugin;
  }

  types(): string[] {
    return [...this.#plugins.keys()].sort();
  }

  plugins(): FaultPlugin[] {
    return [...this.#plugins.values()].map((p) => p.plugin);
  }

  /**
   * Every problem of `raw` as `plugin`'s options, in one pass (paths relative to `attributes`; an unknown key gets a
   * did-you-mean), or the options with defaults filled in.
   */
  checkOptions(plugin: FaultPlugin, raw: Record<string, unknown>): { ok: true; options: FaultOptions } | { ok: false; problems: OptionProblem[] } {
    const entry = this.#plugins.get(plugin.type)!;
    const r = entry.schema.safeParse(raw, { error: configErrorMap });
    if (r.success) return { ok: true, options: r.data };
    const known = Object.keys(plugin.options);
    const problems: OptionProblem[] = [];
    for (const i of r.error.issues) {
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) problems.push({ path: [k], message: `unknown attribute of ${plugin.type}${suggestionSuffix(k, known)} (known: ${known.join(', ') || 'none'})` });
      } else problems.push({ path: i.path.map(String), message: i.message });
    }
    return { ok: false, problems };
  }

  /** Validate options (defaults filled in). Throws SWY_BAD_REQUEST naming every bad option and its problem. */
  parseOptions(plugin: FaultPlugin, raw: Record<string, unknown>): FaultOptions {
    const r = this.checkOptions(plugin, raw);
    if (r.ok) return r.options;
    const msg = r.problems.map((p) => `${p.path.length ? `attributes.${p.path.join('.')}` : 'attributes'}: ${p.message}`).join('; ');
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `${plugin.type}: ${msg}`, { details: { reason: 'invalid_attributes', issues: r.problems.map((p) => ({ path: ['attributes', ...p.path].join('.'), message: p.message })) } });
  }
}

/** One problem of a fault's options: `path` inside `attributes`. */
export interface OptionProblem {
  readonly path: readonly string[];
  readonly message: string;
}
