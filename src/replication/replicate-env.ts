import type { Comparator } from '../compare/comparator.js';
import type { NoiseModel } from '../compare/noise.js';
import type { DivergenceReporter } from './divergence-report.js';
import type { VariantTarget } from './variant.js';
import type { Policy } from '../config/replication.js';
import type { RequestRoutingHooks } from '../protocols/protocol.js';

/** A replicate route's settings, as its sessions read them. */
export interface ReplicateSettings {
  readonly policy: Policy;
  /** ms a variant has to complete its answer after the request was sent. */
  readonly timeout: number;
  readonly filterPair: boolean;
  /** ms requests to variant 1 (the filter pair's second copy) are held back. */
  readonly filterPairDelay: number;
  readonly quarantine: boolean;
  /** Largest answer (bytes) one variant may give to one request. */
  readonly maxMessageBytes: number;
  /** Requests a client may have outstanding on one connection (pipelining); reading pauses beyond it. */
  readonly maxInFlight: number;
}

/** What a replicate session (framed or raw) needs from its route's engine (the Replicator). */
export interface ReplicaEnv {
  readonly route: string;
  readonly settings: ReplicateSettings;
  readonly variants: readonly VariantTarget[];
  /** Where the route's divergence events go. */
  readonly report: DivergenceReporter;
  readonly noise: NoiseModel;
  comparator(protocol: string): Comparator;
  /** The protocol module's per-request hooks (a codec's request expectations and answers handed over), if any. */
  requestHooks(protocol: string): RequestRoutingHooks | undefined;
  /** Counts one exchange; true while the route is still in its noise warm-up (serve the primary, only report). */
  warmingUp(): boolean;
  isQuarantined(name: string): boolean;
  /** Some variant of the route is quarantined (false: no per-variant look-up is needed). */
  readonly anyQuarantined: boolean;
  quarantine(name: string, reason: string): void;
}
