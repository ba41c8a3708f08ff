import type { BalancerName, EndpointConfig } from '../config/types.js';
import { murmur3 } from './hash.js';

/** What a picker reads of an endpoint: its config, a stable key (its address) and its open connections. */
export interface BalancedEndpoint {
  readonly config: EndpointConfig;
  /** Stable identity (the endpoint's address as written): what the hash balancers place on their ring/table. */
  readonly key: string;
  /** Connections open to the endpoint now (least_connections, least_request). */
  active: number;
}

/**
 * An immutable picker over a fixed set of endpoints, published by the cluster and replaced whole when the set of
 * eligible endpoints changes; the hot path only calls pick().
 */
export interface Picker<E extends BalancedEndpoint = BalancedEndpoint> {
  /** The endpoints this picker chooses among. */
  readonly endpoints: readonly E[];
  /** Next endpoint; `hash` is the request's hash-key value (ring_hash, maglev; ignored by the others). */
  pick(hash?: string): E | undefined;
}

export type { BalancerName };

/** Shared, mutable state that survives republishing (so round robin does not restart when health changes). */
export interface PickerState {
  /** Round-robin position. */
  cursor: number;
}

export interface PickerOptions {
  /** Random source in [0, 1) (random, least_request). */
  random?: () => number;
  /** Round-robin cursor shared by successive pickers of one cluster. */
  state?: PickerState;
}

const CURSOR_WRAP = 0x3fffffff;

/** Plain round robin with a cursor shared across pickers. */
function plainRoundRobin<E extends BalancedEndpoint>(endpoints: readonly E[], state: PickerState): Picker<E> {
  const n = endpoints.length;
  return {
    endpoints,
    pick() {
      const c = state.cursor;
      state.cursor = c >= CURSOR_WRAP ? 0 : c + 1;
      return endpoints[c % n];
    },
  };
}

/**
 * Weighted round robin: each endpoint appears `weight` times per cycle, interleaved (nginx's smooth WRR); with equal
 * weights, plain round robin on the cluster's shared cursor.
 */
export function roundRobinPicker<E extends BalancedEndpoint>(endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  if (endpoints.length === 0) return { endpoints, pick: () => undefined };
  if (endpoints.every((e) => e.config.weight === endpoints[0]!.config.weight)) return plainRoundRobin(endpoints, options.state ?? { cursor: 0 });
  const current = endpoints.map(() => 0);
  const total = endpoints.reduce((n, e) => n + e.config.weight, 0);
  return {
    endpoints,
    pick() {
      let best = 0;
      for (let k = 0; k < endpoints.length; k++) {
        current[k]! += endpoints[k]!.config.weight;
        if (current[k]! > current[best]!) best = k;
      }
      current[best]! -= total;
      return endpoints[best];
    },
  };
}

/** Probability proportional to weight. */
export function randomPicker<E extends BalancedEndpoint>(endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  const random = options.random ?? Math.random;
  const total = endpoints.reduce((n, e) => n + e.config.weight, 0);
  return {
    endpoints,
    pick() {
      if (endpoints.length === 0) return undefined;
      let r = random() * total;
      for (const e of endpoints) {
        r -= e.config.weight;
        if (r < 0) return e;
      }
      return endpoints[endpoints.length - 1];
    },
  };
}

/** Fewest active connections relative to weight, scanning all endpoints; ties go round robin. */
export function leastConnectionsPicker<E extends BalancedEndpoint>(endpoints: readonly E[]): Picker<E> {
  let offset = 0;
  return {
    endpoints,
    pick() {
      if (endpoints.length === 0) return undefined;
      let best: E | undefined;
      for (let k = 0; k < endpoints.length; k++) {
        const e = endpoints[(k + offset) % endpoints.length]!;
        if (!best || e.active / e.config.weight < best.active / best.config.weight) best = e;
      }
      offset = (offset + 1) % endpoints.length;
      return best;
    },
  };
}

/**
 * Power of two choices: two distinct endpoints drawn at random, the one with less load relative to its weight
 * ((active + 1) / weight) wins. O(1) per pick whatever the cluster size.
 */
export function leastRequestPicker<E extends BalancedEndpoint>(endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  const random = options.random ?? Math.random;
  const n = endpoints.length;
  if (n <= 1) return { endpoints, pick: () => endpoints[0] };
  return {
    endpoints,
    pick() {
      const a = Math.floor(random() * n);
      let b = Math.floor(random() * (n - 1));
      if (b >= a) b++;
      const ea = endpoints[a]!;
      const eb = endpoints[b]!;
      return (eb.active + 1) / eb.config.weight < (ea.active + 1) / ea.config.weight ? eb : ea;
    },
  };
}

/** Ring points per unit of weight (ketama's 160). */
export const RING_POINTS_PER_WEIGHT = 160;
/** Most points on one ring; beyond it every endpoint's share is scaled down (at least one point each). */
const MAX_RING_POINTS = 1 << 20;

/**
 * Ketama-style consistent hashing: each endpoint puts 160 × weight points on a 32-bit ring (murmur3 of
 * `address-i`); a key goes to the first point at or after its hash. An endpoint's points depend only on its own
 * address and weight, so adding or removing one endpoint moves only the keys of its arcs (≈ 1/N of them).
 * Without a hash the picker falls back to round robin.
 */
export function ringHashPicker<E extends BalancedEndpoint>(endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  if (endpoints.length === 0) return { endpoints, pick: () => undefined };
  const totalWeight = endpoints.reduce((n, e) => n + e.config.weight, 0);
  const scale = Math.min(1, MAX_RING_POINTS / (RING_POINTS_PER_WEIGHT * totalWeight));
  const points: Array<{ h: number; e: number }> = [];
  endpoints.forEach((e, index) => {
    const count = Math.max(1, Math.floor(RING_POINTS_PER_WEIGHT * e.config.weight * scale));
    for (let i = 0; i < count; i++) points.push({ h: murmur3(`${e.key}-${i}`), e: index });
  });
  // Ties (vanishingly rare) are broken by key so the ring does not depend on the endpoints' order.
  points.sort((x, y) => x.h - y.h || (endpoints[x.e]!.key < endpoints[y.e]!.key ? -1 : 1));
  const hashes = Uint32Array.from(points, (p) => p.h);
  const owners = Uint32Array.from(points, (p) => p.e);
  const fallback = roundRobinPicker(endpoints, options);
  const last = hashes.length;
  return {
    endpoints,
    pick(hash) {
      if (hash === undefined) return fallback.pick();
      const h = murmur3(hash);
      let lo = 0;
      let hi = last;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (hashes[mid]! < h) lo = mid + 1;
        else hi = mid;
      }
      return endpoints[owners[lo === last ? 0 : lo]!];
    },
  };
}

/** Maglev's default lookup table size (a prime). */
export const MAGLEV_TABLE_SIZE = 65_537;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The table size for `n` endpoints: 65537, or the first prime ≥ 100 × n for more than 655 endpoints. */
export function maglevTableSize(n: number): number {
  let m = Math.max(MAGLEV_TABLE_SIZE, 100 * n);
  while (!isPrime(m)) m++;
  return m;
}

/**
 * Maglev consistent hashing (Google's, weighted as Envoy does): a lookup table of a prime size M filled by each
 * endpoint in turn following its own permutation (offset, skip from two hashes of its address), heavier endpoints
 * taking turns more often. O(1) lookups, even spread, and ≈ 1/N of keys move when an endpoint is added or removed.
 * Without a hash the picker falls back to round robin.
 */
export function maglevPicker<E extends BalancedEndpoint>(endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  if (endpoints.length === 0) return { endpoints, pick: () => undefined };
  const m = maglevTableSize(endpoints.length);
  // Sort by key so the table does not depend on the order endpoints are listed in.
  const order = endpoints.map((_, i) => i).sort((a, b) => (endpoints[a]!.key < endpoints[b]!.key ? -1 : endpoints[a]!.key > endpoints[b]!.key ? 1 : a - b));
  const maxWeight = Math.max(...endpoints.map((e) => e.config.weight));
  const entries = order.map((index) => {
    const key = endpoints[index]!.key;
    return {
      index,
      offset: murmur3(key, 0x9747b28c) % m,
      skip: (murmur3(key, 0x5bd1e995) % (m - 1)) + 1,
      weight: endpoints[index]!.config.weight,
      target: 0,
      next: 0,
    };
  });
  const table = new Int32Array(m).fill(-1);
  let filled = 0;
  for (let iteration = 1; filled < m; iteration++) {
    for (const entry of entries) {
      if (filled >= m) break;
      // An endpoint of the largest weight takes a slot every iteration; one of a third of it every third.
      if (iteration * entry.weight < entry.target) continue;
      entry.target += maxWeight;
      let c = (entry.offset + entry.skip * entry.next) % m;
      while (table[c] !== -1) {
        entry.next++;
        c = (entry.offset + entry.skip * entry.next) % m;
      }
      table[c] = entry.index;
      entry.next++;
      filled++;
    }
  }
  const fallback = roundRobinPicker(endpoints, options);
  return {
    endpoints,
    pick(hash) {
      if (hash === undefined) return fallback.pick();
      return endpoints[table[murmur3(hash) % m]!];
    },
  };
}

export function createPicker<E extends BalancedEndpoint>(name: BalancerName, endpoints: readonly E[], options: PickerOptions = {}): Picker<E> {
  switch (name) {
    case 'round_robin':
    case 'weighted':
      return roundRobinPicker(endpoints, options);
    case 'random':
      return randomPicker(endpoints, options);
    case 'least_request':
      return leastRequestPicker(endpoints, options);
    case 'least_connections':
      return leastConnectionsPicker(endpoints);
    case 'ring_hash':
      return ringHashPicker(endpoints, options);
    case 'maglev':
      return maglevPicker(endpoints, options);
  }
}
