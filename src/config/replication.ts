/**
 * Config types for N-variant execution on routes: `replicate` (incoming: one client → N variants, compare, vote),
 * `merge` (outgoing: N variants → one backend), `mirror` (fire-and-forget shadow, optionally compared), and the
 * top-level `divergences` store. Documented in docs/nvariant.md and docs/configuration.md; replication-schema.ts
 * produces them.
 */

/** How the replies of N variants become one answer (RDDR's enforcing mode, a majority vote, or Diffy's detect-only). */
export type Policy = 'unanimous' | 'majority' | 'primary';
export const POLICIES: readonly Policy[] = ['unanimous', 'majority', 'primary'];

export interface RegexMaskConfig {
  pattern: string;
  flags?: string | undefined;
  replace?: string | undefined;
}

/** How answers (and merged requests) are normalised before comparison. */
export interface NormaliseConfig {
  /** HTTP: header names ignored on top of the defaults (Date, Server, Keep-Alive, ...). */
  ignoreHeaders: string[];
  /** HTTP: compare headers at all. */
  compareHeaders: boolean;
  /** JSON pointers with glob segments (`*`, `**`) removed before comparing: "/body/**\/requestId". */
  masks: string[];
  /** Regex masks applied to text (bodies, strings, raw frames). */
  regex: RegexMaskConfig[];
}

export interface NoiseConfig {
  /** The route's first N exchanges only teach the noise model: the primary's answer is served and differences are reported, not enforced. */
  warmup: number;
  /** Exchanges an endpoint needs before Diffy's rule may report a noise field as a signal. */
  minSamples: number;
  /** Diffy's relative threshold (%): a field differing between variants is reported only when its rate exceeds the filter pair's noise rate by this much. */
  relative: number;
  /** Diffy's absolute threshold (% of the endpoint's exchanges). */
  absolute: number;
}

export interface ReplicateConfig {
  /** Variants: cluster ids, or endpoint addresses "host:port" (each becomes a one-endpoint cluster). The first is the primary. */
  variants: string[];
  policy: Policy;
  /** ms each variant has to answer a request. */
  timeout: number;
  /** variants[0] and variants[1] are identical copies whose differences are learned as noise (RDDR's filter pair). */
  filterPair: boolean;
  /** ms by which requests to variants[1] are staggered behind variants[0], so the filter pair sees time-dependent fields (millisecond timestamps) differ. */
  filterPairDelay: number;
  /** majority: take an out-voted variant out of the set until restored through the admin API. */
  quarantine: boolean;
  /** Largest answer one variant may give one request (bytes). */
  maxMessageSize: number;
  /** Pipelined requests outstanding per client connection before reading pauses. */
  maxInFlight: number;
  normalise: NormaliseConfig;
  noise: NoiseConfig;
}

export interface MergePostgresConfig {
  /** How variants authenticate to the proxy. */
  auth: { method: 'trust' | 'password' | 'md5' | 'scram-sha-256'; users: Record<string, string> };
  /** How the proxy authenticates to the real server; user/database default to what the variants asked for. */
  backend: { user?: string | undefined; password?: string | undefined; database?: string | undefined };
}

export interface MergeConfig {
  /** One listener per variant (variant i connects to listener i)... */
  listeners: string[];
  /** ...or one listener and one source address per variant (variant i connects from sources[i]). */
  sources: string[];
  /** Variant names for events (default v1..vN). */
  names: string[];
  /** ms the variants have to send their matching request (and to form a connection group). */
  timeout: number;
  maxMessageSize: number;
  normalise: NormaliseConfig;
  postgres?: MergePostgresConfig | undefined;
}

export interface MirrorConfig {
  /** Shadow cluster id. */
  cluster: string;
  /** Share of requests mirrored, 0..1 ("10%" accepted). */
  fraction: number;
  /** Diff the shadow's answers against the primary's and report differences as divergences. */
  compare: boolean;
  /** Most bytes waiting to be written to the shadow per connection; requests beyond it are dropped and counted. */
  queueSize: number;
  /** ms the shadow has to answer (compare only). */
  timeout: number;
  maxMessageSize: number;
  normalise: NormaliseConfig;
}

export interface DivergencesConfig {
  /** Events kept in memory. */
  capacity: number;
  /** Append each event to this JSONL file. */
  file?: string | undefined;
}

/** True when a variant reference is an endpoint address rather than a cluster id. */
export function isEndpointRef(ref: string): boolean {
  return ref.includes(':') || ref.includes('/');
}
