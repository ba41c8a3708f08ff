/**
 * The control-API sections: `admin` (the native admin API) and `toxiproxy` (the Toxiproxy-compatible API). Each
 * has where it listens, its bearer token (`token`, `tokenFile`, or an environment variable), the extra `Host` and
 * `Origin` values it accepts, and `insecure` — without which a non-loopback `listen` with no token is an issue
 * (docs/security.md).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseAddress } from '../core/address.js';
import { exposureProblem } from '../core/exposure.js';
import type { AdminConfig, ControlApiConfig } from './types.js';
import { address, addIssue, bool, field, invalid, messageOf, text } from './fields.js';

export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9901';
export const TOXIPROXY_DEFAULT_LISTEN = '127.0.0.1:8474';

const HOST_EXPECTED = 'a host name as clients send it in Host: "name", "name:port", "[v6]:port" or "*"';
const HOST_ENTRY = /^(\*|\[[0-9A-Fa-f:.]+\](:\d{1,5})?|[A-Za-z0-9_.-]+(:\d{1,5})?)$/;
const ORIGIN_EXPECTED = 'an origin like "https://ui.example.com" or "http://localhost:3000" (scheme://host[:port], no path), or "*"';

function hostEntry(): z.ZodType<string> {
  return field(HOST_EXPECTED, (v) => (typeof v === 'string' && HOST_ENTRY.test(v) ? v : invalid(HOST_EXPECTED, v)));
}

function originEntry(): z.ZodType<string> {
  return field(ORIGIN_EXPECTED, (v) => {
    if (typeof v !== 'string') return invalid(ORIGIN_EXPECTED, v);
    if (v === '*') return v;
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || url.origin === 'null' || url.origin !== v.replace(/\/$/, '').toLowerCase()) return invalid(ORIGIN_EXPECTED, v);
    return url.origin;
  });
}

/** Read a token file: the first line, surrounding whitespace removed. Throws a message naming the file. */
export function readTokenFile(path: string): string {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read token file ${JSON.stringify(path)}: ${messageOf(err)}`, { cause: err });
  }
  const token = (content.split(/\r?\n/)[0] ?? '').trim();
  if (token === '') throw new Error(`token file ${JSON.stringify(path)} is empty`);
  return token;
}

/** One control-API section: `section` names it in messages, `envVar` is its token's environment variable. */
function controlApiSchema(section: string, defaultListen: string, envVar: string, env: Record<string, string | undefined>): z.ZodType<ControlApiConfig> {
  return z
    .strictObject({
      listen: address('listen').default(() => parseAddress(defaultListen)),
      token: text('a token (omit the key for no token)').optional(),
      tokenFile: text('the path of a file holding the token').optional(),
      allowedHosts: z.array(hostEntry()).optional(),
      allowedOrigins: z.array(originEntry()).optional(),
      insecure: bool().optional(),
    })
    .transform((a, ctx): ControlApiConfig => {
      let token = a.token;
      if (a.tokenFile !== undefined) {
        if (a.token !== undefined) addIssue(ctx, `give ${section}.token or ${section}.tokenFile, not both`, ['tokenFile']);
        try {
          token = readTokenFile(a.tokenFile);
        } catch (err) {
          addIssue(ctx, messageOf(err), ['tokenFile']);
        }
      }
      const fromEnv = env[envVar];
      if (token === undefined && fromEnv !== undefined && fromEnv !== '') token = fromEnv;
      const fix = `Set ${section}.token or ${section}.tokenFile (or the environment variable ${envVar}), or ${section}.insecure: true to allow it`;
      // An unreadable tokenFile is its own issue; the exposure one would only repeat it.
      const problem = exposureProblem(a.listen, { token: token ?? a.tokenFile, insecure: a.insecure }, fix);
      if (problem !== undefined) addIssue(ctx, problem, ['listen']);
      const out: ControlApiConfig = { listen: a.listen };
      if (token !== undefined) out.token = token;
      if (a.allowedHosts !== undefined) out.allowedHosts = a.allowedHosts;
      if (a.allowedOrigins !== undefined) out.allowedOrigins = a.allowedOrigins;
      if (a.insecure !== undefined) out.insecure = a.insecure;
      return out;
    });
}

/** The `admin` key; the token may also come from SWITCHYARD_ADMIN_TOKEN. */
export function adminSchema(env: Record<string, string | undefined> = process.env): z.ZodType<AdminConfig> {
  return controlApiSchema('admin', ADMIN_DEFAULT_LISTEN, 'SWITCHYARD_ADMIN_TOKEN', env);
}

/** The `toxiproxy` key; the token may also come from SWITCHYARD_TOXIPROXY_TOKEN. */
export function toxiproxySchema(env: Record<string, string | undefined> = process.env): z.ZodType<ControlApiConfig> {
  return controlApiSchema('toxiproxy', TOXIPROXY_DEFAULT_LISTEN, 'SWITCHYARD_TOXIPROXY_TOKEN', env);
}
