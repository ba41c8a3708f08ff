import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageInfo, ProtocolCodec, ProtocolCodecFactory } from '../../src/protocols/protocol.js';

/** One step of a recorded conversation: bytes one side sent, in the order they were sent. */
export interface TranscriptStep {
  /** 'c' = client → server (request framer), 's' = server → client (response framer). */
  from: 'c' | 's';
  bytes: Buffer | string;
}

export interface DecodedFrame {
  from: 'c' | 's';
  frame: Buffer;
  info: MessageInfo;
}

export type Split = 'whole' | 'bytewise' | 'random';

/** Feed a transcript through one fresh codec; each step is cut into chunks per `split`. */
export function runTranscript(codec: ProtocolCodec, steps: readonly TranscriptStep[], split: Split = 'whole', seed = 1): DecodedFrame[] {
  const out: DecodedFrame[] = [];
  let s = seed >>> 0 || 1;
  const rand = (n: number): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return 1 + (s % n);
  };
  for (const step of steps) {
    const bytes = typeof step.bytes === 'string' ? Buffer.from(step.bytes, 'latin1') : step.bytes;
    const framer = step.from === 'c' ? codec.toUpstream : codec.toDownstream;
    let off = 0;
    while (off < bytes.length) {
      const n = split === 'whole' ? bytes.length : split === 'bytewise' ? 1 : Math.min(bytes.length - off, rand(64));
      framer.push(bytes.subarray(off, off + n));
      off += n;
      for (let f = framer.next(); f !== null; f = framer.next()) {
        out.push({ from: step.from, frame: Buffer.from(f), info: { ...framer.info! } });
      }
    }
  }
  return out;
}


/**
 * The shared protocol conformance suite: for a complete conversation,
 * - frames are wire-exact (their concatenation per direction equals what was sent) and encode() is the identity;
 * - message boundaries do not depend on how the bytes were chunked (whole, byte by byte, random splits) except that a
 *   message may be cut into more frames — the sequence of (start, end, attributes) per message is the same;
 * - pairing balances: every request start (with responses ≠ 0) is answered by as many non-unsolicited response ends.
 */
export function protocolConformance(name: string, factory: ProtocolCodecFactory, transcript: readonly TranscriptStep[], expect?: { requests?: number; responses?: number }): void {
  const sent = (from: 'c' | 's'): Buffer =>
    Buffer.concat(transcript.filter((t) => t.from === from).map((t) => (typeof t.bytes === 'string' ? Buffer.from(t.bytes, 'latin1') : t.bytes)));

  for (const split of ['whole', 'bytewise', 'random'] as const) {
    test(`${name}: wire-exact frames and balanced pairing (${split})`, () => {
      const codec = factory.create();
      const frames = runTranscript(codec, transcript, split, 7);
      for (const from of ['c', 's'] as const) {
        const got = Buffer.concat(frames.filter((f) => f.from === from).map((f) => f.frame));
        assert.deepEqual(got, sent(from), `bytes ${from === 'c' ? 'client → server' : 'server → client'} must be forwarded exactly`);
      }
      for (const f of frames) {
        const framer = f.from === 'c' ? codec.toUpstream : codec.toDownstream;
        assert.deepEqual(framer.encode(f.frame), f.frame, 'encode is the identity');
      }
      let expected = 0;
      let requests = 0;
      let answered = 0;
      for (const f of frames) {
        if (f.info.opaque) continue;
        if (f.from === 'c' && f.info.start) {
          requests++;
          expected += f.info.responses ?? 1;
        }
        if (f.from === 's' && f.info.end && !f.info.unsolicited) answered++;
      }
      assert.equal(answered, expected, 'every request is answered by its responses');
      if (expect?.requests !== undefined) assert.equal(requests, expect.requests, 'number of requests');
      if (expect?.responses !== undefined) assert.equal(answered, expect.responses, 'number of responses');
    });
  }

  test(`${name}: message structure is independent of chunking`, () => {
    const messages = (frames: DecodedFrame[]): string[] => {
      const out: string[] = [];
      for (const f of frames) {
        // Opaque frames (TLS after STARTTLS/SSLRequest, tunnels) are one per chunk by design: bytes only.
        if (f.info.opaque) continue;
        if (f.info.start) out.push(`${f.from} start ${JSON.stringify(f.info.attributes ?? {})} ${f.info.unsolicited ? 'unsolicited' : ''} ${f.info.responses ?? 1}`);
        if (f.info.end) out.push(`${f.from} end`);
      }
      return out;
    };
    const whole = messages(runTranscript(factory.create(), transcript, 'whole'));
    assert.deepEqual(messages(runTranscript(factory.create(), transcript, 'bytewise')), whole);
    for (const seed of [3, 11, 99]) assert.deepEqual(messages(runTranscript(factory.create(), transcript, 'random', seed)), whole);
  });
}
