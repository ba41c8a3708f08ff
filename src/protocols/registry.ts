import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { ProtocolCatalog } from '../config/catalogs.js';
import type { ProtocolCodecFactory, ProtocolModule } from './protocol.js';

/** Protocol modules by name (habit 5: explicit registry; `builtins.ts` registers the built-in ones). */
export class ProtocolRegistry implements ProtocolCatalog {
  readonly #modules = new Map<string, ProtocolModule>();

  register(module: ProtocolModule<never> | ProtocolModule): this {
    const m = module as ProtocolModule;
    if (this.#modules.has(m.name)) throw new Error(`protocol '${m.name}' is already registered`);
    this.#modules.set(m.name, m);
    return this;
  }

  get(name: string): ProtocolModule | undefined {
    return this.#modules.get(name);
  }

  names(): string[] {
    return [...this.#modules.keys()].sort();
  }

  modules(): ProtocolModule[] {
    return [...this.#modules.values()];
  }

  /** Validate options and build the per-connection codec factory. Throws SWY_CONFIG_INVALID naming the problem. */
  build(name: string, options: Record<string, unknown> = {}): ProtocolCodecFactory {
    const m = this.#modules.get(name);
    if (!m) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `unknown protocol '${name}' (known: tcp, ${this.names().join(', ')})`);
    const r = m.optionsSchema.safeParse(options);
    if (!r.success) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `protocol '${name}': ${r.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
    return m.factory(r.data);
  }
}
