// `npm run bench -- --pinned`: the pinned side-by-side bench. Runs the team's shared bench script (run.sh: the proxy
// alone on CPU 1, load generator and backends on CPU 0, every proxy measured in the same rounds, order rotated) with
// node-pipe and haproxy as peers and switchyard started through its bin, then prints run.sh's tables and the ratio
// of every switchyard configuration to node-pipe, per round, median (min–max).
// See docs/benchmarks.md "Pinned runs".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { binLaunch } from './lib/launch.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const bin = path.join(root, 'bin', 'switchyard.js');

/** switchyard configurations: name → run.sh --proxy-cmd (bash; $LISTEN_* / $TARGET_* come from run.sh). */
const SWITCHYARD = {
  pass: () => `exec ${bin} proxy --listen $LISTEN_HOST:$LISTEN_PORT --upstream $TARGET_HOST:$TARGET_PORT --log-level warn`,
  noop3: (dir) => `exec ${bin} run -c ${path.join(dir, 'proxies', 'switchyard-noop.yaml')} --log-level warn`,
  http: (dir) => `exec ${bin} run -c ${path.join(dir, 'proxies', 'switchyard-http.yaml')} --log-level warn`,
};
/** `noop3:--single-threaded-gc` → ['noop3', '--single-threaded-gc']. */
function splitConfig(c) {
  const i = c.indexOf(':');
  return i < 0 ? [c, undefined] : [c.slice(0, i), c.slice(i + 1)];
}

/** run.sh's name for a configuration: `sy-noop3`, `sy-noop3+single-threaded-gc`. */
function syName(c) {
  const [base, flags] = splitConfig(c);
  return flags === undefined ? `sy-${base}` : `sy-${base}+${flags.replace(/--/g, '').replace(/[ =]+/g, '+')}`;
}

/**
 * The command run.sh starts: the bin itself (its launcher picks node's settings on the proxy's one CPU), or (extra
 * flags) node with the settings that launcher picks there, then those flags: `http:--no-single-threaded-gc` is
 * the bin as it ran before the one-CPU rule.
 */
function proxyCmd(c) {
  const [base, flags] = splitConfig(c);
  const cmd = SWITCHYARD[base](benchDir);
  if (flags === undefined) return cmd;
  const launch = binLaunch(root, { cpus: '1' });
  // NAME=VALUE words are environment variables for the proxy (`http:SWITCHYARD_SHARED_READS=off`), the rest node flags
  const words = flags.split(' ').filter((w) => w.length > 0);
  const own = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
  const nodeFlags = words.filter((w) => !own.includes(w));
  const env = [...Object.entries(launch.env).map(([k, v]) => `${k}=${v}`), ...own].join(' ');
  return cmd.replace(`exec ${bin}`, `exec env ${env} node ${launch.flags.join(' ')} ${nodeFlags.join(' ')} ${bin}`);
}

/** Per test: the figure compared with node-pipe, and whether higher is better. */
const FIGURES = [
  ['http1k_ka', 'p99_us', false, 'keep-alive p99'],
  ['http1k_ka', 'cpu_us_per_req', false, 'keep-alive CPU/req'],
  ['http1k_close', 'rps', true, 'new conns/s'],
  ['http1k_c1', 'p50_us', false, '1-conn p50'],
  ['http64k_ka', 'mib_s', true, '64 KiB MiB/s'],
  ['tcp_p1', 'gbps', true, 'bulk 1 stream'],
  ['tcp_p8', 'gbps', true, 'bulk 8 streams'],
];

const { values: o } = parseArgs({
  options: {
    pinned: { type: 'boolean' },
    'bench-dir': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '6' },
    tests: { type: 'string', default: 'http1k_ka,http1k_close,http1k_c1,tcp_p1,tcp_p8' },
    switchyard: { type: 'string', default: 'pass,noop3' },
    peers: { type: 'string', default: 'node-pipe,haproxy' },
    'port-base': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: false,
});

function fail(msg) {
  process.stderr.write(`bench --pinned: ${msg}\n`);
  process.exit(2);
}

if (o.help) {
  process.stdout.write(`Usage: npm run bench -- --pinned [--rounds 3] [--duration 6] [--tests LIST] [--switchyard pass,noop3,http]
                      [--peers node-pipe,haproxy] [--bench-dir DIR] [--port-base P] [--out FILE]
  Runs the shared pinned bench (DIR/run.sh; default ../shared/bench next to the repo, or $SWITCHYARD_PINNED_BENCH):
  every proxy alone on CPU 1, load and backends on CPU 0, all in the same rounds. Prints run.sh's tables and
  each switchyard configuration's ratio to node-pipe ("at least as good": >= 1.0 is as good or better).
  --tests       ${FIGURES.map((f) => f[0]).filter((t, i, a) => a.indexOf(t) === i).join(',')} (run.sh's names)
  --switchyard  pass = switchyard proxy; noop3 = a listener with three no-op faults; http = protocol: http
                NAME:--node-flag adds node flags to the bin's own (e.g. noop3:--single-threaded-gc), NAME:VAR=VALUE
                sets an environment variable for the proxy (e.g. http:SWITCHYARD_SHARED_READS=off)
                (http listeners cannot carry iperf3: use it with HTTP tests only)
  --peers       run.sh's built-in proxies measured in the same rounds (node-pipe is needed for the ratios)
`);
  process.exit(0);
}

const benchDir = path.resolve(o['bench-dir'] ?? process.env['SWITCHYARD_PINNED_BENCH'] ?? path.join(root, '..', 'shared', 'bench'));
const runSh = path.join(benchDir, 'run.sh');
if (!existsSync(runSh)) {
  fail(`the pinned mode runs the shared bench script, and there is none at ${runSh}. Pass --bench-dir DIR (the directory holding run.sh, lib/ and proxies/) or set SWITCHYARD_PINNED_BENCH.`);
}
if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) fail('dist/ is missing: run npm run build first (npm run bench does)');
// A configuration may carry extra node flags after a colon: `noop3:--no-single-threaded-gc` runs the bin's own node
// settings (its launcher's, on one CPU) plus those flags.
const configs = o.switchyard.split(',').map((s) => s.trim()).filter(Boolean);
for (const c of configs) {
  const [base, flags] = splitConfig(c);
  if (!(base in SWITCHYARD)) fail(`--switchyard: unknown configuration '${base}' (expected ${Object.keys(SWITCHYARD).join(', ')}, optionally NAME:--node-flag or NAME:VAR=VALUE)`);
  const word = '(--[a-z0-9-]+(=[\\w.-]+)?|[A-Z_][A-Z0-9_]*=[\\w.,:/-]*)';
  if (flags !== undefined && !new RegExp(`^${word}( ${word})*$`).test(flags)) fail(`--switchyard: '${flags}' in '${c}' is not a list of node flags like --single-threaded-gc or VAR=VALUE words`);
}
const peers = o.peers.split(',').map((s) => s.trim()).filter(Boolean);
for (const p of peers) if (!existsSync(path.join(benchDir, 'proxies', `${p}.sh`))) fail(`--peers: ${benchDir}/proxies has no '${p}.sh'`);
for (const k of ['rounds', 'duration']) if (!/^[1-9]\d*$/.test(o[k])) fail(`--${k}: expected a positive integer, got '${o[k]}'`);

const session = `pinned-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
const out = path.resolve(o.out ?? path.join(here, 'results', `${session}.tsv`));
mkdirSync(path.dirname(out), { recursive: true });
const args = [runSh, '--rounds', o.rounds, '--duration', o.duration, '--tests', o.tests, '--out', out, '--session', session];
if (o['port-base']) args.push('--port-base', o['port-base']);
for (const p of peers) args.push('--proxy', p);
for (const c of configs) args.push('--proxy-cmd', proxyCmd(c), '--name', syName(c));
process.stderr.write(`bench --pinned: ${runSh} (session ${session}); progress below, results -> ${path.relative(process.cwd(), out)}\n`);
// run.sh prints every RESULT line on stdout too: only its progress (stderr) is shown while it runs.
const r = spawnSync('bash', args, { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) fail(`run.sh exited with ${r.status ?? r.signal}`);

const summary = spawnSync(process.execPath, [path.join(benchDir, 'lib', 'summarize.js'), '--session', session, '--tables', 'main,ratio,cpu', out], { encoding: 'utf8' });
process.stdout.write(summary.stdout);
process.stdout.write(`\n${vsPipe(readFileSync(out, 'utf8'), session)}\n`);

/** Each switchyard configuration against node-pipe: per-round ratio, median (min–max) over rounds. */
function vsPipe(text, id) {
  const v = new Map(); // `${round}\t${name}\t${metric}` → value
  for (const line of text.split('\n')) {
    const p = line.split('\t');
    if (p[0] === 'RESULT' && p[1] === id) v.set(`${p[2]}\t${p[3]}\t${p[4]}`, Number(p[5]));
  }
  const rounds = [...new Set([...v.keys()].map((k) => k.split('\t')[0]))];
  const tests = new Set(o.tests.split(','));
  const figures = FIGURES.filter(([t]) => tests.has(t));
  const median = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const lines = ['### switchyard vs node-pipe, same round ("at least as good": value/pipe when higher is better, pipe/value when lower is; median (min–max) over rounds)', ''];
  lines.push(`| config | ${figures.map((f) => f[3]).join(' | ')} |`, `|---|${figures.map(() => '---').join('|')}|`);
  for (const name of [...peers.filter((p) => p !== 'node-pipe'), ...configs.map(syName)]) {
    const cells = figures.map(([test, metric, higher]) => {
      const ratios = [];
      for (const round of rounds) {
        const a = v.get(`${round}\t${name}\t${test}.${metric}`);
        const b = v.get(`${round}\tnode-pipe\t${test}.${metric}`);
        if (a > 0 && b > 0) ratios.push(higher ? a / b : b / a);
      }
      return ratios.length ? `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : '–';
    });
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
