import type { Frame } from '../framing/framer.js';
import type { Attributes } from '../protocols/protocol.js';
import type { Canon } from '../compare/canon.js';
import type { Comparator } from '../compare/comparator.js';
import type { VariantStatus } from './events.js';
import type { NoiseModel } from '../compare/noise.js';
import type { Ballot } from './vote.js';
import type { Policy } from '../config/replication.js';

/** Bytes of a request kept for its divergence event (summary, endpoint key); the request itself is streamed. */
export const REQUEST_KEEP = 64 * 1024;

/** The noise model's key for what is learned across all endpoints. */
export const ALL_ENDPOINTS = '*';

export interface JudgeInput {
  readonly comparator: Comparator;
  readonly noise: NoiseModel;
  /** Variants 0 and 1 are identical copies: their differences are noise (RDDR's filter pair). */
  readonly filterPair: boolean;
  readonly policy: Policy;
  /** The request's wire frames (its start, for the endpoint key). */
  readonly request: readonly Frame[];
  /** Each variant's complete answer, or undefined when it gave none (status says why). */
  readonly answers: readonly (readonly Frame[] | undefined)[];
  /** What the frames are: answers (replicate, mirror) or requests (merge). Default response. */
  readonly kind?: 'request' | 'response';
}

export interface Judged {
  readonly ballots: Ballot[];
  readonly canons: (Canon | undefined)[];
  /** Differing field paths, noise removed, against the reference answer (the served one, else the primary's). */
  readonly fields: string[];
  /** Every answer given is equal after normalisation and noise removal. */
  readonly noDifference: boolean;
  /** Paths ignored as noise for this exchange. */
  readonly ignored: ReadonlySet<string>;
  /** Noise paths where the variants differ clearly more often than the filter pair (Diffy's rule): reported, not enforced. */
  readonly suspects: readonly string[];
  /** Readable diff of every differing variant against the reference. */
  diff(names: readonly string[], served: number | undefined, statuses?: readonly VariantStatus[]): string;
}

/**
 * Normalise N answers, apply the filter pair's noise (this exchange's and what was learned for the endpoint),
 * and produce the ballots the policy votes on. Only called when the raw bytes were not all equal.
 */
export function judge(input: JudgeInput): Judged {
  const cmp = input.comparator;
  const canons = input.answers.map((a) => (a ? cmp.canonical(a, input.kind ?? 'response') : undefined));
  const ignore = new Set<string>();
  /** Learned-noise paths where the variants differ now and Diffy's rule says: more often than noise (report only). */
  const suspects: string[] = [];
  if (input.filterPair) {
    // RDDR: what the filter pair (two identical copies) ever differed on is noise for every variant — learned per
    // endpoint and across endpoints (a timestamp every answer carries). Diffy's thresholds only decide which of those
    // still get reported (never blocked): where the others differ clearly more often than the pair.
    const endpoint = cmp.endpoint(input.request);
    for (const p of input.noise.noisy(endpoint)) ignore.add(p);
    for (const p of input.noise.noisy(ALL_ENDPOINTS)) ignore.add(p);
    const [c0, c1] = canons;
    if (c0 && c1) {
      const pair = cmp.diff(c0, c1).map((d) => d.path);
      const raw = new Set<string>();
      for (let i = 2; i < canons.length; i++) {
        const c = canons[i];
        if (c) for (const d of cmp.diff(c0, c)) raw.add(d.path);
      }
      input.noise.record(endpoint, pair, raw);
      input.noise.record(ALL_ENDPOINTS, pair, raw);
      for (const p of pair) ignore.add(p);
      for (const p of raw) if (ignore.has(p) && !pair.includes(p) && input.noise.exceedsNoise(endpoint, p)) suspects.push(p);
    }
  }
  const keys = canons.map((c) => (c ? (ignore.size > 0 ? cmp.digestWithout(c, ignore) : c.digest) : undefined));
  const ballots: Ballot[] = keys.map((key) => ({ ok: key !== undefined, key }));
  const given = keys.filter((k): k is string => k !== undefined);
  const noDifference = given.every((k) => k === given[0]);
  const reference = (served: number | undefined): number => {
    if (served !== undefined) return served;
    if (canons[0]) return 0;
    const i = canons.findIndex((c) => c !== undefined);
    return i < 0 ? 0 : i;
  };
  const fieldsFor = (ref: number): string[] => {
    const out = new Set<string>();
    const base = canons[ref];
    if (!base) return [];
    for (let i = 0; i < canons.length; i++) {
      const c = canons[i];
      if (i === ref || !c || keys[i] === keys[ref]) continue;
      for (const d of cmp.diff(base, c, ignore)) out.add(d.path);
    }
    return [...out].sort();
  };
  return {
    ballots,
    canons,
    ignored: ignore,
    suspects,
    noDifference,
    get fields() {
      return fieldsFor(reference(undefined));
    },
    diff(names, served, statuses) {
      const ref = reference(served);
      const base = canons[ref];
      const parts: string[] = [];
      for (let i = 0; i < canons.length; i++) {
        if (i === ref) continue;
        const c = canons[i];
        const name = names[i] ?? `#${i}`;
        if (!c) {
          parts.push(`${name}: no answer (${statuses?.[i] ?? 'failed'})`);
          continue;
        }
        if (!base || keys[i] === keys[ref]) continue;
        parts.push(cmp.render(base, c, [names[ref] ?? `#${ref}`, name], ignore));
      }
      if (!base) parts.unshift(`${names[ref] ?? `#${ref}`}: no answer`);
      return parts.join('\n');
    },
  };
}

/** The request part of a divergence event. */
export function describeRequest(cmp: Comparator, request: readonly Frame[], attributes: Attributes | undefined): { summary: string; endpoint: string; attributes?: Attributes } {
  let summary: string;
  let endpoint = '*';
  try {
    summary = cmp.canonical(request, 'request').summary;
    endpoint = cmp.endpoint(request);
  } catch {
    summary = request[0]?.subarray(0, 120).toString('latin1') ?? '';
  }
  return attributes ? { summary, endpoint, attributes } : { summary, endpoint };
}
