/**
 * What the codec fuzzer drives: every built-in framer (src/framing/builtins) in configurations whose re-encoding is
 * wire-exact, and every built-in protocol module (src/protocols/builtins) with small limits (so limits are reached)
 * and with its defaults. `held` is the most bytes a direction may still hold once `next()` returned null, not
 * counting the last chunk pushed: the largest frame the options allow plus its framing overhead.
 */
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { createProtocolRegistry } from '../../src/protocols/builtins.js';
import type { Framer } from '../../src/framing/framer.js';
import type { ProtocolCodec } from '../../src/protocols/protocol.js';

export interface Driven {
  /** Client → server framer (a generic framer drives both directions with two instances). */
  readonly c: Framer;
  readonly s: Framer;
  /** The protocol codec, when the target is one. */
  readonly codec?: ProtocolCodec;
}

export interface Target {
  readonly name: string;
  /** The corpus its seeds come from. */
  readonly corpus: string;
  readonly kind: 'framer' | 'protocol';
  create(): Driven;
  /** See the file comment. */
  readonly held: number;
}

const framers = createFramerRegistry();
const protocols = createProtocolRegistry();

function framerTarget(name: string, corpus: string, options: Record<string, unknown>, held: number): Target {
  const factory = framers.build(corpus, options);
  return { name, corpus, kind: 'framer', held, create: () => ({ c: factory.create(), s: factory.create() }) };
}

function protocolTarget(name: string, corpus: string, options: Record<string, unknown>, held: (o: Record<string, number>) => number): Target {
  const module = protocols.get(corpus);
  if (!module) throw new Error(`no protocol module ${corpus}`);
  const parsed = module.optionsSchema.parse(options);
  const factory = module.factory(parsed);
  return {
    name,
    corpus,
    kind: 'protocol',
    held: held(parsed as Record<string, number>),
    create: () => {
      const codec = factory.create();
      return { c: codec.toUpstream, s: codec.toDownstream, codec };
    },
  };
}

const both = (name: string, small: Record<string, unknown>, held: (o: Record<string, number>) => number): Target[] => [
  protocolTarget(`${name} (small limits)`, name, small, held),
  protocolTarget(`${name} (defaults)`, name, {}, held),
];

export const TARGETS: readonly Target[] = [
  framerTarget('passthrough', 'passthrough', {}, 0),
  framerTarget('line (any, delimiter kept)', 'line', { delimiter: 'any', stripDelimiter: false, maxLength: 512 }, 514),
  framerTarget('line (crlf, stripped)', 'line', { delimiter: 'crlf', maxLength: 512 }, 514),
  framerTarget('delimiter (| and CRLF, kept)', 'delimiter', { delimiters: ['|', { hex: '0d0a' }], stripDelimiter: false, maxLength: 512 }, 514),
  framerTarget('length-prefixed (u16 BE, header kept)', 'length-prefixed', { lengthFieldLength: 2, maxFrameLength: 1024 }, 1024),
  framerTarget('length-prefixed (u32 LE, header stripped)', 'length-prefixed', { lengthFieldLength: 4, byteOrder: 'little', initialBytesToStrip: 4, maxFrameLength: 1024 }, 1024),
  framerTarget('length-prefixed (i64, counts header)', 'length-prefixed', { lengthFieldLength: 8, lengthAdjustment: -8, initialBytesToStrip: 8, maxFrameLength: 1024 }, 1024),
  framerTarget('netstring', 'netstring', { maxLength: 1000 }, 1000 + 6),
  framerTarget('cobs', 'cobs', { maxLength: 512 }, 512 + 512 / 254 + 3),
  framerTarget('fixed', 'fixed', { size: 8 }, 8),
  ...both('http', { maxHeaderSize: 2048, maxBodyFrame: 1024 }, (o) => Math.max(o.maxHeaderSize!, o.maxBodyFrame!)),
  ...both('redis', { maxFrame: 1024, maxLine: 256, maxDepth: 8, maxBulkLength: 1 << 20 }, (o) => 2 * o.maxFrame! + o.maxLine!),
  ...both('postgres', { maxMessageFrame: 1024, maxMessageLength: 1 << 20 }, (o) => Math.max(o.maxMessageFrame!, 10_000)),
  ...both('mysql', { maxPacketFrame: 1024, maxPacketLength: 1 << 20, maxStatements: 16 }, (o) => o.maxPacketFrame!),
  ...both('memcache', { maxFrame: 1024, maxLine: 256, maxValueLength: 1 << 20 }, (o) => 2 * o.maxFrame! + o.maxLine!),
  ...both('smtp', { maxFrame: 1024, maxLine: 256 }, (o) => o.maxFrame! + o.maxLine!),
];
