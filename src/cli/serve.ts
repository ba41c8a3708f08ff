import type { Logger } from '../core/log.js';
import { Switchyard } from '../runtime/switchyard.js';
import { AdminServer } from '../admin/server.js';
import { ToxiproxyApi } from '../compat/toxiproxy.js';
import type { SwitchyardConfig } from '../config/types.js';
import type { FramerRegistry } from '../framing/registry.js';

export interface Running {
  yard: Switchyard;
  admin: AdminServer | undefined;
  /** The Toxiproxy-compatible API (config key `toxiproxy: {listen}`). */
  toxiproxy?: ToxiproxyApi | undefined;
}

/** How a command names the admin API's settings in refusals (default: the config keys). */
export interface AdminNames {
  setting?: string;
  fix?: string;
}

/** Something started next to a yard that must stop with it. */
export interface Closable {
  close(): Promise<void>;
}

/** Servers startAll started next to a yard (the Toxiproxy API): serveUntilSignal closes them too. */
const companions = new WeakMap<Switchyard, Closable[]>();

/**
 * Start the runtime and, when configured, the admin API and the Toxiproxy API (closing what was started again if
 * one of them fails).
 */
export async function startAll(config: SwitchyardConfig, framers: FramerRegistry, logger: Logger, adminNames: AdminNames = {}): Promise<Running> {
  const yard = await Switchyard.start(config, { logger, framers });
  let admin: AdminServer | undefined;
  try {
    admin = config.admin ? await AdminServer.start(yard, { ...config.admin, ...adminNames }) : undefined;
    const toxiproxy = config.toxiproxy ? await ToxiproxyApi.start(yard, { ...config.toxiproxy, logger }) : undefined;
    if (toxiproxy) companions.set(yard, [toxiproxy]);
    return { yard, admin, toxiproxy };
  } catch (err) {
    await admin?.close();
    await yard.close();
    throw err;
  }
}

/**
 * Keep a running proxy alive until SIGINT/SIGTERM, then shut down gracefully: stop accepting, let live
 * connections finish for up to drainTimeout ms, close the rest. A second signal closes everything at once.
 */
export function serveUntilSignal(
  yard: Switchyard,
  admin: AdminServer | undefined,
  drainTimeoutOrGetter: number | (() => number),
  logger: Logger,
  others: readonly Closable[] = [],
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      const drainTimeout = typeof drainTimeoutOrGetter === 'number' ? drainTimeoutOrGetter : drainTimeoutOrGetter();
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
        for (const c of new Set([...others, ...(companions.get(yard) ?? [])])) await c.close();
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
