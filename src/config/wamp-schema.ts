/** The WAMP parts of the config: a `protocol: wamp` listener's options and a cluster's `wamp` block (docs/wamp.md). */
import { z } from 'zod';
import type { ProtocolRouting } from './catalogs.js';
import { sizeOption } from '../core/units.js';
import type { ListenerConfig, WampAuthConfig, WampClusterConfig, WampListenerOptions } from './types.js';
import { duration, field, int, invalid, oneOf, text } from './fields.js';

/** The protocol name of WAMP listeners: served by the WAMP proxy (WebSocket + RawSocket on one port), not by a codec on TCP. */
export const WAMP_PROTOCOL = 'wamp';

/** True for a `protocol: wamp` listener's config (served by the WAMP proxy, `wamp/listener.ts`). */
export function isWampListenerConfig(config: ListenerConfig | undefined): boolean {
  return config?.protocol?.type === WAMP_PROTOCOL;
}

/** The attributes a WAMP session is routed on, known once the proxy has authenticated the client. */
export const WAMP_ATTRIBUTES: readonly string[] = ['realm', 'authrole'];

/** Routes of a `protocol: wamp` listener match per session on `realm` and `authrole` (decided at join). */
export const WAMP_ROUTING: ProtocolRouting = { startupAttributes: WAMP_ATTRIBUTES };

const SERIALIZER = oneOf(['json', 'msgpack', 'cbor'] as const);
const serializerList = z.array(SERIALIZER).min(1);

const role = text('a role name');

const anonymousSchema = z.strictObject({
  type: z.literal('static').default('static'),
  role: role.default('anonymous'),
  authid: text('an authid').optional(),
});

const ticketSchema = z.union([
  z.strictObject({
    type: z.literal('static').default('static'),
    principals: z.record(z.string().min(1), z.strictObject({ ticket: text('a ticket'), role })),
  }),
  z.strictObject({ type: z.literal('dynamic'), authenticator: text('a module path exporting the authenticator function') }),
]);

const wampcraSchema = z.strictObject({
  type: z.literal('static').default('static'),
  users: z.record(
    z.string().min(1),
    z.strictObject({
      secret: text('a secret'),
      role,
      salt: text('a salt').optional(),
      iterations: int(1, 10_000_000).default(1000),
      keylen: int(1, 1024).default(32),
    }),
  ),
});

/** A listener's `auth` (absent: anonymous under the role the client asks for, as Crossbar's proxy). */
export const wampAuthSchema: z.ZodType<WampAuthConfig> = z.strictObject({
  anonymous: anonymousSchema.optional(),
  ticket: ticketSchema.optional(),
  wampcra: wampcraSchema.optional(),
});

const pathField = field('a path starting with "/"', (v) => (typeof v === 'string' && v.startsWith('/') && !/\s/.test(v) ? v : invalid('a path starting with "/"', v)));

/** Options of `protocol: {type: wamp, ...}`. */
export const wampListenerOptionsSchema: z.ZodType<WampListenerOptions> = z.strictObject({
  path: pathField.default('/ws'),
  serializers: serializerList.default(() => ['json', 'msgpack', 'cbor'] as Array<'json' | 'msgpack' | 'cbor'>),
  auth: wampAuthSchema.optional(),
  maxMessageSize: sizeOption(512, 16 * 1024 * 1024).default(1024 * 1024),
  idleTimeout: duration(0).default(0),
  helloTimeout: duration(1).default(10_000),
  highWaterMark: sizeOption(1024, 1024 * 1024 * 1024).default(1024 * 1024),
  lowWaterMark: sizeOption(0, 1024 * 1024 * 1024).default(256 * 1024),
});

export const WAMP_LISTENER_OPTION_KEYS = ['path', 'serializers', 'auth', 'maxMessageSize', 'idleTimeout', 'helloTimeout', 'highWaterMark', 'lowWaterMark'];

/** A cluster's `wamp` block. */
export const wampClusterSchema: z.ZodType<WampClusterConfig> = z
  .strictObject({
    transport: oneOf(['websocket', 'rawsocket'] as const).default('websocket'),
    path: pathField.default('/ws'),
    serializers: serializerList.default(() => ['json'] as Array<'json' | 'msgpack' | 'cbor'>),
    auth: z
      .strictObject({
        method: oneOf(['anonymous', 'ticket', 'wampcra'] as const).default('anonymous'),
        authid: text('an authid').default('switchyard'),
        ticket: text('a ticket').optional(),
        secret: text('a secret').optional(),
        authmethod: text('an authmethod name').optional(),
      })
      .prefault({}),
    joinTimeout: duration(1).default(5_000),
    maxMessageSize: sizeOption(512, 16 * 1024 * 1024).default(16 * 1024 * 1024),
  })
  .superRefine((c, ctx) => {
    if (c.auth.method === 'ticket' && c.auth.ticket === undefined) ctx.addIssue({ code: 'custom', message: 'auth method "ticket" needs a ticket', path: ['auth', 'ticket'] });
    if (c.auth.method === 'wampcra' && c.auth.secret === undefined) ctx.addIssue({ code: 'custom', message: 'auth method "wampcra" needs a secret', path: ['auth', 'secret'] });
  });
