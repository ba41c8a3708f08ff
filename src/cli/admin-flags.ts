import type { ParseArgsConfig } from 'node:util';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { exposureProblem } from '../core/exposure.js';
import { parseAddress } from '../core/address.js';
import { str, strs, type ParsedArgs } from './args.js';

/** The admin API flags every command that can serve it takes (proxy, nvariant): parse options. */
export const ADMIN_FLAGS = {
  admin: { type: 'string' },
  'admin-token': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'admin-allowed-host': { type: 'string', multiple: true },
  'admin-allowed-origin': { type: 'string', multiple: true },
  'admin-insecure': { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Their help lines (under "Options:"). */
export const ADMIN_FLAGS_USAGE = `      --admin-token TOKEN    require this bearer token on the admin API (visible to other local users in the
                             process list: prefer --admin-token-file or env SWITCHYARD_ADMIN_TOKEN)
      --admin-token-file F   read the admin API's bearer token from file F (its first line)
      --admin-allowed-host H accept Host H on the admin API besides its address (name or name:port; repeatable)
      --admin-allowed-origin O  accept browser requests from origin O, e.g. https://ui.example (repeatable)
      --admin-insecure       allow --admin on a non-loopback address without a token (docs/security.md)
`;

/** What startAll needs to name the flags in its errors. */
export const ADMIN_NAMES = {
  setting: '--admin',
  fix: 'Give --admin-token-file FILE (or the environment variable SWITCHYARD_ADMIN_TOKEN), or --admin-insecure to allow it',
} as const;

/**
 * The config's `admin:` block from the flags, or undefined without --admin. A non-loopback --admin without a token
 * refuses to start (exit 1), before anything binds.
 */
export function adminBlockFromFlags(values: ParsedArgs['values']): Record<string, unknown> | undefined {
  const listen = str(values['admin']);
  if (listen === undefined) return undefined;
  checkAdminExposure(listen, values);
  const hosts = strs(values['admin-allowed-host']);
  const origins = strs(values['admin-allowed-origin']);
  return {
    listen,
    ...(values['admin-token'] ? { token: values['admin-token'] } : {}),
    ...(values['admin-token-file'] ? { tokenFile: values['admin-token-file'] } : {}),
    ...(hosts.length > 0 ? { allowedHosts: hosts } : {}),
    ...(origins.length > 0 ? { allowedOrigins: origins } : {}),
    ...(values['admin-insecure'] ? { insecure: true } : {}),
  };
}

function checkAdminExposure(listen: string, values: ParsedArgs['values']): void {
  let address;
  try {
    address = parseAddress(listen);
  } catch {
    return; // a bad address is reported with the other options
  }
  const env = process.env['SWITCHYARD_ADMIN_TOKEN'];
  const token = str(values['admin-token']) ?? str(values['admin-token-file']) ?? (env === '' ? undefined : env);
  const problem = exposureProblem(address, { token, insecure: values['admin-insecure'] === true }, ADMIN_NAMES.fix);
  if (problem !== undefined) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `--admin: ${problem}`);
}

/** Config paths of the admin block → the flags they came from. */
export function adminCliPath(path: string): string {
  return path
    .replace(/^admin\.listen/, '--admin')
    .replace(/^admin\.tokenFile/, '--admin-token-file')
    .replace(/^admin\.token/, '--admin-token')
    .replace(/^admin\.allowedHosts/, '--admin-allowed-host')
    .replace(/^admin\.allowedOrigins/, '--admin-allowed-origin');
}
