/**
 * The proxy's side toward a backend router: connect through the cluster (round robin over its eligible endpoints,
 * connect retries on the next one), open WebSocket or RawSocket, and join with the proxy's own credentials while
 * forwarding the client's principal in `authextra`.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { WampClusterConfig } from '../config/types.js';
import type { Cluster } from '../upstream/cluster.js';
import { RawSocketChannel, RAWSOCKET_ERRORS, WsChannel, lengthExponent, type WampChannel } from './channel.js';
import { ABORT, AUTHENTICATE, CHALLENGE, type Dict, HELLO, isDict, WELCOME } from './messages.js';
import { parseSubprotocol, SERIALIZERS, subprotocolIds } from './serializers.js';
import { wampcraKey, wampcraSign } from './auth.js';

/** The client roles the proxy announces toward a backend (it relays whatever the client does). */
export const CLIENT_ROLES: Dict = {
  caller: { features: { caller_identification: true, progressive_call_results: true, call_canceling: true, call_timeout: true, payload_passthru_mode: true } },
  callee: { features: { caller_identification: true, pattern_based_registration: true, shared_registration: true, progressive_call_results: true, call_canceling: true, call_timeout: true, payload_passthru_mode: true } },
  publisher: { features: { publisher_identification: true, subscriber_blackwhite_listing: true, publisher_exclusion: true, payload_passthru_mode: true } },
  subscriber: { features: { publisher_identification: true, pattern_based_subscription: true, payload_passthru_mode: true } },
};

export const DEFAULT_BACKEND: WampClusterConfig = {
  transport: 'websocket',
  path: '/ws',
  serializers: ['json'],
  auth: { method: 'anonymous', authid: 'switchyard' },
  joinTimeout: 5_000,
  maxMessageSize: 16 * 1024 * 1024,
};

export class BackendError extends Error {}

function endpointText(socket: Socket): string {
  return socket.remoteAddress === undefined ? 'unix' : `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Open a WAMP transport to the cluster's next endpoint. */
export async function openBackend(cluster: Cluster, signal?: AbortSignal): Promise<{ channel: WampChannel; endpoint: string }> {
  const cfg = cluster.config.wamp ?? DEFAULT_BACKEND;
  const socket = await cluster.connect(signal);
  const endpoint = endpointText(socket);
  try {
    if (cfg.transport === 'rawsocket') return { channel: await rawSocketHandshake(socket, cfg), endpoint };
    return { channel: await webSocketHandshake(socket, cfg, endpoint, cluster.config.tls !== undefined), endpoint };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function rawSocketHandshake(socket: Socket, cfg: WampClusterConfig): Promise<WampChannel> {
  const serializer = SERIALIZERS[cfg.serializers[0] ?? 'json'];
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new BackendError('RawSocket handshake timed out')), cfg.joinTimeout);
    const done = (err: Error | undefined, ch?: WampChannel) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(ch!);
    };
    const onClose = () => done(new BackendError('backend closed the connection during the RawSocket handshake'));
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      if (buf[0] !== 0x7f) return done(new BackendError('backend answered the RawSocket handshake with a bad magic octet'));
      const s = buf[1]! & 0x0f;
      if (s === 0) return done(new BackendError(`backend refused the RawSocket handshake: ${RAWSOCKET_ERRORS[buf[1]! >> 4] ?? `error ${buf[1]! >> 4}`}`));
      if (s !== serializer.rawSocketId) return done(new BackendError(`backend answered serializer ${s}, asked ${serializer.rawSocketId}`));
      const maxOut = 2 ** (9 + (buf[1]! >> 4));
      done(undefined, new RawSocketChannel(socket, serializer, { maxIn: cfg.maxMessageSize, maxOut }, buf.subarray(4)));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(Buffer.from([0x7f, (lengthExponent(cfg.maxMessageSize) << 4) | serializer.rawSocketId, 0, 0]));
  });
}

function webSocketHandshake(socket: Socket, cfg: WampClusterConfig, endpoint: string, tls: boolean): Promise<WampChannel> {
  const host = socket.remoteAddress === undefined ? 'localhost' : endpoint.includes(':') && socket.remoteFamily === 'IPv6' ? `[${socket.remoteAddress}]:${socket.remotePort}` : endpoint;
  const url = `${tls ? 'wss' : 'ws'}://${host}${cfg.path}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, subprotocolIds(cfg.serializers).filter((p) => !p.endsWith('.batched')), {
      createConnection: () => socket,
      maxPayload: cfg.maxMessageSize,
      handshakeTimeout: cfg.joinTimeout,
      perMessageDeflate: false,
    });
    ws.once('open', () => {
      const sub = parseSubprotocol(ws.protocol);
      if (!sub) {
        ws.terminate();
        reject(new BackendError(`backend chose no WAMP subprotocol (${JSON.stringify(ws.protocol)})`));
        return;
      }
      ws.removeAllListeners('error');
      resolve(new WsChannel(ws, sub, endpoint));
    });
    ws.once('error', (err) => reject(new BackendError(`WebSocket to ${url}: ${err.message}`)));
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new BackendError(`backend answered the WebSocket upgrade with HTTP ${res.statusCode}`));
    });
  });
}

export interface BackendJoin {
  realm: string;
  /** The client's principal, forwarded in authextra. */
  principal: { authid: string; authrole: string; authmethod: string; authprovider: string; authextra: Dict };
}

/** Join the backend; resolves with the WELCOME, rejects with the backend's ABORT or a timeout. */
export function joinBackend(channel: WampChannel, cfg: WampClusterConfig, join: BackendJoin): Promise<{ session: number; details: Dict }> {
  const auth = cfg.auth;
  const details: Dict = {
    roles: CLIENT_ROLES,
    agent: 'switchyard',
    authmethods: [auth.authmethod ?? auth.method],
    authid: auth.authid,
    authrole: join.principal.authrole,
    authextra: {
      proxy_realm: join.realm,
      proxy_authid: join.principal.authid,
      proxy_authrole: join.principal.authrole,
      proxy_authmethod: join.principal.authmethod,
      proxy_authprovider: join.principal.authprovider,
      proxy_authextra: join.principal.authextra,
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.destroy();
      reject(new BackendError(`backend did not answer HELLO within ${cfg.joinTimeout} ms`));
    }, cfg.joinTimeout);
    channel.on({
      message: (msg) => {
        if (!Array.isArray(msg)) return;
        const code: unknown = msg[0];
        if (code === WELCOME && typeof msg[1] === 'number') {
          clearTimeout(timer);
          resolve({ session: msg[1], details: isDict(msg[2]) ? msg[2] : {} });
        } else if (code === ABORT) {
          clearTimeout(timer);
          const d = isDict(msg[1]) ? msg[1] : {};
          reject(new BackendError(`backend ABORT ${String(msg[2])}${typeof d['message'] === 'string' ? `: ${d['message']}` : ''}`));
          channel.close();
        } else if (code === CHALLENGE) {
          const method = String(msg[1]);
          const extra = isDict(msg[2]) ? msg[2] : {};
          if (method === 'ticket' && auth.ticket !== undefined) channel.send([AUTHENTICATE, auth.ticket, {}]);
          else if (method === 'wampcra' && auth.secret !== undefined && typeof extra['challenge'] === 'string') {
            const key = wampcraKey(auth.secret, typeof extra['salt'] === 'string' ? extra['salt'] : undefined, Number(extra['iterations'] ?? 1000), Number(extra['keylen'] ?? 32));
            channel.send([AUTHENTICATE, wampcraSign(key, extra['challenge']), {}]);
          } else {
            clearTimeout(timer);
            channel.destroy();
            reject(new BackendError(`backend sent a ${method} challenge the cluster has no credentials for`));
          }
        }
      },
      invalid: (reason) => {
        clearTimeout(timer);
        reject(new BackendError(reason));
      },
      close: (reason) => {
        clearTimeout(timer);
        reject(new BackendError(`backend closed before WELCOME (${reason})`));
      },
    });
    channel.send([HELLO, join.realm, details]);
  });
}
