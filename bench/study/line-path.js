// In-process micro-benchmark of the framed data path for `--framing line` (no sockets): how much CPU per MiB
// the session's decode → encode → concat costs, and what cheaper shapes of the same work would cost.
// Needs the build (dist/). Usage: node --expose-gc bench/study/line-path.js [--mib 256] [--line 100] [--chunk 65536]
//
//   encode    the session path before encodeTo: push, next() per frame, 3 stats counters per frame,
//             out.push(encode(frame)) (a new Buffer + copies per frame), Buffer.concat(out)
//   encodeTo  the session path with the framer's encodeTo (src/session/gather.ts encodeInto): out.push(frame, '\n')
//             per frame (re-validating each frame), then Buffer.concat(out) (one copy)
//   batch     same decode; frames collected, then ONE output Buffer of Σ(len + 1) filled with frame + '\n'
//             (encode's re-validation of a frame this framer just decoded is skipped; counters added once per batch)
//   forward   no per-frame objects at all: the complete lines of a chunk are validated in place (max length, and
//             no '\r' so that decode+encode is the identity) and forwarded as one zero-copy subarray
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values: o } = parseArgs({ options: { mib: { type: 'string', default: '256' }, line: { type: 'string', default: '100' }, chunk: { type: 'string', default: '65536' } } });
const { LineFramer, lineOptionsSchema } = await import('../../dist/framing/line.js');

const LF = 0x0a;
const CR = 0x0d;
const lineLen = Number(o.line);
const chunkLen = Number(o.chunk);
const total = Math.floor((Number(o.mib) * 1048576) / lineLen) * lineLen;
// the byte stream: lineLen-byte lines; cut into chunkLen pieces that do not respect line boundaries
const pattern = Buffer.alloc(lineLen * chunkLen, 'x'.charCodeAt(0));
for (let i = lineLen - 1; i < pattern.length; i += lineLen) pattern[i] = LF;
const chunks = [];
for (let off = 0; off < pattern.length; off += chunkLen) chunks.push(pattern.subarray(off, off + chunkLen));
const opts = lineOptionsSchema.parse({});

function* stream() {
  let left = total;
  for (let i = 0; left > 0; i = (i + 1) % chunks.length) {
    const c = chunks[i];
    const n = Math.min(left, c.length);
    left -= n;
    yield n === c.length ? c : c.subarray(0, n);
  }
}

const stats = [{ frames: 0 }, { frames: 0 }, { frames: 0 }];

function sessionPath(useEncodeTo) {
  const f = new LineFramer(opts);
  let outBytes = 0;
  for (const chunk of stream()) {
    f.push(chunk);
    const out = [];
    for (let frame = f.next(); frame !== null; frame = f.next()) {
      for (let i = 0; i < stats.length; i++) stats[i].frames++;
      if (useEncodeTo) f.encodeTo(frame, out);
      else out.push(f.encode(frame));
    }
    if (out.length > 0) outBytes += (out.length === 1 ? out[0] : Buffer.concat(out)).length;
  }
  return outBytes;
}

function batch() {
  const f = new LineFramer(opts);
  let outBytes = 0;
  const frames = [];
  for (const chunk of stream()) {
    f.push(chunk);
    let size = 0;
    for (let frame = f.next(); frame !== null; frame = f.next()) {
      frames.push(frame);
      size += frame.length + 1;
    }
    if (frames.length === 0) continue;
    for (let i = 0; i < stats.length; i++) stats[i].frames += frames.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (let k = 0; k < frames.length; k++) {
      const fr = frames[k];
      at += fr.copy(out, at);
      out[at++] = LF;
    }
    frames.length = 0;
    outBytes += out.length;
  }
  return outBytes;
}

function forward() {
  const max = opts.maxLength;
  let held = null; // bytes of an incomplete line carried over
  let outBytes = 0;
  let lines = 0;
  for (let chunk of stream()) {
    if (held) {
      chunk = Buffer.concat([held, chunk]); // (a real implementation would copy only up to the first LF)
      held = null;
    }
    const last = chunk.lastIndexOf(LF);
    if (last < 0) {
      held = chunk;
      continue;
    }
    if (chunk.indexOf(CR) >= 0 && chunk.indexOf(CR) < last) throw new Error('CR seen: fall back to decode/encode');
    let prev = -1;
    for (let at = chunk.indexOf(LF); at >= 0 && at <= last; at = chunk.indexOf(LF, at + 1)) {
      if (at - prev - 1 > max) throw new Error('line too long');
      prev = at;
      lines++;
    }
    outBytes += last + 1;
    if (last + 1 < chunk.length) held = chunk.subarray(last + 1);
  }
  for (let i = 0; i < stats.length; i++) stats[i].frames += lines;
  return outBytes;
}

const VARIANTS = { encode: () => sessionPath(false), ...(typeof LineFramer.prototype.encodeTo === 'function' ? { encodeTo: () => sessionPath(true) } : {}), batch, forward };
const results = {};
for (let round = 0; round < 3; round++) {
  for (const [name, fn] of Object.entries(VARIANTS)) {
    globalThis.gc?.();
    const t0 = performance.now();
    const bytes = fn();
    const ms = performance.now() - t0;
    if (bytes !== total) throw new Error(`${name}: ${bytes} bytes out, expected ${total}`);
    (results[name] ??= []).push(ms);
  }
}
const mib = total / 1048576;
console.log(`line framing data path, in process: ${mib.toFixed(0)} MiB of ${lineLen}-byte lines in ${chunkLen}-byte chunks; best of 3 (node ${process.version})`);
console.log('| variant | MiB/s | CPU µs/MiB |');
console.log('|:--|--:|--:|');
for (const [name, ms] of Object.entries(results)) {
  const best = Math.min(...ms);
  console.log(`| ${name} | ${(mib / (best / 1000)).toFixed(0)} | ${((best * 1000) / mib).toFixed(0)} |`);
}
