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
export function tally(policy: Policy | 'weighted', ballots: readonly Ballot[]): Tally {
  if (policy === 'weighted') return weightedTally(ballots);
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

/** Praefect's reference-transaction weights for a primary and `secondaries` secondaries. */
export interface Weights {
  /** Weight of the primary's vote: S + 1. */
  readonly primary: number;
  /** Weight of each secondary's vote: 1. */
  readonly secondary: number;
  /** Weight an answer needs: S + 1, plus ceil(S / 2) when S > 1 (the primary must agree with at least half of the secondaries). */
  readonly threshold: number;
}

/** The weights for S secondaries (S >= 0). */
export function weightsFor(secondaries: number): Weights {
  if (!Number.isInteger(secondaries) || secondaries < 0) throw new RangeError(`secondaries: expected an integer >= 0, got ${secondaries}`);
  const s = secondaries;
  return { primary: s + 1, secondary: 1, threshold: s + 1 + (s > 1 ? Math.ceil(s / 2) : 0) };
}

export interface WeightedTally extends Tally {
  /** Weight of the leading answer (the served one when `serve` is set). */
  readonly weight: number;
  readonly threshold: number;
}

/**
 * The `weighted` policy (Gitaly Praefect's reference-transaction vote): ballot 0 is the primary with weight S + 1,
 * every other ballot a secondary with weight 1; the answer with the most weight leads (ties: the one whose first
 * voter has the lowest index, so the primary's side wins a tie) and is served when its weight reaches the
 * threshold. Since the secondaries together weigh S < threshold, nothing is served without the primary; with S = 1
 * the primary alone suffices; with S >= 2 it needs ceil(S / 2) secondaries to agree. A failed ballot weighs nothing.
 * When the threshold is not reached the exchange is blocked (`serve` undefined, `agreeing` the leading group).
 */
export function weightedTally(ballots: readonly Ballot[]): WeightedTally {
  if (ballots.length === 0) return { serve: undefined, agreeing: new Set(), unanimous: false, weight: 0, threshold: 1 };
  const w = weightsFor(ballots.length - 1);
  const groups = new Map<string, { voters: number[]; weight: number }>();
  for (let i = 0; i < ballots.length; i++) {
    const b = ballots[i]!;
    if (!b.ok || b.key === undefined) continue;
    const g = groups.get(b.key) ?? { voters: [], weight: 0 };
    g.voters.push(i);
    g.weight += i === 0 ? w.primary : w.secondary;
    groups.set(b.key, g);
  }
  let lead: { voters: number[]; weight: number } | undefined;
  for (const g of groups.values()) if (!lead || g.weight > lead.weight || (g.weight === lead.weight && g.voters[0]! < lead.voters[0]!)) lead = g;
  if (!lead) return { serve: undefined, agreeing: new Set(), unanimous: false, weight: 0, threshold: w.threshold };
  return {
    serve: lead.weight >= w.threshold ? lead.voters[0] : undefined,
    agreeing: new Set(lead.voters),
    unanimous: lead.voters.length === ballots.length,
    weight: lead.weight,
    threshold: w.threshold,
  };
}
