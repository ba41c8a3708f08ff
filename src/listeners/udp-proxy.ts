/**
 * UdpProxy: a UdpListener whose flows are each forwarded to an upstream through their own UDP socket,
 * `connect()`ed to the upstream picked when the flow was created. A connected socket only receives that
 * upstream's datagrams, and each socket belongs to one client, so replies can never cross between clients.
 * The flow table bounds and expires the flows; closing a flow closes its upstream socket.
 */
import dgram from 'node:dgram';
import type { UdpOptions } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, errorCode, upstreamConnectError } from '../core/errors.js';
import type { TrafficStats } from '../core/stats.js';
import type { UdpFlow, UdpFlowQueueLimits } from './udp-flow.js';
import type { FlowCloseReason, UdpFlowStats, UdpRemote } from './udp-flow-table.js';
import { UdpListener, type UdpBoundAddress } from './udp-flow-listener.js';
import { applyBufferSizes, closeSocket, flowBufferSize, literalUdpEndpoint, resolveUdpEndpoint, type UdpEndpoint } from './udp-socket.js';

/** The subset of a pino logger the proxy uses. */
export interface UdpProxyLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface UdpProxyOptions {
  id: string;
  listen: Address;
  udp: UdpOptions;
  /**
   * Called once per new flow; the flow keeps that upstream for its whole life (balancing lives in the caller).
   * May return extra stats (route, cluster) that this flow's traffic is counted into as well. A throw closes the
   * flow and counts its SWY_* code, else SWY_NO_UPSTREAM.
   */
  pickUpstream: () => Address | UdpUpstreamChoice;
  /** Counted into: active/total = flows, bytes and datagrams (as frames) each way, errors by code. */
  stats: TrafficStats;
  logger?: UdpProxyLogger | undefined;
  /** Called with the code of every error counted into `stats`. Must not throw. */
  onError?: ((code: string) => void) | undefined;
  /** A flow was created and its upstream picked. */
  onFlowOpen?: ((event: { remote: UdpRemote; upstream: Address }) => void) | undefined;
  /** A flow left the table (idle, evicted, closed, shutdown) and its upstream socket is closing. */
  onFlowClose?: ((event: { remote: UdpRemote; reason: FlowCloseReason }) => void) | undefined;
  /** Per-flow receive queue bounds (client datagrams waiting for the upstream socket to connect). */
  queue?: Partial<UdpFlowQueueLimits> | undefined;
  /** Most datagrams waiting in one socket's send queue; beyond it datagrams are dropped (SWY_BUFFER_OVERFLOW). */
  maxPendingSends?: number | undefined;
}

/** An upstream plus extra stats to count the flow into (besides the proxy's own). */
export interface UdpUpstreamChoice {
  address: Address;
  stats?: readonly TrafficStats[] | undefined;
}

const DEFAULT_MAX_PENDING_SENDS = 1024;

/** One flow's upstream side: its connected socket and the pump from the flow to it. */
class UpstreamLink {
  readonly #proxy: UdpProxy;
  readonly #ctx: ProxyContext;
  #socket: dgram.Socket | undefined;
  #closed = false;

  constructor(
    proxy: UdpProxy,
    ctx: ProxyContext,
    readonly flow: UdpFlow,
    readonly target: Address,
    /** Every stats object this flow counts into (the proxy's first). */
    readonly stats: readonly TrafficStats[],
  ) {
    this.#proxy = proxy;
    this.#ctx = ctx;
  }

  start(): void {
    let endpoint: UdpEndpoint | undefined;
    try {
      endpoint = literalUdpEndpoint(this.target, `udp proxy ${this.#proxy.id} upstream`);
    } catch (err) {
      this.#fail(err, errorCode(err));
      return;
    }
    if (endpoint !== undefined) {
      this.#open(endpoint);
      return;
    }
    resolveUdpEndpoint(this.target, `udp proxy ${this.#proxy.id} upstream`).then(
      (resolved) => this.#open(resolved),
      (err: unknown) => this.#fail(err, upstreamConnectError(err as NodeJS.ErrnoException, this.#targetName()).code),
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#socket !== undefined) this.#ctx.track(closeSocket(this.#socket));
  }

  #open(endpoint: UdpEndpoint): void {
    if (this.#closed || this.flow.closed) return;
    const socket = dgram.createSocket({ type: endpoint.type });
    this.#socket = socket;
    socket.on('error', (err) => this.#onSocketError(err));
    socket.on('message', (msg) => this.#onReply(msg));
    socket.connect(endpoint.port, endpoint.host, (err?: Error) => {
      if (this.#closed) return;
      if (err) {
        this.#fail(err, upstreamConnectError(err, this.#targetName()).code);
        return;
      }
      applyBufferSizes(socket, flowBufferSize(this.#ctx.maxDatagramSize));
      this.#pump(socket).catch((pumpErr: unknown) => this.#fail(pumpErr, errorCode(pumpErr)));
    });
  }

  /** Forward the flow's datagrams (queued while connecting, then as they come) until the flow closes. */
  async #pump(socket: dgram.Socket): Promise<void> {
    for await (const datagram of this.flow) {
      if (this.#closed) return;
      this.#forward(socket, datagram);
    }
  }

  #forward(socket: dgram.Socket, datagram: Buffer): void {
    if (socket.getSendQueueCount() >= this.#ctx.maxPendingSends) {
      this.#ctx.error(this.stats, ErrorCodes.BUFFER_OVERFLOW, { remote: this.flow.remote }, 'udp upstream send queue full, datagram dropped');
      return;
    }
    try {
      socket.send(datagram, (err) => {
        if (err) {
          this.#onSocketError(err);
          return;
        }
        for (const s of this.stats) {
          s.bytesToUpstream += datagram.length;
          s.framesToUpstream++;
        }
      });
    } catch (err) {
      this.#onSocketError(err);
    }
  }

  #onReply(msg: Buffer): void {
    if (this.#closed) return;
    // flow.send() checks maxDatagramSize and counts SWY_FRAME_TOO_LARGE / SWY_BUFFER_OVERFLOW itself.
    this.flow.send(msg).then(
      () => {
        for (const s of this.stats) {
          s.bytesToDownstream += msg.length;
          s.framesToDownstream++;
        }
      },
      (err: unknown) => this.#ctx.logger?.debug({ proxy: this.#proxy.id, remote: this.flow.remote, code: errorCode(err) }, 'udp reply not delivered'),
    );
  }

  /** Errors of the connected socket (ECONNREFUSED from an ICMP port unreachable, ...): counted, flow kept. */
  #onSocketError(err: unknown): void {
    if (this.#closed) return;
    const code = upstreamConnectError(err as NodeJS.ErrnoException, this.#targetName()).code;
    this.#ctx.error(this.stats, code, { remote: this.flow.remote, upstream: this.#targetName(), syscode: errorCode(err) }, 'udp upstream error');
  }

  /** A failure that leaves the flow without an upstream: count it and close the flow. */
  #fail(err: unknown, code: string): void {
    if (this.#closed) return;
    this.#ctx.error(this.stats, code, { remote: this.flow.remote, upstream: this.#targetName(), err: String(err) }, 'udp upstream failed, closing flow');
    this.flow.close();
  }

  #targetName(): string {
    return this.target.kind === 'tcp' ? `${this.target.host}:${this.target.port}` : this.target.path;
  }
}

/** What links share with their proxy. */
interface ProxyContext {
  readonly logger: UdpProxyLogger | undefined;
  readonly maxDatagramSize: number;
  readonly maxPendingSends: number;
  /** Count an error into each stats, log it (debug unless told), tell onError. */
  error(stats: readonly TrafficStats[], code: string, obj: object, msg: string, level?: 'warn' | 'debug'): void;
  track(closing: Promise<void>): void;
}

export class UdpProxy {
  readonly id: string;
  readonly stats: TrafficStats;
  #listener!: UdpListener;
  readonly #options: UdpProxyOptions;
  readonly #links = new Map<UdpFlow, UpstreamLink>();
  readonly #closingSockets = new Set<Promise<void>>();
  readonly #ctx: ProxyContext;
  #closing: Promise<void> | undefined;

  /** Bind the listening socket and start proxying. Rejects with SWY_CONFIG_INVALID or SWY_LISTEN_FAILED. */
  static async start(options: UdpProxyOptions): Promise<UdpProxy> {
    const proxy = new UdpProxy(options);
    proxy.#listener = await UdpListener.bind({
      listen: options.listen,
      udp: options.udp,
      queue: options.queue,
      maxPendingSends: options.maxPendingSends,
      onFlow: (flow) => proxy.#onFlow(flow),
      onFlowClose: (flow, reason) => proxy.#onFlowClose(flow, reason),
      onError: (code, flow) => {
        const stats = (flow && proxy.#links.get(flow)?.stats) ?? [proxy.stats];
        // Datagram drops are per-datagram events (debug); anything else hit the socket itself (warn).
        const drop = code === ErrorCodes.FRAME_TOO_LARGE || code === ErrorCodes.BUFFER_OVERFLOW || flow !== undefined;
        proxy.#ctx.error(stats, code, { remote: flow?.remote }, 'udp datagram dropped or failed', drop ? 'debug' : 'warn');
      },
    });
    options.logger?.debug({ proxy: options.id, address: proxy.#listener.address() }, 'udp proxy listening');
    return proxy;
  }

  /** Use {@link UdpProxy.start}, which binds the listening socket. */
  constructor(options: UdpProxyOptions) {
    this.id = options.id;
    this.stats = options.stats;
    this.#options = options;
    const { logger, onError } = options;
    const id = options.id;
    const closingSockets = this.#closingSockets;
    this.#ctx = {
      logger,
      maxDatagramSize: options.udp.maxDatagramSize,
      maxPendingSends: Math.max(1, options.maxPendingSends ?? DEFAULT_MAX_PENDING_SENDS),
      error(list: readonly TrafficStats[], code: string, obj: object, msg: string, level: 'warn' | 'debug' = 'debug'): void {
        for (const s of list) s.error(code);
        logger?.[level]({ proxy: id, code, ...obj }, msg);
        onError?.(code);
      },
      track(closing: Promise<void>): void {
        closingSockets.add(closing);
        void closing.then(() => closingSockets.delete(closing));
      },
    };
  }

  /** The bound listening address (the real port when bound to port 0). */
  address(): UdpBoundAddress {
    return this.#listener.address();
  }

  /** Flow-table counters: flowsActive, flowsTotal, flowsExpired, flowsEvicted. */
  flowStats(): UdpFlowStats {
    return this.#listener.flowStats();
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Close every flow's upstream socket and the listening socket. Idempotent; `stats` stays readable. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        await this.#listener.close(); // closes every flow → onFlowClose → each upstream socket starts closing
        await Promise.all([...this.#closingSockets]);
        this.#options.logger?.debug({ proxy: this.id, stats: this.stats.toJSON() }, 'udp proxy closed');
      })();
    }
    return this.#closing;
  }

  #onFlow(flow: UdpFlow): void {
    this.stats.active++;
    this.stats.total++;
    let choice: Address | UdpUpstreamChoice;
    try {
      choice = this.#options.pickUpstream();
    } catch (err) {
      const sys = errorCode(err);
      const code = sys.startsWith('SWY_') && sys !== ErrorCodes.INTERNAL ? sys : ErrorCodes.NO_UPSTREAM;
      this.#ctx.error([this.stats], code, { remote: flow.remote, err: String(err) }, 'udp proxy: no upstream for flow');
      flow.close();
      return;
    }
    const target = 'address' in choice ? choice.address : choice;
    const extra = 'address' in choice ? (choice.stats ?? []) : [];
    for (const s of extra) {
      s.active++;
      s.total++;
    }
    const link = new UpstreamLink(this, this.#ctx, flow, target, [this.stats, ...extra]);
    this.#links.set(flow, link);
    this.#options.logger?.debug({ proxy: this.id, remote: flow.remote, upstream: target }, 'udp flow opened');
    this.#options.onFlowOpen?.({ remote: flow.remote, upstream: target });
    link.start();
  }

  #onFlowClose(flow: UdpFlow, reason: FlowCloseReason): void {
    const link = this.#links.get(flow);
    const stats = link?.stats ?? [this.stats];
    for (const s of stats) s.active--;
    if (reason === 'evicted') this.#ctx.error(stats, ErrorCodes.FLOW_EVICTED, { remote: flow.remote }, 'udp flow evicted (maxFlows)');
    if (link !== undefined) {
      this.#links.delete(flow);
      link.close();
    }
    this.#options.logger?.debug({ proxy: this.id, remote: flow.remote, reason }, 'udp flow closed');
    this.#options.onFlowClose?.({ remote: flow.remote, reason });
  }
}
