/** The fuzz inputs: recorded corpora, and the generated or mutated transcript for one seed. */
import { readCorpus, corpusNames, type Transcript } from './corpus.js';
import { Rng, mutateTranscript, randomTranscript } from './mutate.js';
import type { Target } from './targets.js';

export const corpora = new Map(corpusNames().map((n) => [n, readCorpus(n)] as const));
/** Splice material: every recorded step of every corpus. */
const pool = [...corpora.values()].flatMap((ts) => ts.flatMap((t) => t.map((s) => s.bytes))).filter((b) => b.length > 0);
/** Every recorded transcript (a protocol's codec also gets other protocols' conversations). */
const everything = [...corpora.values()].flat();

/** A valid input for a generic framer: random payloads through its own encoder. */
export function encodedFrames(target: Target, rng: Rng): Transcript {
  const enc = target.create().c;
  const parts: Buffer[] = [];
  for (let i = 1 + rng.int(6); i > 0; i--) {
    const size = target.name === 'fixed' ? 8 : rng.int(rng.chance(0.9) ? 64 : 1100);
    try {
      parts.push(enc.encode(rng.bytes(size)));
    } catch {
      // too large for the target, or a payload it cannot carry: leave it out
    }
  }
  return [{ from: 'c', bytes: Buffer.concat(parts) }];
}


/** Clean transcripts of a target: seeds that replay without an error and give frames. */
export function seedsOf(target: Target): Transcript[] {
  return corpora.get(target.corpus) ?? [];
}

/**
 * Input number `seed` for a target: random bytes, valid frames from the framer's encoder, a clean transcript as
 * recorded, or a mutation of a recorded transcript (its own protocol's, sometimes another's). The returned Rng
 * goes on to pick the chunk boundaries.
 */
export function inputFor(target: Target, clean: readonly Transcript[], seed: number): { input: Transcript; rng: Rng } {
  const rng = new Rng(seed);
  const seeds = seedsOf(target);
  const kind = rng.int(20);
  const input =
    kind === 0 ? randomTranscript(rng)
      : kind === 1 && target.kind === 'framer' ? encodedFrames(target, rng)
        : kind === 2 ? rng.pick(clean)
          : mutateTranscript(rng, kind === 3 ? rng.pick(everything) : rng.pick(seeds), pool);
  return { input, rng };
}
