// Self time per function in a V8 .cpuprofile (node --cpu-prof), heaviest first.
// Usage: node bench/study/cpuprofile-top.js FILE.cpuprofile [N=30] [--per COUNT]  (--per: also µs per unit of work)
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
const perIdx = process.argv.indexOf('--per');
const per = perIdx > 0 ? Number(process.argv[perIdx + 1]) : 0;
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const n = byId.get(p.samples[i]);
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  const dt = p.timeDeltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(nArg ?? 30));
for (const [k, us] of rows) {
  process.stdout.write(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%${per ? `${(us / per).toFixed(2).padStart(9)} µs/unit` : ''}  ${k}\n`);
}
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms sampled (idle included)\n`);
