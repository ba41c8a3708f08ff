import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { buildGrpcComparator } from '../../src/compare/grpc-comparator.js';
import { grpcExchangeFrames } from '../../src/compare/grpc-lifter.js';
import { isPrintableText, liftProtobuf, liftUnknownBytes, ProtobufDecodeError, readFields } from '../../src/compare/protobuf-wire.js';
import type { MTree } from '../../src/protocols/lift.js';

const RUNS = Number(process.env['FC_RUNS'] ?? 300);
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---- a random message model, its reference encoding (protobufjs's Writer) and the tree the lifter must give -----

type Value =
  | { kind: 'varint'; v: bigint }
  | { kind: 'fixed32'; v: number }
  | { kind: 'fixed64'; v: bigint }
  | { kind: 'string'; v: string }
  | { kind: 'bytes'; v: Buffer }
  | { kind: 'msg'; fields: [number, Value[]][] };
type Msg = Extract<Value, { kind: 'msg' }>;

const tag = (n: number, wt: number): number => (n * 8 + wt) >>> 0;

function writeValue(w: protobuf.Writer, n: number, v: Value): void {
  switch (v.kind) {
    case 'varint':
      w.uint32(tag(n, 0)).uint64(v.v.toString());
      break;
    case 'fixed32':
      w.uint32(tag(n, 5)).fixed32(v.v);
      break;
    case 'fixed64':
      w.uint32(tag(n, 1)).fixed64(v.v.toString());
      break;
    case 'string':
      w.uint32(tag(n, 2)).string(v.v);
      break;
    case 'bytes':
      w.uint32(tag(n, 2)).bytes(v.v);
      break;
    case 'msg':
      w.uint32(tag(n, 2)).bytes(encode(v));
      break;
  }
}

function encode(m: Msg): Buffer {
  const w = protobuf.Writer.create();
  for (const [n, values] of m.fields) for (const v of values) writeValue(w, n, v);
  return Buffer.from(w.finish());
}

const uint64Leaf = (v: bigint): MTree => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

function expectedValue(v: Value): MTree {
  switch (v.kind) {
    case 'varint':
    case 'fixed64':
      return uint64Leaf(v.v);
    case 'fixed32':
      return v.v;
    case 'string':
      return v.v;
    case 'bytes':
      return { base64: v.v.toString('base64') };
    case 'msg': {
      const bytes = encode(v);
      // the spec: an empty or printable-text value is text, whatever else it could be
      if (bytes.length === 0 || isPrintableText(bytes)) return bytes.toString('utf8');
      return expectedMsg(v);
    }
  }
}

function expectedMsg(m: Msg): MTree {
  const out: { [k: string]: MTree } = {};
  for (const [n, values] of m.fields) out[String(n)] = values.length === 1 ? expectedValue(values[0]!) : values.map(expectedValue);
  return out;
}

const printable = fc
  .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x09, 0x0a, 0x0d, 0xe9, 0x65e5, 0x1f600)), { maxLength: 24 })
  .map((cps) => String.fromCodePoint(...cps));
const fieldNumber = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 18999 }), fc.integer({ min: 20000, max: 2 ** 29 - 1 }));
const leaf: fc.Arbitrary<Value> = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ kind: 'varint' as const, v })),
  fc.integer({ min: 0, max: 300 }).map((v) => ({ kind: 'varint' as const, v: BigInt(v) })),
  fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ kind: 'fixed32' as const, v })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ kind: 'fixed64' as const, v })),
  printable.map((v) => ({ kind: 'string' as const, v })),
  // a NUL first: never text, and tag 0 is never a message
  fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: 'bytes' as const, v: Buffer.concat([Buffer.from([0]), Buffer.from(b)]) })),
);
const { msg } = fc.letrec<{ msg: Msg; value: Value }>((tie) => ({
  msg: fc
    .uniqueArray(fc.tuple(fieldNumber, fc.array(tie('value'), { minLength: 1, maxLength: 3 })), { selector: (t) => t[0], maxLength: 6 })
    .map((fields) => ({ kind: 'msg' as const, fields })),
  value: fc.oneof({ maxDepth: 3, depthIdentifier: 'pb' }, leaf, tie('msg')),
}));

// ---- tests -----------------------------------------------------------------------------------------------------

test('wire lifter: known encodings', () => {
  assert.deepEqual(liftProtobuf(hex('08 96 01')), { '1': 150 }, 'the varint example of the protobuf docs');
  assert.deepEqual(liftProtobuf(hex('12 07 74 65 73 74 69 6e 67')), { '2': 'testing' });
  assert.deepEqual(liftProtobuf(hex('1a 03 08 96 01')), { '3': { '1': 150 } }, 'a nested message');
  assert.deepEqual(liftProtobuf(hex('08 01 08 02 08 03')), { '1': [1, 2, 3] }, 'a repeated field');
  assert.deepEqual(liftProtobuf(hex('08 ff ff ff ff ff ff ff ff ff 01')), { '1': '18446744073709551615' }, '2^64-1 is not rounded');
  assert.deepEqual(liftProtobuf(hex('08 ff ff ff ff ff ff ff 0f')), { '1': Number.MAX_SAFE_INTEGER });
  assert.deepEqual(liftProtobuf(hex('0d 01 00 00 80 19 00 00 00 00 00 00 f0 3f')), { '1': 0x80000001, '3': '4607182418800017408' }, 'fixed32, fixed64 (1.0 as a double)');
  assert.deepEqual(liftProtobuf(hex('0a 00')), { '1': '' }, 'an empty length-delimited value is the empty string');
  assert.deepEqual(liftProtobuf(hex('0a 02 68 69')), { '1': 'hi' }, 'printable text is text even though "hi" parses as {13: 105}');
  assert.deepEqual(liftProtobuf(hex('0a 03 00 ff 01')), { '1': { base64: 'AP8B' } }, 'neither a message nor text');
  assert.deepEqual(liftProtobuf(Buffer.alloc(0)), {}, 'the empty message');
  // a reserved field number (19000-19999) makes a nested value implausible as a message: bytes/text
  assert.deepEqual(liftProtobuf(hex('0a 04 c0 a4 09 01')), { '1': { base64: 'wKQJAQ==' } });
});

test('wire lifter: fields in any order give the same tree; the repeated order is kept', () => {
  assert.deepEqual(liftProtobuf(hex('08 01 12 01 78')), liftProtobuf(hex('12 01 78 08 01')));
  assert.notDeepEqual(liftProtobuf(hex('08 01 08 02')), liftProtobuf(hex('08 02 08 01')));
});

test('wire lifter: groups and malformed input are rejected with a ProtobufDecodeError naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['0b 08 01 0c', /field 1: groups \(wire type 3\) are not supported at byte 0/],
    ['0c', /groups \(wire type 4\)/],
    ['08', /truncated varint at byte 1/],
    ['0a 05 01', /field 1: length 5 beyond the end/],
    ['00 01', /field number 0/],
    ['0e 00', /invalid wire type 6/],
    ['0d 01 02', /truncated fixed32/],
    ['08 ff ff ff ff ff ff ff ff ff 7f', /varint longer than 64 bits/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => liftProtobuf(hex(bytes)), (err: unknown) => err instanceof ProtobufDecodeError && re.test(err.message), bytes);
  }
  // inside a length-delimited value, a group only means "not a message": the value is text (valid UTF-8) or bytes
  assert.deepEqual(liftProtobuf(hex('0a 04 0b 08 01 0c')), { '1': '\x0b\b\x01\f' });
  assert.deepEqual(liftProtobuf(hex('0a 05 0b 08 01 0c ff')), { '1': { base64: 'CwgBDP8=' } });
});

test('wire lifter (property): random messages encoded by protobufjs lift to the expected tree', () => {
  fc.assert(
    fc.property(msg, (m) => {
      assert.deepEqual(liftProtobuf(encode(m)), expectedMsg(m));
    }),
    { numRuns: RUNS },
  );
});

test('wire lifter (property): garbage never throws anything but ProtobufDecodeError, and liftUnknownBytes never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
      const buf = Buffer.from(raw);
      try {
        liftProtobuf(buf);
      } catch (err) {
        assert.ok(err instanceof ProtobufDecodeError, String(err));
      }
      liftUnknownBytes(buf);
    }),
    { numRuns: RUNS * 3 },
  );
  // mutated valid messages: the interesting garbage
  fc.assert(
    fc.property(msg, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, byte) => {
      const buf = encode(m);
      if (buf.length === 0) return;
      buf[at % buf.length] = byte;
      try {
        liftProtobuf(buf);
      } catch (err) {
        assert.ok(err instanceof ProtobufDecodeError, String(err));
      }
    }),
    { numRuns: RUNS },
  );
});

test('wire lifter: work is bounded on pathological input (deep nesting, long garbage)', () => {
  const deadline = 20_000; // generous: the machine is shared; the point is "finishes", not speed
  // 2000 levels of field 1 nesting (only the first 32 are lifted as messages)
  let inner = hex('08 01');
  for (let i = 0; i < 2000; i++) {
    const w = protobuf.Writer.create();
    w.uint32(tag(1, 2)).bytes(inner);
    inner = Buffer.from(w.finish());
  }
  let t0 = performance.now();
  let depth = 0;
  for (let t: MTree = liftProtobuf(inner); t !== null && typeof t === 'object' && !Array.isArray(t) && '1' in t; t = (t)['1']!) depth++;
  assert.equal(depth, 33, 'nesting stops at the bound, the rest is bytes');
  assert.ok(performance.now() - t0 < deadline);
  // 1 MiB of varint-ish garbage that nearly parses everywhere
  const garbage = Buffer.alloc(1024 * 1024, 0x80);
  t0 = performance.now();
  assert.throws(() => liftProtobuf(garbage), ProtobufDecodeError);
  liftUnknownBytes(garbage);
  assert.ok(performance.now() - t0 < deadline);
  // readFields on 1 MiB of valid one-byte fields
  const many = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < many.length; i += 2) many[i] = 0x08;
  assert.equal(readFields(many).length, 512 * 1024);
});

test('wire lifter (property): the canonical digest ignores the order of different fields, and DATA chunking', () => {
  const cmp = buildGrpcComparator();
  const frame = (b: Buffer): Buffer => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(b.length, 1);
    return Buffer.concat([h, b]);
  };
  fc.assert(
    fc.property(msg, fc.integer({ min: 1, max: 64 }), fc.nat(), (m, chunk, seed) => {
      // the same fields in another order (values of one field keep their order)
      const shuffled: Msg = { kind: 'msg', fields: [...m.fields].sort((a, b) => ((a[0] * 2654435761 + seed) >>> 0) % 97 - ((b[0] * 2654435761 + seed) >>> 0) % 97) };
      const wire = frame(encode(m));
      const chunks: Buffer[] = [];
      for (let p = 0; p < wire.length; p += chunk) chunks.push(wire.subarray(p, p + chunk));
      const a = cmp.canonical(grpcExchangeFrames({ data: [wire], trailers: { 'grpc-status': '0' } }), 'response');
      const b = cmp.canonical(grpcExchangeFrames({ data: chunks, trailers: { 'grpc-status': '0' } }), 'response');
      const c = cmp.canonical(grpcExchangeFrames({ data: [frame(encode(shuffled))], trailers: { 'grpc-status': '0' } }), 'response');
      assert.equal(a.digest, b.digest);
      assert.equal(a.digest, c.digest);
    }),
    { numRuns: RUNS },
  );
});
