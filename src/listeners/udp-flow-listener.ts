/**
 * UdpListener: one bound UDP socket, demultiplexed into flows (one per client address) that are handed to
 * `onFlow`. Tendril's UDP manager done right: flows expire when idle and are bounded in number (UdpFlowTable),
 * datagrams are never truncated (Node's dgram receives into a 64 KiB buffer, so every UDP payload arrives
 * whole), oversized datagrams are dropped and counted, and every queue has a bound.
 */
import type dgram from 'node:dgram';
import type { UdpOptions } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import { UdpFlow, flowClosedError, kDeliver, kEnd, type UdpFlowHost, type UdpFlowQueueLimits } from './udp-flow.js';
import { UdpFlowTable, flowKey, type FlowCloseReason, type UdpFlowStats, type UdpRemote } from './udp-flow-table.js';
import { applyBufferSizes, bindSocket, closeSocket, listenerBufferSize, resolveUdpEndpoint, validateUdpOptions } from './udp-socket.js';

export interface UdpListenerOptions {
  /** Where to bind: host (IPv4 or IPv6 literal, or a hostname) + port (0 = ephemeral). Unix paths are refused. */
  listen: Address;
  udp: UdpOptions;
  /**
   * Called synchronously for each new flow, before its first datagram is queued. May return a promise; a throw
   * or rejection closes that flow and is reported to `onError` (code of the error).
   */
  onFlow(flow: UdpFlow): void | Promise<void>;
  /** Called once per flow after it left the table (idle, evicted, closed, shutdown). Must not throw. */
  onFlowClose?: ((flow: UdpFlow, reason: FlowCloseReason) => void) | undefined;
  /**
   * Every drop or failure the listener counts, by code: SWY_FRAME_TOO_LARGE (datagram over maxDatagramSize,
   * either way), SWY_BUFFER_OVERFLOW (a flow's receive queue or the socket's send queue full), system codes
   * from the socket. Must not throw.
   */
  onError?: ((code: string, flow: UdpFlow | undefined, err: unknown) => void) | undefined;
  /** Per-flow receive queue bounds (defaults: 64 datagrams, 256 KiB but at least one maxDatagramSize). */
  queue?: Partial<UdpFlowQueueLimits> | undefined;
  /** Most sends waiting in the socket's send queue before send() rejects with SWY_BUFFER_OVERFLOW (default 1024). */
  maxPendingSends?: number | undefined;
  /** Kernel receive/send buffer size in bytes (default: 32 max datagrams, clamped to 1–8 MiB). */
  socketBufferSize?: number | undefined;
}

/** The bound address of a listener. */
export type UdpBoundAddress = UdpRemote;

const DEFAULT_QUEUED_DATAGRAMS = 64;
const DEFAULT_QUEUED_BYTES = 256 * 1024;
const DEFAULT_MAX_PENDING_SENDS = 1024;

export class UdpListener {
  readonly udp: UdpOptions;
  /** Counted drops and failures by code (what onError reported). */
  readonly errors = new Map<string, number>();
  readonly #socket: dgram.Socket;
  readonly #table: UdpFlowTable<UdpFlow>;
  readonly #options: UdpListenerOptions;
  readonly #limits: UdpFlowQueueLimits;
  readonly #maxPendingSends: number;
  readonly #host: UdpFlowHost;
  readonly #bound: UdpBoundAddress;
  #closing: Promise<void> | undefined;

  /** Bind the socket and start receiving. Rejects with SWY_CONFIG_INVALID or SWY_LISTEN_FAILED. */
  static async bind(options: UdpListenerOptions): Promise<UdpListener> {
    validateUdpOptions(options.udp);
    const endpoint = await resolveUdpEndpoint(options.listen, 'udp listen');
    const socket = await bindSocket(endpoint, 'udp listener');
    return new UdpListener(socket, options);
  }

  /** Use {@link UdpListener.bind}, which binds the socket first. */
  constructor(socket: dgram.Socket, options: UdpListenerOptions) {
    this.#socket = socket;
    this.#options = options;
    this.udp = options.udp;
    const max = options.udp.maxDatagramSize;
    this.#limits = {
      maxQueuedDatagrams: Math.max(1, options.queue?.maxQueuedDatagrams ?? DEFAULT_QUEUED_DATAGRAMS),
      maxQueuedBytes: Math.max(max, options.queue?.maxQueuedBytes ?? DEFAULT_QUEUED_BYTES),
    };
    this.#maxPendingSends = Math.max(1, options.maxPendingSends ?? DEFAULT_MAX_PENDING_SENDS);
    this.#table = new UdpFlowTable<UdpFlow>({
      flowIdleTimeout: options.udp.flowIdleTimeout,
      maxFlows: options.udp.maxFlows,
      onClose: (flow, reason) => this.#flowLeft(flow, reason),
    });
    this.#host = {
      sendTo: (flow, datagram) => this.#sendTo(flow, datagram),
      closeFlow: (flow) => {
        this.#table.delete(flow, 'closed');
      },
    };
    const a = socket.address();
    this.#bound = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    applyBufferSizes(socket, options.socketBufferSize ?? listenerBufferSize(max));
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    // A dgram socket survives 'error' events; count them and keep serving.
    socket.on('error', (err) => this.#count(errorCode(err), undefined, err));
  }

  /** The bound address (the real port when bound to port 0). */
  address(): UdpBoundAddress {
    return this.#bound;
  }

  /** Flow-table counters. */
  flowStats(): UdpFlowStats {
    return this.#table.stats();
  }

  /** The flows tracked now, least recently active first. */
  flows(): UdpFlow[] {
    return [...this.#table];
  }

  /** The flow of a client address, if tracked. */
  flow(remote: UdpRemote): UdpFlow | undefined {
    return this.#table.get(flowKey(remote));
  }

  /** Current kernel buffer sizes of the listening socket. */
  bufferSizes(): { recv: number; send: number } {
    return { recv: this.#socket.getRecvBufferSize(), send: this.#socket.getSendBufferSize() };
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Close every flow (reason 'shutdown') and the socket. Idempotent; resolves once the socket is closed. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#table.clear('shutdown');
      this.#closing = closeSocket(this.#socket);
    }
    return this.#closing;
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closing !== undefined) return;
    const remote: UdpRemote = { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    const key = flowKey(remote);
    let flow = this.#table.get(key);
    // Oversized datagrams never create or refresh a flow.
    if (msg.length > this.udp.maxDatagramSize) {
      this.#count(ErrorCodes.FRAME_TOO_LARGE, flow, undefined);
      return;
    }
    if (flow === undefined) {
      flow = new UdpFlow(this.#host, key, remote, this.#limits);
      this.#table.add(flow);
      this.#announce(flow);
    } else {
      this.#table.touch(flow);
    }
    if (!flow[kDeliver](msg) && !flow.closed) this.#count(ErrorCodes.BUFFER_OVERFLOW, flow, undefined);
  }

  #announce(flow: UdpFlow): void {
    const fail = (err: unknown): void => {
      this.#count(errorCode(err), flow, err);
      flow.close();
    };
    try {
      const result = this.#options.onFlow(flow);
      if (result !== undefined && typeof result.then === 'function') result.then(undefined, fail);
    } catch (err) {
      fail(err);
    }
  }

  #flowLeft(flow: UdpFlow, reason: FlowCloseReason): void {
    flow[kEnd](reason);
    this.#options.onFlowClose?.(flow, reason);
  }

  #sendTo(flow: UdpFlow, datagram: Buffer): Promise<void> {
    if (flow.closed || this.#closing !== undefined) return Promise.reject(flowClosedError(flow));
    if (datagram.length > this.udp.maxDatagramSize) {
      const err = new SwitchyardError(
        ErrorCodes.FRAME_TOO_LARGE,
        `udp datagram of ${datagram.length} bytes exceeds maxDatagramSize ${this.udp.maxDatagramSize}`,
        { details: { size: datagram.length, max: this.udp.maxDatagramSize } },
      );
      this.#count(err.code, flow, err);
      return Promise.reject(err);
    }
    if (this.#socket.getSendQueueCount() >= this.#maxPendingSends) {
      const err = new SwitchyardError(ErrorCodes.BUFFER_OVERFLOW, `udp send queue full (${this.#maxPendingSends} datagrams)`);
      this.#count(err.code, flow, err);
      return Promise.reject(err);
    }
    this.#table.touch(flow);
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        this.#count(errorCode(err), flow, err);
        reject(err);
      };
      try {
        this.#socket.send(datagram, flow.remote.port, flow.remote.address, (err) => {
          if (err) return fail(err);
          flow.datagramsSent++;
          flow.bytesSent += datagram.length;
          resolve();
        });
      } catch (err) {
        fail(err as Error);
      }
    });
  }

  #count(code: string, flow: UdpFlow | undefined, err: unknown): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.#options.onError?.(code, flow, err);
  }
}
