import type { Socket } from 'node:net';
import { ErrorCodes, errorCode } from '../core/errors.js';
import type { LatencyHistogram } from '../core/latency.js';
import type { Logger } from '../core/log.js';
import type { Cluster } from '../upstream/cluster.js';

/** One variant of a replicate route: its name (in events and metrics), its cluster and its answer times. */
export interface VariantTarget {
  readonly name: string;
  readonly cluster: Cluster;
  readonly latency: LatencyHistogram;
}

/** Why a variant could not be reached, as the status it counts as in a divergence event. */
export type ConnectFailure = 'timeout' | 'refused';

/**
 * Connect to a variant, counting the connection (or the failure) into its cluster's stats. A variant that cannot be
 * reached gets the status it counts as: `timeout` (connect timeout) or `refused`.
 */
export async function connectVariant(target: VariantTarget, logger: Logger): Promise<Socket | ConnectFailure> {
  const stats = target.cluster.stats;
  try {
    const socket = await target.cluster.connect();
    stats.active++;
    stats.total++;
    socket.once('close', () => stats.active--);
    return socket;
  } catch (err) {
    const code = errorCode(err);
    stats.error(code);
    logger.debug({ variant: target.name, err: (err as Error).message }, 'variant connect failed');
    return code === ErrorCodes.UPSTREAM_TIMEOUT ? 'timeout' : 'refused';
  }
}
