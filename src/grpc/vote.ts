/**
 * `compare: {policy: majority | unanimous | weighted}` on a gRPC route (docs/grpc.md § compare and vote): every
 * destination's answer (response headers, messages, trailers / status) is held until the call is over, lifted
 * without protos (or with the route's descriptor set), normalised (masks, regex, ignored metadata) and voted on.
 * The vote picks the destination whose answer the client gets, or blocks the call; any disagreement becomes one
 * divergence event (mode `grpc`).
 */
import type { Canon } from '../compare/canon.js';
import type { Comparator } from '../compare/comparator.js';
import type { DivergenceLog, VariantOutcome } from '../replication/events.js';
import { tally, weightedTally, type Ballot } from '../replication/vote.js';
import { answerCanon, type VoterAnswer } from './compare.js';

export type { VoterAnswer } from './compare.js';

export type VotePolicy = 'majority' | 'unanimous' | 'weighted' | 'primary';

export interface GrpcVoteSetup {
  readonly policy: VotePolicy;
  readonly comparator: Comparator;
  readonly blockStatus: 'INTERNAL' | 'UNAVAILABLE';
  readonly holdLimit: number;
  readonly log: DivergenceLog;
  /** The events' mode: `grpc` (secondaries), `replicate` (a replicate route), `mirror` (a shadow). */
  readonly mode: 'grpc' | 'replicate' | 'mirror';
}


export interface VoteResult {
  /** Index of the destination whose answer is served; undefined = blocked. */
  readonly serve: number | undefined;
  /** The divergence event's id (set when the answers were not all equal). */
  readonly divergence: number | undefined;
}


/** Vote on the answers; record a divergence event when they were not unanimous. */
export function voteOnAnswers(v: GrpcVoteSetup, route: string, method: string, peer: string, answers: readonly VoterAnswer[]): VoteResult {
  const canons: (Canon | undefined)[] = answers.map((a) => {
    if (!a.ok || !a.capture || a.capture.overflow) return undefined;
    return answerCanon(v.comparator, method, a);
  });
  const ballots: Ballot[] = canons.map((c) => (c ? { ok: true, key: c.digest } : { ok: false }));
  const t = v.policy === 'weighted' ? weightedTally(ballots) : tally(v.policy, ballots);
  if (t.unanimous) return { serve: t.serve, divergence: undefined };
  const refIndex = t.serve ?? (canons[0] ? 0 : canons.findIndex((c) => c !== undefined));
  const ref = refIndex >= 0 ? canons[refIndex] : undefined;
  const fields = new Set<string>();
  const lines: string[] = [];
  const variants: VariantOutcome[] = answers.map((a, i) => {
    const c = canons[i];
    if (c && ref && i !== refIndex) {
      const d = v.comparator.diff(ref, c);
      for (const f of d) fields.add(f.path);
      if (d.length > 0) lines.push(v.comparator.render(ref, c, [answers[refIndex]!.name, a.name]));
    }
    if (!c && a.why) lines.push(`${a.name}: ${a.why}`);
    return {
      name: a.name,
      status: c ? 'ok' : a.capture?.overflow ? 'oversized' : 'reset',
      digest: c?.digest,
      summary: c?.summary ?? a.why,
      latencyMs: a.latencyMs,
      agreed: t.agreeing.has(i),
    };
  });
  const id = v.log.reserveId();
  v.log.record({
    id,
    route,
    mode: v.mode,
    policy: v.policy,
    decision: t.serve === undefined ? (v.policy === 'primary' ? 'reported' : 'blocked') : v.policy === 'primary' ? 'reported' : 'outvoted',
    request: { summary: method, endpoint: peer, attributes: { method } },
    variants,
    served: t.serve === undefined ? undefined : answers[t.serve]!.name,
    fields: [...fields].sort(),
    diff: lines.join('\n'),
  });
  return { serve: t.serve, divergence: id };
}
