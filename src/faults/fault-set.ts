import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { matchKeyProblems, parseStream, type FaultInput, type MatchSpec, type Scope, type Stream } from '../config/fault-input.js';
import { describeValue } from '../config/describe-value.js';
import { suggestionSuffix } from '../config/did-you-mean.js';
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

/**
 * One problem of a fault given to the set (to add or update): `path` into the fault's JSON (`type`, `stream`,
 * `attributes.latency`, `match.pth`, `toxicity`), the message, and the reason the compatibility APIs map to their
 * own errors (invalid_type, invalid_stream, invalid_attributes, invalid_toxicity, invalid_match).
 */
export interface FaultProblem {
  readonly path: string;
  readonly message: string;
  readonly reason: string;
}

/** Every problem in one SWY_BAD_REQUEST: `path: message; ...`, `details.issues` lists them, `details.reason` is the first's. */
export function faultProblemsError(problems: readonly FaultProblem[], prefix = ''): SwitchyardError {
  const text = problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
  return new SwitchyardError(ErrorCodes.BAD_REQUEST, prefix + text, {
    details: { reason: problems[0]?.reason ?? 'invalid', issues: problems.map((p) => ({ path: p.path, message: p.message })) },
  });
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
  /** {@link chain}'s lists for `version`. */
  #chains: { version: number; upstream: readonly Fault[]; downstream: readonly Fault[] } | undefined;
  readonly #listeners = new Set<(change: FaultSetChange) => void>();
  /**
   * The request attribute names `match` keys may use on this listener (its protocol's; none on raw TCP), with the
   * text ending the error message; undefined = not checked (the listener is not known yet).
   */
  matchKeys: { keys: readonly string[]; text: string } | undefined;
  /**
   * What the listener itself cannot do with a fault (a grpc listener: per-call or connection faults only), checked
   * on add and update with the fault as it would be and its origin (`route:ID` for a route's faults); undefined =
   * nothing more to check.
   */
  listenerProblems: ((fault: Partial<FaultInput>, origin: string | undefined) => readonly FaultProblem[]) | undefined;

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

  /**
   * The faults of one direction, in chain order (creation order). Every new connection asks for both: the lists
   * are kept until the set changes (callers must not modify them).
   */
  chain(stream: Stream): readonly Fault[] {
    if (this.#chains === undefined || this.#chains.version !== this.#version) {
      const pick = (s: Stream): readonly Fault[] => Object.freeze(this.#faults.filter((f) => f.stream === s && f.plugin.listenerEffect === undefined));
      this.#chains = { version: this.#version, upstream: pick('upstream'), downstream: pick('downstream') };
    }
    return this.#chains[stream];
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

  /**
   * Validate and add. Errors: SWY_BAD_REQUEST listing every problem at once (type, stream, attributes, toxicity,
   * match keys, group shares: see {@link problems}), then SWY_CONFLICT (name taken).
   */
  add(input: FaultInput, origin?: string): Fault {
    const { problems, plugin, stream, streamAsGiven, options, toxicity } = this.#check(input, origin);
    if (problems.length > 0 || !plugin || !stream || streamAsGiven === undefined || !options) {
      throw faultProblemsError(problems.length > 0 ? problems : [{ path: 'type', message: 'missing (expected a fault type)', reason: 'invalid_type' }]);
    }
    const name = input.name ?? `${plugin.type}_${stream}`;
    if (this.get(name)) throw new SwitchyardError(ErrorCodes.CONFLICT, `fault '${name}' already exists`, { details: { reason: 'exists' } });
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

  /**
   * Every problem of a fault to add, wrapper and attributes alike, in one pass: an unknown type (with a
   * did-you-mean), a bad stream, each bad attribute, a toxicity outside 0..1, match keys the listener's protocol
   * does not report, an exclusive group whose shares would add up to more than 1. Fields left undefined are not
   * checked (a caller that parsed the body reports those itself). Empty: `add` takes it unless the name is taken.
   */
  problems(input: Partial<FaultInput>, origin?: string): FaultProblem[] {
    return this.#check(input, origin).problems;
  }

  #check(input: Partial<FaultInput>, origin: string | undefined): FaultCheck {
    const problems: FaultProblem[] = [];
    const plugin = input.type === undefined ? undefined : this.#registry.get(input.type);
    if (input.type !== undefined && !plugin) {
      const known = this.#registry.types();
      problems.push({ path: 'type', message: `invalid fault type '${input.type}'${suggestionSuffix(input.type, known)} (known: ${known.join(', ')})`, reason: 'invalid_type' });
    }
    const streamAsGiven = input.stream ?? plugin?.defaultStream;
    let stream: Stream | undefined;
    if (streamAsGiven !== undefined) {
      try {
        stream = parseStream(streamAsGiven);
      } catch {
        problems.push({ path: 'stream', message: `expected "upstream" or "downstream", got ${describeValue(streamAsGiven)}`, reason: 'invalid_stream' });
      }
    }
    let options: FaultOptions | undefined;
    if (plugin) {
      const r = this.#registry.checkOptions(plugin, input.attributes ?? {});
      if (r.ok) options = r.options;
      else for (const p of r.problems) problems.push({ path: ['attributes', ...p.path].join('.'), message: p.message, reason: 'invalid_attributes' });
    }
    const toxicity = input.toxicity ?? 1;
    const toxicityOk = toxicityProblem(toxicity, problems);
    if (input.match) problems.push(...this.#matchProblems(input.match));
    if (this.listenerProblems && plugin) problems.push(...this.listenerProblems(input, origin));
    if (input.group !== undefined && stream !== undefined && toxicityOk) {
      const p = this.#groupProblem(input.group, stream, toxicity, undefined);
      if (p) problems.push(p);
    }
    return { problems, plugin, stream, streamAsGiven, options, toxicity };
  }

  /**
   * Errors: SWY_NOT_FOUND, or SWY_BAD_REQUEST listing every problem of the patch at once (attributes, toxicity,
   * match keys, and the fault's group shares: a new toxicity that would make them add up to more than 1).
   */
  update(name: string, patch: FaultPatch): Fault {
    const fault = this.#require(name);
    // Validate everything before changing anything: a rejected update leaves the fault as it was.
    const problems = this.updateProblems(fault, patch);
    if (problems.length > 0) throw faultProblemsError(problems);
    const options = patch.attributes !== undefined ? this.#registry.parseOptions(fault.plugin, { ...fault.options, ...patch.attributes }) : fault.options;
    const toxicity = patch.toxicity ?? fault.toxicity;
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

  /** Every problem of `patch` to `fault` (see {@link update}); empty when the update would be taken. */
  updateProblems(fault: Fault, patch: FaultPatch): FaultProblem[] {
    const problems: FaultProblem[] = [];
    if (patch.attributes !== undefined) {
      const r = this.#registry.checkOptions(fault.plugin, { ...fault.options, ...patch.attributes });
      if (!r.ok) for (const p of r.problems) problems.push({ path: ['attributes', ...p.path].join('.'), message: p.message, reason: 'invalid_attributes' });
    }
    if (patch.toxicity !== undefined && toxicityProblem(patch.toxicity, problems) && fault.group !== undefined) {
      const p = this.#groupProblem(fault.group, fault.stream, patch.toxicity, fault);
      if (p) problems.push(p);
    }
    if (patch.match) problems.push(...this.#matchProblems(patch.match));
    if (this.listenerProblems) {
      const match = patch.match === null ? undefined : (patch.match ?? fault.match);
      problems.push(...this.listenerProblems({ type: fault.type, stream: fault.stream, scope: patch.scope ?? fault.scope, group: fault.group, match, attributes: { ...fault.options, ...patch.attributes } }, fault.origin));
    }
    return problems;
  }

  #matchProblems(match: MatchSpec): FaultProblem[] {
    if (!this.matchKeys) return [];
    return matchKeyProblems(match, this.matchKeys.keys, this.matchKeys.text).map((p) => ({ path: ['match', ...p.path].join('.'), message: p.message, reason: 'invalid_match' }));
  }

  /**
   * An exclusive group's shares (its members' toxicity, per direction) must add up to 1 at most: checked when a
   * member is added and when a member's toxicity is updated (`member`: the fault whose share `share` replaces).
   * A caller moving shares between members lowers shares before it raises others (the Vaurien API's mix changes).
   */
  #groupProblem(group: string, stream: Stream, share: number, member: Fault | undefined): FaultProblem | undefined {
    const others = this.#faults.filter((f) => f.group === group && f.stream === stream && f !== member);
    const sum = others.reduce((n, f) => n + f.toxicity, share);
    if (sum <= 1 + 1e-9) return undefined;
    const list = others.map((f) => `${f.name} ${f.toxicity}`).join(', ');
    const here = member ? `and ${share} for ${member.name} here` : `and ${share} here`;
    return {
      path: 'toxicity',
      message: `the shares (toxicity) of group '${group}' on ${stream} would add up to ${+sum.toFixed(6)}, more than 1 (${list}${list ? ', ' : ''}${here}): at most one member fires per request, so they must total 1 or less`,
      reason: 'invalid_toxicity',
    };
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

/** What {@link FaultSet.problems} found, with the values `add` goes on with when there is no problem. */
interface FaultCheck {
  problems: FaultProblem[];
  plugin: FaultPlugin | undefined;
  stream: Stream | undefined;
  streamAsGiven: string | undefined;
  options: FaultOptions | undefined;
  toxicity: number;
}

/** A toxicity outside 0..1 adds a problem; returns true when it is fine. */
function toxicityProblem(t: number, problems: FaultProblem[]): boolean {
  if (Number.isFinite(t) && t >= 0 && t <= 1) return true;
  problems.push({ path: 'toxicity', message: `toxicity must be a number from 0 to 1, got ${t}`, reason: 'invalid_toxicity' });
  return false;
}
