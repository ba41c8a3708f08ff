import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protocolConformance, runTranscript, type TranscriptStep } from '../conformance/protocol-suite.js';
import { redisOptionsSchema, redisProtocol } from '../../src/protocols/redis/index.js';
import type { MessageInfo, ProtocolCodec } from '../../src/protocols/protocol.js';

const factory = (o: Record<string, unknown> = {}) => redisProtocol.factory(redisOptionsSchema.parse(o));
const cmd = (...a: string[]): string => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(x, 'latin1')}\r\n${x}\r\n`).join('');
const bulk = (s: string): string => `$${s.length}\r\n${s}\r\n`;

// Server bytes below were captured from Redis 7.0.15 (127.0.0.1:6379) for these client bytes.
const basic: TranscriptStep[] = [
  { from: 'c', bytes: cmd('SET', 'redis-cap:k', 'v') + cmd('GET', 'redis-cap:k') + cmd('GET', 'redis-cap:missing') + 'PING\r\n' + cmd('INCR', 'redis-cap:n') },
  { from: 's', bytes: '+OK\r\n$1\r\nv\r\n$-1\r\n+PONG\r\n:1\r\n' },
  { from: 'c', bytes: cmd('DEL', 'redis-cap:l') + cmd('RPUSH', 'redis-cap:l', 'a', 'b', 'c') + cmd('LRANGE', 'redis-cap:l', '0', '-1') },
  { from: 's', bytes: ':0\r\n:3\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n' },
  { from: 'c', bytes: cmd('HSET', 'redis-cap:h', 'f1', 'v1', 'f2', 'v2') + cmd('HGETALL', 'redis-cap:h') },
  { from: 's', bytes: ':2\r\n*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n' },
  { from: 'c', bytes: cmd('MULTI') + cmd('SET', 'redis-cap:m', '1') + cmd('INCR', 'redis-cap:m') + cmd('EXEC') },
  { from: 's', bytes: '+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n' },
  { from: 'c', bytes: cmd('GET') },
  { from: 's', bytes: "-ERR wrong number of arguments for 'get' command\r\n" },
  { from: 'c', bytes: 'NOSUCH a b\r\n' },
  { from: 's', bytes: "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n" },
  { from: 'c', bytes: cmd('CLIENT', 'SETNAME', 'cap') },
  { from: 's', bytes: '+OK\r\n' },
  { from: 'c', bytes: cmd('XADD', 'redis-cap:s', '*', 'f', 'v') },
  { from: 's', bytes: '$15\r\n1795332257615-0\r\n' },
  { from: 'c', bytes: cmd('XRANGE', 'redis-cap:s', '-', '+') },
  { from: 's', bytes: '*1\r\n*2\r\n$15\r\n1795332257615-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n' },
];

const resp3: TranscriptStep[] = [
  { from: 'c', bytes: cmd('HELLO', '3') },
  { from: 's', bytes: '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n' },
  { from: 'c', bytes: cmd('HSET', 'redis-cap:h3', 'a', '1') + cmd('HGETALL', 'redis-cap:h3') + cmd('SADD', 'redis-cap:s3', 'x') + cmd('SMEMBERS', 'redis-cap:s3') },
  { from: 's', bytes: ':1\r\n%1\r\n$1\r\na\r\n$1\r\n1\r\n:1\r\n~1\r\n$1\r\nx\r\n' },
  { from: 'c', bytes: cmd('GET', 'redis-cap:none') + cmd('EXISTS', 'redis-cap:h3') },
  { from: 's', bytes: '_\r\n:1\r\n' },
  { from: 'c', bytes: cmd('CLIENT', 'TRACKING', 'on') + cmd('GET', 'redis-cap:h3str') },
  { from: 's', bytes: '+OK\r\n_\r\n' },
  { from: 'c', bytes: cmd('SET', 'redis-cap:h3str', 'z') },
  { from: 's', bytes: '+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$15\r\nredis-cap:h3str\r\n' },
  { from: 'c', bytes: cmd('SUBSCRIBE', 'redis-cap:c1', 'redis-cap:c2') },
  { from: 's', bytes: '>3\r\n$9\r\nsubscribe\r\n$12\r\nredis-cap:c1\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$12\r\nredis-cap:c2\r\n:2\r\n' },
  { from: 'c', bytes: cmd('PING') },
  { from: 's', bytes: '>3\r\n$7\r\nmessage\r\n$12\r\nredis-cap:c1\r\n$2\r\nhi\r\n+PONG\r\n' },
  { from: 'c', bytes: cmd('UNSUBSCRIBE') },
  { from: 's', bytes: '>3\r\n$11\r\nunsubscribe\r\n$12\r\nredis-cap:c1\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n$12\r\nredis-cap:c2\r\n:0\r\n' },
  // RESP3 types Redis sends with DEBUG PROTOCOL (attribute, bignum, boolean, verbatim, double, blob error)
  { from: 'c', bytes: cmd('DEBUG', 'PROTOCOL', 'attrib') + cmd('DEBUG', 'PROTOCOL', 'bignum') + cmd('DEBUG', 'PROTOCOL', 'true') + cmd('DEBUG', 'PROTOCOL', 'verbatim') + cmd('DEBUG', 'PROTOCOL', 'double') },
  { from: 's', bytes: '|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n(1234567999999999999999999999999999999\r\n#t\r\n=29\r\ntxt:This is a verbatim\nstring\r\n,3.141\r\n' },
  { from: 'c', bytes: cmd('GET', 'x') + cmd('GET', 'y') },
  { from: 's', bytes: '!21\r\nSYNTAX invalid syntax\r\n*3\r\n|1\r\n+ttl\r\n:3\r\n:1\r\n:2\r\n:3\r\n' },
];

const pubsub2: TranscriptStep[] = [
  { from: 'c', bytes: cmd('SUBSCRIBE', 'redis-cap:a', 'redis-cap:b') + cmd('PSUBSCRIBE', 'redis-cap:p*') },
  { from: 's', bytes: '*3\r\n$9\r\nsubscribe\r\n$11\r\nredis-cap:a\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$11\r\nredis-cap:b\r\n:2\r\n*3\r\n$10\r\npsubscribe\r\n$12\r\nredis-cap:p*\r\n:3\r\n' },
  { from: 's', bytes: '*3\r\n$7\r\nmessage\r\n$11\r\nredis-cap:a\r\n$5\r\nhello\r\n*4\r\n$8\r\npmessage\r\n$12\r\nredis-cap:p*\r\n$12\r\nredis-cap:px\r\n$3\r\nbye\r\n' },
  { from: 'c', bytes: cmd('PING') },
  { from: 's', bytes: '*2\r\n$4\r\npong\r\n$0\r\n\r\n' },
  { from: 'c', bytes: cmd('UNSUBSCRIBE') },
  { from: 's', bytes: '*3\r\n$11\r\nunsubscribe\r\n$11\r\nredis-cap:a\r\n:2\r\n*3\r\n$7\r\nmessage\r\n$11\r\nredis-cap:b\r\n$4\r\nlate\r\n*3\r\n$11\r\nunsubscribe\r\n$11\r\nredis-cap:b\r\n:1\r\n' },
  { from: 'c', bytes: cmd('PUNSUBSCRIBE') },
  { from: 's', bytes: '*3\r\n$12\r\npunsubscribe\r\n$12\r\nredis-cap:p*\r\n:0\r\n' },
  { from: 'c', bytes: cmd('UNSUBSCRIBE') },
  { from: 's', bytes: '*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n' },
  { from: 'c', bytes: cmd('PING') },
  { from: 's', bytes: '+PONG\r\n' },
  // not subscribed any more: an array starting with "message" is an ordinary reply
  { from: 'c', bytes: cmd('LRANGE', 'redis-cap:msgs', '0', '-1') },
  { from: 's', bytes: '*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n' },
];

const monitor: TranscriptStep[] = [
  { from: 'c', bytes: cmd('MONITOR') },
  { from: 's', bytes: '+OK\r\n' },
  { from: 's', bytes: '+1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"\r\n+1700000000.223456 [0 127.0.0.1:50000] "get" "k"\r\n' },
  { from: 'c', bytes: cmd('RESET') },
  { from: 's', bytes: '+1700000000.323456 [0 127.0.0.1:50000] "ping"\r\n+RESET\r\n' },
  { from: 'c', bytes: cmd('PING') },
  { from: 's', bytes: '+PONG\r\n' },
];

const bigValue = 'x'.repeat(200_000);
const big: TranscriptStep[] = [
  { from: 'c', bytes: cmd('SET', 'redis-cap:big', bigValue) + cmd('GET', 'redis-cap:big') },
  { from: 's', bytes: '+OK\r\n' + bulk(bigValue) },
  { from: 'c', bytes: cmd('LRANGE', 'redis-cap:biglist', '0', '-1') },
  { from: 's', bytes: `*5000\r\n${bulk('element-with-some-bytes').repeat(5000)}` },
];

const streamed: TranscriptStep[] = [
  { from: 'c', bytes: cmd('GET', 'a') + cmd('LRANGE', 'b', '0', '-1') + cmd('HGETALL', 'c') },
  { from: 's', bytes: '$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n*?\r\n:1\r\n:2\r\n*2\r\n+a\r\n+b\r\n.\r\n%?\r\n+k\r\n:1\r\n.\r\n' },
];

const clientReply: TranscriptStep[] = [
  { from: 'c', bytes: cmd('CLIENT', 'REPLY', 'SKIP') + cmd('SET', 'a', '1') + cmd('GET', 'a') },
  { from: 's', bytes: '$1\r\n1\r\n' },
  { from: 'c', bytes: cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'a', '2') + cmd('INCR', 'a') + cmd('CLIENT', 'REPLY', 'ON') + cmd('GET', 'a') },
  { from: 's', bytes: '+OK\r\n$1\r\n3\r\n' },
  { from: 'c', bytes: '\r\n' + cmd('PING') + '*0\r\n' },
  { from: 's', bytes: '+PONG\r\n' },
];

protocolConformance('redis basic (RESP2, pipelined)', factory(), basic, { requests: 19, responses: 19 });
protocolConformance('redis RESP3', factory(), resp3, { requests: 20, responses: 22 });
protocolConformance('redis RESP2 pub/sub', factory(), pubsub2, { requests: 8, responses: 10 });
protocolConformance('redis MONITOR', factory(), monitor, { requests: 3, responses: 3 });
protocolConformance('redis large values', factory(), big, { requests: 3, responses: 3 });
protocolConformance('redis streamed RESP3 replies', factory(), streamed, { requests: 3, responses: 3 });
protocolConformance('redis CLIENT REPLY', factory(), clientReply, { requests: 11, responses: 4 });

interface Msg {
  from: 'c' | 's';
  info: MessageInfo;
  bytes: number;
  frames: number;
  maxFrame: number;
}
function messages(codec: ProtocolCodec, steps: TranscriptStep[], split: 'whole' | 'bytewise' | 'random' = 'whole'): Msg[] {
  const out: Msg[] = [];
  const open: Partial<Record<'c' | 's', Msg>> = {};
  for (const f of runTranscript(codec, steps, split)) {
    if (f.info.start) open[f.from] = { from: f.from, info: f.info, bytes: 0, frames: 0, maxFrame: 0 };
    const m = open[f.from]!;
    m.bytes += f.frame.length;
    m.frames++;
    m.maxFrame = Math.max(m.maxFrame, f.frame.length);
    if (f.info.end) out.push(m);
  }
  return out;
}

test('redis: request attributes (command, subcommand, key, args, db) for multibulk and inline commands', () => {
  const msgs = messages(factory().create(), [
    { from: 'c', bytes: cmd('get', 'user:1') + cmd('CLIENT', 'setname', 'conn') + cmd('xinfo', 'STREAM', 'mystream') + 'set  inline:key  value\r\n' + cmd('PING') + cmd('GET', 'k'.repeat(300)) + cmd('SELECT', '3') + cmd('GET', 'x') + cmd('RESET') + cmd('GET', 'y') },
  ]);
  assert.deepEqual(msgs.map((m) => m.info.attributes), [
    { command: 'GET', key: 'user:1', args: 1, db: 0 },
    { command: 'CLIENT', subcommand: 'SETNAME', key: 'conn', args: 2, db: 0 },
    { command: 'XINFO', subcommand: 'STREAM', key: 'mystream', args: 2, db: 0 },
    { command: 'SET', key: 'inline:key', args: 2, db: 0 },
    { command: 'PING', args: 0, db: 0 },
    { command: 'GET', key: 'k'.repeat(256), args: 1, db: 0 },
    { command: 'SELECT', key: '3', args: 1, db: 0 },
    { command: 'GET', key: 'x', args: 1, db: 3 },
    { command: 'RESET', args: 0, db: 3 },
    { command: 'GET', key: 'y', args: 1, db: 0 },
  ]);
});

test('redis: a large SET is cut into bounded frames, the header frame carrying the attributes', () => {
  const value = 'v'.repeat(1_000_000);
  for (const split of ['whole', 'random'] as const) {
    const msgs = messages(factory({ maxFrame: '16KiB', maxBufferedBytes: '4MiB' }).create(), [{ from: 'c', bytes: cmd('SET', 'big', value) + cmd('GET', 'big') }, { from: 's', bytes: '+OK\r\n' + bulk(value) }], split);
    assert.equal(msgs.length, 4);
    const [req, get, ok, rep] = msgs as [Msg, Msg, Msg, Msg];
    assert.deepEqual([get.frames, ok.frames], [1, 1]);
    assert.deepEqual(req.info.attributes, { command: 'SET', key: 'big', args: 2, db: 0 });
    assert.ok(req.frames >= 1_000_000 / 16384, `request cut into ${req.frames} frames`);
    assert.ok(req.maxFrame <= 16384, `largest request frame ${req.maxFrame}`);
    assert.ok(rep.maxFrame <= 16384, `largest reply frame ${rep.maxFrame}`);
  }
});

test('redis: a long aggregate reply of small elements is cut at element boundaries', () => {
  const elems = bulk('0123456789').repeat(20_000);
  const msgs = messages(factory({ maxFrame: '8KiB', maxBufferedBytes: '4MiB' }).create(), [{ from: 'c', bytes: cmd('LRANGE', 'l', '0', '-1') }, { from: 's', bytes: `*20000\r\n${elems}` }]);
  const rep = msgs[1]!;
  assert.ok(rep.frames > 20, `${rep.frames} frames`);
  assert.ok(rep.maxFrame <= 8192 + 16, `largest frame ${rep.maxFrame}`);
});

test('redis: a long array reply whose first element is an integer is cut into frames, not held whole (fuzz find)', () => {
  // the first element (':1') names no pub/sub kind: the reply is classified at once and streams out
  const elems = ':7\r\n'.repeat(2_000);
  const codec = factory({ maxFrame: 1024, maxBufferedBytes: 4096 }).create();
  const msgs = messages(codec, [{ from: 'c', bytes: cmd('EVAL', 'return x', '0') }, { from: 's', bytes: `*2001\r\n:1\r\n${elems}` }], 'random');
  const rep = msgs[1]!;
  assert.ok(rep.frames > 4, `${rep.frames} frames`);
  assert.ok(rep.maxFrame <= 1024 + 16, `largest frame ${rep.maxFrame}`);
});

test('redis: UNSUBSCRIBE without arguments expects one confirmation per subscribed channel', () => {
  const codec = factory().create();
  const fr = runTranscript(codec, [
    { from: 'c', bytes: cmd('SUBSCRIBE', 'a', 'b', 'c') + cmd('SUBSCRIBE', 'a') + cmd('PSUBSCRIBE', 'x*') },
  ]);
  assert.deepEqual(fr.map((f) => f.info.responses), [3, 1, 1]);
  const fr2 = runTranscript(codec, [{ from: 'c', bytes: cmd('UNSUBSCRIBE', 'b') + cmd('UNSUBSCRIBE') + cmd('PUNSUBSCRIBE') + cmd('PUNSUBSCRIBE') }]);
  assert.deepEqual(fr2.map((f) => f.info.responses), [1, 2, 1, 1]);
});

test('redis: RESP3 push messages are unsolicited, subscribe confirmations answer SUBSCRIBE', () => {
  const fr = runTranscript(factory().create(), resp3).filter((f) => f.from === 's' && f.info.start);
  const pushes = fr.filter((f) => f.frame[0] === 0x3e);
  assert.deepEqual(pushes.map((f) => [f.frame.toString('latin1').split('\r\n')[2], f.info.unsolicited === true]), [
    ['invalidate', true],
    ['subscribe', false],
    ['subscribe', false],
    ['message', true],
    ['unsubscribe', false],
    ['unsubscribe', false],
  ]);
});

test('redis: an attribute is part of the reply it precedes', () => {
  const msgs = messages(factory().create(), [{ from: 'c', bytes: cmd('GET', 'k') }, { from: 's', bytes: '|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n' }], 'bytewise');
  assert.equal(msgs[1]!.bytes, '|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n'.length);
});

function decodeError(steps: TranscriptStep[], o: Record<string, unknown> = {}): { code?: string; message: string } {
  try {
    const codec = factory(o).create();
    runTranscript(codec, steps);
    for (const f of [codec.toUpstream, codec.toDownstream]) {
      f.end();
      while (f.next() !== null);
    }
  } catch (err) {
    return err as { code?: string; message: string };
  }
  assert.fail('expected a decode error');
}

test('redis: malformed input fails with typed errors naming the problem', () => {
  const cases: [TranscriptStep[], string, RegExp][] = [
    [[{ from: 'c', bytes: '*2\r\n$3\r\nGET\r\n:3\r\n' }], 'SWY_FRAME_MALFORMED', /expected '\$'.*':'/],
    [[{ from: 'c', bytes: '*x\r\n' }], 'SWY_FRAME_MALFORMED', /invalid multibulk length/],
    [[{ from: 'c', bytes: '*1\r\n$3\r\nGETXX\r\n' }], 'SWY_FRAME_MALFORMED', /not followed by \\r\\n/],
    [[{ from: 'c', bytes: '*1\r\n$-3\r\n' }], 'SWY_FRAME_MALFORMED', /invalid bulk length/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: '@what\r\n' }], 'SWY_FRAME_MALFORMED', /unknown RESP type byte '@'/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: ':12a\r\n' }], 'SWY_FRAME_MALFORMED', /invalid integer/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: '#x\r\n' }], 'SWY_FRAME_MALFORMED', /boolean/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: '$?\r\n+x\r\n' }], 'SWY_FRAME_MALFORMED', /';' chunk/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: '.\r\n' }], 'SWY_FRAME_MALFORMED', /outside a streamed aggregate/],
    [[{ from: 'c', bytes: cmd('PING') }, { from: 's', bytes: '+PONG\n' }], 'SWY_FRAME_MALFORMED', /\\r\\n/],
    [[{ from: 'c', bytes: cmd('GET', 'abc').slice(0, -3) }], 'SWY_FRAME_TRUNCATED', /input ended/],
    [[{ from: 'c', bytes: cmd('GET') }, { from: 's', bytes: '*2\r\n:1\r\n' }], 'SWY_FRAME_TRUNCATED', /input ended/],
  ];
  for (const [steps, code, re] of cases) {
    const err = decodeError(steps);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
  }
});

test('redis: limits (maxLine, maxBulkLength, maxDepth) fail with SWY_FRAME_TOO_LARGE naming the limit', () => {
  let err = decodeError([{ from: 'c', bytes: 'GET ' + 'k'.repeat(200) }], { maxLine: 100 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxLine \(100\)/);
  err = decodeError([{ from: 'c', bytes: '*2\r\n$3\r\nSET\r\n$2000\r\n' }], { maxBulkLength: 1000 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxBulkLength \(1000\)/);
  err = decodeError([{ from: 'c', bytes: cmd('X') }, { from: 's', bytes: '*1\r\n'.repeat(10) + ':1\r\n' }], { maxDepth: 4 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxDepth \(4\)/);
});

test('redis: errorReply is -ERR by default, the status sets the prefix, and the replaced request expects no server reply', () => {
  const codec = factory().create();
  const c = codec.toUpstream;
  c.push(Buffer.from(cmd('GET', 'a') + cmd('GET', 'b')));
  assert.ok(c.next());
  const reply = codec.errorReply({ message: 'injected\r\nfault' });
  assert.deepEqual(reply, { frames: [Buffer.from('-ERR injected fault\r\n')], close: false });
  assert.ok(c.next());
  assert.equal(codec.errorReply({ message: 'busy', status: 'BUSY' })?.frames[0]?.toString(), '-BUSY busy\r\n');
  c.push(Buffer.from(cmd('GET', 'c')));
  assert.ok(c.next());
  // the server answers only the third GET: that reply pairs with it
  const s = codec.toDownstream;
  s.push(Buffer.from('$1\r\nc\r\n'));
  assert.ok(s.next());
  assert.equal(s.info?.unsolicited, undefined);
  // a request replaced by an error reply has no effect: a failed MONITOR leaves the connection in normal mode
  c.push(Buffer.from(cmd('MONITOR')));
  assert.ok(c.next());
  codec.errorReply({ message: 'no' });
  c.push(Buffer.from(cmd('PING')));
  c.next();
  assert.equal(c.info?.responses, 1);
});

test('redis: errorReply sends nothing for a request that gets no reply (CLIENT REPLY OFF)', () => {
  const codec = factory().create();
  const c = codec.toUpstream;
  c.push(Buffer.from(cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'a', 'b')));
  c.next();
  c.next();
  assert.equal(c.info?.responses, 0);
  assert.deepEqual(codec.errorReply({ message: 'x' }), { frames: [], close: false });
});

test('redis: options have defaults', () => {
  assert.deepEqual(redisOptionsSchema.parse({}), { maxFrame: 65536, maxLine: 65536, maxDepth: 64, maxBulkLength: 536870912 });
  assert.equal(redisOptionsSchema.parse({ maxFrame: '1MiB' }).maxFrame, 1048576);
  assert.throws(() => redisOptionsSchema.parse({ nope: 1 }));
});

test('redis: connection setup requests are marked setup (HELLO, AUTH, SELECT, CLIENT SETNAME/SETINFO in any case, READONLY, the first INFO only), nothing else', () => {
  const codec = factory().create();
  const fr = runTranscript(codec, [
    {
      from: 'c',
      bytes:
        cmd('HELLO', '3') + cmd('CLIENT', 'MAINT_NOTIFICATIONS', 'ON') + cmd('auth', 'pw') + cmd('Select', '1') + cmd('client', 'setinfo', 'lib-name', 'ioredis') + 'client setname app\r\n' + cmd('READONLY') +
        cmd('INFO') + cmd('GET', 'k') + cmd('INFO', 'server') + cmd('CLIENT', 'ID') + cmd('MULTI') + cmd('SELECT', '2') + cmd('EXEC'),
    },
  ]).filter((f) => f.info.start);
  const marks = fr.map((f) => `${String(f.info.attributes?.['command'])}${f.info.attributes?.['subcommand'] ? ` ${String(f.info.attributes['subcommand'])}` : ''}:${f.info.setup === true}`);
  assert.deepEqual(marks, [
    'HELLO:true', 'CLIENT MAINT_NOTIFICATIONS:true', 'AUTH:true', 'SELECT:true', 'CLIENT SETINFO:true', 'CLIENT SETNAME:true', 'READONLY:true',
    'INFO:true', 'GET:false', 'INFO:false', 'CLIENT ID:false', 'MULTI:false', 'SELECT:false', 'EXEC:false',
  ]);
  assert.ok(redisProtocol.setup?.includes('HELLO'), 'the module declares its list');
});
