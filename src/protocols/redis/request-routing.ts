/**
 * Redis per-command routing hooks: which commands name no key (→ the fallback route), the key positions of the
 * common multi-key commands (all keys must reach one cluster), which commands pin the connection, and which setup
 * commands are replayed on every upstream connection.
 */
import type { Attributes, MessageInfo, ProtocolCodec, RequestRoutingHooks, RoutedRequestFacts } from '../protocol.js';
import type { RedisCodec } from './codec.js';

/** Commands without a key: answered by the fallback route (`default: true`, else the first route). */
export const REDIS_KEYLESS: readonly string[] = [
  'PING', 'ECHO', 'INFO', 'TIME', 'DBSIZE', 'LASTSAVE', 'SAVE', 'BGSAVE', 'BGREWRITEAOF', 'FLUSHDB', 'FLUSHALL', 'KEYS',
  'SCAN', 'RANDOMKEY', 'CONFIG', 'CLIENT', 'COMMAND', 'HELLO', 'AUTH', 'SELECT', 'READONLY', 'READWRITE', 'QUIT', 'RESET',
  'MULTI', 'EXEC', 'DISCARD', 'UNWATCH', 'MONITOR', 'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE',
  'SUNSUBSCRIBE', 'PUBLISH', 'SPUBLISH', 'PUBSUB', 'SCRIPT', 'FUNCTION', 'SLOWLOG', 'LATENCY', 'MEMORY', 'DEBUG', 'ACL',
  'SWAPDB', 'WAIT', 'WAITAOF', 'ROLE', 'LOLWUT', 'SHUTDOWN', 'CLUSTER', 'MODULE', 'REPLICAOF', 'SLAVEOF', 'FAILOVER',
];
const KEYLESS = new Set(REDIS_KEYLESS);

/** How a command's keys sit among its arguments (argument 1 is the first after the command name). */
type KeySpec = 'all' | 'pairs' | 'allButLast' | 'two' | 'numkeys1' | 'numkeys2' | 'dest+numkeys' | 'streams';

/** Multi-key commands whose keys are checked (documented in docs/routing.md). Other commands route by their first argument. */
export const REDIS_KEY_SPECS: Readonly<Record<string, KeySpec>> = {
  DEL: 'all', UNLINK: 'all', EXISTS: 'all', TOUCH: 'all', MGET: 'all', WATCH: 'all', SUNION: 'all', SINTER: 'all',
  SDIFF: 'all', SUNIONSTORE: 'all', SINTERSTORE: 'all', SDIFFSTORE: 'all', PFCOUNT: 'all', PFMERGE: 'all',
  MSET: 'pairs', MSETNX: 'pairs',
  BLPOP: 'allButLast', BRPOP: 'allButLast', BZPOPMIN: 'allButLast', BZPOPMAX: 'allButLast',
  RENAME: 'two', RENAMENX: 'two', COPY: 'two', SMOVE: 'two', LMOVE: 'two', RPOPLPUSH: 'two', BLMOVE: 'two', BRPOPLPUSH: 'two', LCS: 'two',
  SINTERCARD: 'numkeys1', ZUNION: 'numkeys1', ZINTER: 'numkeys1', ZDIFF: 'numkeys1', ZINTERCARD: 'numkeys1', LMPOP: 'numkeys1', ZMPOP: 'numkeys1',
  EVAL: 'numkeys2', EVALSHA: 'numkeys2', EVAL_RO: 'numkeys2', EVALSHA_RO: 'numkeys2', FCALL: 'numkeys2', FCALL_RO: 'numkeys2', BLMPOP: 'numkeys2', BZMPOP: 'numkeys2',
  ZUNIONSTORE: 'dest+numkeys', ZINTERSTORE: 'dest+numkeys', ZDIFFSTORE: 'dest+numkeys',
  XREAD: 'streams', XREADGROUP: 'streams',
};

/** Commands that pin the client connection to one upstream connection for the rest of the connection. */
export const REDIS_PINNING: readonly string[] = [
  'MULTI', 'WATCH', 'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'MONITOR', 'BLPOP', 'BRPOP', 'BLMOVE', 'BRPOPLPUSH', 'BZPOPMIN',
  'BZPOPMAX', 'BLMPOP', 'BZMPOP', 'WAIT', 'WAITAOF', 'XREAD … BLOCK', 'XREADGROUP … BLOCK',
];
const PINNING = new Set(REDIS_PINNING.filter((c) => !c.includes(' ')));

const KEYLESS_FACTS: RoutedRequestFacts = { keyless: true };
const KEYLESS_PIN: RoutedRequestFacts = { keyless: true, pin: true };
const KEYLESS_REPLAY: RoutedRequestFacts = { keyless: true, replay: true };
const PLAIN: RoutedRequestFacts = {};
const PIN: RoutedRequestFacts = { pin: true };

/** The arguments (command name first) in a request's start frame; a large command's later arguments may be missing. */
export function requestArgs(frame: Buffer): string[] {
  const args: string[] = [];
  if (frame[0] !== 0x2a) {
    const lf = frame.indexOf(0x0a);
    return frame.toString('latin1', 0, lf < 0 ? frame.length : lf).trim().split(/[ \t]+/).filter((w) => w.length > 0);
  }
  let lf = frame.indexOf(0x0a);
  const n = Number(frame.toString('latin1', 1, lf - 1));
  let pos = lf + 1;
  for (let i = 0; i < n && pos < frame.length; i++) {
    lf = frame.indexOf(0x0a, pos);
    if (lf < 0) break;
    const len = Number(frame.toString('latin1', pos + 1, lf - 1));
    const start = lf + 1;
    if (start + len > frame.length) break;
    args.push(frame.toString('latin1', start, start + len));
    pos = start + len + 2;
  }
  return args;
}

function keysOf(spec: KeySpec, args: readonly string[]): string[] {
  const rest = args.slice(1);
  switch (spec) {
    case 'all':
      return rest;
    case 'pairs':
      return rest.filter((_, i) => i % 2 === 0);
    case 'allButLast':
      return rest.slice(0, -1);
    case 'two':
      return rest.slice(0, 2);
    case 'numkeys1':
      return rest.slice(1, 1 + (Number(rest[0]) || 0));
    case 'numkeys2':
      return rest.slice(2, 2 + (Number(rest[1]) || 0));
    case 'dest+numkeys':
      return [rest[0] ?? '', ...rest.slice(2, 2 + (Number(rest[1]) || 0))];
    case 'streams': {
      const at = rest.findIndex((a) => a.toUpperCase() === 'STREAMS');
      if (at < 0) return [];
      const names = rest.slice(at + 1);
      return names.slice(0, Math.floor(names.length / 2));
    }
  }
}

export const redisRequestRouting: RequestRoutingHooks = {
  facts(_codec: ProtocolCodec, head: Buffer, info: MessageInfo): RoutedRequestFacts {
    const attrs = info.attributes;
    const cmd = attrs?.['command'];
    if (typeof cmd !== 'string') return KEYLESS_FACTS;
    if (info.setup === true) return cmd === 'INFO' ? KEYLESS_FACTS : KEYLESS_REPLAY;
    if (KEYLESS.has(cmd) || attrs?.['key'] === undefined) return PINNING.has(cmd) ? KEYLESS_PIN : KEYLESS_FACTS;
    const spec = REDIS_KEY_SPECS[cmd];
    if (spec === undefined) return PINNING.has(cmd) ? PIN : PLAIN;
    const args = requestArgs(head);
    const keys = keysOf(spec, args);
    let pin = PINNING.has(cmd);
    if (spec === 'streams') pin = args.some((a) => a.toUpperCase() === 'BLOCK');
    if (keys.length === 0) return pin ? KEYLESS_PIN : KEYLESS_FACTS;
    if (keys.length === 1 && keys[0] === attrs['key']) return pin ? PIN : PLAIN;
    return { keys, pin };
  },

  forget(codec: ProtocolCodec, attributes: Attributes): void {
    (codec as RedisCodec).forget(attributes);
  },
};
