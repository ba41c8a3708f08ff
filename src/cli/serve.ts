import type { Logger } from '../core/log.js';
import { Switchyard } from '../control/switchyard.js';
import { AdminServer } from '../control/admin/server.js';
import type { SwitchyardConfig } from '../control/config-types.js';
import type { FramerRegistry } from '../framing/registry.js';

export interface Running {
  yard: Switchyard;
  admin: AdminServer | undefined;
}

/** Start the runtime and, when configured, the admin API (closing the runtime again if the admin API fails). */
export async function startAll(config: SwitchyardConfig, framers: FramerRegistry, logger: Logger): Promise<Running> {
  const yard = await Switchyard.start(config, { logger, framers });
  try {
    const admin = config.admin ? await AdminServer.start(yard, { listen: config.admin.listen, token: config.admin.token }) : undefined;
    return { yard, admin };
  } catch (err) {
    await yard.close();
    throw err;
  }
}

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
