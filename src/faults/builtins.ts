import { FaultRegistry } from './registry.js';
import { latencyFault } from './types/latency.js';
import { bandwidthFault } from './types/bandwidth.js';
import { slowCloseFault } from './types/slow-close.js';
import { timeoutFault } from './types/timeout.js';
import { resetPeerFault } from './types/reset-peer.js';
import { slicerFault } from './types/slicer.js';
import { limitDataFault } from './types/limit-data.js';
import { downFault } from './types/down.js';
import { dummyFault, noopFault } from './types/dummy.js';
import { delayFault } from './types/delay.js';
import { errorFault } from './types/error.js';
import { transientFault } from './types/transient.js';
import { hangFault } from './types/hang.js';
import { blackoutFault } from './types/blackout.js';
import { abortFault } from './types/abort.js';
import { corruptFault, dropFault, duplicateFault } from './types/frame-faults.js';

/** Toxiproxy's toxic types (same names, attributes and units). */
export const TOXIPROXY_TYPES = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'down', 'noop'] as const;
/** Vaurien's behaviors. */
export const VAURIEN_BEHAVIORS = ['dummy', 'delay', 'error', 'hang', 'blackout', 'transient', 'abort'] as const;

export function registerBuiltinFaults(registry: FaultRegistry): FaultRegistry {
  for (const p of [latencyFault, bandwidthFault, slowCloseFault, timeoutFault, resetPeerFault, slicerFault, limitDataFault, downFault, noopFault, dummyFault, delayFault, errorFault, transientFault, hangFault, blackoutFault, abortFault, dropFault, corruptFault, duplicateFault]) {
    registry.register(p);
  }
  return registry;
}

export function createFaultRegistry(): FaultRegistry {
  return registerBuiltinFaults(new FaultRegistry());
}
