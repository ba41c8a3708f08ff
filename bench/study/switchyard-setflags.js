// bin/switchyard.js, but V8's initial heap size is raised in-process (v8.setFlagsFromString) before anything is
// loaded: tests whether the fix for the bulk-transfer Mark-Compacts (bench/study/gc.js) works without a node flag.
import v8 from 'node:v8';

v8.setFlagsFromString(`--initial-heap-size=${process.env.SWY_INITIAL_HEAP_MB ?? '64'}`);
await import('../../bin/switchyard.js');
