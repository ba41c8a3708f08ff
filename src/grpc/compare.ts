/**
 * `compare: {policy: report}`: each destination's answer (response headers, messages, trailers / status) is kept up
 * to a bound while the primary's goes to the client at once; when the call is over, every secondary that answered on
 * its own (not cancelled by the proxy) is lifted, normalised and compared with the primary exactly as the votes do
 * (masks, regex, ignored metadata, descriptor set: docs/grpc-compare.md), and a difference becomes a divergence event
 * (mode `grpc`, decision `reported`) with the differing field paths and a readable diff.
 */
import type { Comparator } from '../compare/comparator.js';
import type { DivergenceLog, VariantOutcome } from '../replication/events.js';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Canon } from '../compare/canon.js';
import { grpcExchangeFrames } from '../compare/grpc-lifter.js';

/** Response bytes kept per destination for comparison; past it the destination is `oversized` (not compared). */
export const MAX_COMPARED_BYTES = 4 * 1024 * 1024;

export class ResponseCapture {
  readonly #chunks: Buffer[] = [];
  readonly #limit: number;
  #bytes = 0;
  overflow = false;

  constructor(limit = MAX_COMPARED_BYTES) {
    this.#limit = limit;
  }

  /** The DATA chunks kept, in order (empty after an overflow). */
  get chunks(): readonly Buffer[] {
    return this.#chunks;
  }

  add(chunk: Buffer): void {
    if (this.overflow) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      this.overflow = true;
      this.#chunks.length = 0;
      return;
    }
    this.#chunks.push(chunk);
  }
}

/** One destination as the vote sees it (index 0 is the primary). */
export interface VoterAnswer {
  readonly name: string;
  /** Answered on its own (not cancelled, reached, not over the hold limit). */
  readonly ok: boolean;
  /** Why it has no vote ("cancelled: …", "oversized"). */
  readonly why?: string | undefined;
  readonly headers: IncomingHttpHeaders | undefined;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly capture: ResponseCapture | undefined;
  readonly latencyMs: number;
}

/** An answer lifted and normalised by `comparator` (a Trailers-Only answer's status is in its "headers"). */
export function answerCanon(comparator: Comparator, method: string, a: VoterAnswer): Canon {
  const trailersOnly = a.headers === undefined;
  return comparator.canonical(grpcExchangeFrames({ method, headers: trailersOnly ? a.trailers : a.headers, trailers: trailersOnly ? undefined : a.trailers, data: a.capture?.chunks ?? [] }), 'response');
}

/** `compare: {policy: report}` of a route: its comparator (masks, regex, ignored metadata, descriptor set) and log. */
export interface GrpcReportSetup {
  readonly comparator: Comparator;
  readonly log: DivergenceLog;
}

/**
 * Compare each secondary's answer with the primary's, lifted and normalised like the votes do (vote.ts
 * {@link answerCanon}); record one event (mode `grpc`, policy `report`, decision `reported`) when any differs.
 * An oversized secondary is listed (`oversized`, not compared) but is no difference by itself; an oversized primary
 * compares nothing.
 */
export function reportDivergence(r: GrpcReportSetup, route: string, method: string, peer: string, primary: VoterAnswer, secondaries: readonly VoterAnswer[]): void {
  if (secondaries.length === 0 || !primary.capture || primary.capture.overflow) return;
  const ref = answerCanon(r.comparator, method, primary);
  const fields = new Set<string>();
  const lines: string[] = [];
  const variants: VariantOutcome[] = [{ name: primary.name, status: 'ok', digest: ref.digest, summary: ref.summary, latencyMs: primary.latencyMs, agreed: true }];
  let differs = false;
  for (const s of secondaries) {
    if (!s.capture || s.capture.overflow) {
      variants.push({ name: s.name, status: 'oversized', latencyMs: s.latencyMs, agreed: false });
      continue;
    }
    const c = answerCanon(r.comparator, method, s);
    const same = c.digest === ref.digest;
    if (!same) {
      differs = true;
      for (const f of r.comparator.diff(ref, c)) fields.add(f.path);
      lines.push(r.comparator.render(ref, c, [primary.name, s.name]));
    }
    variants.push({ name: s.name, status: 'ok', digest: c.digest, summary: c.summary, latencyMs: s.latencyMs, agreed: same });
  }
  if (!differs) return;
  r.log.record({
    route,
    mode: 'grpc',
    policy: 'report',
    decision: 'reported',
    request: { summary: method, endpoint: peer, attributes: { method } },
    variants,
    served: primary.name,
    fields: [...fields].sort(),
    diff: lines.join('\n'),
  });
}
