import { ProtocolRegistry } from './registry.js';
import { httpProtocol } from './http/index.js';
import { mysqlProtocol } from './mysql/index.js';
import { redisProtocol } from './redis/index.js';
import { memcacheProtocol } from './memcache/index.js';
import { smtpProtocol } from './smtp/index.js';
import { postgresProtocol } from './postgres/index.js';

/** Register the built-in protocol modules. `tcp` (raw bytes, no codec) is not a module: it is the absence of one. */
export function registerBuiltinProtocols(registry: ProtocolRegistry): ProtocolRegistry {
  registry.register(httpProtocol);
  registry.register(mysqlProtocol);
  registry.register(redisProtocol);
  registry.register(memcacheProtocol);
  registry.register(smtpProtocol);
  registry.register(postgresProtocol);
  return registry;
}

export function createProtocolRegistry(): ProtocolRegistry {
  return registerBuiltinProtocols(new ProtocolRegistry());
}
