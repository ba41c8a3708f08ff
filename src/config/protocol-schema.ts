/**
 * The `protocol` key of a listener: a protocol module's name, or `{type, ...options}` checked against the module's
 * own options schema from the ProtocolCatalog.
 */
import { z } from 'zod';
import type { ProtocolCatalog } from './catalogs.js';
import type { ProtocolSpec } from './types.js';
import { suggestionSuffix } from './did-you-mean.js';
import { configErrorMap, describeValue } from './issues.js';
import { addPluginIssue, isPlainObject } from './fields.js';
import { GRPC_PROTOCOL, grpcListenerOptionsSchema } from './grpc-schema.js';
import { WAMP_LISTENER_OPTION_KEYS, WAMP_PROTOCOL, wampListenerOptionsSchema } from './wamp-schema.js';

const PROTOCOL_FORMS = 'a protocol name like "http" or {type: "http", ...options}';

/** `protocol: http` or `{type: http, maxHeaderSize: 64KiB}`; `tcp` means raw bytes (no codec). */
export function protocolSchema(protocols: ProtocolCatalog): z.ZodType<ProtocolSpec | undefined> {
  return z.unknown().transform((v, ctx): ProtocolSpec | undefined => {
    let type: unknown = v;
    let options: Record<string, unknown> = {};
    if (isPlainObject(v)) {
      const { type: t, ...rest } = v;
      type = t;
      options = rest;
    }
    if (typeof type !== 'string') {
      addPluginIssue(ctx, `expected ${PROTOCOL_FORMS}, got ${describeValue(v)}`, isPlainObject(v) ? ['type'] : []);
      return z.NEVER;
    }
    if (type === 'tcp') {
      if (Object.keys(options).length > 0) addPluginIssue(ctx, 'protocol "tcp" takes no options', [Object.keys(options)[0]!]);
      return undefined;
    }
    if (type === GRPC_PROTOCOL) {
      // gRPC / HTTP/2 is served by its own listener (an HTTP/2 server), not by a codec on TCP.
      const r = grpcListenerOptionsSchema.safeParse(options, { error: configErrorMap });
      if (r.success) return { type, options: r.data };
      for (const i of r.error.issues) addPluginIssue(ctx, i.code === 'unrecognized_keys' ? `unknown option(s) ${i.keys.join(', ')} (known: authority)` : i.message, i.path.map((p) => (typeof p === 'number' ? p : String(p))));
      return z.NEVER;
    }
    if (type === WAMP_PROTOCOL) {
      // WAMP is served by the WAMP proxy (WebSocket + RawSocket on one port), not by a codec on TCP.
      const r = wampListenerOptionsSchema.safeParse(options, { error: configErrorMap });
      if (r.success) return { type, options: r.data as unknown as Record<string, unknown> };
      for (const i of r.error.issues) addPluginIssue(ctx, i.code === 'unrecognized_keys' ? `unknown option(s) ${i.keys.join(', ')} (known: ${WAMP_LISTENER_OPTION_KEYS.join(', ')})` : i.message, i.path.map((p) => (typeof p === 'number' ? p : String(p))));
      return z.NEVER;
    }
    const m = protocols.get(type);
    if (!m) {
      const known = ['tcp', GRPC_PROTOCOL, WAMP_PROTOCOL, ...protocols.names()];
      addPluginIssue(ctx, `unknown protocol "${type}"${suggestionSuffix(type, known)} (known: ${known.join(', ')})`, isPlainObject(v) ? ['type'] : []);
      return z.NEVER;
    }
    const r = m.optionsSchema.safeParse(options, { error: configErrorMap });
    if (!r.success) {
      for (const i of r.error.issues) {
        const unknownKeys = i.code === 'unrecognized_keys' ? i.keys : [];
        if (unknownKeys.length > 0) for (const k of unknownKeys) addPluginIssue(ctx, `unknown option${suggestionSuffix(k, Object.keys(optionKeys(m.optionsSchema)))}`, [k], 'unknown_key');
        else addPluginIssue(ctx, i.message, i.path.map((p) => (typeof p === 'number' ? p : String(p))));
      }
      return z.NEVER;
    }
    return { type, options: r.data as Record<string, unknown> };
  });
}

function optionKeys(schema: z.ZodType): Record<string, unknown> {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ?? {};
}
