/**
 * What the config schema needs to know about plugins: the names of the framers, protocol modules and fault types,
 * and the shape of their options. The registries (framing/registry.ts, protocols/registry.ts, faults/registry.ts)
 * implement these; config/ never sees a plugin's run-time side. runtime/config.ts passes the built-in registries
 * when a caller gives none.
 */
import type { z } from 'zod';
import type { Stream } from './fault-input.js';
import type { OptionSpecs } from './fault-options.js';

/** A plugin whose options are a zod object schema (strict: unknown keys rejected), without the `type` key. */
export interface OptionsSchemaEntry {
  readonly optionsSchema: z.ZodType;
}

/** Framers by name (`framing:` of listeners). */
export interface FramerCatalog {
  names(): string[];
  get(name: string): OptionsSchemaEntry | undefined;
}

/** Protocol modules by name (`protocol:` of listeners). */
export interface ProtocolCatalog {
  names(): string[];
  get(name: string): OptionsSchemaEntry | undefined;
}

/** What the schema reads of a fault type: its options and the direction used when a fault names none. */
export interface FaultTypeEntry {
  readonly type: string;
  readonly options: OptionSpecs;
  readonly defaultStream: Stream;
}

/** Fault types by name (`faults:` of listeners and routes). */
export interface FaultCatalog {
  types(): string[];
  get(type: string): FaultTypeEntry | undefined;
}

/** The catalogs behind `protocol:` and `faults:`. */
export interface ChaosCatalogs {
  protocols: ProtocolCatalog;
  faults: FaultCatalog;
}
