import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { matchKeyProblems, parseStream, type FaultInput, type MatchSpec, type Scope, type Stream } from '../config/fault-input.js';
import type { FaultOptions } from '../config/fault-options.js';
import type { FaultPlugin } from './plugin.js';
import type { FaultRegistry } from './registry.js';
import { compileMatch, type Matcher } from './match.js';

/** A change to a live fault: attributes merge (missing keys keep their values), the rest replaces. */
export interface FaultPatch {
  attributes?: Record<string, unknown> | undefined;
  toxicity?: number | undefined;
  scope?: Scope | undefined;
  match?: MatchSpec | null | undefined;
  handshake?: boolean | undefined;
}

/** One configured fault: the wrapper (name, direction, probability, scope, match) around a plugin's effect. */
export class Fault {
  readonly name: string;
  readonly plugin: FaultPlugin;
  readonly stream: Stream;
  /** The stream as the client spelled it (Toxiproxy echoes `"UPSTREAM"` back as sent). */
  readonly streamAsGiven: string;
  readonly group: string | undefined;
  readonly origin: string | undefined;
  toxicity: number;
  scope: Scope;
  options: FaultOptions;
  match: MatchSpec | undefined;
  matcher: Matcher | undefined;
  /** Also draw on the protocol's connection setup requests (a request-scope fault skips them by default). */
  handshake: boolean;
  shared: unknown;
  /** Bumped on every update; live connections rebuild this fault's state when it changes. */
  generation = 0;
  injected = 0;
  readonly createdAt = new Date();

  constructor(init: { name: string; plugin: FaultPlugin; stream: Stream; streamAsGiven: string; toxicity: number; scope: Scope; options: FaultOptions; match: MatchSpec | undefined; group: string | undefined; origin: string | undefined; handshake?: boolean | undefined }) {
    this.name = init.name;
    this.plugin = init.plugin;
    this.stream = init.stream;
    this.streamAsGiven = init.streamAsGiven;
    this.toxicity = init.toxicity;
    this.scope = init.scope;
    this.options = init.options;
    this.match = init.match;
    this.matcher = init.match ? compileMatch(init.match) : undefined;
    this.handshake = init.handshake ?? false;
    this.group = init.group;
    this.origin = init.origin;
    this.shared = init.plugin.createShared?.(init.options);
  }

  get type(): string {
    return this.plugin.type;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      type: this.type,
      stream: this.streamAsGiven,
      toxicity: this.toxicity,
      scope: this.scope,
      attributes: { ...this.options },
      ...(this.match ? { match: this.match } : {}),
      ...(this.group ? { group: this.group } : {}),
      ...(this.handshake ? { handshake: true } : {}),
      injected: this.injected,
    };
  }
}

export type FaultSetChange = { kind: 'added' | 'updated' | 'removed'; fault: Fault } | { kind: 'cleared' | 'enabled' | 'disabled' };

/**
 * The live faults of one listener. Mutations take effect on live connections at the next frame boundary: frames in
 * flight finish their way through the old chain (delays cut short), nothing is dropped by a reconfiguration.
 */
export class FaultSet {
  readonly #registry: FaultRegistry;
  #faults: Fault[] = [];
  #version = 0;
  #enabled = true;
  readonly #listeners = new Set<(change: FaultSetChange) => void>();
  /**
   * The request attribute names `match` keys may use on this listener (its protocol's; none on raw TCP), with the
   * text ending the error message; undefined = not checked (the listener is not known yet).
   */
  matchKeys: { keys: readonly string[]; text: string } | undefined;

  constructor(registry: FaultRegistry) {
    this.#registry = registry;
  }

  get registry(): FaultRegistry {
    return this.#registry;
  }

  /** Changes on every mutation; live connections compare it at frame boundaries. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#faults.length;
  }

  /** Upstream faults first, then downstream, each in creation order (Toxiproxy's listing order). */
  list(): Fault[] {
    return [...this.#faults.filter((f) => f.stream === 'upstream'), ...this.#faults.filter((f) => f.stream === 'downstream')];
  }

  /** The faults of one direction, in chain order (creation order). */
  chain(stream: Stream): readonly Fault[] {
    return this.#faults.filter((f) => f.stream === stream && f.plugin.listenerEffect === undefined);
  }

  get(name: string): Fault | undefined {
    return this.#faults.find((f) => f.name === name);
  }

  /** True when the listener must be down: disabled (Toxiproxy `enabled: false`) or a `down` fault is present. */
  get down(): boolean {
    return !this.#enabled || this.#faults.some((f) => f.plugin.listenerEffect === 'down');
  }

  /** Toxiproxy's `enabled`: false takes the listener down (refused connections, live ones closed) without a fault. */
  get enabled(): boolean {
    return this.#enabled;
  }

  setEnabled(enabled: boolean): void {
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    this.#version++;
    for (const l of this.#listeners) l({ kind: enabled ? 'enabled' : 'disabled' });
  }

  onChange(listener: (change: FaultSetChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Validate and add. Errors: SWY_BAD_REQUEST (unknown type, bad stream or attributes), SWY_CONFLICT (name taken). */
  add(input: FaultInput, origin?: string): Fault {
    const plugin = this.#registry.get(input.type);
    if (!plugin) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `invalid fault type '${input.type}' (known: ${this.#registry.types().join(', ')})`, { details: { reason: 'invalid_type' } });
    const streamAsGiven = input.stream ?? plugin.defaultStream;
    const stream = parseStream(streamAsGiven);
    const name = input.name ?? `${plugin.type}_${stream}`;
    if (this.get(name)) throw new SwitchyardError(ErrorCodes.CONFLICT, `fault '${name}' already exists`, { details: { reason: 'exists' } });
    const options = this.#registry.parseOptions(plugin, input.attributes ?? {});
    const toxicity = checkToxicity(input.toxicity ?? 1);
    if (input.match) this.#checkMatchKeys(input.match);
    if (input.group !== undefined) this.#checkGroup(input.group, stream, toxicity);
    const fault = new Fault({
      name,
      plugin,
      stream,
      streamAsGiven,
      toxicity,
      scope: input.scope ?? plugin.defaultScope,
      options,
      match: input.match,
      group: input.group,
      origin,
      handshake: input.handshake,
    });
    this.#faults.push(fault);
    this.#changed({ kind: 'added', fault });
    return fault;
  }

  update(name: string, patch: FaultPatch): Fault {
    const fault = this.#require(name);
    // Validate everything before changing anything: a rejected update leaves the fault as it was.
    const options = patch.attributes !== undefined ? this.#registry.parseOptions(fault.plugin, { ...fault.options, ...patch.attributes }) : fault.options;
    const toxicity = patch.toxicity !== undefined ? checkToxicity(patch.toxicity) : fault.toxicity;
    if (patch.match) this.#checkMatchKeys(patch.match);
    const matcher = patch.match ? compileMatch(patch.match) : undefined;
    fault.options = options;
    fault.toxicity = toxicity;
    if (patch.scope !== undefined) fault.scope = patch.scope;
    if (patch.handshake !== undefined) fault.handshake = patch.handshake;
    if (patch.match !== undefined) {
      fault.match = patch.match ?? undefined;
      fault.matcher = matcher;
    }
    fault.generation++;
    this.#changed({ kind: 'updated', fault });
    return fault;
  }

  remove(name: string): Fault {
    const fault = this.#require(name);
    this.#faults = this.#faults.filter((f) => f !== fault);
    this.#changed({ kind: 'removed', fault });
    return fault;
  }

  /** Remove every fault (optionally only those added with `origin`). */
  clear(origin?: string): void {
    if (origin !== undefined) {
      for (const f of this.#faults.filter((x) => x.origin === origin)) this.remove(f.name);
      return;
    }
    if (this.#faults.length === 0) return;
    this.#faults = [];
    this.#changed({ kind: 'cleared' });
  }

  #checkMatchKeys(match: MatchSpec): void {
    if (!this.matchKeys) return;
    const problems = matchKeyProblems(match, this.matchKeys.keys, this.matchKeys.text);
    if (problems.length === 0) return;
    const text = problems.map((p) => `match.${p.path.join('.')}: ${p.message}`).join('; ');
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, text, { details: { reason: 'invalid_match' } });
  }

  /** An exclusive group's shares (its members' toxicity, per direction) must add up to 1 at most. */
  // Checked when a member is added (config, admin API). Updates are not checked: a caller moving shares between
  // members (the Vaurien API's mix changes) passes through intermediate sums above 1.
  #checkGroup(group: string, stream: Stream, share: number): void {
    const members = this.#faults.filter((f) => f.group === group && f.stream === stream);
    const sum = members.reduce((n, f) => n + f.toxicity, share);
    if (sum <= 1 + 1e-9) return;
    const list = members.map((f) => `${f.name} ${f.toxicity}`).join(', ');
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `the shares (toxicity) of group '${group}' on ${stream} would add up to ${+sum.toFixed(6)}, more than 1 (${list}, and ${share} here): at most one member fires per request, so they must total 1 or less`, {
      details: { reason: 'invalid_toxicity' },
    });
  }

  #require(name: string): Fault {
    const f = this.get(name);
    if (!f) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `fault '${name}' not found`, { details: { reason: 'not_found' } });
    return f;
  }

  #changed(change: FaultSetChange): void {
    this.#version++;
    for (const l of this.#listeners) l(change);
  }
}

function checkToxicity(t: number): number {
  if (!Number.isFinite(t) || t < 0 || t > 1) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `toxicity must be a number from 0 to 1, got ${t}`, { details: { reason: 'invalid_toxicity' } });
  return t;
}
