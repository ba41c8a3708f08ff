/** Issue 10 §5: config values that mean what they say (one value grammar, ranges, match keys, regexes, one pass). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import type { SwitchyardConfig } from '../../src/config/types.js';

function check(raw: unknown): { ok: true; config: SwitchyardConfig } | { ok: false; issues: string[] } {
  const r = validateConfig(raw, createFramerRegistry(), { env: {} });
  return r.ok ? r : { ok: false, issues: r.errors.map((e) => `${e.path}: ${e.message}`) };
}

function issues(raw: unknown): string[] {
  const r = check(raw);
  return r.ok ? [] : r.issues;
}

function valid(raw: unknown): SwitchyardConfig {
  const r = check(raw);
  assert.ok(r.ok, `expected valid, got ${JSON.stringify(!r.ok && r.issues)}`);
  return r.config;
}

const cfg = (listener: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  listeners: [{ id: 'l1', listen: '127.0.0.1:0', ...listener }],
  clusters: [{ id: 'c1', endpoints: ['127.0.0.1:1'] }],
  routes: [{ id: 'r1', listener: 'l1', cluster: 'c1', ...extra }],
});

test('durations above 2^31-1 ms are refused wherever a duration is accepted', () => {
  const raw = cfg({ idleTimeout: '600h' });
  (raw['clusters'] as Record<string, unknown>[])[0]!['connectTimeout'] = 1e12;
  assert.deepEqual(issues(raw), [
    'listeners[0].idleTimeout: duration "600h" is too large: at most 2147483647ms (about 24.8 days; Node timers overflow beyond)',
    'clusters[0].connectTimeout: duration 1000000000000 is too large: at most 2147483647ms (about 24.8 days; Node timers overflow beyond)',
  ]);
  assert.equal(valid(cfg({ idleTimeout: 2 ** 31 - 1 })).listeners[0]!.idleTimeout, 2 ** 31 - 1);
});

test('fault attributes in ms (and s) take duration strings; numbers keep their meaning', async () => {
  const c = valid(
    cfg({
      protocol: 'http',
      faults: [
        { type: 'latency', attributes: { latency: '200ms', jitter: '1s' } },
        { type: 'delay', attributes: { sleep: '250ms' } },
        { type: 'slow_close', attributes: { delay: 40 } },
        { type: 'timeout', attributes: { timeout: '2m' } },
      ],
    }),
  );
  const attrs = c.listeners[0]!.faults!.map((f) => f.attributes);
  // The config keeps what was written; the options schema (used by the fault set) converts.
  assert.deepEqual(attrs[0], { latency: '200ms', jitter: '1s' });
  const { FaultSet } = await import('../../src/faults/fault-set.js');
  const { createFaultRegistry } = await import('../../src/faults/builtins.js');
  const set = new FaultSet(createFaultRegistry());
  const live = c.listeners[0]!.faults!.map((f) => set.add(f).options);
  assert.deepEqual(live, [{ latency: 200, jitter: 1000 }, { sleep: 0.25, before: true }, { delay: 40 }, { timeout: 120_000 }]);
});

test('fault attribute ranges: negative latency, too long, bare digit strings and fractions of ms are refused', () => {
  assert.deepEqual(
    issues(cfg({ faults: [{ type: 'latency', attributes: { latency: -5, jitter: 1e12 } }, { name: 'b', type: 'latency', attributes: { latency: '300' } }, { name: 'c', type: 'delay', attributes: { sleep: -1 } }, { name: 'd', type: 'latency', attributes: { latency: '900h' } }] })),
    [
      'listeners[0].faults[0].attributes.latency: expected a whole number 0-2147483647 (ms) or a duration like "200ms", "1.5s", got -5',
      'listeners[0].faults[0].attributes.jitter: expected a whole number 0-2147483647 (ms) or a duration like "200ms", "1.5s", got 1000000000000',
      'listeners[0].faults[1].attributes.latency: expected a whole number 0-2147483647 (ms) or a duration like "200ms", "1.5s", got "300"',
      'listeners[0].faults[2].attributes.sleep: expected a number 0-2147483.647 (s) or a duration like "200ms", "1.5s", got -1',
      'listeners[0].faults[3].attributes.latency: duration "900h" is too large: at most 2147483647ms (about 24.8 days; Node timers overflow beyond)',
    ],
  );
});

test('toxicity takes a percentage as well as a probability 0..1', () => {
  const c = valid(cfg({ faults: [{ type: 'latency', toxicity: '50%' }, { name: 'x', type: 'latency', toxicity: 0.25 }, { name: 'y', type: 'latency', toxicity: '2.5 %' }] }));
  assert.deepEqual(
    c.listeners[0]!.faults!.map((f) => f.toxicity),
    [0.5, 0.25, 0.025],
  );
  assert.deepEqual(issues(cfg({ faults: [{ type: 'latency', toxicity: '150%' }, { name: 'x', type: 'latency', toxicity: 1.5 }] })), [
    'listeners[0].faults[0].toxicity: expected a probability 0..1 or a percentage like "50%", got "150%"',
    'listeners[0].faults[1].toxicity: expected a probability 0..1 or a percentage like "50%", got 1.5',
  ]);
});

test('exclusive group shares adding up to more than 1 are refused, naming the group (also across listener and route)', () => {
  assert.deepEqual(
    issues(cfg({ faults: [{ type: 'delay', group: 'g', toxicity: '60%' }, { type: 'error', group: 'g', toxicity: 0.6 }, { type: 'drop', group: 'h', toxicity: 0.5 }] })),
    ['listeners[0].faults[1].toxicity: the shares (toxicity) of group "g" on upstream add up to 1.2, more than 1 (delay_upstream 0.6, error_upstream 0.6): at most one member fires per request, so they must total 1 or less'],
  );
  const across = issues(cfg({ faults: [{ type: 'delay', group: 'g', toxicity: 0.7 }] }, { faults: [{ type: 'error', group: 'g', toxicity: 0.7 }] }));
  assert.equal(across.length, 1, JSON.stringify(across));
  assert.match(across[0]!, /^routes\[0\]\.faults\[0\]\.toxicity: the shares \(toxicity\) of group "g" on upstream add up to 1\.4.*with listener "l1"'s faults/);
  valid(cfg({ faults: [{ type: 'delay', group: 'g', toxicity: 0.5 }, { type: 'error', group: 'g', toxicity: '50%' }, { type: 'corrupt', group: 'g', stream: 'downstream', toxicity: 1 }] }));
});

test('match keys are checked against the listener protocol, with did-you-mean', () => {
  assert.deepEqual(issues(cfg({ protocol: 'http', faults: [{ type: 'error', match: { pth: '/x*', method: 'GET', not: { hots: 'a' } } }] })), [
    'listeners[0].faults[0].match.pth: unknown match key "pth" (did you mean "path"?) (no protocol reports it; known attributes: address, application_name, args, authrole, command, database, db, encryption, host, key, keys, kind, metadata.*, method, path, phase, pid, procedure, query, realm, service, ssl, statement, subcommand, table, topic, user, version)',
    'listeners[0].faults[0].match.not.hots: unknown match key "hots" (did you mean "host"?) (no protocol reports it; known attributes: address, application_name, args, authrole, command, database, db, encryption, host, key, keys, kind, metadata.*, method, path, phase, pid, procedure, query, realm, service, ssl, statement, subcommand, table, topic, user, version)',
  ]);
  // A key of another protocol: wrong for this listener.
  assert.deepEqual(issues(cfg({ protocol: 'redis', faults: [{ type: 'error', match: { path: '/x' } }] })), [
    'listeners[0].faults[0].match.path: unknown match key "path" (protocol "redis" reports: command, subcommand, key, args, db)',
  ]);
  // Raw TCP reports no attributes.
  assert.deepEqual(issues(cfg({ faults: [{ type: 'error', match: { command: 'GET' } }] })), [
    'listeners[0].faults[0].match.command: unknown match key "command" (a listener without a protocol (raw TCP) reports no request attributes: a fault with match never applies there)',
  ]);
  // Route faults: checked against their listener's protocol in the cross-reference pass.
  assert.deepEqual(issues(cfg({ protocol: 'redis' }, { faults: [{ type: 'error', match: { method: 'GET' } }] })), [
    'routes[0].faults[0].match.method: unknown match key "method" (listener "l1": protocol "redis" reports: command, subcommand, key, args, db)',
  ]);
  valid(cfg({ protocol: 'http', faults: [{ type: 'error', match: { path: '/api/*', not: { method: ['GET', 'HEAD'] } } }] }, { faults: [{ name: 'r', type: 'error', match: { host: 'a' } }] }));
});

test('regexes in match are compiled at validation, and catastrophic backtracking is refused', () => {
  assert.deepEqual(
    issues(cfg({ protocol: 'http', faults: [{ type: 'error', match: { path: '/^\\/(a+)+$/', query: '/[/', host: ['a', '/(x|xy)*/'], not: { method: '/(?=G)/' } } }] })),
    [
      'listeners[0].faults[0].match.path: regular expression /^\\/(a+)+$/ is refused: the repeated group (a+)+ contains the quantifier "+" (nested quantifiers can backtrack catastrophically; write it without the nesting)',
      'listeners[0].faults[0].match.query: invalid regular expression /[/: Unterminated character class',
      'listeners[0].faults[0].match.host[1]: regular expression /(x|xy)*/ is refused: in the repeated group (x|xy)*, the alternatives of (x|xy) can start with the same character (ambiguous alternation under a quantifier can backtrack catastrophically)',
      'listeners[0].faults[0].match.not.method: regular expression /(?=G)/ is refused: lookarounds such as "(?=G" are not supported',
    ],
  );
  valid(cfg({ protocol: 'http', faults: [{ type: 'error', match: { path: '/^\\/api\\/v[0-9]+\\/.*\\.json$/i', host: '/(\\.example)+/' } }] }));
});

test('every issue of a fault, and of a route, is reported in one pass', () => {
  assert.deepEqual(issues(cfg({ faults: [{ type: 'latency', toxicity: 2, stream: 'sideways', attributes: { latency: 'slow', jiter: 1 } }] })), [
    'listeners[0].faults[0].toxicity: expected a probability 0..1 or a percentage like "50%", got 2',
    'listeners[0].faults[0].stream: expected "upstream" or "downstream", got "sideways"',
    'listeners[0].faults[0].attributes.latency: expected a whole number 0-2147483647 (ms) or a duration like "200ms", "1.5s", got "slow"',
    'listeners[0].faults[0].attributes.jiter: unknown attribute of latency (did you mean "jitter"?) (known: latency, jitter)',
  ]);
  const raw = cfg({});
  raw['routes'] = [{ id: 'r1', faults: [{ type: 'latency', attributes: { latency: -1 } }] }];
  assert.deepEqual(issues(raw), [
    'routes[0].faults[0].attributes.latency: expected a whole number 0-2147483647 (ms) or a duration like "200ms", "1.5s", got -1',
    'routes[0].listener: missing (expected a listener id)',
    'routes[0].cluster: missing (expected a cluster id (or replicate: { variants: [...] }, redirect or directResponse))',
  ]);
});

test('regex safety check: refused and accepted patterns (config/regex-safety.ts rules)', async () => {
  const { backtrackingProblem, compileSafeRegex } = await import('../../src/config/regex-safety.js');
  const refused: [string, RegExp][] = [
    ['^\\/(a+)+$', /repeated group \(a\+\)\+ contains the quantifier "\+"/],
    ['(a*b)*', /contains the quantifier "\*"/],
    ['(x?y){2,5}', /repeated group \(x\?y\)\{2,5\} contains the quantifier "\?"/],
    ['(.*a){20}', /\(\.\*a\)\{20\} contains/],
    ['(a|ab)+', /alternatives of \(a\|ab\) can start with the same character/],
    ['(?:\\w|\\d)*', /can start with the same character/],
    ['([^"]|\\\\")*', /can start with the same character/],
    ['(x|)+', /can match the empty string/],
    ['((a|a)b)+', /alternatives of \(a\|a\)/],
    ['(a)\\1', /backreferences/],
    ['(?<n>a)\\k<n>', /named backreferences/],
    ['a(?!b)', /lookarounds/],
    ['(?<=a)b', /lookarounds/],
  ];
  for (const [source, re] of refused) {
    const p = backtrackingProblem(source);
    assert.ok(p !== undefined && re.test(p), `${source}: ${p}`);
  }
  for (const source of ['^SELECT', '(\\.\\d{3})+', '(GET|PUT)+', '([a-z]|[0-9])+', '(?:(a|b)c)+', '^/api/v[0-9]+/.*\\.json$', '(ab)+', '[^/]+/[\\w-]+', '(?<year>\\d{4})-\\d\\d', '\\p{L}+', '(\\u0041|b)+', '[\\]a]+']) {
    assert.equal(backtrackingProblem(source, 'u'), undefined, source);
  }
  assert.equal(backtrackingProblem('([a-z]|[A-Z])+'), undefined);
  assert.match(backtrackingProblem('([a-z]|[A-Z])+', 'i') ?? '', /same character/, 'case-insensitive alternatives overlap');
  assert.throws(() => compileSafeRegex(`/${'a'.repeat(1001)}/`), /too long \(1001 characters, at most 1000\)/);
  assert.throws(() => compileSafeRegex('/a/y'), /flag "y" is not allowed/);
  assert.equal(compileSafeRegex('not a regex'), undefined);
  // Only flag letters may follow the closing slash: a path with two segments is a plain value, not a regex.
  assert.equal(compileSafeRegex('/api/users'), undefined);
  assert.equal(compileSafeRegex('/fail/ok'), undefined);
  assert.ok(compileSafeRegex('/^get$/i')!.test('GET'));
});
