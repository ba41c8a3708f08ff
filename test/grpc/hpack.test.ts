/**
 * HPACK (RFC 7541) codec of the frame-level HTTP/2 engine: the RFC's Appendix C examples, the Huffman code, the
 * errors, fast-check round trips through a long-lived encoder → decoder pair, and Node's own node:http2 as the peer
 * (our encoder's blocks to its decoder, its encoder's blocks to our decoder, over one connection).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import { HpackDecoder, HpackEncoder, HpackError } from '../../src/grpc/frames/hpack.js';
import {
  HUFFMAN_BAD_PADDING,
  HUFFMAN_EOS,
  huffmanCode,
  huffmanDecode,
  huffmanDecodedBound,
  huffmanEncode,
  huffmanEncodedLength,
} from '../../src/grpc/frames/huffman.js';

const RUNS = Number(process.env.FC_RUNS ?? 200);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261206;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (flat: readonly string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};
const flat = (p: readonly (readonly [string, string])[]): string[] => p.flatMap(([n, v]) => [n, v]);

/** One step of an Appendix C sequence: the block, the fields it decodes to, the dynamic table after it, its size. */
interface Step {
  block: string;
  fields: [string, string][];
  table: [string, string][];
  size: number;
}

/** Decodes the steps with one decoder and checks each; also re-encodes each list and decodes it back. */
function runSteps(steps: Step[], maxTableSize?: number): void {
  const options = maxTableSize === undefined ? {} : { maxTableSize };
  const decoder = new HpackDecoder(options);
  const encoder = new HpackEncoder(options);
  const back = new HpackDecoder(options);
  const hencoder = new HpackEncoder({ ...options, huffman: true });
  const hback = new HpackDecoder(options);
  for (const step of steps) {
    assert.deepEqual(pairs(decoder.decode(hex(step.block))), step.fields);
    assert.deepEqual(decoder.dynamicTable, step.table);
    assert.equal(decoder.tableSize.size, step.size);
    assert.deepEqual(pairs(back.decode(encoder.encode(flat(step.fields)))), step.fields);
    assert.deepEqual(pairs(hback.decode(hencoder.encode(flat(step.fields)))), step.fields);
  }
}

const REQUESTS_1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUESTS_2: [string, string][] = [...REQUESTS_1, ['cache-control', 'no-cache']];
const REQUESTS_3: [string, string][] = [
  [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const REQUEST_TABLES: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: [string, string][][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', 'https://www.example.com']],
  [
    [':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'], ['set-cookie', COOKIE],
  ],
];
const RESPONSE_TABLES: [string, string][][] = [
  [['location', 'https://www.example.com'], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', 'https://www.example.com'], ['date', DATE_1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]],
];

describe('RFC 7541 Appendix C', () => {
  test('C.2.1 literal with indexing', () => {
    runSteps([{
      block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      fields: [['custom-key', 'custom-header']], table: [['custom-key', 'custom-header']], size: 55,
    }]);
  });
  test('C.2.2 literal without indexing', () => {
    runSteps([{ block: '040c 2f73 616d 706c 652f 7061 7468', fields: [[':path', '/sample/path']], table: [], size: 0 }]);
  });
  test('C.2.3 literal never indexed', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), ['password', 'secret']);
    assert.deepEqual(d.neverIndexed, [0]);
    assert.deepEqual(d.dynamicTable, []);
    assert.deepEqual(d.decode(hex('82')), [':method', 'GET']);
    assert.deepEqual(d.neverIndexed, []);
    // the encoder keeps the representation
    const e = new HpackEncoder();
    const block = e.encode(['password', 'secret', 'password', 'secret'], [1]);
    assert.deepEqual(d.decode(block), ['password', 'secret', 'password', 'secret']);
    assert.deepEqual(d.neverIndexed, [1]);
  });
  test('C.2.4 indexed field', () => {
    runSteps([{ block: '82', fields: [[':method', 'GET']], table: [], size: 0 }]);
  });
  test('C.3 requests without Huffman', () => {
    runSteps([
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQUESTS_1, table: REQUEST_TABLES[0]!, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQUESTS_2, table: REQUEST_TABLES[1]!, size: 110 },
      {
        block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        fields: REQUESTS_3, table: REQUEST_TABLES[2]!, size: 164,
      },
    ]);
  });
  test('C.4 requests with Huffman', () => {
    runSteps([
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQUESTS_1, table: REQUEST_TABLES[0]!, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQUESTS_2, table: REQUEST_TABLES[1]!, size: 110 },
      {
        block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
        fields: REQUESTS_3, table: REQUEST_TABLES[2]!, size: 164,
      },
    ]);
  });
  test('C.5 responses without Huffman (table size 256, eviction)', () => {
    runSteps([
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
          3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
        fields: RESPONSES[0]!, table: RESPONSE_TABLES[0]!, size: 222,
      },
      { block: '4803 3330 37c1 c0bf', fields: RESPONSES[1]!, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970
          7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765
          3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
        fields: RESPONSES[2]!, table: RESPONSE_TABLES[2]!, size: 215,
      },
    ], 256);
  });
  test('C.6 responses with Huffman (table size 256, eviction)', () => {
    runSteps([
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
          1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: RESPONSES[0]!, table: RESPONSE_TABLES[0]!, size: 222,
      },
      { block: '4883 640e ffc1 c0bf', fields: RESPONSES[1]!, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
          e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: RESPONSES[2]!, table: RESPONSE_TABLES[2]!, size: 215,
      },
    ], 256);
  });
});

describe('Huffman code', () => {
  const decode = (b: Uint8Array): number | string => {
    const dst = Buffer.alloc(huffmanDecodedBound(b.length));
    const n = huffmanDecode(b, 0, b.length, dst);
    return n < 0 ? n : dst.toString('latin1', 0, n);
  };
  const encode = (s: string): Buffer => {
    const out = Buffer.alloc(huffmanEncodedLength(s));
    assert.equal(huffmanEncode(s, out, 0), out.length);
    return out;
  };

  test('codes of the RFC table', () => {
    assert.deepEqual(huffmanCode(0x30), { code: 0x0, length: 5 }); // '0'
    assert.deepEqual(huffmanCode(0x61), { code: 0x3, length: 5 }); // 'a'
    assert.deepEqual(huffmanCode(0x00), { code: 0x1ff8, length: 13 });
    assert.deepEqual(huffmanCode(0x0a), { code: 0x3ffffffc, length: 30 });
    assert.deepEqual(huffmanCode(0xff), { code: 0x3ffffee, length: 26 });
    assert.deepEqual(huffmanCode(256), { code: 0x3fffffff, length: 30 }); // EOS
  });

  test('every one of the 256 octets round-trips, alone and together', () => {
    for (let c = 0; c < 256; c++) {
      const s = String.fromCharCode(c);
      const e = encode(s);
      assert.equal(e.length, Math.ceil(huffmanCode(c).length / 8));
      assert.equal(decode(e), s, `octet ${c}`);
      assert.equal(decode(encode(s + s + 'a' + s)), s + s + 'a' + s, `octet ${c} in a string`);
    }
    const all = Array.from({ length: 256 }, (_, c) => String.fromCharCode(c)).join('');
    assert.equal(decode(encode(all)), all);
    assert.equal(decode(encode(all.split('').reverse().join(''))), all.split('').reverse().join(''));
    assert.equal(decode(new Uint8Array(0)), '');
  });

  test('padding longer than 7 bits, padding that is not all ones and EOS are rejected', () => {
    // 'a' is 00011: 0x1f pads it with 3 ones
    assert.equal(decode(Uint8Array.of(0x1f)), 'a');
    assert.equal(decode(Uint8Array.of(0x18)), HUFFMAN_BAD_PADDING); // padding 000
    assert.equal(decode(Uint8Array.of(0x1e)), HUFFMAN_BAD_PADDING); // padding 110
    assert.equal(decode(Uint8Array.of(0x1f, 0xff)), HUFFMAN_BAD_PADDING); // 11 bits of padding
    assert.equal(decode(Uint8Array.of(0xff)), HUFFMAN_BAD_PADDING); // 8 bits of padding alone
    assert.equal(decode(Uint8Array.of(0xff, 0xff, 0xff, 0xfc)), HUFFMAN_EOS); // EOS (30 ones) then 00
    assert.equal(decode(Uint8Array.of(0x1f, 0xff, 0xff, 0xff, 0xff)), HUFFMAN_EOS);
    // 0xfe: 7 bits of padding is fine after a symbol ending on a byte boundary ('0' twice = 10 bits, 6 of padding)
    assert.equal(decode(Uint8Array.of(0x00, 0x3f)), '00');
    // the same through the decoder: an HpackError naming the field
    const d = new HpackDecoder();
    assert.throws(() => d.decode(Uint8Array.of(0x40, 0x81, 0x1f, 0x81, 0x18)), /HPACK: the Huffman code of the value of "a" ends in padding/);
    assert.throws(() => d.decode(Uint8Array.of(0x00, 0x84, 0xff, 0xff, 0xff, 0xfc, 0x00)), /HPACK: the Huffman code of a header name contains EOS/);
  });
});

describe('decoder errors', () => {
  const throwsHpack = (block: number[] | Buffer, message: RegExp, d = new HpackDecoder()): void => {
    assert.throws(() => d.decode(Buffer.from(block)), (e: unknown) => e instanceof HpackError && message.test(e.message));
  };

  test('bad indexes', () => {
    throwsHpack([0x80], /HPACK: index 0 is not a valid index/);
    throwsHpack([0xbe], /HPACK: index 62 is past the dynamic table \(0 entries\)/);
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(d.decode(Uint8Array.of(0xbe)), ['custom-key', 'custom-header']);
    throwsHpack([0xbf], /HPACK: index 63 is past the dynamic table \(1 entry\)/, d);
    throwsHpack([0xff, 0x1b], /HPACK: index 154 is past the dynamic table/, d);
    throwsHpack([0x7f, 0x10, 0x00], /HPACK: index 79 is past the dynamic table/, d); // literal's name index
    throwsHpack([0x0f, 0x30, 0x00], /HPACK: index 63 is past the dynamic table/, d);
  });

  test('truncated blocks and oversized integers', () => {
    throwsHpack([0xff], /HPACK: the block ends inside an index/);
    throwsHpack([0xff, 0x80], /HPACK: the block ends inside an index/);
    throwsHpack([0x40], /HPACK: the block ends inside a header name/);
    throwsHpack([0x40, 0x03, 0x61], /HPACK: a header name is 3 octets but the block has 1 left/);
    throwsHpack([0x40, 0x01, 0x61], /HPACK: the block ends inside the value of "a"/);
    throwsHpack([0x04, 0x7f], /HPACK: the block ends inside the length of the value of ":path"/);
    throwsHpack([0x04, 0x05, 0x61], /HPACK: the value of ":path" is 5 octets but the block has 1 left/);
    throwsHpack([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], /HPACK: an index is too large/);
    throwsHpack([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /HPACK: an index is too large/);
  });

  test('dynamic table size updates', () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    throwsHpack([0x3f, 0xe2, 0x01], /HPACK: dynamic table size update to 257 exceeds the maximum of 256/, d);
    assert.deepEqual(d.decode(Uint8Array.of(0x3f, 0xe1, 0x01, 0x82)), [':method', 'GET']); // update to 256
    throwsHpack([0x82, 0x20], /HPACK: a dynamic table size update after the first header field/, d);
    // two updates at the start (down, then up) are fine; eviction happens at the lower one
    const e = new HpackDecoder();
    e.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(e.decode(Uint8Array.of(0x20, 0x3f, 0xe1, 0x1f)), []);
    assert.deepEqual(e.dynamicTable, []);
    assert.deepEqual(e.tableSize, { size: 0, capacity: 4096 });
    // after our setting went down, the next block must start with an update within it
    e.setMaxTableSize(100);
    throwsHpack([0x82], /HPACK: the block does not start with a dynamic table size update .* lowered to 100/, e);
    throwsHpack([0x3f, 0x46], /exceeds the maximum of 100/, e);
    assert.deepEqual(e.decode(Uint8Array.of(0x3f, 0x45, 0x82)), [':method', 'GET']);
    assert.deepEqual(e.decode(Uint8Array.of(0x82)), [':method', 'GET']);
    // lowered, then raised back before the next block: no update is required
    e.setMaxTableSize(50);
    e.setMaxTableSize(4096);
    assert.deepEqual(e.decode(Uint8Array.of(0x82)), [':method', 'GET']);
  });

  test('an entry larger than the table empties it and is not added (§4.4)', () => {
    const d = new HpackDecoder({ maxTableSize: 64 });
    d.decode(Uint8Array.of(0x40, 0x01, 0x61, 0x01, 0x62)); // a: b (34)
    assert.deepEqual(d.dynamicTable, [['a', 'b']]);
    const long = 'x'.repeat(40);
    assert.deepEqual(d.decode(Buffer.concat([Uint8Array.of(0x40, 0x01, 0x63, 40), Buffer.from(long)])), ['c', long]);
    assert.deepEqual(d.dynamicTable, []);
    // a literal may name an entry that its own insertion evicts
    d.decode(Uint8Array.of(0x40, 0x01, 0x61, 0x01, 0x62)); // a: b (34)
    assert.deepEqual(d.decode(Uint8Array.of(0x7e, 0x02, 0x62, 0x62)), ['a', 'bb']);
    assert.deepEqual(d.dynamicTable, [['a', 'bb']]);
  });

  test('header list size limit', () => {
    const d = new HpackDecoder({ maxHeaderListSize: 100 });
    const e = new HpackEncoder();
    assert.deepEqual(d.decode(e.encode(['a', 'x'.repeat(67)])), ['a', 'x'.repeat(67)]); // 100
    assert.throws(
      () => d.decode(e.encode(['a', 'x'.repeat(40), 'b', 'y'.repeat(40)])),
      (err: unknown) => err instanceof HpackError && err.tableIntact && /header list is 146 octets, over the limit of 100/.test(err.message),
    );
    // the table stayed in step: the next block decodes
    assert.deepEqual(d.decode(e.encode(['a', 'x'.repeat(40)])), ['a', 'x'.repeat(40)]);
  });

  test('the encoder rejects characters above U+00FF', () => {
    const e = new HpackEncoder();
    assert.throws(() => e.encode(['x', 'caf\u00e9\u0100']), /HPACK: "café\u0100" has a character above U\+00FF/);
    assert.throws(() => e.encode(['x', 'a'.repeat(40) + '\u20ac']), HpackError);
    assert.throws(() => new HpackEncoder({ huffman: true }).encode(['x', 'aaaaaa\u20ac']), HpackError);
    assert.throws(() => e.encode(['x']), /HPACK: a header list has names and values in pairs, got 1 entries/);
  });

  test('after a failed block the encoder goes on only if its table did not change', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    e.setMaxTableSize(2000);
    d.setMaxTableSize(2000);
    // fails before any insertion: the pending size update is kept for the next block, which decodes
    assert.throws(() => e.encode([':method', 'GET', 'x', '\u0100']), HpackError);
    assert.deepEqual(d.decode(e.encode([':method', 'GET', 'x', 'y'])), [':method', 'GET', 'x', 'y']);
    assert.equal(d.tableSize.capacity, 2000);
    assert.deepEqual(d.decode(e.encode(['x', 'y'])), ['x', 'y']);
    // fails after an insertion in the same block: every later block is refused
    assert.throws(() => e.encode(['new-name', 'v', 'x', '\u0100']), HpackError);
    assert.throws(() => e.encode(['x', 'y']), /HPACK: the encoder failed on an earlier block/);
  });
});

describe('encoder', () => {
  test('a repeated gRPC request becomes mostly one-octet indexed fields', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const req = [
      ':method', 'POST', ':scheme', 'http', ':path', '/bench.Bench/Echo', ':authority', '127.0.0.1:50051',
      'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14.0',
      'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-timeout', '999m',
    ];
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      req[req.length - 1] = `${999 - i}m`;
      const b = e.encode(req);
      sizes.push(b.length);
      assert.deepEqual(d.decode(b), req);
    }
    // the first two: literals (indexed the second time, names unknown to the tables the first time); then 8 indexed
    // octets and grpc-timeout's literal with its name from the dynamic table (2 octets for index 66 in a 4-bit
    // prefix, 1 + 4 for the value)
    assert.ok(sizes[0]! > 100 && sizes[1]! > sizes[2]!, `${sizes.join(' ')}`);
    assert.equal(sizes[2], 8 + 7);
    assert.equal(sizes[3], 8 + 7);
  });

  test('each block is its own Buffer: later blocks do not overwrite earlier ones', () => {
    const e = new HpackEncoder();
    const kept: [Buffer, string][] = [];
    for (let i = 0; i < 3000; i++) {
      const b = e.encode(['x-n', String(i), 'x-big', 'v'.repeat(i % 7 === 0 ? 20000 : 10)]);
      assert.ok(Buffer.isBuffer(b));
      kept.push([b, b.toString('hex')]);
    }
    for (const [b, hexOf] of kept) assert.equal(b.toString('hex'), hexOf);
  });

  test('table size changes: the smallest then the final size at the start of the next block', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 2; i++) d.decode(e.encode(['k', 'v']));
    assert.deepEqual(d.dynamicTable, [['k', 'v']]);
    e.setMaxTableSize(0);
    e.setMaxTableSize(4096);
    const b = e.encode(['k', 'v']);
    assert.deepEqual([...b.subarray(0, 4)], [0x20, 0x3f, 0xe1, 0x1f]);
    assert.deepEqual(d.decode(b), ['k', 'v']);
    e.setMaxTableSize(1000);
    d.setMaxTableSize(1000);
    assert.deepEqual(d.decode(e.encode(['k', 'v'])), ['k', 'v']);
    assert.equal(d.tableSize.capacity, 1000);
    // a constructor size other than HTTP/2's initial 4096 is announced in the first block
    const small = new HpackEncoder({ maxTableSize: 100 });
    assert.deepEqual([...small.encode([':method', 'GET'])], [0x3f, 0x45, 0x82]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** Octet strings as latin1, biased to a few values so that repeats happen. */
const octets = (max: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: max }).map((a) => String.fromCharCode(...a));
const names = fc.oneof(
  fc.constantFrom(':method', ':path', ':authority', 'content-type', 'te', 'grpc-timeout', 'user-agent', 'x-a', 'x-b-bin', 'cookie', 'custom'),
  octets(12),
);
const values = fc.oneof(
  fc.constantFrom('', 'POST', 'GET', '/', '/a.B/C', 'application/grpc', 'trailers', '1S', 'v'),
  octets(40),
  octets(400),
);
interface ListStep {
  kind: 'list';
  fields: string[];
  never: number[];
}
interface SizeStep {
  kind: 'size';
  size: number;
}
const listStep: fc.Arbitrary<ListStep> = fc
  .array(fc.tuple(names, values, fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 12 })
  .map((fields) => ({
    kind: 'list' as const,
    fields: fields.flatMap(([n, v]) => [n, v]),
    never: fields.flatMap(([, , , r], i) => (r === 0 ? [i] : [])),
  }));
const sizeStep: fc.Arbitrary<SizeStep> = fc
  .oneof(fc.constantFrom(0, 32, 64, 4096), fc.integer({ min: 0, max: 8192 }))
  .map((size) => ({ kind: 'size' as const, size }));

describe('properties', () => {
  test('a long-lived encoder → decoder pair round-trips every list exactly, across table size changes', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.oneof({ arbitrary: listStep, weight: 6 }, { arbitrary: sizeStep, weight: 1 }), { maxLength: 30 }),
        (huffman, steps) => {
          const e = new HpackEncoder({ huffman });
          const d = new HpackDecoder({ maxTableSize: 8192 });
          for (const step of steps) {
            if (step.kind === 'size') {
              d.setMaxTableSize(step.size); // our SETTINGS, acknowledged, then the peer's encoder follows
              e.setMaxTableSize(step.size);
              continue;
            }
            // twice: the second time the table has had a chance to index the fields
            for (let i = 0; i < 2; i++) {
              const block = e.encode(step.fields, step.never);
              assert.deepEqual(d.decode(block), step.fields);
              assert.deepEqual([...d.neverIndexed], step.never);
            }
          }
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  test('the decoder throws only HpackError on random and on damaged blocks, and ends', () => {
    const check = (d: HpackDecoder, block: Uint8Array): void => {
      try {
        const out = d.decode(block);
        assert.equal(out.length % 2, 0);
      } catch (e) {
        if (!(e instanceof HpackError)) throw e;
      }
    };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (blocks) => {
        const d = new HpackDecoder({ maxHeaderListSize: 4096 });
        for (const b of blocks) check(d, b);
      }),
      { numRuns: RUNS * 5, seed: SEED },
    );
    fc.assert(
      fc.property(listStep, fc.boolean(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (step, huffman, flips, cut) => {
        const e = new HpackEncoder({ huffman });
        const d = new HpackDecoder();
        const good = e.encode(step.fields, step.never);
        const bad = Buffer.from(good);
        for (const [at, v] of flips) if (bad.length > 0) bad[at % bad.length] = v;
        check(d, bad);
        check(new HpackDecoder(), good.subarray(0, good.length > 0 ? cut % good.length : 0));
      }),
      { numRuns: RUNS * 5, seed: SEED },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// node:http2 as the peer

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const ACK = 0x1;

function frame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** A minimal HTTP/2 frame reader over a socket (9-octet header: length, type, flags, stream id). */
class FrameReader {
  #buf = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #ended = false;
  constructor(socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#waiting?.();
    });
  }
  async next(): Promise<Frame> {
    for (;;) {
      if (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length >= 9 + len) {
          const f = {
            type: this.#buf[3]!,
            flags: this.#buf[4]!,
            stream: this.#buf.readUInt32BE(5) & 0x7fffffff,
            payload: this.#buf.subarray(9, 9 + len),
          };
          this.#buf = this.#buf.subarray(9 + len);
          return f;
        }
      }
      if (this.#ended) throw new Error('the connection closed');
      await new Promise<void>((resolve) => (this.#waiting = resolve));
      this.#waiting = undefined;
    }
  }
}

/** Reads frames until stream's header block (HEADERS + CONTINUATION), answering SETTINGS and PING on the way. */
async function readHeaderBlock(reader: FrameReader, socket: net.Socket, stream: number): Promise<{ block: Buffer; frames: number }> {
  for (;;) {
    const f = await reader.next();
    if (f.type === FRAME_SETTINGS && (f.flags & ACK) === 0) socket.write(frame(FRAME_SETTINGS, ACK, 0));
    else if (f.type === FRAME_PING && (f.flags & ACK) === 0) socket.write(frame(FRAME_PING, ACK, 0, f.payload));
    else if (f.type === FRAME_GOAWAY) throw new Error(`GOAWAY ${f.payload.readUInt32BE(4)} ${f.payload.subarray(8).toString()}`);
    if (f.type !== FRAME_HEADERS) continue;
    assert.equal(f.stream, stream);
    let p = f.payload;
    let pad = 0;
    if ((f.flags & PADDED) !== 0) {
      pad = p[0]!;
      p = p.subarray(1);
    }
    if ((f.flags & PRIORITY) !== 0) p = p.subarray(5);
    const parts = [p.subarray(0, p.length - pad)];
    let flags = f.flags;
    while ((flags & END_HEADERS) === 0) {
      const c = await reader.next();
      assert.equal(c.type, FRAME_CONTINUATION);
      assert.equal(c.stream, stream);
      parts.push(c.payload);
      flags = c.flags;
    }
    return { block: Buffer.concat(parts), frames: parts.length };
  }
}

/** HEADERS (+ CONTINUATION frames past 16384 octets, the default SETTINGS_MAX_FRAME_SIZE) ending the stream. */
function headerFrames(stream: number, block: Buffer): Buffer {
  const max = 16384;
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += max) {
    const chunk = block.subarray(at, at + max);
    const last = at + max >= block.length;
    frames.push(at === 0
      ? frame(FRAME_HEADERS, END_STREAM | (last ? END_HEADERS : 0), stream, chunk)
      : frame(FRAME_CONTINUATION, last ? END_HEADERS : 0, stream, chunk));
  }
  return Buffer.concat(frames);
}

describe('node:http2 as the peer', () => {
  for (const huffman of [false, true]) {
    test(`requests encoded by us, responses encoded by Node, one connection (huffman: ${huffman})`, async () => {
      const received: { raw: string[]; sensitive: string[] }[] = [];
      const server = http2.createServer();
      // (four arguments: the rawHeaders one is not in @types/node's overloads)
      server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
        const sensitive = [...(((headers as Record<symbol, unknown>)[http2.sensitiveHeaders] as string[] | undefined) ?? [])];
        received.push({ raw: [...raw], sensitive });
        // echo the request's fields as response headers (pseudo-headers renamed), sensitive ones kept sensitive
        const out: Record<string | symbol, unknown> = { ':status': 200 };
        for (let i = 0; i < raw.length; i += 2) out[raw[i]!.startsWith(':') ? `x-echo-${raw[i]!.slice(1)}` : raw[i]!] = raw[i + 1]!;
        out[http2.sensitiveHeaders] = sensitive;
        stream.respond(out as http2.OutgoingHttpHeaders, { endStream: true });
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const socket = net.connect(port, '127.0.0.1');
      try {
        await once(socket, 'connect');
        const reader = new FrameReader(socket);
        socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME_SETTINGS, 0, 0)]));
        const encoder = new HpackEncoder({ huffman });
        const decoder = new HpackDecoder();
        const bin = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)).toString('base64');
        for (let i = 0; i < 6; i++) {
          const streamId = 1 + 2 * i;
          const fields = [
            ':method', 'POST', ':scheme', 'http', ':path', i % 2 === 0 ? '/echo.Echo/Call' : '/echo.Echo/Other',
            ':authority', `127.0.0.1:${port}`, 'content-type', 'application/grpc', 'te', 'trailers',
            'user-agent', 'hpack-test/1.0', 'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-timeout', `${990 + i}m`,
            'x-call', String(i), 'x-trace-bin', bin, 'x-latin1', 'caf\u00e9 \u00ff\u0080\u00a0!', 'authorization', 'Bearer s3cret',
          ];
          if (i === 2 || i === 5) fields.push('x-long', `${'long-value-0123456789/'.repeat(1800)}${i}`);
          const never = [fields.indexOf('authorization') / 2];
          socket.write(headerFrames(streamId, encoder.encode(fields, never)));
          const { block, frames } = await readHeaderBlock(reader, socket, streamId);
          if (fields.includes('x-long')) assert.ok(frames > 1, 'a long response block comes in HEADERS + CONTINUATION');
          // Node's decoder got exactly our fields, the sensitive one flagged
          assert.deepEqual(received[i]!.raw, fields);
          assert.deepEqual(received[i]!.sensitive, ['authorization']);
          // our decoder gets exactly Node's response (its date header aside)
          const got = decoder.decode(block);
          const expected = [':status', '200'];
          for (let k = 0; k < fields.length; k += 2) {
            expected.push(fields[k]!.startsWith(':') ? `x-echo-${fields[k]!.slice(1)}` : fields[k]!, fields[k + 1]!);
          }
          const dateAt = got.indexOf('date');
          assert.ok(dateAt >= 0 && dateAt % 2 === 0);
          const never2 = decoder.neverIndexed;
          got.splice(dateAt, 2);
          assert.deepEqual(got, expected);
          const authAt = got.indexOf('authorization') / 2;
          assert.ok(never2.includes(authAt + (dateAt / 2 <= authAt ? 1 : 0)), `never-indexed ${never2.join()}`);
        }
        assert.ok(decoder.dynamicTable.length > 0, 'Node indexed something in its table');
      } finally {
        socket.destroy();
        server.close();
      }
    });
  }
});
