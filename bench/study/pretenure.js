// Two V8 behaviours that keep short-lived objects alive through scavenges (docs/architecture.md, "Closures and the
// GC"), each in isolation: 300,000 objects made and dropped (4 alive at a time), each holding 64 small objects that only
// a closure's context (or a WeakMap value) reaches. Prints what V8's scavenges promoted to the old generation.
//
//   node bench/study/pretenure.js
//
// Modes: none (nothing else), local (`const f = () => big; this.f = f`), direct (`this.f = () => big`: the function
// literal is assigned straight to a property, which V8 allocates in the old generation), weakmap-plain (a WeakMap
// entry per object whose value does not reach it), weakmap-cycle (a WeakMap entry whose value reaches its key).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODES = ['none', 'local', 'direct', 'weakmap-plain', 'weakmap-cycle'];

function run(mode) {
  const wm = new WeakMap();
  class Holder {
    f = undefined;
    wire() {
      const big = Array.from({ length: 64 }, (_, i) => ({ i }));
      if (mode === 'local') {
        const f = () => big.length;
        this.f = f;
      } else if (mode === 'direct') {
        this.f = () => big.length;
      } else if (mode === 'weakmap-plain') {
        this.big = big;
        wm.set(this, { n: big.length });
      } else if (mode === 'weakmap-cycle') {
        wm.set(this, { fns: [() => this], big });
      } else this.big = big;
    }
  }
  const keep = [];
  for (let i = 0; i < 300_000; i++) {
    const h = new Holder();
    h.wire();
    keep.push(h);
    if (keep.length > 4) keep.shift();
  }
}

const mode = process.argv[2];
if (mode !== undefined) run(mode);
else {
  const self = fileURLToPath(import.meta.url);
  process.stdout.write('| mode | scavenges | MB allocated in the young generation | MB promoted |\n|:--|--:|--:|--:|\n');
  for (const m of MODES) {
    const out = execFileSync(process.execPath, ['--max-semi-space-size=8', '--min-semi-space-size=8', '--trace-gc-nvp', self, m], { encoding: 'utf8' });
    let n = 0;
    let allocated = 0;
    let promoted = 0;
    for (const line of out.split('\n')) {
      if (!line.includes(' gc=s ')) continue;
      n++;
      allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
      promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
    }
    process.stdout.write(`| ${m} | ${n} | ${(allocated / 1e6).toFixed(0)} | ${(promoted / 1e6).toFixed(2)} |\n`);
  }
}
