import type { z } from 'zod';
import type { FramerFactory } from './framer.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { FramerCatalog } from '../config/catalogs.js';

/**
 * A framer plugin: its name, a description, the zod schema of its options (contributed to the config schema),
 * and a function that turns validated options into a FramerFactory (validated once, at config time).
 */
export interface FramerPlugin<O extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  /** zod object schema of the options (without the `type` key). Must be strict (reject unknown keys). */
  readonly optionsSchema: z.ZodType<O>;
  factory(options: O): FramerFactory;
}

/** An explicit registry (no import side effects); `builtins.ts` fills the default one, tests may build their own. */
export class FramerRegistry implements FramerCatalog {
  readonly #plugins = new Map<string, FramerPlugin>();

  register<O extends Record<string, unknown>>(plugin: FramerPlugin<O>): this {
    if (this.#plugins.has(plugin.name)) throw new Error(`framer '${plugin.name}' is already registered`);
    this.#plugins.set(plugin.name, plugin);
    return this;
  }

  get(name: string): FramerPlugin | undefined {
    return this.#plugins.get(name);
  }

  names(): string[] {
    return [...this.#plugins.keys()];
  }

  plugins(): FramerPlugin[] {
    return [...this.#plugins.values()];
  }

  /** Validate options and build a factory; errors name the framer and the bad option. */
  build(name: string, options: Record<string, unknown> = {}): FramerFactory {
    const plugin = this.#plugins.get(name);
    if (!plugin) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `unknown framer '${name}' (known: ${this.names().join(', ')})`);
    }
    const parsed = plugin.optionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `framer '${name}'${where}: ${issue?.message ?? 'invalid options'}`);
    }
    return plugin.factory(parsed.data);
  }
}
