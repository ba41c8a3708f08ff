import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { optionsSchema, type FaultOptions } from '../config/fault-options.js';
import type { FaultCatalog } from '../config/catalogs.js';
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

  /** Validate options (defaults filled in). Throws SWY_BAD_REQUEST naming the option and the problem. */
  parseOptions(plugin: FaultPlugin, raw: Record<string, unknown>): FaultOptions {
    const entry = this.#plugins.get(plugin.type)!;
    const r = entry.schema.safeParse(raw);
    if (r.success) return r.data;
    const msg = r.error.issues.map((i) => `${i.path.length ? `attributes.${i.path.join('.')}` : 'attributes'}: ${i.message}`).join('; ');
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `${plugin.type}: ${msg}`, { details: { reason: 'invalid_attributes', issues: r.error.issues.map((i) => ({ path: ['attributes', ...i.path.map(String)], message: i.message })) } });
  }
}
