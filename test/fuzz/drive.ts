/**
 * Feeds one transcript through one fresh target (a codec, or a generic framer per direction) and checks the framing
 * contract on every step. Any violation throws a {@link FuzzViolation}; a decode error that is a typed framing
 * error ends the input as it would end the connection, and is returned.
 *
 * Checked:
 * - every exception is a SwitchyardError with a SWY_* framing code (never SWY_INTERNAL, a RangeError, a TypeError…);
 * - `next()` terminates (a bounded number of frames per drain, no endless empty frames);
 * - wire-exact: the frames' encodings, concatenated, equal the prefix of the input consumed so far, and that prefix
 *   plus `bufferedBytes` is all that was pushed; protocol frames are their own encoding (`encode` is the identity,
 *   `encodeTo` appends the same bytes);
 * - memory: once `next()` returned null, a direction holds at most the target's largest frame (+ overhead) plus the
 *   last chunk pushed.
 */
import { ErrorCodes } from '../../src/core/errors.js';
import type { Framer } from '../../src/framing/framer.js';
import type { Transcript } from './corpus.js';
import { chunks, type Rng } from './mutate.js';
import type { Driven, Target } from './targets.js';

export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

const FRAMING_CODES: ReadonlySet<string> = new Set([ErrorCodes.FRAME_TOO_LARGE, ErrorCodes.FRAME_MALFORMED, ErrorCodes.FRAME_TRUNCATED, ErrorCodes.BUFFER_OVERFLOW]);

export interface DriveResult {
  frames: number;
  /** The typed error code that ended the input, if any. */
  error?: string;
  /** Most bytes a direction held after a drain. */
  maxHeld: number;
}

interface Direction {
  readonly name: 'c' | 's';
  readonly framer: Framer;
  /** Everything this direction will be pushed, in order. */
  readonly input: Buffer;
  pushed: number;
  consumed: number;
  /** Size of the last chunk pushed (it may sit on top of a nearly complete largest frame). */
  lastChunk: number;
  ended: boolean;
}

function typed(err: unknown, where: string): string {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown };
  if (typeof e === 'object' && e !== null && e.name === 'SwitchyardError' && typeof e.code === 'string' && FRAMING_CODES.has(e.code)) return e.code;
  throw new FuzzViolation(`${where}: untyped or unexpected exception: ${String(e?.stack ?? e?.message ?? err)}`);
}

/**
 * Drive one transcript. `rng` picks chunk boundaries and whether the input ends with `end()`; `fixedChunks` feeds
 * each step whole (for clean replays).
 */
export function drive(target: Target, steps: Transcript, rng: Rng | undefined): DriveResult {
  const driven: Driven = target.create();
  const input = (from: 'c' | 's'): Buffer => Buffer.concat(steps.filter((s) => s.from === from).map((s) => s.bytes));
  const dirs: Record<'c' | 's', Direction> = {
    c: { name: 'c', framer: driven.c, input: input('c'), pushed: 0, consumed: 0, lastChunk: 0, ended: false },
    s: { name: 's', framer: driven.s, input: input('s'), pushed: 0, consumed: 0, lastChunk: 0, ended: false },
  };
  const unblocked = new Set<'c' | 's'>();
  if (driven.codec) driven.codec.onUnblocked = (d) => unblocked.add(d === 'toUpstream' ? 'c' : 's');
  const result: DriveResult = { frames: 0, maxHeld: 0 };
  const identity = target.kind === 'protocol';

  const drain = (d: Direction): void => {
    const limit = 2 * (d.pushed - d.consumed) + 64;
    let n = 0;
    let empty = 0;
    for (;;) {
      let f: Buffer | null;
      try {
        f = d.framer.next();
      } catch (err) {
        throw new Stop(typed(err, `${d.name}.next()`));
      }
      if (f === null) break;
      if (++n > limit) throw new FuzzViolation(`${d.name}.next() does not terminate: ${n} frames from ${d.pushed - d.consumed} bytes`);
      let wire: Buffer;
      try {
        wire = d.framer.encode(f);
      } catch (err) {
        throw new FuzzViolation(`${d.name}.encode() of a decoded frame threw: ${String((err as Error).stack ?? err)}`);
      }
      if (identity && wire !== f && !wire.equals(f)) throw new FuzzViolation(`${d.name}: a protocol frame's encode() is not the identity`);
      if (d.framer.encodeTo) {
        const out: Buffer[] = [];
        d.framer.encodeTo(f, out);
        if (!Buffer.concat(out).equals(wire)) throw new FuzzViolation(`${d.name}: encodeTo() differs from encode()`);
      }
      const expected = d.input.subarray(d.consumed, d.consumed + wire.length);
      if (!expected.equals(wire)) {
        throw new FuzzViolation(`${d.name}: frame ${result.frames} is not wire-exact at input offset ${d.consumed}: got ${JSON.stringify(wire.toString('latin1').slice(0, 200))}, input has ${JSON.stringify(expected.toString('latin1').slice(0, 200))}`);
      }
      // a frame that consumed no input must not repeat without end
      empty = wire.length === 0 ? empty + 1 : 0;
      if (empty > 64) throw new FuzzViolation(`${d.name}.next() returns frames that consume nothing, without end`);
      d.consumed += wire.length;
      result.frames++;
    }
    const held = d.framer.bufferedBytes;
    if (d.consumed + held !== d.pushed) {
      throw new FuzzViolation(`${d.name}: ${d.consumed} bytes framed + ${held} held ≠ ${d.pushed} pushed`);
    }
    if (held > target.held + d.lastChunk) {
      throw new FuzzViolation(`${d.name}: holds ${held} bytes after next() returned null (bound ${target.held} + last chunk ${d.lastChunk})`);
    }
    result.maxHeld = Math.max(result.maxHeld, held);
  };

  const drainUnblocked = (): void => {
    for (let rounds = 0; unblocked.size > 0; rounds++) {
      if (rounds > 1000) throw new FuzzViolation('onUnblocked keeps firing');
      const [d] = unblocked;
      unblocked.delete(d!);
      drain(dirs[d!]);
    }
  };

  try {
    for (const step of steps) {
      const d = dirs[step.from];
      for (const chunk of rng ? chunks(rng, step.bytes) : [step.bytes]) {
        try {
          d.framer.push(chunk);
        } catch (err) {
          throw new Stop(typed(err, `${d.name}.push()`));
        }
        d.pushed += chunk.length;
        d.lastChunk = chunk.length;
        drain(d);
        drainUnblocked();
      }
    }
    // the input ends: both directions (in a random order), one, or none
    const order: ('c' | 's')[] = rng === undefined ? [] : rng.chance(0.5) ? ['c', 's'] : ['s', 'c'];
    const ends = rng === undefined ? 0 : rng.int(3);
    for (const name of order.slice(0, ends)) {
      const d = dirs[name];
      d.framer.end();
      d.ended = true;
      drain(d);
      drainUnblocked();
    }
  } catch (err) {
    if (err instanceof Stop) result.error = err.code;
    else throw err;
  }
  return result;
}

/** A typed decode error: the connection would close here. */
class Stop extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}
