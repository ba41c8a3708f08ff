/**
 * memcache per-request routing hooks: which commands name no key (→ the fallback route), the keys of multi-key
 * retrievals (get/gets/gat/gats: all keys must reach one cluster), and `watch` and `quit`, which pin the connection.
 */
import type { Attributes, MessageInfo, ProtocolCodec, RequestRoutingHooks, RoutedRequestFacts } from '../protocol.js';
import type { MemcacheCodec } from './codec.js';

/** Commands that name a key (its first argument; gat/gats: the arguments after the expiry time). Others are keyless. */
export const MEMCACHE_KEYED: readonly string[] = [
  'get', 'gets', 'gat', 'gats', 'set', 'add', 'replace', 'append', 'prepend', 'cas', 'incr', 'decr', 'touch', 'delete',
  'mg', 'ms', 'md', 'ma',
];
const KEYED = new Set(MEMCACHE_KEYED);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);

const KEYLESS_FACTS: RoutedRequestFacts = { keyless: true };
const KEYLESS_PIN: RoutedRequestFacts = { keyless: true, pin: true };
const PLAIN: RoutedRequestFacts = {};

/** The words of a request's command line (the start frame begins with it). */
function commandWords(frame: Buffer): string[] {
  const lf = frame.indexOf(0x0a);
  return frame.toString('latin1', 0, lf < 0 ? frame.length : lf).trim().split(/[ \t]+/).filter((w) => w.length > 0);
}

export const memcacheRequestRouting: RequestRoutingHooks = {
  facts(_codec: ProtocolCodec, head: Buffer, info: MessageInfo): RoutedRequestFacts {
    const attrs = info.attributes;
    const cmd = attrs?.['command'];
    // watch streams log lines; quit makes the server close: both pin the connection to the fallback route's cluster
    // (the client connection then ends with that upstream connection)
    if (cmd === 'watch' || cmd === 'quit') return KEYLESS_PIN;
    if (typeof cmd !== 'string' || !KEYED.has(cmd) || attrs?.['key'] === undefined) return KEYLESS_FACTS;
    if (!RETRIEVAL.has(cmd) || attrs['keys'] === 1) return PLAIN;
    const words = commandWords(head);
    const keys = words.slice(cmd.startsWith('gat') ? 2 : 1);
    return keys.length > 1 ? { keys } : PLAIN;
  },

  forget(codec: ProtocolCodec, attributes: Attributes): void {
    (codec as MemcacheCodec).forget(attributes);
  },
};
