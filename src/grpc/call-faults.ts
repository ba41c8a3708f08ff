/**
 * Per-call faults of a grpc listener (docs/grpc.md § faults): request-scope faults (and exclusive groups) of the
 * listener's fault set, drawn once per call with gRPC semantics — `error` answers Trailers-Only with its `status`
 * (a code name or number; default UNAVAILABLE) and `message`, `delay` holds the call's request headers, `abort`
 * resets the client's stream (RST_STREAM INTERNAL_ERROR), `hang` never answers (until the client's deadline or
 * cancel). Each fault draws from its own seeded random stream, keyed by the listener and the fault's name.
 */
import type { Fault, FaultSet } from '../faults/fault-set.js';
import type { Random, RandomSource } from '../faults/random.js';
import type { Attributes } from '../protocols/protocol.js';
import { GRPC_CALL_FAULT_TYPES, grpcCodeOf } from '../config/grpc-schema.js';
import { GrpcCode, GrpcStatusError } from './status.js';

export type CallFault =
  | { readonly kind: 'error'; readonly fault: Fault; readonly status: GrpcStatusError }
  | { readonly kind: 'delay'; readonly fault: Fault; readonly ms: number }
  | { readonly kind: 'abort'; readonly fault: Fault }
  | { readonly kind: 'hang'; readonly fault: Fault };

/** True for a fault that acts per call (the others act on the TCP connection). */
export function isCallFault(f: Fault): boolean {
  return f.scope === 'request' || f.group !== undefined;
}

/** True for a fault that acts on the TCP connection under HTTP/2. */
export function isConnectionFault(f: Fault): boolean {
  return !isCallFault(f);
}

export class GrpcCallFaults {
  readonly #set: FaultSet;
  readonly #random: () => RandomSource;
  readonly #listenerId: string;
  readonly #streams = new WeakMap<Fault, Random>();
  readonly #groups = new Map<string, Random>();

  constructor(set: FaultSet, random: () => RandomSource, listenerId: string) {
    this.#set = set;
    this.#random = random;
    this.#listenerId = listenerId;
  }

  /** True when the set holds no fault at all (the call takes the plain path). */
  get empty(): boolean {
    return this.#set.size === 0;
  }

  #stream(key: string): Random {
    return this.#random().stream(`${this.#listenerId}|grpc|${key}`);
  }

  /**
   * The faults that fire on one call routed to `routeId`: the listener's faults, then that route's own (origin
   * `route:ID`; other routes' faults are skipped), each in the set's order; exclusive groups after them. Delays add
   * up; at most one fault ends the call.
   */
  draw(attrs: Attributes, routeId?: string): CallFault[] {
    const out: CallFault[] = [];
    const fired: Fault[] = [];
    let groups: Map<string, Fault[]> | undefined;
    const all = this.#set.list();
    const own = routeId === undefined ? undefined : `route:${routeId}`;
    // Two passes (listener faults, then the route's) without building a list per call.
    for (let i = 0, n = all.length * 2; i < n; i++) {
      const f = all[i % all.length]!;
      const fromRoute = f.origin?.startsWith('route:') === true;
      if (i < all.length ? fromRoute : !fromRoute || f.origin !== own) continue;
      if (!isCallFault(f) || f.stream !== 'upstream' || !GRPC_CALL_FAULT_TYPES.includes(f.type)) continue;
      if (f.matcher && !f.matcher(attrs)) continue;
      if (f.group !== undefined) {
        groups ??= new Map();
        const g = groups.get(f.group);
        if (g) g.push(f);
        else groups.set(f.group, [f]);
        continue;
      }
      if (f.toxicity <= 0) continue;
      if (f.toxicity < 1) {
        let r = this.#streams.get(f);
        if (!r) this.#streams.set(f, (r = this.#stream(f.name)));
        if (r.next() >= f.toxicity) continue;
      }
      fired.push(f);
    }
    for (const [name, members] of groups ?? []) {
      let r = this.#groups.get(name);
      if (!r) this.#groups.set(name, (r = this.#stream(`group:${name}`)));
      const x = r.next();
      let acc = 0;
      for (const f of members) {
        acc += f.toxicity;
        if (x < acc) {
          fired.push(f);
          break;
        }
      }
    }
    for (const f of fired) {
      const effect = effectOf(f);
      if (!effect) continue;
      out.push(effect);
      if (effect.kind !== 'delay') break;
    }
    return out;
  }
}

function effectOf(f: Fault): CallFault | undefined {
  const o = f.options;
  switch (f.type) {
    case 'error': {
      const counter = f.shared as { calls: number } | undefined;
      const warmup = typeof o['warmup'] === 'number' ? o['warmup'] : 0;
      if (counter && ++counter.calls <= warmup) return undefined;
      const code = grpcCodeOf(o['status']) ?? GrpcCode.UNAVAILABLE;
      return { kind: 'error', fault: f, status: new GrpcStatusError(code, typeof o['message'] === 'string' ? o['message'] : 'error injected by switchyard') };
    }
    case 'delay':
      return { kind: 'delay', fault: f, ms: (typeof o['sleep'] === 'number' ? o['sleep'] : 1) * 1000 };
    case 'abort':
      return { kind: 'abort', fault: f };
    case 'hang':
      return { kind: 'hang', fault: f };
    default:
      return undefined;
  }
}
