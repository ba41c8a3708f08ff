import type { FaultPlugin } from '../plugin.js';

/** Vaurien `dummy` (Toxiproxy's hidden `noop`): passes everything. The share of requests no other behavior takes. */
export const dummyFault: FaultPlugin = {
  type: 'dummy',
  description: 'Do nothing (transparent).',
  defaultScope: 'request',
  defaultStream: 'upstream',
  passive: true,
  options: {},
  create() {
    return {};
  },
};

/** Toxiproxy's hidden `noop` type, creatable through its API. */
export const noopFault: FaultPlugin = { ...dummyFault, type: 'noop', description: 'Do nothing (Toxiproxy noop).', defaultScope: 'connection', defaultStream: 'downstream' };
