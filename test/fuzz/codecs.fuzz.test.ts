/**
 * Codec fuzzing (issue 10): every built-in framer and protocol codec (test/fuzz/targets.ts) is fed generated and
 * mutated inputs, seeded from recorded real-client transcripts (test/fuzz/corpus/, written by record.ts): byte flips,
 * insertions, deletions, duplications, splices of other recorded messages, huge length fields, truncation, steps
 * dropped, repeated, reordered or sent the wrong way, random bytes, and random chunk boundaries — to both directions.
 * Checks per input (drive.ts): only typed SWY_* framing errors, `next()` terminates, frames are wire-exact, held
 * bytes stay bounded; after an error a fresh codec replays a clean transcript exactly.
 *
 * FUZZ_INPUTS: inputs per target (default 2000 in `npm test`; `npm run fuzz` runs ≥ 10^6 in total).
 * FUZZ_SEED: the seed (default fixed). FUZZ_SECONDS: time bound per target (default 120). FUZZ_REPORT: a file to
 * write the per-target statistics to (JSON). A failure prints the target, the input's seed and its bytes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Transcript } from './corpus.js';
import { drive, FuzzViolation } from './drive.js';
import { inputFor, seedsOf } from './inputs.js';
import { TARGETS } from './targets.js';

const INPUTS = Number(process.env.FUZZ_INPUTS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 120);

interface Stats {
  target: string;
  inputs: number;
  frames: number;
  errors: Record<string, number>;
  freshChecks: number;
  maxHeld: number;
  seconds: number;
}
const report: Stats[] = [];

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function show(t: Transcript): string {
  return JSON.stringify(t.map((s) => [s.from, s.bytes.toString('base64')]));
}

for (const target of TARGETS) {
  const seeds = seedsOf(target);

  test(`fuzz ${target.name}: ${INPUTS} generated and mutated inputs`, () => {
    // clean transcripts: seeds that replay without an error and give frames (every protocol seed must)
    const clean = seeds.filter((t) => {
      const r = drive(target, t, undefined);
      if (target.kind === 'protocol') assert.equal(r.error, undefined, `${target.name}: a recorded transcript fails to decode: ${r.error}`);
      return r.error === undefined && r.frames > 0;
    });
    assert.ok(clean.length > 0, `${target.name}: no clean seed transcript in test/fuzz/corpus/${target.corpus}`);
    const stats: Stats = { target: target.name, inputs: 0, frames: 0, errors: {}, freshChecks: 0, maxHeld: 0, seconds: 0 };
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    const base = (SEED ^ hash(target.name)) >>> 0;
    for (let i = 0; i < INPUTS && performance.now() < deadline; i++) {
      const { input, rng } = inputFor(target, clean, (base + i) >>> 0);
      let result;
      try {
        result = drive(target, input, rng);
      } catch (err) {
        if (err instanceof FuzzViolation) {
          assert.fail(`${target.name}, input ${i} (FUZZ_SEED=${SEED}, input seed ${(base + i) >>> 0}: node --import tsx test/fuzz/replay.ts '${target.name}' ${(base + i) >>> 0}): ${err.message}\ninput: ${show(input)}`);
        }
        throw err;
      }
      stats.inputs++;
      stats.frames += result.frames;
      stats.maxHeld = Math.max(stats.maxHeld, result.maxHeld);
      if (result.error !== undefined) {
        const seen = (stats.errors[result.error] ?? 0) + 1;
        stats.errors[result.error] = seen;
        // after an error a fresh codec works: replay a clean transcript exactly (first error of a code, then 1 in 16)
        if (seen === 1 || seen % 16 === 0) {
          const fresh = drive(target, clean[i % clean.length]!, undefined);
          assert.equal(fresh.error, undefined, `${target.name}: a fresh codec fails after ${result.error} (input ${i})`);
          assert.ok(fresh.frames > 0);
          stats.freshChecks++;
        }
      }
    }
    stats.seconds = Math.round((performance.now() - started) / 10) / 100;
    report.push(stats);
    if (stats.inputs < INPUTS) console.log(`${target.name}: time bound (${SECONDS} s) reached after ${stats.inputs} of ${INPUTS} inputs`);
    assert.ok(stats.inputs > 0);
  });
}

after(() => {
  const total = report.reduce((n, s) => n + s.inputs, 0);
  const summary = { seed: SEED, inputsPerTarget: INPUTS, totalInputs: total, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), targets: report };
  if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, `${JSON.stringify(summary, null, 2)}\n`);
  if (process.env.FUZZ_VERBOSE || process.env.FUZZ_REPORT) console.log(JSON.stringify({ totalInputs: total, maxRssMiB: summary.maxRssMiB }));
});
