#!/bin/sh
':' //; c=; [ -r /proc/self/status ] && while read -r k v; do [ "$k" = Cpus_allowed_list: ] && c=$v; done < /proc/self/status; case $c in '' | *[-,]*) g= ;; *) g=--single-threaded-gc ;; esac; export MALLOC_TRIM_THRESHOLD_=67108864; exec node --initial-heap-size=64 $g "$0" "$@"
// The two lines above are a launcher: the kernel runs this file with sh, which picks how node runs switchyard and
// execs it on this same file (line 2 is a string and a comment to JavaScript). It covers ./bin/switchyard.js,
// npm's bin link and npx. These settings must exist before the node process does, so they cannot be set from here
// (V8 flags changed at run time can abort the process: its GC keeps state chosen at startup):
// - MALLOC_TRIM_THRESHOLD_ (glibc malloc, 64 MiB instead of 128 KiB): every socket read is a fresh 64 KiB
//   malloc, freed in batches when V8 sweeps the dead Buffers. When those chunks sit at the top of the heap
//   (a matter of layout at startup), glibc gave the memory back to the kernel with brk() after each batch and the
//   next reads faulted it in again: ~5,400 brk calls and ~220,000 page faults per GiB forwarded, 2x the CPU per
//   byte. Whether a process fell into that mode was decided at startup: the bimodal bulk figures. With the higher
//   threshold freed read buffers stay in the heap for the next reads (<5,000 faults/GiB in every run).
//   Cost: up to 64 MiB of freed heap may stay resident after a burst. Other C libraries ignore the variable.
// - --initial-heap-size=64: with a larger initial heap V8 stops running a full mark-compact every ~40 MiB
//   forwarded (short-lived read buffers promoted under a small heap limit). NODE_OPTIONS rejects this flag.
// - --single-threaded-gc, only when the process may run on one CPU (its affinity: taskset, a cpuset cgroup, a
//   1-CPU machine; read from /proc/self/status without starting a process): V8's parallel scavenges and
//   concurrent marking then run on helper threads that share that one CPU with the thread forwarding the bytes, so
//   every GC costs context switches and the main thread waits for helpers queued behind it (the JVM picks its
//   serial collector on one CPU for the same reason). With two or more CPUs node keeps V8's defaults.
//   Measured in docs/benchmarks.md ("One CPU: single-threaded GC").
// `node bin/switchyard.js` skips the launcher (and so these settings): see docs/benchmarks.md "How the bin starts node".
// No re-exec from JavaScript: Node 20 has no execve(), so re-running itself would leave a second node process
// (~40 MB, a signal forwarder between a supervisor and the proxy) for every switchyard; sh's exec replaces itself.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);
