import type { Policy } from '../config/replication.js';

export interface Ballot {
  /** The variant answered in time with a complete, well-formed message. */
  readonly ok: boolean;
  /** Comparison key of its normalised answer (equal keys = agreement). */
  readonly key?: string | undefined;
}

export interface Tally {
  /** Index of the variant whose answer the client gets; undefined = blocked. */
  readonly serve: number | undefined;
  /** Variants whose answer equals the served one (or, when blocked, the largest agreeing group). */
  readonly agreeing: ReadonlySet<number>;
  /** Every variant answered ok and identically. */
  readonly unanimous: boolean;
}

/** Strict majority of the configured variant count (quarantined or dead variants still count as voters). */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * Decide from the ballots of ALL configured variants (index 0 = primary). Pure: the engines call it once per
 * exchange after every variant answered, failed, or timed out.
 */
export function tally(policy: Policy, ballots: readonly Ballot[]): Tally {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < ballots.length; i++) {
    const b = ballots[i]!;
    if (!b.ok || b.key === undefined) continue;
    const g = groups.get(b.key);
    if (g) g.push(i);
    else groups.set(b.key, [i]);
  }
  let largest: number[] = [];
  for (const g of groups.values()) if (g.length > largest.length || (g.length === largest.length && g[0]! < largest[0]!)) largest = g;
  const unanimous = largest.length === ballots.length;
  switch (policy) {
    case 'unanimous':
      return { serve: unanimous ? largest[0] : undefined, agreeing: new Set(largest), unanimous };
    case 'majority':
      return { serve: largest.length >= majorityOf(ballots.length) ? largest[0] : undefined, agreeing: new Set(largest), unanimous };
    case 'primary': {
      const p = ballots[0];
      if (!p?.ok || p.key === undefined) return { serve: undefined, agreeing: new Set(), unanimous: false };
      return { serve: 0, agreeing: new Set(groups.get(p.key)), unanimous };
    }
  }
}
