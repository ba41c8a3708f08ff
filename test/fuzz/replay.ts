/**
 * Replays one fuzz input (as the fuzz test names it on a failure) and prints what happened, frame by frame:
 *   node --import tsx test/fuzz/replay.ts '<target name>' <input seed>
 */
import { drive, FuzzViolation } from './drive.js';
import { inputFor, seedsOf } from './inputs.js';
import { TARGETS } from './targets.js';

const [name, seedText] = process.argv.slice(2);
const target = TARGETS.find((t) => t.name === name);
if (!target || seedText === undefined) {
  console.error(`usage: replay.ts '<target>' <seed>\ntargets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
const clean = seedsOf(target).filter((t) => drive(target, t, undefined).error === undefined);
const { input, rng } = inputFor(target, clean, Number(seedText));
for (const s of input) console.log(s.from, JSON.stringify(s.bytes.toString('latin1').slice(0, 400)), s.bytes.length);
try {
  console.log(drive(target, input, rng));
} catch (err) {
  console.log(err instanceof FuzzViolation ? `VIOLATION: ${err.message}` : err);
}
