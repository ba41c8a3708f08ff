// The HPACK codec of the frame-level HTTP/2 engine (dist/grpc/frames/hpack.js), in process: ns per decode and per
// encode of a typical gRPC request block and of a response headers + trailers pair, for the first block of a
// connection (fresh tables) and in steady state (a long-lived pair; grpc-timeout changes per call). The blocks the
// decoder reads are made by our encoder (raw strings, and Huffman) and by Node's own http2 client (nghttp2, captured
// from a raw socket here), since those are what the engine will decode. Bounded: --rounds × --count operations per
// case after a warm-up of --count.
//
//   node bench/study/hpack.js [--count 20000] [--rounds 5] [--only REGEX]
//   node bench/study/hpack.js --callgrind [--count 20000]     instructions per operation (valgrind), see below
//
// Wall-clock ns on a busy shared machine are noise to within tens of percent; --callgrind runs each case under
// `valgrind --tool=callgrind` twice (warm-up + N and warm-up + 2N operations) and reports (Ir(2N) − Ir(N)) / N: the
// instructions of one operation, JIT warm-up and startup cancelled out; node runs with --single-threaded (no
// background compiler or GC threads, whose timing otherwise moves the difference by hundreds of instructions) and
// collects the setup's garbage before the measured part.
// Needs `npm run build`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HpackDecoder, HpackEncoder } from '../../dist/grpc/frames/hpack.js';

const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    only: { type: 'string', default: '' },
    callgrind: { type: 'boolean', default: false },
    case: { type: 'string', default: '' },
  },
});
const COUNT = Number(opt.count);
const ROUNDS = Number(opt.rounds);

const REQUEST = [
  ':method', 'POST', ':scheme', 'http', ':path', '/bench.Bench/Echo', ':authority', '127.0.0.1:50051',
  'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14.0',
  'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-timeout', '999m',
];
const RESPONSE = [':status', '200', 'content-type', 'application/grpc', 'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-encoding', 'identity'];
const TRAILERS = ['grpc-status', '0', 'grpc-message', ''];
const TIMEOUTS = Array.from({ length: 1000 }, (_, i) => `${999 - (i % 1000)}m`);
const withTimeout = (i) => {
  const r = REQUEST.slice();
  r[r.length - 1] = TIMEOUTS[i % TIMEOUTS.length];
  return r;
};

/** Blocks of one connection from our encoder: the first, then steady-state ones (after two calls). */
function ourBlocks(huffman) {
  const e = new HpackEncoder({ huffman });
  const first = e.encode(withTimeout(0));
  e.encode(withTimeout(1));
  const steady = e.encode(withTimeout(2));
  const r = new HpackEncoder({ huffman }); // the other direction's encoder
  const resp = [];
  for (let k = 0; k < 3; k++) resp.push(r.encode(RESPONSE), r.encode(TRAILERS));
  return { first, steady, respPrime: resp.slice(0, 4), respSteady: resp.slice(4) };
}

/** The HEADERS blocks Node's http2 client (nghttp2) sends for n such requests on one connection, in order. */
async function nodeBlocks(n) {
  const blocks = [];
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let preface = false;
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!preface && buf.length >= 24) {
        buf = buf.subarray(24);
        preface = true;
        s.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // our SETTINGS
      }
      while (preface && buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const type = buf[3];
        const flags = buf[4];
        if (type === 4 && (flags & 1) === 0) s.write(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]));
        if (type === 1) {
          if ((flags & 0x2c) !== 0x04) throw new Error('expected one unpadded HEADERS frame with END_HEADERS');
          blocks.push(Buffer.from(buf.subarray(9, 9 + len)));
        }
        buf = buf.subarray(9 + len);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const client = http2.connect(`http://127.0.0.1:${server.address().port}`);
  client.on('error', () => undefined);
  for (let i = 0; i < n; i++) {
    const h = {};
    for (let k = 0; k < REQUEST.length; k += 2) h[REQUEST[k]] = REQUEST[k + 1];
    h['grpc-timeout'] = TIMEOUTS[i % TIMEOUTS.length];
    const req = client.request(h, { endStream: false });
    req.on('error', () => undefined);
    while (blocks.length <= i) await new Promise((r) => setImmediate(r));
    req.close();
  }
  client.destroy();
  server.close();
  return blocks;
}

/** Each case: a setup that returns the operation to repeat (op(i) for the i-th call). */
async function cases(withNode) {
  const raw = ourBlocks(false);
  const huff = ourBlocks(true);
  const node = withNode ? await nodeBlocks(2 + TIMEOUTS.length) : [];
  const primed = (blocks) => {
    const d = new HpackDecoder();
    for (const b of blocks) d.decode(b);
    return d;
  };
  // our steady block inserts nothing (indexed fields and grpc-timeout's literal without indexing): it can be decoded
  // again and again; Node's blocks insert each call's grpc-timeout, so they are decoded in their order (a fresh
  // decoder primed with the first two every 1000 blocks)
  const decodeSteady = (prime, block) => {
    const d = primed(prime);
    return () => d.decode(block);
  };
  const decodeNodeSteady = () => {
    let d;
    return (i) => {
      const k = i % TIMEOUTS.length;
      if (k === 0) d = primed(node.slice(0, 2));
      d.decode(node[2 + k]);
    };
  };
  const rawSecond = (() => {
    const e = new HpackEncoder();
    e.encode(withTimeout(0));
    return e.encode(withTimeout(1));
  })();
  const huffSecond = (() => {
    const e = new HpackEncoder({ huffman: true });
    e.encode(withTimeout(0));
    return e.encode(withTimeout(1));
  })();
  return {
    'decode request, first block (raw strings)': () => () => new HpackDecoder().decode(raw.first),
    'decode request, steady (raw strings)': () => decodeSteady([raw.first, rawSecond], raw.steady),
    'decode request, first block (Huffman)': () => () => new HpackDecoder().decode(huff.first),
    'decode request, steady (Huffman)': () => decodeSteady([huff.first, huffSecond], huff.steady),
    'decode request, first block (from node:http2)': () => () => new HpackDecoder().decode(node[0]),
    'decode request, steady (from node:http2)': decodeNodeSteady,
    'decode response headers + trailers, steady': () => {
      const d = new HpackDecoder();
      for (const b of raw.respPrime) d.decode(b);
      return () => {
        d.decode(raw.respSteady[0]);
        d.decode(raw.respSteady[1]);
      };
    },
    'encode request, first block': () => (i) => new HpackEncoder().encode(withTimeout(i)),
    'encode request, steady': () => {
      const e = new HpackEncoder();
      const lists = TIMEOUTS.map((_, i) => withTimeout(i));
      e.encode(lists[0]);
      e.encode(lists[1]);
      return (i) => e.encode(lists[i % lists.length]);
    },
    'encode request, steady (Huffman)': () => {
      const e = new HpackEncoder({ huffman: true });
      const lists = TIMEOUTS.map((_, i) => withTimeout(i));
      e.encode(lists[0]);
      e.encode(lists[1]);
      return (i) => e.encode(lists[i % lists.length]);
    },
    'encode response headers + trailers, steady': () => {
      const e = new HpackEncoder();
      for (let k = 0; k < 2; k++) {
        e.encode(RESPONSE);
        e.encode(TRAILERS);
      }
      return () => {
        e.encode(RESPONSE);
        e.encode(TRAILERS);
      };
    },
  };
}

function run(op, n, offset) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op(offset + i);
  return Number(process.hrtime.bigint() - t) / n;
}

const all = await cases(opt.case === '' ? !opt.callgrind : opt.case.includes('node:http2'));
const only = opt.only === '' ? null : new RegExp(opt.only);
const names = Object.keys(all).filter((n) => only === null || only.test(n));

if (opt.case !== '') {
  // one case, warm-up + --count operations, for --callgrind
  // warm-up, then the setup's garbage collected so that no collection of it lands in one run's measured part only
  const op = all[opt.case]();
  run(op, COUNT, 0);
  globalThis.gc();
  globalThis.gc();
  run(op, Number(opt.rounds) * COUNT, COUNT);
  process.exit(0);
} else if (opt.callgrind) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hpack-cg-'));
  const self = fileURLToPath(import.meta.url);
  const ir = (name, rounds) => {
    const out = path.join(tmp, `cg.${rounds}`);
    execFileSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, '--single-threaded', '--expose-gc', self, '--case', name, '--count', String(COUNT), '--rounds', String(rounds)], { stdio: 'ignore', timeout: 600_000 });
    const m = /^(?:summary|totals):\s+(\d+)/m.exec(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out);
    return Number(m[1]);
  };
  console.log(`| case (callgrind, ${COUNT} operations) | instructions per operation |`);
  console.log('|:--|--:|');
  for (const name of names) {
    const per = (ir(name, 2) - ir(name, 1)) / COUNT;
    console.log(`| ${name} | ${Math.round(per)} |`);
  }
  fs.rmSync(tmp, { recursive: true });
} else {
  console.log(`| case (${ROUNDS} rounds × ${COUNT}, after a warm-up of ${COUNT}) | ns per operation, median | min | block octets |`);
  console.log('|:--|--:|--:|--:|');
  const raw = ourBlocks(false);
  const huff = ourBlocks(true);
  const node = await nodeBlocks(3);
  const sizes = {
    'decode request, first block (raw strings)': raw.first.length,
    'decode request, steady (raw strings)': raw.steady.length,
    'decode request, first block (Huffman)': huff.first.length,
    'decode request, steady (Huffman)': huff.steady.length,
    'decode request, first block (from node:http2)': node[0].length,
    'decode request, steady (from node:http2)': node[2].length,
    'decode response headers + trailers, steady': raw.respSteady[0].length + raw.respSteady[1].length,
    'encode request, first block': raw.first.length,
    'encode request, steady': raw.steady.length,
    'encode request, steady (Huffman)': huff.steady.length,
    'encode response headers + trailers, steady': raw.respSteady[0].length + raw.respSteady[1].length,
  };
  for (const name of names) {
    const op = all[name]();
    run(op, COUNT, 0);
    const ns = [];
    for (let r = 0; r < ROUNDS; r++) ns.push(run(op, COUNT, (r + 1) * COUNT));
    ns.sort((a, b) => a - b);
    console.log(`| ${name} | ${ns[ns.length >> 1].toFixed(0)} | ${ns[0].toFixed(0)} | ${sizes[name]} |`);
  }
}
