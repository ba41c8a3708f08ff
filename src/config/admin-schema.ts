/** The `admin` key: where the admin API listens and its bearer token (or SWITCHYARD_ADMIN_TOKEN). */
import { z } from 'zod';
import { parseAddress } from '../core/address.js';
import type { AdminConfig } from './types.js';
import { address, text } from './fields.js';

export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9901';

export function adminSchema(env: Record<string, string | undefined> = process.env): z.ZodType<AdminConfig> {
  return z
    .strictObject({
      listen: address('listen').default(() => parseAddress(ADMIN_DEFAULT_LISTEN)),
      token: text('a token (omit the key for no token)').optional(),
    })
    .transform((a): AdminConfig => {
      const fromEnv = env.SWITCHYARD_ADMIN_TOKEN;
      const token = a.token ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
      return token === undefined ? { listen: a.listen } : { listen: a.listen, token };
    });
}
