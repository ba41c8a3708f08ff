import type { Fault, FaultSet } from '../fault-set.js';
import type { RandomSource } from '../random.js';

export interface FaultStageOptions {
  readonly set: FaultSet;
  /** Only the set's faults this accepts run in the stage (a grpc listener's connection faults); absent = all. */
  readonly include?: ((fault: Fault) => boolean) | undefined;
  readonly random: RandomSource;
  /** Most bytes a direction may hold while faults delay them before the source is paused (default 4 MiB). */
  readonly maxQueuedBytes?: number;
  /** Most frames a direction may hold (default 1024, Toxiproxy's latency buffer). */
  readonly maxQueuedFrames?: number;
}
