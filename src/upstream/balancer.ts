import type { EndpointConfig } from '../config/types.js';

/** Live view of one endpoint a picker can read (active connections for least_connections). */
export interface EndpointState {
  readonly config: EndpointConfig;
  readonly key: string;
  active: number;
}

/** An immutable picker published by a balancer; the hot path only calls pick(). */
export interface Picker {
  pick(): EndpointState | undefined;
}

export type BalancerName = 'round_robin' | 'random' | 'least_connections';

/** Weighted round robin: each endpoint appears `weight` times per cycle, interleaved (smooth WRR). */
export function roundRobinPicker(endpoints: readonly EndpointState[]): Picker {
  if (endpoints.length === 0) return { pick: () => undefined };
  if (endpoints.every((e) => e.config.weight === 1)) {
    let i = 0;
    return {
      pick() {
        const e = endpoints[i]!;
        i = i + 1 === endpoints.length ? 0 : i + 1;
        return e;
      },
    };
  }
  // Smooth weighted round robin (nginx's): spreads heavy endpoints through the cycle.
  const current = endpoints.map(() => 0);
  const total = endpoints.reduce((n, e) => n + e.config.weight, 0);
  return {
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

export function randomPicker(endpoints: readonly EndpointState[], random: () => number = Math.random): Picker {
  const total = endpoints.reduce((n, e) => n + e.config.weight, 0);
  return {
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

/** Fewest active connections relative to weight; ties go round robin. */
export function leastConnectionsPicker(endpoints: readonly EndpointState[]): Picker {
  let offset = 0;
  return {
    pick() {
      if (endpoints.length === 0) return undefined;
      let best: EndpointState | undefined;
      for (let k = 0; k < endpoints.length; k++) {
        const e = endpoints[(k + offset) % endpoints.length]!;
        if (!best || e.active / e.config.weight < best.active / best.config.weight) best = e;
      }
      offset = (offset + 1) % endpoints.length;
      return best;
    },
  };
}

export function createPicker(name: BalancerName, endpoints: readonly EndpointState[]): Picker {
  switch (name) {
    case 'round_robin':
      return roundRobinPicker(endpoints);
    case 'random':
      return randomPicker(endpoints);
    case 'least_connections':
      return leastConnectionsPicker(endpoints);
  }
}
