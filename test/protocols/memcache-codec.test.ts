import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protocolConformance, runTranscript, type TranscriptStep } from '../conformance/protocol-suite.js';
import { memcacheOptionsSchema, memcacheProtocol } from '../../src/protocols/memcache/index.js';

const factory = (o: Record<string, unknown> = {}) => memcacheProtocol.factory(memcacheOptionsSchema.parse(o));

// Server bytes captured from memcached 1.6.18 for these client bytes (pipelined as shown).
const classic: TranscriptStep[] = [
  { from: 'c', bytes: 'set mc:a 5 0 3\r\nabc\r\nget mc:a\r\nget mc:a mc:b mc:none\r\n' },
  { from: 's', bytes: 'STORED\r\nVALUE mc:a 5 3\r\nabc\r\nEND\r\nVALUE mc:a 5 3\r\nabc\r\nEND\r\n' },
  { from: 'c', bytes: 'add mc:a 0 0 1\r\nx\r\nreplace mc:b 0 0 1\r\ny\r\nappend mc:a 0 0 2\r\nde\r\nprepend mc:a 0 0 1\r\nz\r\ngets mc:a\r\n' },
  { from: 's', bytes: 'NOT_STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE mc:a 5 6 3\r\nzabcde\r\nEND\r\n' },
  { from: 'c', bytes: 'cas mc:a 0 0 1 999999\r\nq\r\nset mc:n 0 0 2\r\n10\r\nincr mc:n 5\r\ndecr mc:n 100\r\nincr mc:none 1\r\ntouch mc:n 100\r\ntouch mc:none 1\r\n' },
  { from: 's', bytes: 'EXISTS\r\nSTORED\r\n15\r\n0\r\nNOT_FOUND\r\nTOUCHED\r\nNOT_FOUND\r\n' },
  { from: 'c', bytes: 'delete mc:n\r\ndelete mc:n\r\nset mc:q 0 0 1 noreply\r\n1\r\nget mc:q\r\nversion\r\nverbosity 1\r\nnosuchcommand\r\nset mc:bad 0 0 abc\r\n' },
  { from: 's', bytes: 'DELETED\r\nNOT_FOUND\r\nVALUE mc:q 0 1\r\n1\r\nEND\r\nVERSION 1.6.18\r\nOK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n' },
  { from: 'c', bytes: 'gat 100 mc:a mc:q\r\ngats 100 mc:a\r\n' },
  { from: 's', bytes: 'VALUE mc:a 5 6\r\nzabcde\r\nVALUE mc:q 0 1\r\n1\r\nEND\r\nVALUE mc:a 5 6 3\r\nzabcde\r\nEND\r\n' },
  { from: 'c', bytes: 'stats settings\r\n' },
  { from: 's', bytes: 'STAT maxbytes 67108864\r\nSTAT maxconns 1024\r\nSTAT tcpport 21598\r\nSTAT verbosity 1\r\nSTAT item_size_max 1048576\r\nSTAT ssl_min_version tlsv1.2\r\nSTAT memory_file (null)\r\nEND\r\n' },
  { from: 'c', bytes: 'stats reset\r\n' },
  { from: 's', bytes: 'RESET\r\n' },
  { from: 'c', bytes: 'stats nosuch\r\n' },
  { from: 's', bytes: 'ERROR\r\n' },
  { from: 'c', bytes: 'flush_all noreply\r\nflush_all\r\nquit\r\n' },
  { from: 's', bytes: 'OK\r\n' },
];

const meta: TranscriptStep[] = [
  { from: 'c', bytes: 'mn\r\nms mc:m 2 T0 F5\r\nhi\r\nmg mc:m v f t\r\nmg mc:none v\r\nmg mc:m s v O77 k\r\nmd mc:m q\r\nmg mc:m v q O1\r\nmn\r\n' },
  { from: 's', bytes: 'MN\r\nHD\r\nVA 2 f5 t-1\r\nhi\r\nEN\r\nVA 2 s2 O77 kmc:m\r\nhi\r\nMN\r\n' },
  { from: 'c', bytes: 'ma mc:ctr N0 J13 v\r\nma mc:ctr v\r\nme mc:a\r\nme mc:none\r\n' },
  { from: 's', bytes: 'VA 2\r\n13\r\nVA 2\r\n14\r\nME mc:a exp=-99 la=1 cas=3 fetch=yes cls=1 size=73\r\nEN\r\n' },
  // quiet get that hits: its reply is unsolicited (the request announced none), then mn
  { from: 'c', bytes: 'mg mc:a v q O9\r\nmn\r\n' },
  { from: 's', bytes: 'VA 6 O9\r\nzabcde\r\nMN\r\n' },
];

const value = Buffer.alloc(300_000, 'memcache-big:');
const big: TranscriptStep[] = [
  { from: 'c', bytes: Buffer.concat([Buffer.from(`set big 0 0 ${value.length}\r\n`), value, Buffer.from('\r\nget big other\r\n')]) },
  { from: 's', bytes: Buffer.concat([Buffer.from(`STORED\r\nVALUE big 0 ${value.length}\r\n`), value, Buffer.from('\r\nEND\r\n')]) },
];

protocolConformance('memcache classic commands', factory(), classic, { requests: 31, responses: 28 });
protocolConformance('memcache meta commands', factory(), meta, { requests: 14, responses: 11 });
protocolConformance('memcache large value', factory({ maxBufferedBytes: '1MiB' }), big, { requests: 2, responses: 2 });

test('memcache: attributes command/key/keys and responses for noreply, quiet and quit', () => {
  const fr = runTranscript(factory().create(), [
    { from: 'c', bytes: 'get a b c\r\ngat 10 k1 k2\r\nset s 1 2 3 noreply\r\nabc\r\ndelete d\r\nincr n 1 noreply\r\nmg m v q\r\nmn\r\nquit\r\n' },
  ]).map((f) => [f.info.attributes, f.info.responses, f.info.start && f.info.end]);
  assert.deepEqual(fr.map((f) => f.slice(0, 2)), [
    [{ command: 'get', key: 'a', keys: 3 }, 1],
    [{ command: 'gat', key: 'k1', keys: 2 }, 1],
    [{ command: 'set', key: 's' }, 0],
    [{ command: 'delete', key: 'd' }, 1],
    [{ command: 'incr', key: 'n' }, 0],
    [{ command: 'mg', key: 'm' }, 0],
    [{ command: 'mn' }, 1],
    [{ command: 'quit' }, 0],
  ]);
  assert.ok(fr.every((f) => f[2] === true), 'each small request is one frame with start and end');
});

test('memcache: a large value is framed in bounded pieces, line and start of data first', () => {
  for (const split of ['whole', 'random'] as const) {
    const frames = runTranscript(factory({ maxFrame: '16KiB', maxBufferedBytes: '1MiB' }).create(), big, split);
    assert.ok(frames.every((f) => f.frame.length <= 16384), 'every frame within maxFrame');
    const reqStarts = frames.filter((f) => f.from === 'c' && f.info.start);
    assert.equal(reqStarts.length, 2);
    assert.deepEqual(reqStarts[0]?.info.attributes, { command: 'set', key: 'big' });
    assert.ok(frames.filter((f) => f.from === 'c').length > 300_000 / 16384);
    assert.equal(frames.filter((f) => f.from === 's' && f.info.end).length, 2);
  }
});

test('memcache: watch turns the connection into an unsolicited log stream', () => {
  const fr = runTranscript(factory().create(), [
    { from: 'c', bytes: 'watch\r\n' },
    { from: 's', bytes: 'OK\r\nts=1.0 gid=1 type=item_get key=a status=not_found\r\nts=1.1 gid=2 type=item_get key=b status=found\r\n' },
  ]).filter((f) => f.from === 's');
  assert.deepEqual(fr.map((f) => f.info.unsolicited === true), [false, true, true]);
});

test('memcache: a reply with no pending request is unsolicited (e.g. an error for a noreply command)', () => {
  const fr = runTranscript(factory().create(), [
    { from: 'c', bytes: 'incr x y noreply\r\nget a\r\n' },
    { from: 's', bytes: 'CLIENT_ERROR invalid numeric delta argument\r\nEND\r\n' },
  ]).filter((f) => f.from === 's');
  // the CLIENT_ERROR is taken as the reply to `get a` (pairing is in order), END then has no request left
  assert.deepEqual(fr.map((f) => f.info.unsolicited === true), [false, true]);
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

test('memcache: malformed and oversized input fails with typed errors', () => {
  let err = decodeError([{ from: 'c', bytes: 'set k 0 0 3\r\nabcd\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /data block is not followed by \\r\\n/);
  err = decodeError([{ from: 'c', bytes: 'get k\r\n' }, { from: 's', bytes: 'VALUE k 0 x\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /invalid data length "x"/);
  err = decodeError([{ from: 'c', bytes: 'get k\r\n' }, { from: 's', bytes: 'STORED\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /expected VALUE or END in the reply to get/);
  err = decodeError([{ from: 'c', bytes: 'get ' + 'k'.repeat(100) }], { maxLine: 50 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxLine \(50\)/);
  err = decodeError([{ from: 'c', bytes: 'set k 0 0 5000\r\n' }], { maxValueLength: 1000 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxValueLength \(1000\)/);
  err = decodeError([{ from: 'c', bytes: 'set k 0 0 5\r\nab' }]);
  assert.equal(err.code, 'SWY_FRAME_TRUNCATED');
  err = decodeError([{ from: 'c', bytes: 'get k\r\n' }, { from: 's', bytes: 'VALUE k 0 1\r\nx\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_TRUNCATED');
});

test('memcache: errorReply is SERVER_ERROR <message>, nothing for noreply, and the replaced request gets no server reply', () => {
  const codec = factory().create();
  const c = codec.toUpstream;
  c.push(Buffer.from('get a\r\n'));
  assert.ok(c.next());
  assert.deepEqual(codec.errorReply({ message: 'injected\nfault' }), { frames: [Buffer.from('SERVER_ERROR injected fault\r\n')], close: false });
  c.push(Buffer.from('get b\r\n'));
  c.next();
  assert.equal(codec.errorReply({ message: 'bad', status: 'CLIENT_ERROR' })?.frames[0]?.toString(), 'CLIENT_ERROR bad\r\n');
  c.push(Buffer.from('set c 0 0 1 noreply\r\nx\r\n'));
  c.next();
  assert.deepEqual(codec.errorReply({ message: 'x' }), { frames: [], close: false });
  c.push(Buffer.from('get d\r\n'));
  c.next();
  const s = codec.toDownstream;
  s.push(Buffer.from('END\r\n'));
  s.next();
  assert.equal(s.info?.unsolicited, undefined, 'the reply pairs with get d');
});

test('memcache: options have defaults', () => {
  assert.deepEqual(memcacheOptionsSchema.parse({}), { maxFrame: 65536, maxLine: 65536, maxValueLength: 1073741824 });
});
