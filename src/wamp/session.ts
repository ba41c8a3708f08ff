/**
 * One frontend WAMP session: edge authentication, (realm, authrole) → route → backend router, one backend session
 * per frontend session, and the relay both ways as decoded messages (so serializers may differ per side).
 */
import { hostname } from 'node:os';
import type { Route } from '../routing/director.js';
import { ErrorCodes } from '../core/errors.js';
import type { Cluster } from '../upstream/cluster.js';
import type { WampListenerOptions } from '../config/types.js';
import type { EdgeAuth, PendingAuth, Principal, AuthOutcome } from './auth.js';
import { BackendError, DEFAULT_BACKEND, joinBackend, openBackend } from './backend.js';
import type { WampChannel } from './channel.js';
import { FlowGate } from './flow.js';
import {
  abort, ABORT, AUTHENTICATE, CALL, CHALLENGE, CLIENT_SESSION_MESSAGES, type Dict, ERROR, EVENT, globalId, GOODBYE, goodbye, HELLO, isDict, MESSAGE_NAMES, messageCode,
  PUBLISH, PUBLISHED, ROUTER_SESSION_MESSAGES, SUBSCRIBE, SUBSCRIBED, URI, WELCOME,
} from './messages.js';

/** The router roles announced to clients in the proxy-built WELCOME. */
export const ROUTER_ROLES: Dict = {
  broker: { features: { publisher_identification: true, pattern_based_subscription: true, subscriber_blackwhite_listing: true, publisher_exclusion: true, payload_passthru_mode: true } },
  dealer: { features: { caller_identification: true, pattern_based_registration: true, shared_registration: true, progressive_call_results: true, call_canceling: true, call_timeout: true, payload_passthru_mode: true } },
};

/** A backend the session may use: a route whose match holds and its cluster. */
export interface BackendChoice {
  route: Route;
  cluster: Cluster;
}

/** What a session asks of its listener. */
export interface SessionHost {
  readonly listenerId: string;
  readonly options: WampListenerOptions;
  readonly auth: EdgeAuth;
  /** Is the realm served by any route (whatever the role)? */
  hasRealm(realm: string): boolean;
  /** The backends for (realm, authrole) in round-robin order starting at the next one. */
  backends(realm: string, authrole: string): BackendChoice[];
  joined(session: FrontendSession): void;
  left(session: FrontendSession): void;
  /**
   * A request-scope fault of one of these types that fires for this message (drawn by toxicity), if any: the
   * listener's own faults and those of `route` (the route the session was routed by), not other routes'.
   */
  fault(stream: 'upstream' | 'downstream', types: readonly string[], attrs: Record<string, string>, route?: string): { type: string; options: Record<string, unknown> } | undefined;
}

type State = 'hello' | 'authenticating' | 'joining' | 'joined' | 'closed';

export class FrontendSession {
  /** Pending id until joined; then the backend session id (what the client sees in WELCOME). */
  id = globalId();
  state: State = 'hello';
  realm: string | undefined;
  principal: Principal | undefined;
  backend: { channel: WampChannel; endpoint: string; route: string; cluster: string } | undefined;
  readonly messages = { fromClient: 0, toClient: 0 };
  readonly since = new Date();
  #pending: PendingAuth | undefined;
  /** SUBSCRIBE request id → topic, then subscription id → topic (EVENTs carry only the subscription). */
  readonly #subscribing = new Map<unknown, string>();
  readonly #topics = new Map<unknown, string>();
  #helloTimer: NodeJS.Timeout | undefined;
  #helloDetails: Dict = {};
  /** Flow control once joined: backend → client (pauses the backend) and client → backend (pauses the client). */
  #toClient: FlowGate | undefined;
  #toBackend: FlowGate | undefined;
  readonly #client: WampChannel;
  readonly #host: SessionHost;

  constructor(client: WampChannel, host: SessionHost) {
    this.#client = client;
    this.#host = host;
    this.#helloTimer = setTimeout(() => this.#abort(URI.authenticationFailed, 'no HELLO in time'), host.options.helloTimeout);
    client.on({
      message: (msg, raw) => this.#fromClient(msg, raw),
      invalid: (reason) => this.#clientGone(`invalid message: ${reason}`),
      close: (reason) => this.#clientGone(reason),
    });
  }

  get client(): WampChannel {
    return this.#client;
  }

  #fromClient(msg: unknown, raw: Buffer): void {
    if (this.state === 'closed') return;
    const code = messageCode(msg);
    if (typeof code === 'string') return this.#protocolError(code);
    const m = msg as unknown[];
    this.messages.fromClient++;
    if (this.state !== 'joined') {
      if (code === HELLO && this.state === 'hello') return void this.#hello(m);
      if (code === AUTHENTICATE && this.state === 'authenticating') return void this.#authenticate(m);
      if (code === AUTHENTICATE) return this.#abort(URI.authenticationFailed, 'no pending authentication');
      if (code === ABORT) return this.#abort(URI.authenticationFailed, 'Proxy authentication failed');
      return this.#protocolError(`${MESSAGE_NAMES[code]} before the session joined (only HELLO, ABORT and AUTHENTICATE are accepted)`);
    }
    if (!CLIENT_SESSION_MESSAGES.has(code)) return this.#protocolError(`${MESSAGE_NAMES[code]} is not a message a client may send in a session`);
    const backend = this.backend!.channel;
    if (code === GOODBYE) {
      backend.send(m);
      this.#send(goodbye(URI.goodbyeAndOut));
      this.#close();
      return;
    }
    if ((code === CALL || code === PUBLISH) && this.#faulted(code, m, raw)) return;
    if (code === SUBSCRIBE && typeof m[3] === 'string') this.#subscribing.set(m[1], m[3]);
    backend.relay(m, raw, this.#client);
    this.#toBackend?.wrote();
  }

  /** Request-scope faults on a CALL (error, delay) or PUBLISH (drop, delay): true when the message was handled here. */
  #faulted(code: number, m: unknown[], raw: Buffer): boolean {
    const p = this.principal!;
    const name = typeof m[3] === 'string' ? m[3] : '';
    const attrs: Record<string, string> = code === CALL ? { procedure: name, realm: this.realm!, authrole: p.authrole } : { topic: name, realm: this.realm!, authrole: p.authrole };
    const f = this.#host.fault('upstream', code === CALL ? ['error', 'delay'] : ['drop', 'delay'], attrs, this.backend?.route);
    if (!f) return false;
    if (f.type === 'error') {
      const uri = typeof f.options['status'] === 'string' && f.options['status'] !== '' ? f.options['status'] : URI.runtimeError;
      this.#send([ERROR, CALL, m[1], {}, uri, [typeof f.options['message'] === 'string' ? f.options['message'] : 'error injected by switchyard']]);
      return true;
    }
    if (f.type === 'drop') {
      // The publication is lost; an acknowledged one is still acknowledged (as a broker that lost it would).
      if (isDict(m[2]) && m[2]['acknowledge'] === true) this.#send([PUBLISHED, m[1], globalId()]);
      return true;
    }
    const ms = Math.max(0, Number(f.options['sleep'] ?? 1) * 1000);
    setTimeout(() => {
      if (this.state !== 'joined') return;
      this.backend!.channel.relay(m, raw, this.#client);
      this.#toBackend?.wrote();
    }, ms);
    return true;
  }

  async #hello(m: unknown[]): Promise<void> {
    const realm = m[1];
    const details = m[2];
    if (typeof realm !== 'string' || realm === '' || !isDict(details)) return this.#protocolError('HELLO must be [1, Realm|uri, Details|dict]');
    this.realm = realm;
    this.#helloDetails = details;
    this.state = 'authenticating';
    const methods = Array.isArray(details['authmethods']) && details['authmethods'].length > 0 ? details['authmethods'].map(String) : ['anonymous'];
    const outcome = this.#host.auth.hello(methods, {
      realm,
      authid: typeof details['authid'] === 'string' ? details['authid'] : undefined,
      authrole: typeof details['authrole'] === 'string' ? details['authrole'] : undefined,
      authextra: isDict(details['authextra']) ? details['authextra'] : undefined,
      sessionId: this.id,
    });
    await this.#outcome(outcome);
  }

  async #authenticate(m: unknown[]): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending) return this.#abort(URI.authenticationFailed, 'no pending authentication');
    this.state = 'joining';
    await this.#outcome(await pending.authenticate(m[1], isDict(m[2]) ? m[2] : {}));
  }

  async #outcome(o: AuthOutcome): Promise<void> {
    if (this.state === 'closed') return;
    if (o.kind === 'deny') return this.#abort(o.reason, o.message);
    if (o.kind === 'challenge') {
      this.#pending = o.pending;
      this.state = 'authenticating';
      this.#send([CHALLENGE, o.method, o.extra]);
      return;
    }
    this.state = 'joining';
    await this.#accepted(o.principal);
  }

  /** Crossbar's `_assign_principal` checks, then map to a backend. */
  async #accepted(p: Principal): Promise<void> {
    const realm = this.realm!;
    this.principal = p;
    if (!this.#host.hasRealm(realm)) return this.#abort(URI.noSuchRealm, `no realm "${realm}" exists on this router`);
    const choices = this.#host.backends(realm, p.authrole);
    if (choices.length === 0) {
      if (p.authrole !== 'anonymous' && p.authrole !== 'trusted') return this.#abort(URI.noSuchRole, `realm "${realm}" has no role "${p.authrole}"`);
      return this.#abort(URI.authenticationFailed, `Frontend connection accept failed (missing (realm_name=${realm}, role_name=${p.authrole}) in routes)`);
    }
    const transport = { type: this.#client.transport, protocol: this.#client.protocolName, peer: this.#client.remote };
    const authextra: Dict = { ...(isDict(this.#helloDetails['authextra']) ? this.#helloDetails['authextra'] : {}), ...(p.authextra ?? {}), transport };
    const errors: string[] = [];
    // each route's cluster in turn; within a cluster, a backend that refuses the join (or cannot be reached) is
    // retried on the cluster's next endpoint (the balancer rotates), once per endpoint
    const attempts: BackendChoice[] = [];
    for (const choice of choices) for (let i = 0; i < Math.max(1, choice.cluster.endpoints.length); i++) attempts.push(choice);
    for (const choice of attempts) {
      if (this.state === 'closed') return;
      const cfg = choice.cluster.config.wamp ?? DEFAULT_BACKEND;
      let opened: Awaited<ReturnType<typeof openBackend>> | undefined;
      try {
        opened = await openBackend(choice.cluster);
        const w = await joinBackend(opened.channel, cfg, { realm, principal: { authid: p.authid, authrole: p.authrole, authmethod: p.authmethod, authprovider: p.authprovider, authextra } });
        if ((this.state as State) === 'closed') {
          opened.channel.send(goodbye(URI.closeNormal));
          opened.channel.close();
          return;
        }
        this.#joined(choice, opened.channel, opened.endpoint, w);
        return;
      } catch (err) {
        opened?.channel.destroy();
        choice.route.stats.error(ErrorCodes.UPSTREAM_ERROR);
        errors.push(`${choice.cluster.id}${opened !== undefined ? ` (${opened.endpoint})` : ""}: ${err instanceof BackendError || err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.#abort(URI.authenticationFailed, `Frontend connection accept failed (${errors.join('; ')})`);
  }

  #joined(choice: BackendChoice, channel: WampChannel, endpoint: string, w: { session: number; details: Dict }): void {
    clearTimeout(this.#helloTimer);
    const p = this.principal!;
    this.id = w.session;
    this.backend = { channel, endpoint, route: choice.route.id, cluster: choice.cluster.id };
    this.state = 'joined';
    choice.route.requests++;
    const d = w.details;
    const str = (k: string, dflt: string) => (typeof d[k] === 'string' ? (d[k]) : dflt);
    this.#send([
      WELCOME,
      w.session,
      {
        roles: ROUTER_ROLES,
        realm: str('realm', this.realm!),
        authid: str('authid', p.authid),
        authrole: str('authrole', p.authrole),
        authmethod: p.authmethod,
        authprovider: p.authprovider,
        authextra: {
          ...(isDict(d['authextra']) ? d['authextra'] : {}),
          x_cb_proxy_node: hostname(),
          x_cb_proxy_worker: this.#host.listenerId,
          x_cb_proxy_peer: this.#client.remote,
          x_cb_proxy_pid: process.pid,
        },
      },
    ]);
    const marks = { highWaterMark: this.#host.options.highWaterMark, lowWaterMark: this.#host.options.lowWaterMark };
    this.#toClient = new FlowGate(channel, this.#client, marks);
    this.#toBackend = new FlowGate(this.#client, channel, marks);
    channel.on({
      message: (msg, raw) => this.#fromBackend(msg, raw),
      invalid: (reason) => this.#backendGone(`backend sent an invalid message: ${reason}`),
      close: () => this.#backendGone('backend connection lost'),
    });
    this.#host.joined(this);
  }

  #fromBackend(msg: unknown, raw: Buffer): void {
    if (this.state !== 'joined') return;
    const code = messageCode(msg);
    if (typeof code === 'string' || (!ROUTER_SESSION_MESSAGES.has(code) && code !== ABORT)) {
      this.#backendGone(`backend sent ${typeof code === 'string' ? code : MESSAGE_NAMES[code]} in a session`);
      return;
    }
    const m = msg as unknown[];
    if (code === GOODBYE) {
      // The router ends the session: acknowledge toward it, tell the client.
      this.backend!.channel.send(goodbye(URI.goodbyeAndOut));
      this.#send(m);
      this.#close();
      return;
    }
    if (code === ABORT) {
      this.#send(m);
      this.#close();
      return;
    }
    if (code === SUBSCRIBED) {
      const topic = this.#subscribing.get(m[1]);
      this.#subscribing.delete(m[1]);
      if (topic !== undefined) this.#topics.set(m[2], topic);
    } else if (code === EVENT) {
      const d = isDict(m[3]) ? m[3] : {};
      const topic = typeof d['topic'] === 'string' ? d['topic'] : (this.#topics.get(m[1]) ?? '');
      const f = this.#host.fault('downstream', ['drop'], { topic, realm: this.realm!, authrole: this.principal!.authrole }, this.backend?.route);
      if (f) return;
    }
    this.messages.toClient++;
    this.#client.relay(m, raw, this.backend!.channel);
    this.#toClient?.wrote();
  }

  #send(m: unknown[]): void {
    this.messages.toClient++;
    this.#client.send(m);
  }

  #backendGone(why: string): void {
    if (this.state === 'closed') return;
    this.#send(goodbye(URI.systemShutdown, why));
    this.#close();
  }

  #clientGone(_why: string): void {
    if (this.state === 'closed') return;
    const b = this.backend;
    if (b && !b.channel.closed) b.channel.send(goodbye(URI.closeNormal, 'client connection lost'));
    this.#close();
  }

  #protocolError(text: string): void {
    if (this.state === 'joined') this.backend?.channel.send(goodbye(URI.closeNormal, 'client protocol violation'));
    this.#abort(URI.protocolViolation, text);
  }

  #abort(reason: string, message: string): void {
    if (this.state === 'closed') return;
    this.#send(abort(reason, message));
    this.#close();
  }

  /** End the session from the proxy (admin API): the client gets GOODBYE with this reason. */
  kill(reason = 'wamp.close.killed', message = 'session killed by the proxy'): void {
    if (this.state === 'closed') return;
    if (this.state === 'joined') {
      this.backend?.channel.send(goodbye(URI.closeNormal, 'session killed by the proxy'));
      this.#send(goodbye(reason, message));
      this.#close();
    } else this.#abort(reason, message);
  }

  #close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.#helloTimer);
    this.#toClient?.stop();
    this.#toBackend?.stop();
    this.#client.close();
    this.backend?.channel.close();
    this.#host.left(this);
  }

  toJSON(): Record<string, unknown> {
    const p = this.principal;
    return {
      id: this.id,
      listener: this.#host.listenerId,
      state: this.state,
      realm: this.realm ?? null,
      authid: p?.authid ?? null,
      authrole: p?.authrole ?? null,
      authmethod: p?.authmethod ?? null,
      transport: this.#client.transport,
      peer: this.#client.remote,
      route: this.backend?.route ?? null,
      cluster: this.backend?.cluster ?? null,
      backendEndpoint: this.backend?.endpoint ?? null,
      serializers: { frontend: this.#client.protocolName, backend: this.backend?.channel.protocolName ?? null },
      messages: { ...this.messages },
      flow: { toClient: this.#toClient?.toJSON() ?? null, toBackend: this.#toBackend?.toJSON() ?? null },
      since: this.since.toISOString(),
    };
  }
}
