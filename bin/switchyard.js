#!/usr/bin/env -S node --initial-heap-size=64
// The flag above: with a larger initial heap V8 stops running a full mark-compact every ~40 MiB forwarded
// (short-lived read buffers promoted under a small heap limit); bulk throughput goes from ~0.75x to >=1x a bare
// Node pipe. See docs/benchmarks.md. It must be on node's command line (NODE_OPTIONS rejects it).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);
