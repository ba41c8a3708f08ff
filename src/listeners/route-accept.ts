/**
 * Choosing a route for an accepted connection when its listener's routes match (docs/routing.md "Scopes"): the
 * connection attributes (sni, alpn, sourceAddress, destinationPort), the startup read before a route is chosen
 * (PostgreSQL), and the protocol's own answer when no route matches. listeners/tcp.ts calls these from #accept.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AttributeValue, Attributes, ProtocolCodecFactory, StartupReader } from '../protocols/protocol.js';
import { answerAndClose, refusalReply, refuseBeforeUpstream } from '../session/refusal.js';
import type { ListenerRouting } from '../routing/director.js';
import type { Cluster } from '../upstream/cluster.js';

/** The connection attributes of an accepted socket (TLS: after its handshake); Unix sockets have none but sni/alpn. */
export function connectionAttributes(socket: Socket): Attributes {
  const out: Record<string, AttributeValue> = {};
  if (socket.remoteAddress !== undefined) out['sourceAddress'] = socket.remoteAddress;
  if (socket.localPort !== undefined) out['destinationPort'] = socket.localPort;
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.servername === 'string' && tls.servername !== '') out['sni'] = tls.servername.toLowerCase();
  if (typeof tls.alpnProtocol === 'string' && tls.alpnProtocol !== '') out['alpn'] = tls.alpnProtocol;
  return out;
}

/** What a connection no route matched tells its client, and where it is counted. */
export interface NoRouteContext {
  readonly listenerId: string;
  /** The listener's protocol (undefined: raw TCP, which is closed without an answer). */
  readonly codec: ProtocolCodecFactory | undefined;
  /** How long to wait for the client's first request to answer it (HTTP's reply matches the request). */
  readonly waitMs: number;
}

/**
 * Refuse a connection no route matches: the protocol's answer to its first request (HTTP 404 JSON naming the
 * listener, RESP `-ERR no route ...`, ...), then close; raw TCP is just closed (FIN). `replay`: bytes already read
 * (a startup), answered as the first request.
 */
export function refuseNoRoute(socket: Socket, ctx: NoRouteContext, message: string, replay?: Buffer, request?: Attributes): void {
  socket.on('error', () => undefined);
  if (ctx.codec === undefined) {
    answerAndClose(socket, []);
    return;
  }
  const codec = ctx.codec.create();
  if (replay === undefined) {
    refuseBeforeUpstream(socket, codec, 'no_route', message, ctx.waitMs, () => undefined, ctx.listenerId);
    return;
  }
  // The startup was read already: let the codec see it (its state picks the reply's form), then answer it.
  try {
    codec.toUpstream.push(replay);
    while (codec.toUpstream.next() !== null);
  } catch {
    // a reply without the codec's view of the startup is still the protocol's error
  }
  answerAndClose(socket, refusalReply(codec, 'no_route', message, request, ctx.listenerId)?.frames ?? []);
}

/** The outcome of reading a startup (see {@link readStartup}). */
export type StartupOutcome =
  | { readonly kind: 'ready'; readonly attributes: Attributes; readonly replay: Buffer }
  | { readonly kind: 'broadcast'; readonly replay: Buffer }
  | { readonly kind: 'malformed'; readonly message: string }
  | { readonly kind: 'refuse'; readonly message: string; readonly reply: readonly Buffer[] }
  | { readonly kind: 'closed' }
  | { readonly kind: 'timeout' };

/**
 * Read the client's startup with the protocol's reader (answering what it answers, e.g. 'N' to an SSLRequest),
 * then pause the socket and call `done` once. The socket must be paused (pauseOnConnect); it is paused again after.
 */
export function readStartup(socket: Socket, reader: StartupReader, timeoutMs: number, done: (outcome: StartupOutcome) => void): void {
  let finished = false;
  const onError = (): void => finish({ kind: 'closed' });
  const onData = (chunk: Buffer): void => {
    let step;
    try {
      step = reader.push(chunk);
    } catch (err) {
      finish({ kind: 'malformed', message: (err as Error).message });
      return;
    }
    if (step.kind === 'more') {
      for (const b of step.reply ?? []) socket.write(b);
      return;
    }
    finish(step);
  };
  const onEnd = (): void => finish({ kind: 'closed' });
  const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
  timer.unref();
  function finish(outcome: StartupOutcome): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onEnd);
    socket.pause();
    // The session adds its own error handler; until then an error is the end of this attempt.
    if (outcome.kind !== 'closed') socket.removeListener('error', onError);
    done(outcome);
  }
  socket.on('error', onError);
  const greeting = reader.greeting?.();
  if (greeting !== undefined) socket.write(greeting);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  socket.resume();
}

/**
 * Send `bytes` to one connection of every cluster of the listener's routes and close those connections
 * (PostgreSQL CancelRequest: only the server holding the named backend acts on it). Failures are ignored: a cancel
 * is best effort in PostgreSQL too.
 */
export function broadcast(routing: ListenerRouting, bytes: Buffer): void {
  const clusters = new Set<Cluster>();
  for (const c of routing.choices) if (c.cluster) clusters.add(c.cluster);
  for (const cluster of clusters) {
    cluster.connect().then(
      (up) => {
        up.on('error', () => undefined);
        up.end(bytes);
      },
      () => undefined,
    );
  }
}
