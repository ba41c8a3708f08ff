/**
 * Connection faults of a grpc listener (docs/grpc.md § faults): the Toxiproxy toxics (`latency`, `bandwidth`,
 * `slicer`, `reset_peer`, `timeout`, `limit_data`, `slow_close`, ...) with scope `connection` act on the TCP bytes
 * under HTTP/2 (and under TLS), as on a raw TCP listener. An accepted socket is put through the listener's fault
 * stage, and HTTP/2 is served on the far end of an in-process stream pair: upstream = client → proxy, downstream =
 * proxy → client.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Logger } from '../core/log.js';
import type { SwitchyardError } from '../core/errors.js';
import type { FaultSet } from '../faults/fault-set.js';
import type { RandomSource } from '../faults/random.js';
import { FaultHandlerFactory } from '../faults/stage/fault-stage.js';
import type { Direction, SessionContext, SessionIO, Verdict } from '../pipeline/handler.js';
import { isConnectionFault } from './call-faults.js';

/** One end of an in-process byte pipe: what is written to it is read from its peer (with backpressure). */
class PipeEnd extends Duplex {
  peer!: PipeEnd;
  /** The write callback held while the peer's reader is full. */
  held: (() => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return cb();
    if (this.peer.push(chunk)) cb();
    else this.held = cb;
  }

  override _read(): void {
    const cb = this.peer.held;
    if (cb) {
      this.peer.held = undefined;
      cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const held = this.held;
    this.held = undefined;
    held?.();
    if (!this.peer.destroyed) this.peer.destroy();
    cb(err);
  }
}

function pipePair(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface ConnectionFaultOptions {
  readonly set: FaultSet;
  readonly random: RandomSource;
  readonly listenerId: string;
  readonly logger: Logger;
}

/** Per listener: makes the faulted stream for each accepted socket (its ordinal keys the seeded random streams). */
export class ConnectionFaults {
  readonly #factory: FaultHandlerFactory;
  readonly #opts: ConnectionFaultOptions;
  #sessions = 0;

  constructor(opts: ConnectionFaultOptions) {
    this.#opts = opts;
    this.#factory = new FaultHandlerFactory({ set: opts.set, random: opts.random, include: isConnectionFault });
  }

  /** True when the set holds a connection fault now. */
  get active(): boolean {
    return this.#opts.set.list().some(isConnectionFault);
  }

  /** The stream HTTP/2 is served on: the socket's bytes after the fault stage, both ways. */
  wrap(socket: Socket): Duplex {
    const [near, far] = pipePair();
    Object.assign(far, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily, localAddress: socket.localAddress, localPort: socket.localPort });
    const controller = new AbortController();
    let closed = false;
    const target = (d: Direction): Socket | PipeEnd => (d === 'toUpstream' ? near : socket);
    const shut = (reset: boolean): void => {
      if (closed) return;
      closed = true;
      controller.abort();
      try {
        handler.onClose?.(ctx);
      } catch {
        // a fault's cleanup failed: the connection closes anyway
      }
      if (reset) socket.resetAndDestroy();
      else {
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      }
      near.destroy();
    };
    const io: SessionIO = {
      write: (d, frames) => {
        const t = target(d);
        let ok = true;
        for (const f of frames) if (!t.destroyed) ok = t.write(f) && ok;
        return ok;
      },
      drained: (d) => {
        const t = target(d);
        if (closed || t.destroyed || !t.writableNeedDrain) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = (): void => {
            t.off('drain', done);
            t.off('close', done);
            resolve();
          };
          t.on('drain', done);
          t.on('close', done);
        });
      },
      end: (d) => {
        const t = target(d);
        if (!t.destroyed) t.end();
      },
      answered: () => undefined,
      reset: () => shut(true),
      close: (err?: SwitchyardError) => {
        if (err) this.#opts.logger.debug({ listener: this.#opts.listenerId, err: err.message }, 'grpc connection closed by a fault');
        shut(false);
      },
      get closed() {
        return closed;
      },
    };
    const ctx: SessionContext = {
      sessionId: ++this.#sessions,
      listenerId: this.#opts.listenerId,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      logger: this.#opts.logger,
      signal: controller.signal,
      io,
      codec: undefined,
    };
    const handler = this.#factory.create(ctx);
    const pump = (src: Socket | PipeEnd, d: Direction): void => {
      const dst = target(d);
      const apply = (v: Verdict, chunk: Buffer): void => {
        if (v.action === 'continue') {
          let ok = true;
          for (const f of v.frames ?? [chunk]) if (!dst.destroyed) ok = dst.write(f) && ok;
          if (!ok && !closed) {
            src.pause();
            dst.once('drain', () => src.resume());
          }
        } else if (v.action === 'close') {
          this.#opts.logger.debug({ listener: this.#opts.listenerId, err: v.error.message }, 'grpc connection closed by a fault');
          shut(false);
        }
      };
      src.on('data', (chunk: Buffer) => {
        if (closed) return;
        let v: Verdict | Promise<Verdict>;
        try {
          v = handler.onFrame(chunk, d, ctx, undefined);
        } catch (err) {
          this.#opts.logger.warn({ err, listener: this.#opts.listenerId }, 'grpc connection fault failed');
          shut(true);
          return;
        }
        if (v instanceof Promise) {
          src.pause();
          v.then(
            (x) => {
              apply(x, chunk);
              if (!closed && !dst.writableNeedDrain) src.resume();
            },
            () => shut(true),
          );
        } else apply(v, chunk);
      });
      src.on('end', () => {
        void Promise.resolve(handler.onEnd?.(d, ctx)).then(
          () => {
            if (!dst.destroyed) dst.end();
          },
          () => shut(true),
        );
      });
    };
    socket.on('error', () => shut(true));
    socket.on('close', () => shut(false));
    near.on('error', () => shut(true));
    near.on('close', () => shut(false));
    pump(socket, 'toUpstream');
    pump(near, 'toDownstream');
    return far;
  }
}

