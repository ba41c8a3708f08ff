/**
 * What reloads `switchyard run`'s config file: SIGHUP, and with --watch a change of the file. The file is loaded
 * exactly as at start (environment substitution, plugins, validation); an invalid one is rejected with every issue
 * logged and the running config kept; a valid one is applied as a difference (runtime/reload.ts).
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatAddress } from '../core/address.js';
import type { FramerRegistry } from '../framing/registry.js';
import type { ConfigIssue } from '../config/issues.js';
import { loadConfigFile } from '../runtime/config.js';
import { applyConfig, rejectConfig } from '../runtime/reload.js';
import type { Switchyard } from '../runtime/switchyard.js';

/** Quiet time after the last file event before reloading (editors write in several steps). */
const DEBOUNCE_MS = 200;
/** Wait before watching the folder again after the watcher failed (folder renamed or removed). */
const REWATCH_MS = 1000;

export interface ReloadTriggers {
  /** Reload now (what SIGHUP does); resolves when this reload and any queued behind it are done. */
  reload(why: string): Promise<void>;
  close(): void;
}

export async function configDigest(file: string): Promise<string | undefined> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/** Listen for SIGHUP (and watch `file` when `watchFile`); each trigger reloads `file` into `yard`. */
export function reloadTriggers(yard: Switchyard, file: string, framers: FramerRegistry, options: { watchFile: boolean; startDigest?: string | undefined }): ReloadTriggers {
  let running: Promise<void> | undefined;
  let queued: string | undefined;
  let closed = false;
  let lastDigest: string | undefined = options.startDigest;
  if (lastDigest === undefined) void configDigest(file).then((d) => (lastDigest ??= d));

  const once = async (why: string): Promise<void> => {
    lastDigest = await configDigest(file);
    let config;
    try {
      config = await loadConfigFile(file, framers);
    } catch (err) {
      const e = err as { code?: string; message?: string; details?: { issues?: ConfigIssue[] } };
      if (e.code !== 'SWY_CONFIG_INVALID') throw err;
      rejectConfig(yard, e.details?.issues ?? [], file, e.message);
      process.stdout.write(`reload (${why}): rejected, the running config is kept: ${e.message ?? ''}\n`);
      return;
    }
    const outcome = await applyConfig(yard, config, { source: `${file} (${why})` });
    if (outcome.result === 'failed') {
      process.stdout.write(`reload (${why}): failed at "${outcome.failedStep ?? '?'}": ${outcome.error ?? ''}; applied before it: ${outcome.applied.length} step(s)\n`);
      return;
    }
    const changes = outcome.changes;
    process.stdout.write(`reload (${why}): applied${changes.length === 0 ? ', nothing changed' : `: ${changes.join('; ')}`}\n`);
    for (const id of [...outcome.plan.listeners.added, ...outcome.plan.listeners.changed.filter((c) => c.action === 'replace').map((c) => c.id)]) {
      const l = yard.listeners.get(id);
      if (l) process.stdout.write(`listener ${id}: ${l.address ? formatAddress(l.address) : '?'}\n`);
    }
  };

  const reload = (why: string): Promise<void> => {
    if (running) {
      queued = why;
      return running;
    }
    running = (async () => {
      let next: string | undefined = why;
      while (next !== undefined && !closed) {
        queued = undefined;
        try {
          await once(next);
        } catch (err) {
          yard.reloads.failed++;
          yard.logger.error({ err, file }, 'config reload failed');
        }
        next = queued;
      }
      running = undefined;
    })();
    return running;
  };

  const onHup = (): void => void reload('SIGHUP');
  process.on('SIGHUP', onHup);

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let rewatch: NodeJS.Timeout | undefined;
  const onEvent = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      void configDigest(file).then((d) => {
        // Only a change of content reloads (a touch, or an editor's temp file next to it, does not).
        if (d === undefined || d === lastDigest || closed) return;
        void reload('file changed');
      });
    }, DEBOUNCE_MS);
  };
  const startWatching = (): void => {
    if (closed) return;
    try {
      // The folder, not the file: an editor that writes a temp file and renames it over the original (or a
      // Kubernetes ConfigMap swapping its symlinks) replaces the file, which a watch on the file would lose.
      // Every event of the folder is checked (the content decides): a ConfigMap's swap renames `..data`, not the file.
      watcher = watch(dirname(file), { persistent: false }, () => onEvent());
      watcher.on('error', (err) => {
        yard.logger.warn({ err, file }, 'config watch failed; watching again');
        watcher?.close();
        watcher = undefined;
        rewatch = setTimeout(startWatching, REWATCH_MS);
        rewatch.unref();
      });
    } catch (err) {
      yard.logger.warn({ err, file }, 'cannot watch the config folder yet; trying again');
      rewatch = setTimeout(startWatching, REWATCH_MS);
      rewatch.unref();
    }
  };
  if (options.watchFile) startWatching();

  return {
    reload,
    close: () => {
      closed = true;
      process.removeListener('SIGHUP', onHup);
      clearTimeout(debounce);
      clearTimeout(rewatch);
      watcher?.close();
    },
  };
}
