import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { buildComparator } from '../../src/compare/comparator.js';
import { buildGrpcComparator } from '../../src/compare/grpc-comparator.js';
import {
  createGrpcLifter,
  GrpcFramingError,
  GrpcMessageReader,
  grpcExchangeFrames,
  liftGrpcExchange,
  type GrpcExchange,
} from '../../src/compare/grpc-lifter.js';
import { liftTyped, loadDescriptorSet, parseDescriptorSet } from '../../src/compare/protobuf-descriptor.js';
import { SwitchyardError } from '../../src/core/errors.js';

const RUNS = Number(process.env['FC_RUNS'] ?? 200);

const PROTO = `
syntax = "proto3";
package demo.v1;
message Item {
  int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4; sint32 s32 = 5; sint64 s64 = 6;
  fixed32 f32 = 7; fixed64 f64 = 8; sfixed32 sf32 = 9; sfixed64 sf64 = 10; bool b = 11;
  float fl = 12; double db = 13; string s = 14; bytes by = 15;
  enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }
  Kind kind = 16;
  repeated int32 packed = 17;
  map<string, int64> labels = 18;
  Item child = 19;
  repeated string tags = 20;
}
message GetRequest { string id = 1; }
service Store {
  rpc Get(GetRequest) returns (Item);
  rpc List(GetRequest) returns (stream Item);
}
`;
const root = protobuf.parse(PROTO).root;
const Item = root.lookupType('demo.v1.Item');
const protoset = Buffer.from(descriptor.FileDescriptorSet.encode((root as unknown as { toDescriptor(s: string): protobuf.Message }).toDescriptor('proto3')).finish());

/** One gRPC message: 5-byte prefix + bytes. */
function frame(msg: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

const item = (fields: Record<string, unknown>): Buffer => Buffer.from(Item.encode(Item.fromObject(fields)).finish());

function response(data: Buffer[], trailers: Record<string, string> = { 'grpc-status': '0' }, headers: Record<string, string> = { ':status': '200', 'content-type': 'application/grpc' }): GrpcExchange {
  return { method: '/demo.v1.Store/List', headers, trailers, data };
}

test('message reader: reassembles messages across any chunking; bounds and truncation are typed errors', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => frame(Buffer.from(m))));
      const reader = new GrpcMessageReader(1024);
      const got: Buffer[] = [];
      let pos = 0;
      for (let i = 0; pos < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        for (const m of reader.push(stream.subarray(pos, pos + n))) got.push(m.data);
        pos += n;
      }
      reader.end();
      assert.deepEqual(got.map((b) => b.toString('hex')), msgs.map((m) => Buffer.from(m).toString('hex')));
    }),
    { numRuns: RUNS },
  );
  assert.throws(() => new GrpcMessageReader(10).push(frame(Buffer.alloc(11))), (e: unknown) => e instanceof GrpcFramingError && /11 B exceeds the limit of 10 B/.test(e.message));
  assert.throws(() => new GrpcMessageReader().push(Buffer.from([2, 0, 0, 0, 0])), /compressed flag 2/);
  const r = new GrpcMessageReader();
  r.push(frame(Buffer.from('abc')).subarray(0, 6));
  assert.throws(() => r.end(), /stream ends inside a message \(1 of 3 B\)/);
});

test('gRPC lifter: messages, status, message and trailers; trailers-only; -bin trailers lifted', () => {
  const msg1 = Buffer.from('0801', 'hex'); // {1: 1}
  const msg2 = Buffer.from('08021203616263', 'hex'); // {1: 2, 2: "abc"}
  const both = Buffer.concat([frame(msg1), frame(msg2)]);
  const ex = response([both.subarray(0, 3), both.subarray(3, 9), both.subarray(9)], { 'grpc-status': '0', 'x-checksum': 'abc', date: 'Sun, 06 Dec 2026 11:00:00 GMT' });
  const { tree, summary } = liftGrpcExchange(ex, 'response');
  assert.deepEqual(tree, { messages: [{ '1': 1 }, { '1': 2, '2': 'abc' }], status: 'OK', trailers: { 'x-checksum': 'abc' }, headers: { 'content-type': 'application/grpc' } });
  assert.equal(summary, 'OK 2 messages 9 B /demo.v1.Store/List');

  // a trailers-only error: the status is in the headers; grpc-message percent-decoded; a google.rpc.Status detail
  const details = Buffer.from('080512096e6f7420666f756e64', 'hex'); // {1: 5, 2: "not found"}
  const only = liftGrpcExchange(
    { method: '/demo.v1.Store/Get', headers: { ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no%20such%20item', 'grpc-status-details-bin': details.toString('base64') }, data: [] },
    'response',
  ).tree;
  assert.deepEqual(only, { messages: [], status: 'NOT_FOUND', message: 'no such item', trailers: {}, headers: { 'content-type': 'application/grpc', 'grpc-status-details-bin': { '1': 5, '2': 'not found' } } });

  const unknownCode = liftGrpcExchange(response([], { 'grpc-status': '42' }), 'response').tree as { status: unknown };
  assert.equal(unknownCode.status, 42);
  const missing = liftGrpcExchange(response([], {}), 'response').tree as { status: unknown };
  assert.equal(missing.status, 'missing');
});

test('gRPC lifter: gzip and deflate messages are inflated (bounded); other encodings compare as bytes', () => {
  const msg = Buffer.from('08021203616263', 'hex');
  const plain = liftGrpcExchange(response([frame(msg)]), 'response').tree as { messages: unknown[] };
  for (const [enc, z] of [
    ['gzip', gzipSync(msg)],
    ['deflate', deflateSync(msg)],
  ] as const) {
    const t = liftGrpcExchange(response([frame(z, true)], undefined, { 'grpc-encoding': enc }), 'response').tree as { messages: unknown[] };
    assert.deepEqual(t.messages, plain.messages, `${enc}: compared after inflating, so a compressing and a plain server agree`);
  }
  const snappy = liftGrpcExchange(response([frame(msg, true)], undefined, { 'grpc-encoding': 'snappy' }), 'response').tree as { messages: unknown[] };
  assert.deepEqual(snappy.messages, [{ compressed: 'snappy', base64: msg.toString('base64') }]);
  // a zip bomb: 64 MiB of zeros inflate past the 1 MiB bound → reported, not inflated
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const t = liftGrpcExchange(response([frame(bomb, true)], undefined, { 'grpc-encoding': 'gzip' }), 'response', { maxMessageSize: 1024 * 1024 }).tree as { messages: { inflateError?: string }[] };
  assert.match(t.messages[0]!.inflateError ?? '', /Cannot create a Buffer larger than|buffer|larger/i);
  // a compressed flag with a corrupt body
  const bad = liftGrpcExchange(response([frame(Buffer.from('nope'), true)], undefined, { 'grpc-encoding': 'gzip' }), 'response').tree as { messages: { inflateError?: string }[] };
  assert.ok(bad.messages[0]!.inflateError);
});

test('gRPC lifter: garbage never throws (property) and truncated streams say so', () => {
  const lifter = createGrpcLifter();
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }), (chunks) => {
      const frames = chunks.map((c) => Buffer.from(c));
      lifter.liftWithSummary(frames, 'response');
      lifter.liftWithSummary(grpcExchangeFrames(response(frames)), 'response');
      liftGrpcExchange(response(frames), 'request');
    }),
    { numRuns: RUNS },
  );
  const t = liftGrpcExchange(response([frame(Buffer.from('0801', 'hex')).subarray(0, 6)]), 'response').tree as { incomplete?: number };
  assert.equal(t.incomplete, 6, 'the bytes of the partial message, prefix included');
  const notPb = liftGrpcExchange(response([frame(Buffer.from('{"json":true}'))]), 'response').tree as { messages: { notProtobuf: string; text: string }[] };
  assert.equal(notPb.messages[0]!.text, '{"json":true}', 'another codec: the message compares as its text');
  assert.match(notPb.messages[0]!.notProtobuf, /^protobuf: field 15: groups \(wire type 3\)/);
});

test('gRPC comparator: masks like /1/3 reach every message; diffs name the field path; status differences count', () => {
  const cmp = buildGrpcComparator({ masks: ['/1/3', '/trailers/x-served-by'] });
  const a = Buffer.from('0a0908011203616263180a', 'hex'); // {1: {1: 1, 2: "abc", 3: 10}}
  const b = Buffer.from('0a0908011203616263180b', 'hex'); // {1: {1: 1, 2: "abc", 3: 11}}
  const c = Buffer.from('0a0908011203616264180a', 'hex'); // {1: {1: 1, 2: "abd", 3: 10}}
  const canon = (data: Buffer[], trailers: Record<string, string> = { 'grpc-status': '0' }) => cmp.canonical(grpcExchangeFrames(response(data, trailers)), 'response');
  const ca = canon([frame(a), frame(a)], { 'grpc-status': '0', 'x-served-by': 'node-1' });
  const cb = canon([frame(b), frame(b)], { 'grpc-status': '0', 'x-served-by': 'node-2' });
  assert.equal(ca.digest, cb.digest, 'field 1.3 masked in every message, the trailer masked');
  const cc = canon([frame(a), frame(c)]);
  assert.deepEqual(
    cmp.diff(ca, cc).map((d) => [d.path, d.kind, d.a, d.b]),
    [['/messages/1/1/2', 'changed', '"abc"', '"abd"']],
  );
  const rendered = cmp.render(ca, cc, ['primary', 'secondary-1']);
  assert.match(rendered, /\/messages\/1\/1\/2/);
  const failedCall = canon([frame(a), frame(a)], { 'grpc-status': '14', 'grpc-message': 'down' });
  assert.deepEqual(
    cmp.diff(ca, failedCall).map((d) => d.path),
    ['/message', '/status'],
  );
  assert.equal(cmp.endpoint(grpcExchangeFrames(response([]))), '/demo.v1.Store/List');
  // N-variant's buildComparator('grpc') (protocol: grpc listeners) is the same lifter, without a descriptor set
  const generic = buildComparator('grpc', { masks: ['/1/3'] });
  assert.equal(generic.canonical(grpcExchangeFrames(response([frame(a)])), 'response').digest, cmp.canonical(grpcExchangeFrames(response([frame(b)])), 'response').digest);
  // a bad mask is a config error naming it
  assert.throws(() => buildGrpcComparator({ masks: ['1/3'] }), (e: unknown) => e instanceof SwitchyardError && /mask 0 "\/messages\/\*1\/3"|must start with/.test(e.message));
});

test('descriptor set: parsed with the wire reader; messages lifted with field names and proper types', () => {
  const pool = parseDescriptorSet(protoset);
  assert.deepEqual(pool.methods.get('/demo.v1.Store/List'), { path: '/demo.v1.Store/List', input: 'demo.v1.GetRequest', output: 'demo.v1.Item', clientStreaming: false, serverStreaming: true });
  assert.ok(pool.messages.get('demo.v1.Item')?.fields.get(19));
  const bytes = item({
    i32: -5,
    i64: '-9007199254740993',
    u32: 4294967295,
    u64: '18446744073709551615',
    s32: -3,
    s64: '-4',
    f32: 7,
    f64: '8',
    sf32: -9,
    sf64: '-10',
    b: true,
    fl: 1.5,
    db: -0.25,
    s: 'héllo',
    by: Buffer.from([0, 1, 2]),
    kind: 'KIND_B',
    packed: [1, -2, 300],
    labels: { zone: '3', az: '-1' },
    child: { i32: 1, tags: ['x'] },
    tags: ['a', 'b'],
  });
  assert.deepEqual(liftTyped(bytes, 'demo.v1.Item', pool), {
    i32: -5,
    i64: '-9007199254740993',
    u32: 4294967295,
    u64: '18446744073709551615',
    s32: -3,
    s64: -4,
    f32: 7,
    f64: 8,
    sf32: -9,
    sf64: -10,
    b: true,
    fl: 1.5,
    db: -0.25,
    s: 'héllo',
    by: { base64: 'AAEC' },
    kind: 'KIND_B',
    packed: [1, -2, 300],
    labels: { zone: 3, az: -1 },
    child: { i32: 1, tags: ['x'] },
    tags: ['a', 'b'],
  });
  // unknown fields keep their number; an enum value the descriptor does not know stays a number
  const extra = Buffer.concat([item({ i32: 1 }), Buffer.from('f80705800107', 'hex')]); // field 127 varint 5, field 16 (kind) = 7
  assert.deepEqual(liftTyped(extra, 'demo.v1.Item', pool), { i32: 1, '127': 5, kind: 7 });
  // the comparator with a descriptor set: field names in the tree, masks by name (/child/i32 = every message's)
  const cmp = buildGrpcComparator({ descriptorSet: pool, masks: ['/child/i32'] });
  const x = cmp.canonical(grpcExchangeFrames(response([frame(item({ s: 'a', child: { i32: 1 } }))])), 'response');
  const y = cmp.canonical(grpcExchangeFrames(response([frame(item({ s: 'a', child: { i32: 2 } }))])), 'response');
  assert.equal(x.digest, y.digest);
  assert.deepEqual((x.tree as { messages: unknown[] }).messages, [{ s: 'a', child: {} }]);
  // a method the descriptor set does not know: lifted by number
  const other = liftGrpcExchange({ method: '/other.Svc/M', data: [frame(item({ i32: 3 }))], trailers: { 'grpc-status': '0' } }, 'response', { descriptors: pool }).tree as { messages: unknown[] };
  assert.deepEqual(other.messages, [{ '1': 3 }]);
  // the request side uses the input type
  const req = liftGrpcExchange({ method: '/demo.v1.Store/Get', headers: { 'x-tenant': 'acme', te: 'trailers', 'content-type': 'application/grpc' }, data: [frame(Buffer.from('0a0131', 'hex'))] }, 'request', { descriptors: pool }).tree;
  assert.deepEqual(req, { messages: [{ id: '1' }], headers: { 'x-tenant': 'acme' } });
  const noHeaders = liftGrpcExchange({ method: '/demo.v1.Store/Get', headers: { 'x-tenant': 'acme' }, data: [] }, 'request', { compareHeaders: false }).tree;
  assert.deepEqual(noHeaders, { messages: [] });
});

test('descriptor set (property): typed lift agrees with protobufjs decoding', () => {
  const pool = parseDescriptorSet(protoset);
  const arb = fc.record(
    {
      i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      u32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      s32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      sf32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      i64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      s64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      db: fc.double({ noNaN: true, noDefaultInfinity: true }),
      s: fc.string({ maxLength: 12 }),
      b: fc.boolean(),
      packed: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 5 }),
      tags: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );
  const big = (v: bigint): number | string => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  fc.assert(
    fc.property(arb, (rec) => {
      const obj: Record<string, unknown> = { ...rec };
      if (rec.i64 !== undefined) obj['i64'] = rec.i64.toString();
      if (rec.s64 !== undefined) obj['s64'] = rec.s64.toString();
      const bytes = item(obj);
      const got = liftTyped(bytes, 'demo.v1.Item', pool) as Record<string, unknown>;
      // protobufjs writes every field that is set, defaults included, and no empty repeated field
      const want: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rec)) {
        if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
        want[k] = typeof v === 'bigint' ? big(v) : Object.is(v, -0) ? 0 : v;
      }
      assert.deepEqual(got, want);
    }),
    { numRuns: RUNS },
  );
});

test('descriptor set: loading names the path on a missing or malformed file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-protoset-'));
  try {
    const good = path.join(dir, 'good.protoset');
    writeFileSync(good, protoset);
    assert.ok(loadDescriptorSet(good).messages.has('demo.v1.Item'));
    const bad = path.join(dir, 'bad.protoset');
    writeFileSync(bad, Buffer.from('not a descriptor set'));
    assert.throws(() => loadDescriptorSet(bad, 'routes[0].grpc.compare.descriptorSet'), (e: unknown) => e instanceof SwitchyardError && e.message.startsWith(`routes[0].grpc.compare.descriptorSet: "${bad}" is not a FileDescriptorSet`));
    assert.throws(() => buildGrpcComparator({ descriptorSet: path.join(dir, 'missing.protoset') }), (e: unknown) => e instanceof SwitchyardError && /compare\.descriptorSet: cannot read/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
