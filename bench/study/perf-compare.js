// CPU per request (or per connection) of proxies sampled by bench/study/perf-record.sh, side by side: totals by where
// the time went (kernel, JIT code, the node binary, libc) and the symbols whose share differs most from the first
// proxy's. Samples are at 4,999 Hz, so µs per request = samples / 4999 / (req/s × seconds) × 1e6.
//
//   node bench/study/perf-compare.js pipe http [passjs] [--top 30]
//
// Reads /tmp/perf-NAME.data and /tmp/perf-NAME.rps. Needs perf.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: o, positionals: names } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
if (names.length < 2) {
  process.stderr.write('usage: node bench/study/perf-compare.js BASE OTHER [MORE...] [--top N]\n');
  process.exit(2);
}

/** µs per unit of work by "dso symbol", for one recorded proxy. */
function load(name) {
  const [rps, secs] = readFileSync(`/tmp/perf-${name}.rps`, 'utf8').trim().split(/\s+/).map(Number);
  const out = execFileSync('perf', ['report', '-i', `/tmp/perf-${name}.data`, '--stdio', '--no-children', '-g', 'none', '--sort', 'dso,sym', '-F', 'sample,dso,sym'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const us = new Map();
  for (const line of out.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const key = m[2].replace(/\[JIT\] tid \d+/, '[JIT]').replace(/\s+/g, ' ').trim();
    us.set(key, (us.get(key) ?? 0) + (Number(m[1]) / 4999 / (rps * secs)) * 1e6);
  }
  return { name, rps, us };
}

const runs = names.map(load);
const sum = (m, pred) => [...m].reduce((a, [k, v]) => (pred(k) ? a + v : a), 0);
const groups = [
  ['kernel', (k) => k.startsWith('[kernel')],
  ['JIT code', (k) => k.startsWith('[JIT]')],
  ['node binary', (k) => k.startsWith('node ')],
  ['libc', (k) => k.startsWith('libc')],
  ['total', () => true],
];
process.stdout.write(`| µs per unit | ${runs.map((r) => `${r.name} (${r.rps} /s)`).join(' | ')} |\n|---|${runs.map(() => '--:|').join('')}\n`);
for (const [label, pred] of groups) process.stdout.write(`| ${label} | ${runs.map((r) => sum(r.us, pred).toFixed(2)).join(' | ')} |\n`);
const base = runs[0];
const keys = new Set(runs.flatMap((r) => [...r.us.keys()]));
const diff = (k) => Math.max(...runs.slice(1).map((r) => Math.abs((r.us.get(k) ?? 0) - (base.us.get(k) ?? 0))));
const top = [...keys].sort((a, b) => diff(b) - diff(a)).slice(0, Number(o.top));
process.stdout.write(`\nsymbols differing most from ${base.name} (µs per unit: ${runs.map((r) => r.name).join(' / ')})\n`);
for (const k of top) process.stdout.write(`${runs.map((r) => (r.us.get(k) ?? 0).toFixed(2).padStart(6)).join(' ')}  ${k.slice(0, 110)}\n`);
