import type { FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy's `down` (its `enabled: false`): the listener closes its socket, so new connections are refused, and
 * every live connection is closed. Removing the fault listens again on the same address. Toxicity is ignored.
 */
export const downFault: FaultPlugin = {
  type: 'down',
  description: 'Take the listener down: refuse new connections and close live ones until the fault is removed.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  listenerEffect: 'down',
  options: {},
  create() {
    return {};
  },
};
