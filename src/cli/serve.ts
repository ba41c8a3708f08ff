import type { Logger } from '../core/log.js';
import type { Switchyard } from '../control/switchyard.js';
import type { AdminServer } from '../control/admin/server.js';

/**
 * Keep a running proxy alive until SIGINT/SIGTERM, then shut down gracefully: stop accepting, let live
 * connections finish for up to drainTimeout ms, close the rest. A second signal closes everything at once.
 */
export function serveUntilSignal(yard: Switchyard, admin: AdminServer | undefined, drainTimeout: number, logger: Logger): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: closing all connections now');
        void yard.close({ drainTimeout: 0 });
        return;
      }
      stopping = true;
      logger.info({ signal, drainTimeout }, 'shutting down: draining connections');
      void (async () => {
        await yard.close({ drainTimeout });
        await admin?.close();
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        logger.info('stopped');
        logger.flush?.();
        resolve(0);
      })();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
