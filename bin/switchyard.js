#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=67108864 node --initial-heap-size=64
// How node is started (the line above, applied by `env -S` when the bin is executed: ./bin/switchyard.js, npm's
// bin link, npx). Both settings must exist before the process does, so they cannot be set from here:
// - MALLOC_TRIM_THRESHOLD_ (glibc malloc, 64 MiB instead of 128 KiB): every socket read is a fresh 64 KiB
//   malloc, freed in batches when V8 sweeps the dead Buffers. When those chunks sit at the top of the heap
//   (a matter of layout at startup), glibc gave the memory back to the kernel with brk() after each batch and the
//   next reads faulted it in again: ~5,400 brk calls and ~220,000 page faults per GiB forwarded, 2x the CPU per
//   byte. Whether a process fell into that mode was decided at startup: the bimodal bulk figures. With the higher
//   threshold freed read buffers stay in the heap for the next reads (<5,000 faults/GiB in every run).
//   Cost: up to 64 MiB of freed heap may stay resident after a burst. Other C libraries ignore the variable.
// - --initial-heap-size=64: with a larger initial heap V8 stops running a full mark-compact every ~40 MiB
//   forwarded (short-lived read buffers promoted under a small heap limit). NODE_OPTIONS rejects this flag.
// `node bin/switchyard.js` skips this line (and so both settings): see docs/benchmarks.md "How the bin starts node".
// No re-exec: Node 20 has no execve(), so re-running itself would leave a second node process (~40 MB, a signal
// forwarder between a supervisor and the proxy) for every switchyard.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);
