/**
 * UdpFlow: one client address seen by a UdpListener. Received datagrams are read with `for await`; the queue
 * between the socket and the reader is bounded (datagrams and bytes): when full, new datagrams are dropped and
 * counted, as UDP would. Replies go back with `send()`.
 */
import { ErrorCodes, SwitchyardError, type ErrorCode } from '../core/errors.js';
import type { FlowCloseReason, TrackedFlow, UdpRemote } from './udp-flow-table.js';

/** Bounds of a flow's receive queue. */
export interface UdpFlowQueueLimits {
  /** Most datagrams waiting to be read (default 64). */
  maxQueuedDatagrams: number;
  /** Most bytes waiting to be read (default 256 KiB, and never below one maxDatagramSize). */
  maxQueuedBytes: number;
}

/** What a flow asks of the listener that owns it. */
export interface UdpFlowHost {
  sendTo(flow: UdpFlow, datagram: Buffer): Promise<void>;
  closeFlow(flow: UdpFlow): void;
}

/** Internal entry points, used by the listener only (not re-exported). */
export const kDeliver: unique symbol = Symbol('udp-flow.deliver');
export const kEnd: unique symbol = Symbol('udp-flow.end');

/** The error a send on a closed flow rejects with: the code says why the flow is gone. */
export function flowClosedError(flow: UdpFlow): SwitchyardError {
  const reason = flow.closeReason;
  const code: ErrorCode =
    reason === 'evicted' ? ErrorCodes.FLOW_EVICTED : reason === 'idle' ? ErrorCodes.IDLE_TIMEOUT : ErrorCodes.SHUTDOWN;
  return new SwitchyardError(code, `udp flow ${flow.key} is closed (${reason ?? 'closed'})`, { details: { reason } });
}

export class UdpFlow implements TrackedFlow, AsyncIterable<Buffer> {
  readonly key: string;
  readonly remote: UdpRemote;
  /** Monotonic ms of the last datagram either way (maintained by the flow table). */
  lastActivity = 0;
  /** Datagrams received from the client and queued for the reader. */
  datagramsReceived = 0;
  bytesReceived = 0;
  /** Datagrams dropped because the receive queue was full. */
  datagramsDropped = 0;
  /** Datagrams sent to the client (send() resolved). */
  datagramsSent = 0;
  bytesSent = 0;

  readonly #host: UdpFlowHost;
  readonly #limits: UdpFlowQueueLimits;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #readers: Array<(result: IteratorResult<Buffer>) => void> = [];
  #reason: FlowCloseReason | undefined;
  readonly #closedPromise: Promise<FlowCloseReason>;
  #resolveClosed!: (reason: FlowCloseReason) => void;
  readonly #iterator: AsyncIterableIterator<Buffer>;

  constructor(host: UdpFlowHost, key: string, remote: UdpRemote, limits: UdpFlowQueueLimits) {
    this.#host = host;
    this.key = key;
    this.remote = remote;
    this.#limits = limits;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#iterator = {
      next: () => this.#next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** True once the flow has left its listener's table. */
  get closed(): boolean {
    return this.#reason !== undefined;
  }

  /** Why the flow closed (undefined while open). */
  get closeReason(): FlowCloseReason | undefined {
    return this.#reason;
  }

  /** Bytes queued for the reader now. */
  get queuedByteCount(): number {
    return this.#queuedBytes;
  }

  /** Resolves (never rejects) with the reason once the flow is closed. */
  whenClosed(): Promise<FlowCloseReason> {
    return this.#closedPromise;
  }

  /**
   * Send one datagram to this client (from the listener's address). Resolves once the kernel took it. Rejects
   * with SWY_FRAME_TOO_LARGE over maxDatagramSize, SWY_BUFFER_OVERFLOW when the socket's send queue is full,
   * the flow's close code when closed (SWY_FLOW_EVICTED, SWY_IDLE_TIMEOUT, SWY_SHUTDOWN), or a system error.
   * A send counts as activity.
   */
  send(datagram: Buffer): Promise<void> {
    return this.#host.sendTo(this, datagram);
  }

  /** Stop tracking this flow; the reader's loop ends after the datagrams already queued. Idempotent. */
  close(): void {
    if (this.#reason === undefined) this.#host.closeFlow(this);
  }

  /**
   * The datagrams received from this client, in order. One reader per flow (every call returns the same
   * iterator). Leaving a `for await` loop early (break/throw) closes the flow.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.#iterator;
  }

  /** @internal Queue a received datagram; false (and counted) when the queue is full or the flow closed. */
  [kDeliver](datagram: Buffer): boolean {
    if (this.#reason !== undefined) return false;
    const reader = this.#readers.shift();
    if (reader !== undefined) {
      this.datagramsReceived++;
      this.bytesReceived += datagram.length;
      reader({ value: datagram, done: false });
      return true;
    }
    if (this.#queue.length >= this.#limits.maxQueuedDatagrams || this.#queuedBytes + datagram.length > this.#limits.maxQueuedBytes) {
      this.datagramsDropped++;
      return false;
    }
    this.datagramsReceived++;
    this.bytesReceived += datagram.length;
    this.#queue.push(datagram);
    this.#queuedBytes += datagram.length;
    return true;
  }

  /** @internal Mark closed (called by the listener once the flow left the table); wakes waiting readers. */
  [kEnd](reason: FlowCloseReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    const readers = this.#readers;
    this.#readers = [];
    for (const reader of readers) reader({ value: undefined, done: true });
    this.#resolveClosed(reason);
  }

  #next(): Promise<IteratorResult<Buffer>> {
    const datagram = this.#queue.shift();
    if (datagram !== undefined) {
      this.#queuedBytes -= datagram.length;
      return Promise.resolve({ value: datagram, done: false });
    }
    if (this.#reason !== undefined) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#readers.push(resolve));
  }
}
