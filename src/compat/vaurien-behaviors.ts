/**
 * Vaurien's behaviors on top of the fault engine: the percentage syntax (`20:delay,10:error`, the rest `dummy`),
 * option values typed from each fault plugin's self-describing `options`, and the live mix. Every behavior is one
 * fault of the exclusive group `behavior` on the chaos listener (toxicity = its share, 0 when not in the mix), so
 * the engine draws once per request and applies at most one behavior; a change reaches live connections at their
 * next request. Option precedence: plugin defaults < CLI flags < `PUT /behavior` bodies, and nothing re-applies
 * a lower level later (Vaurien re-applied its argparse values on every request).
 */
import { VAURIEN_BEHAVIORS } from '../faults/builtins.js';
import type { FaultRegistry } from '../faults/registry.js';
import type { FaultSet } from '../faults/fault-set.js';
import type { FaultInput, MatchSpec, Stream } from '../config/fault-input.js';
import type { FaultOptions, OptionSpec } from '../config/fault-options.js';
import { suggestionSuffix } from '../config/did-you-mean.js';

export type OptionValue = number | boolean | string | null;
export type BehaviorOptions = Record<string, Record<string, OptionValue>>;

/** One `PERCENT:NAME` entry (duplicates are summed; `dummy` is kept only as the implicit remainder). */
export interface MixEntry {
  readonly name: string;
  readonly percent: number;
}

/** The exclusive fault group every behavior belongs to. */
export const BEHAVIOR_GROUP = 'behavior';
export const DEFAULT_BEHAVIOR = '100:dummy';

/** A percentage-syntax or option error; `field` is the option (or `name`) it is about. */
export class BehaviorError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** The behavior names this registry can serve (Vaurien's, sorted like `GET /behaviors`). */
export function behaviorNames(registry: FaultRegistry): string[] {
  return VAURIEN_BEHAVIORS.filter((n) => registry.get(n) !== undefined).sort();
}

/**
 * Parse Vaurien's percentage syntax: comma list of `PERCENT:NAME`, integer percents summing to 100 or less; a
 * bare behavior name (the control API's `{"name": "error"}`) means 100 %. Returns the non-dummy entries in order.
 */
export function parseBehaviorSpec(spec: string, names: readonly string[], options: { bareName?: boolean } = {}): MixEntry[] {
  const text = spec.trim();
  if (options.bareName && !text.includes(':') && !text.includes(',')) return parseBehaviorSpec(`100:${text}`, names);
  const sums = new Map<string, number>();
  let total = 0;
  for (const part of text.split(',')) {
    const pieces = part.split(':');
    if (pieces.length !== 2) throw new BehaviorError('name', 'You need to use percentage:name');
    const percentText = pieces[0]!.trim();
    const name = pieces[1]!.trim();
    if (!/^\d+$/.test(percentText)) throw new BehaviorError('name', `the percentage in '${part.trim()}' must be an integer from 0 to 100`);
    if (!names.includes(name)) {
      throw new BehaviorError('name', `unknown behavior '${name}'${suggestionSuffix(name, names)}; valid names: ${names.join(', ')}`);
    }
    const percent = Number(percentText);
    total += percent;
    sums.set(name, (sums.get(name) ?? 0) + percent);
  }
  if (total > 100) throw new BehaviorError('name', 'The behavior total needs to be 100 or less');
  return [...sums].filter(([name, percent]) => name !== 'dummy' && percent > 0).map(([name, percent]) => ({ name, percent }));
}

/** `GET /behavior`: the name when one behavior takes 100 % (`dummy` when none), else the percentage spec. */
export function formatMix(mix: readonly MixEntry[]): string {
  if (mix.length === 0) return 'dummy';
  if (mix.length === 1 && mix[0]!.percent === 100) return mix[0]!.name;
  return mix.map((e) => `${e.percent}:${e.name}`).join(',');
}

/** `--behavior-<name>-<option>` (underscores as dashes, Vaurien's habit). */
export function behaviorFlag(behavior: string, option: string): string {
  return `behavior-${behavior}-${option}`.replace(/_/g, '-');
}

/** Describe an option's type for help and errors: `number ≥ 0 (s)`, `boolean`, `one of a, b`. */
export function describeType(spec: OptionSpec): string {
  if (spec.choices) return `one of ${spec.choices.join(', ')}`;
  let t: string = spec.type;
  if (spec.min !== undefined && spec.max !== undefined) t += ` ${spec.min}-${spec.max}`;
  else if (spec.min !== undefined) t += ` ≥ ${spec.min}`;
  else if (spec.max !== undefined) t += ` ≤ ${spec.max}`;
  if (spec.default === null) t += ' or null';
  return t;
}

/**
 * Turn one option value into its typed form and check it: text (a CLI flag, or a string in a JSON body) is
 * parsed by the option's type; JSON numbers and booleans are taken as they are. Throws a message on bad values.
 */
export function coerceOption(spec: OptionSpec, value: unknown): OptionValue {
  const bad = (): never => {
    throw new Error(`expected ${describeType(spec)}, got ${JSON.stringify(value)}`);
  };
  if (value === null || (typeof value === 'string' && value.trim().toLowerCase() === 'null' && spec.type !== 'string')) {
    if (spec.default === null) return null;
    return bad();
  }
  let v: OptionValue;
  switch (spec.type) {
    case 'boolean': {
      if (typeof value === 'boolean') v = value;
      else if (typeof value === 'string' && /^(true|yes|on|1)$/i.test(value.trim())) v = true;
      else if (typeof value === 'string' && /^(false|no|off|0)$/i.test(value.trim())) v = false;
      else return bad();
      break;
    }
    case 'integer':
    case 'number': {
      let n: number;
      if (typeof value === 'number') n = value;
      else if (typeof value === 'string' && value.trim() !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value.trim())) n = Number(value);
      else return bad();
      if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n))) return bad();
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return bad();
      v = n;
      break;
    }
    case 'string': {
      if (typeof value === 'string') v = value;
      else if (typeof value === 'number' && Number.isFinite(value)) v = String(value);
      else return bad();
      break;
    }
  }
  if (spec.choices && !spec.choices.some((c) => String(c) === String(v))) return bad();
  return v;
}

/**
 * The live behavior mix of one chaos listener. `faultInputs()` seeds the listener config; `set()` changes the mix
 * and options on the running fault set.
 */
export class VaurienBehaviors {
  readonly registry: FaultRegistry;
  /** Sorted behavior names, `dummy` included. */
  readonly names: readonly string[];
  /** True on raw TCP (no protocol): `error`/`transient` then garble the client-bound data, like Vaurien. */
  readonly raw: boolean;
  #mix: MixEntry[];
  /** Options given so far per behavior (CLI flags, then PUT bodies merged over them); defaults are not stored. */
  readonly #options: BehaviorOptions;
  #set: FaultSet | undefined;
  /** Only requests that match get a behavior (`switchyard chaos --match`); undefined: every request. */
  readonly #match: MatchSpec | undefined;
  /** Behaviors also hit the protocol's connection setup requests (`switchyard chaos --handshake`). */
  readonly #handshake: boolean;

  constructor(registry: FaultRegistry, init: { mix: MixEntry[]; options?: BehaviorOptions; raw: boolean; match?: MatchSpec | undefined; handshake?: boolean | undefined }) {
    this.registry = registry;
    this.names = behaviorNames(registry);
    this.raw = init.raw;
    this.#mix = [...init.mix];
    this.#options = {};
    this.#match = init.match;
    this.#handshake = init.handshake === true;
    for (const [b, o] of Object.entries(init.options ?? {})) this.#options[b] = { ...this.validateOptions(b, o) };
  }

  get mix(): readonly MixEntry[] {
    return this.#mix;
  }

  /** What `GET /behavior` answers. */
  get spec(): string {
    return formatMix(this.#mix);
  }

  /** The options a behavior runs with now (defaults filled in). */
  optionsOf(behavior: string): FaultOptions {
    const plugin = this.registry.get(behavior);
    if (!plugin) throw new BehaviorError('name', `the '${behavior}' behavior does not exist`);
    return this.registry.parseOptions(plugin, { ...(this.#options[behavior] ?? {}) });
  }

  /** Where a behavior acts. */
  streamOf(behavior: string): Stream {
    return this.raw && (behavior === 'error' || behavior === 'transient') ? 'downstream' : 'upstream';
  }

  /** The faults for the listener config: every non-dummy behavior, its share as toxicity (0 when not in the mix). */
  faultInputs(): FaultInput[] {
    return this.names
      .filter((n) => n !== 'dummy')
      .map((name) => ({
        name,
        type: name,
        toxicity: this.#percentOf(name) / 100,
        scope: 'request' as const,
        group: BEHAVIOR_GROUP,
        stream: this.streamOf(name),
        attributes: { ...(this.#options[name] ?? {}) },
        ...(this.#match !== undefined ? { match: this.#match } : {}),
        ...(this.#handshake ? { handshake: true } : {}),
      }));
  }

  /** Attach to the running listener's fault set (adds the behavior faults that are missing). */
  attach(set: FaultSet): void {
    this.#set = set;
    this.#sync();
  }

  /**
   * Change the mix (a behavior name = 100 %, or a percentage spec) and merge `options` into the named behaviors'
   * options (an option applies to every named behavior that has it). Validates everything before changing
   * anything; throws BehaviorError naming the field.
   */
  set(spec: string, options: Record<string, unknown> = {}): void {
    const mix = parseBehaviorSpec(spec, this.names, { bareName: true });
    const targets = mix.length > 0 ? mix.map((e) => e.name) : ['dummy'];
    const patches: BehaviorOptions = {};
    for (const [key, value] of Object.entries(options)) {
      const owners = targets.filter((b) => this.registry.get(b)?.options[key] !== undefined);
      if (owners.length === 0) {
        const known = [...new Set(targets.flatMap((b) => Object.keys(this.registry.get(b)?.options ?? {})))];
        throw new BehaviorError(key, `unknown option '${key}' for ${targets.join(', ')}${suggestionSuffix(key, known)} (known: ${known.join(', ') || 'none'})`);
      }
      for (const b of owners) {
        try {
          (patches[b] ??= {})[key] = coerceOption(this.registry.get(b)!.options[key]!, value);
        } catch (err) {
          throw new BehaviorError(key, `${b} option '${key}': ${(err as Error).message}`);
        }
      }
    }
    for (const [b, p] of Object.entries(patches)) Object.assign((this.#options[b] ??= {}), p);
    this.#mix = mix;
    this.#sync();
  }

  /** Validate a behavior's options (typed values or text); returns them typed. Throws BehaviorError. */
  validateOptions(behavior: string, options: Record<string, unknown>): Record<string, OptionValue> {
    const plugin = this.registry.get(behavior);
    if (!plugin || !this.names.includes(behavior)) throw new BehaviorError('name', `the '${behavior}' behavior does not exist`);
    const out: Record<string, OptionValue> = {};
    for (const [key, value] of Object.entries(options)) {
      const spec = plugin.options[key];
      if (!spec) throw new BehaviorError(key, `unknown option '${key}' for ${behavior}${suggestionSuffix(key, Object.keys(plugin.options))}`);
      try {
        out[key] = coerceOption(spec, value);
      } catch (err) {
        throw new BehaviorError(key, `${behavior} option '${key}': ${(err as Error).message}`);
      }
    }
    return out;
  }

  #percentOf(name: string): number {
    return this.#mix.find((e) => e.name === name)?.percent ?? 0;
  }

  /**
   * Bring the fault set in line with the mix and options; untouched faults keep their state (warmup counters).
   * Shares that go down are changed before shares that go up, so the group's shares never add up to more than 1
   * on the way (the fault set refuses an update that would).
   */
  #sync(): void {
    const set = this.#set;
    if (!set) return;
    const change = (i: FaultInput): number => (i.toxicity ?? 0) - (set.get(i.name!)?.toxicity ?? 0);
    const inputs = this.faultInputs().sort((a, b) => change(a) - change(b));
    for (const input of inputs) {
      const existing = set.get(input.name!);
      if (!existing) {
        set.add(input, 'vaurien');
        continue;
      }
      const options = this.optionsOf(input.type);
      const sameOptions = JSON.stringify(options) === JSON.stringify(existing.options);
      if (existing.toxicity === input.toxicity && sameOptions) continue;
      set.update(input.name!, sameOptions ? { toxicity: input.toxicity } : { toxicity: input.toxicity, attributes: options });
    }
  }
}
