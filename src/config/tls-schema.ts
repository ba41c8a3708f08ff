/** The `tls` keys: a listener's server TLS and a cluster's client TLS (`true`, `false` or options). */
import { z } from 'zod';
import type { ClientTlsConfig } from '../core/tls.js';
import { addIssue, bool, forwardIssues, isPlainObject, oneOf, strings, text } from './fields.js';
import { configErrorMap, describeValue } from './issues.js';

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/** `tls:` of a listener (TLS terminated by the proxy). */
export const serverTlsSchema = z.strictObject({
  cert: text('a PEM certificate file path'),
  key: text('a PEM private key file path'),
  sni: z
    .record(z.string(), z.strictObject({ cert: text('a PEM certificate file path'), key: text('a PEM private key file path') }))
    .default(() => ({})),
  ca: text('a PEM CA bundle file path').optional(),
  requestClientCert: bool().default(false),
  rejectUnauthorized: bool().default(true),
  minVersion: oneOf(TLS_VERSIONS).optional(),
  alpn: strings('a protocol name like "h2"'),
});

const clientTlsObject = z
  .strictObject({
    ca: text('a PEM CA bundle file path').optional(),
    servername: text('a server name').optional(),
    rejectUnauthorized: bool().default(true),
    cert: text('a PEM certificate file path').optional(),
    key: text('a PEM private key file path').optional(),
    minVersion: oneOf(TLS_VERSIONS).optional(),
    alpn: strings('a protocol name like "h2"'),
  })
  .superRefine((t, ctx) => {
    if (t.cert !== undefined && t.key === undefined) addIssue(ctx, 'missing (a client certificate needs its key)', ['key']);
    if (t.key !== undefined && t.cert === undefined) addIssue(ctx, 'missing (a client key needs its certificate)', ['cert']);
  });

/** `tls: true` = verify with defaults, `tls: false` = plain, or an object of options. */
export const clientTlsSchema: z.ZodType<ClientTlsConfig | undefined> = z.unknown().transform((v, ctx): ClientTlsConfig | undefined => {
  if (v === undefined || v === false) return undefined;
  const r = clientTlsObject.safeParse(v === true ? {} : v, { error: configErrorMap });
  if (r.success) return r.data;
  if (!isPlainObject(v)) {
    addIssue(ctx, `expected true, false or an object of TLS options, got ${describeValue(v)}`);
    return z.NEVER;
  }
  forwardIssues(ctx, r.error.issues);
  return z.NEVER;
});
