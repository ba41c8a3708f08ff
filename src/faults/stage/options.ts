import type { FaultSet } from '../fault-set.js';
import type { RandomSource } from '../random.js';

export interface FaultStageOptions {
  readonly set: FaultSet;
  readonly random: RandomSource;
  /** Most bytes a direction may hold while faults delay them before the source is paused (default 4 MiB). */
  readonly maxQueuedBytes?: number;
  /** Most frames a direction may hold (default 1024, Toxiproxy's latency buffer). */
  readonly maxQueuedFrames?: number;
}
