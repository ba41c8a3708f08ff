/**
 * Active health checks of cluster endpoints, the protocol side: a module's `healthProbe` builds a probe from the
 * check's options (`clusters[].healthCheck`), and the cluster runs it over a socket it connected (TLS included).
 */
import type { Socket } from 'node:net';

/**
 * One exchange with one endpoint over a connected socket: resolves when the endpoint answered as expected, rejects
 * with an Error saying what went wrong. The probe owns the socket (destroys it when done). `signal` aborts at the
 * check's timeout.
 */
export type HealthProbe = (socket: Socket, signal: AbortSignal) => Promise<void>;

/** The options of a `healthCheck` as validated by the config schema (type-specific keys included). */
export type HealthProbeOptions = Readonly<Record<string, unknown>>;

/** A string option, or undefined. */
export function stringOption(options: HealthProbeOptions, key: string): string | undefined {
  const v = options[key];
  return typeof v === 'string' ? v : undefined;
}

const aborted = (): Error => new Error('aborted');

/**
 * Feed everything the endpoint sends to `step` until it returns true (passed) or throws (failed); the socket is
 * destroyed either way. A close, an error or the abort before that fails the probe.
 */
export function converse(socket: Socket, signal: AbortSignal, step: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(aborted());
    if (signal.aborted) {
      finish(aborted());
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      try {
        if (step(chunk)) finish();
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error('the endpoint closed the connection before answering')));
  });
}

