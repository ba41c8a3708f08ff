import type { Socket } from 'node:net';
import type tls from 'node:tls';
import type { ClusterConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { buildClientTlsOptions } from '../core/tls.js';
import { createPicker, type EndpointState, type Picker } from './balancer.js';
import { connectUpstream, describeAddress } from './connector.js';

/**
 * A cluster: endpoints + a balancer. Publishes an immutable picker (swapped whole on change). Hands out
 * connected upstream sockets; it never holds sockets itself beyond counting them.
 */
export class Cluster extends RuntimeBase<ClusterConfig> {
  readonly kind = 'cluster' as const;
  readonly endpoints: readonly EndpointState[];
  #picker: Picker;
  #tlsByHost = new Map<string, tls.ConnectionOptions>();

  constructor(config: ClusterConfig) {
    super(config);
    this.endpoints = config.endpoints.map((e) => ({ config: e, key: describeAddress(e.address), active: 0 }));
    this.#picker = createPicker(config.balancer, this.endpoints);
  }

  /** Validate what can only be checked at run time (TLS files) and start handing out connections. */
  start(): void {
    this.life.starting();
    try {
      const tlsCfg = this.config.tls;
      if (tlsCfg) {
        for (const e of this.endpoints) {
          const host = e.config.address.kind === 'tcp' ? e.config.address.host : 'localhost';
          if (!this.#tlsByHost.has(host)) this.#tlsByHost.set(host, buildClientTlsOptions(tlsCfg, host));
        }
      }
      this.life.started();
    } catch (err) {
      this.life.failed((err as { code?: string }).code ?? ErrorCodes.INTERNAL, (err as Error).message);
      throw err;
    }
  }

  stop(): void {
    this.life.stopping();
    this.life.stopped();
  }

  /** Next endpoint address (for transports that connect themselves, e.g. UDP flows). */
  pickAddress(): Address {
    const e = this.#pick();
    return e.config.address;
  }

  #pick(): EndpointState {
    if (this.life.state !== 'started') {
      throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `cluster '${this.id}' is ${this.life.state}`);
    }
    const e = this.#picker.pick();
    if (!e) throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `cluster '${this.id}' has no endpoints`);
    return e;
  }

  /** Connect to the next endpoint; tracks the endpoint's active connection count. */
  async connect(signal?: AbortSignal, hints?: { paused?: boolean | undefined }): Promise<Socket> {
    // Errors are counted by the caller (the session counts into listener, route and cluster stats alike).
    const e = this.#pick();
    const addr = e.config.address;
    const socket = await connectUpstream(addr, {
      connectTimeout: this.config.connectTimeout,
      socket: this.config.socket,
      tls: this.config.tls ? this.#tlsByHost.get(addr.kind === 'tcp' ? addr.host : 'localhost') : undefined,
      signal,
      paused: hints?.paused,
    });
    e.active++;
    socket.once('close', () => e.active--);
    return socket;
  }

  override toJSON(): Record<string, unknown> {
    return this.json({ endpoints: this.endpoints.map((e) => ({ address: e.key, weight: e.config.weight, active: e.active })) });
  }

}
