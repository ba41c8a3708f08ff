import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testRegistry } from '../helpers/config-registry.js';
import { formatFromPath } from '../../src/config/loader.js';
import { substituteEnv } from '../../src/config/env-substitution.js';
import type { ConfigIssue } from '../../src/config/issues.js';
import { loadConfigFile, parseConfigText, validateConfigText } from '../../src/runtime/config.js';
import { ErrorCodes, hasCode, type SwitchyardError } from '../../src/core/errors.js';
import type { SwitchyardConfig } from '../../src/config/types.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url));


const registry = testRegistry();

/** Run `fn`, expect a SWY_CONFIG_INVALID error, return it. */
async function rejection(fn: () => unknown): Promise<SwitchyardError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(hasCode(err, ErrorCodes.CONFIG_INVALID), `expected SWY_CONFIG_INVALID, got ${String(err)}`);
    return err as SwitchyardError;
  }
  assert.fail('expected a SWY_CONFIG_INVALID error');
}

function issuesOf(err: SwitchyardError): ConfigIssue[] {
  return err.details?.['issues'] as ConfigIssue[];
}

function checkGood(c: SwitchyardConfig): void {
  assert.deepEqual(c.admin, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  assert.equal(c.shutdown.drainTimeout, 5000);
  assert.equal(c.listeners.length, 1);
  const l = c.listeners[0]!;
  assert.equal(l.id, 'chat');
  assert.deepEqual(l.listen, { kind: 'tcp', host: '127.0.0.1', port: 0 });
  assert.equal(l.framing.toUpstream.type, 'line');
  assert.equal(l.framing.toUpstream.options['maxLength'], 4096);
  assert.equal(l.idleTimeout, 120_000);
  assert.deepEqual(l.socket, { noDelay: true, keepAlive: 30_000, splice: 'auto' });
  assert.deepEqual(c.clusters[0]!.endpoints, [
    { address: { kind: 'tcp', host: '127.0.0.1', port: 7101 }, weight: 1 },
    { address: { kind: 'tcp', host: '127.0.0.1', port: 7102 }, weight: 2 },
  ]);
  assert.equal(c.clusters[0]!.connectTimeout, 2000);
  assert.deepEqual(c.routes, [{ id: 'chat', listener: 'chat', cluster: 'chat-backends' }]);
}

test('good.yaml and good.json load to the same config', async () => {
  const fromYaml = await loadConfigFile(fixture('good.yaml'), registry, { env: {} });
  const fromJson = await loadConfigFile(fixture('good.json'), registry, { env: {} });
  checkGood(fromYaml);
  assert.deepEqual(fromJson, fromYaml);
});

test('good.yaml is valid with the built-in framers too', async () => {
  const { createFramerRegistry } = await import('../../src/framing/builtins.js');
  checkGood(await loadConfigFile(fixture('good.yaml'), createFramerRegistry(), { env: {} }));
});

test('bad.yaml: every issue, one per line, with path and line:column', async () => {
  const path = fixture('bad.yaml');
  const err = await rejection(() => loadConfigFile(path, registry, { env: {} }));
  assert.equal(
    err.message,
    [
      `invalid configuration in ${path} (2 issues):`,
      `  listeners[0].listen: bad port "99999" in "127.0.0.1:99999": expected an integer 0-65535 (at ${path}:4:13)`,
      `  listeners[0].idleTimout: unknown key (did you mean "idleTimeout"?) (at ${path}:5:5)`,
    ].join('\n'),
  );
  const issues = issuesOf(err);
  assert.deepEqual(
    issues.map((i) => [i.path, i.code, i.line, i.column]),
    [
      ['listeners[0].listen', 'invalid', 4, 13],
      ['listeners[0].idleTimout', 'unknown_key', 5, 5],
    ],
  );
  assert.equal(err.details?.['source'], path);
});

test('format comes from the extension; anything else is read as YAML', () => {
  assert.equal(formatFromPath('a/b.json'), 'json');
  assert.equal(formatFromPath('a/b.JSON'), 'json');
  assert.equal(formatFromPath('a/b.yaml'), 'yaml');
  assert.equal(formatFromPath('a/b.yml'), 'yaml');
  assert.equal(formatFromPath('a/b.conf'), 'yaml');
  // YAML reads JSON.
  const c = parseConfigText('{"listeners": [{"id": "a", "listen": "127.0.0.1:0"}]}', 'yaml', registry);
  assert.equal(c.listeners[0]!.id, 'a');
});

test('YAML syntax errors carry line:column', async () => {
  const path = fixture('syntax-error.yaml');
  const err = await rejection(() => loadConfigFile(path, registry));
  const [first] = issuesOf(err);
  assert.equal(first?.code, 'syntax');
  assert.equal(first?.line, 4);
  assert.match(err.message, new RegExp(`^invalid configuration in .*syntax-error\\.yaml \\(\\d+ issues?\\):\\n  .*syntax-error\\.yaml:4:\\d+: YAML syntax error: `));
  const dup = await rejection(() => parseConfigText('log:\n  level: info\nlog:\n  level: warn\n', 'yaml', registry, 'dup.yaml'));
  assert.match(dup.message, /dup\.yaml:3:1: YAML syntax error: Map keys must be unique/);
});

test('JSON syntax errors carry line:column', async () => {
  const path = fixture('syntax-error.json');
  const err = await rejection(() => loadConfigFile(path, registry));
  assert.equal(err.message, `invalid configuration in ${path} (1 issue):\n  ${path}:3:46: JSON syntax error: trailing comma before "}"`);
  const cases: Array<[string, string]> = [
    ['{"a": }', '1:7: JSON syntax error: expected a value, got "}"'],
    ['{\n  "a": x\n}', '2:8: JSON syntax error: expected a value, got "x"'],
    ['{"a": 1', '1:8: JSON syntax error: unexpected end of input'],
    ['{a: 1}', '1:2: JSON syntax error: expected a property name in double quotes, got "a"'],
    ['{"a": "b\nc"}', '1:9: JSON syntax error: unescaped control character (a line break?) in string'],
    ['{} []', '1:4: JSON syntax error: unexpected "[" after the JSON value'],
  ];
  for (const [text, expected] of cases) {
    const e = await rejection(() => parseConfigText(text, 'json', registry, 'x.json'));
    assert.equal(e.message.split('\n')[1], `  x.json:${expected}`, text);
  }
  const dup = await rejection(() => parseConfigText('{"log": {"level": "info"},\n "log": {}}', 'json', registry, 'x.json'));
  assert.match(dup.message, /x\.json:2:2: JSON error: duplicate key/);
});

test('JSON validation issues are located too', async () => {
  const text = '{\n  "listeners": [\n    { "id": "a", "listen": "8080" }\n  ]\n}\n';
  const e = await rejection(() => parseConfigText(text, 'json', registry, 'x.json'));
  assert.equal(e.message.split('\n')[1], '  listeners[0].listen: expected HOST:PORT, [IPv6]:PORT or unix:/path, got "8080" (at x.json:3:28)');
});

test('env substitution: values, defaults, escapes', async () => {
  const env = { SWY_TEST_TOKEN: 't0ken', ORIGIN_HOST: 'localhost', EDGE_MAX_CONN: '', LINE_MAX: '512' };
  const c = await loadConfigFile(fixture('env.yaml'), registry, { env });
  assert.deepEqual(c.admin, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, token: 't0ken' });
  assert.deepEqual(c.listeners[0]!.listen, { kind: 'tcp', host: '127.0.0.1', port: 0 });
  assert.equal(c.listeners[0]!.maxConnections, 500, 'empty variable takes the :- default');
  assert.equal(c.listeners[0]!.framing.toUpstream.options['maxLength'], 512, 'framer options accept numeric strings');
  assert.deepEqual(c.clusters[0]!.endpoints[0]!.address, { kind: 'tcp', host: 'localhost', port: 9000 });
  assert.equal(c.clusters[0]!.connectTimeout, 1000);

  const r = substituteEnv({ a: ['x${A}y', '$${A}', '${B:-d-e f}', 'cost: $5', '${A:-unused}'], 'k${A}': 1, n: 2 }, { A: '1' });
  assert.deepEqual(r.issues, []);
  assert.deepEqual(r.value, { a: ['x1y', '${A}', 'd-e f', 'cost: $5', '1'], 'k${A}': 1, n: 2 });
});

test('env substitution cannot inject structure', () => {
  const evil = 'x\nlisteners:\n  - id: injected\n    listen: 0.0.0.0:1';
  const c = parseConfigText('admin:\n  token: ${T}\n', 'yaml', registry, 'x.yaml', { env: { T: evil } });
  assert.equal(c.admin?.token, evil);
  assert.deepEqual(c.listeners, []);
});

test('env substitution errors name the path and the variable', async () => {
  const path = fixture('env.yaml');
  const err = await rejection(() => loadConfigFile(path, registry, { env: {} }));
  assert.equal(
    err.message,
    [
      `invalid configuration in ${path} (2 issues):`,
      `  admin.token: environment variable SWY_TEST_TOKEN is not set (write \${SWY_TEST_TOKEN:-default} to give a default) (at ${path}:4:10)`,
      `  clusters[0].endpoints[0]: environment variable ORIGIN_HOST is not set (write \${ORIGIN_HOST:-default} to give a default) (at ${path}:15:9)`,
    ].join('\n'),
  );
  assert.deepEqual(issuesOf(err).map((i) => i.code), ['env', 'env']);

  const bad = substituteEnv({ x: 'a ${1X} b', y: 'open ${NAME' }, {});
  assert.deepEqual(
    bad.issues.map((i) => `${i.path}: ${i.message}`),
    [
      'x: invalid variable reference "${1X}": expected ${NAME} or ${NAME:-default} (write "$${" for a literal "${")',
      'y: unterminated "${" in "open ${NAME" (write "$${" for a literal "${")',
    ],
  );
});

test('an empty file is an empty config; a missing file is a clear error', async () => {
  const c = parseConfigText('# nothing yet\n', 'yaml', registry);
  assert.deepEqual(c.listeners, []);
  const err = await rejection(() => loadConfigFile(fixture('does-not-exist.yaml'), registry));
  assert.match(err.message, /^cannot read config file ".*does-not-exist\.yaml": ENOENT/);
});

test('validateConfigText does not throw and returns located issues', () => {
  const r = validateConfigText('listeners:\n  - id: a\n    listen: 1.2.3.4:1\n    backlgo: 5\n', 'yaml', registry);
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => [e.path, e.message, e.line, e.column]), [
    ['listeners[0].backlgo', 'unknown key (did you mean "backlog"?)', 4, 5],
  ]);
});

test('the YAML examples in docs/configuration.md are valid (with the built-in framers)', async () => {
  const { createFramerRegistry } = await import('../../src/framing/builtins.js');
  const framers = createFramerRegistry();
  const doc = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const whole = blocks.filter((b) => /^(admin|listeners):/m.test(b) && /^routes:/m.test(b));
  assert.ok(whole.length >= 3, `found ${whole.length} complete examples`);
  for (const text of whole) {
    const r = validateConfigText(text, 'yaml', framers, { env: { ADMIN_TOKEN: 't' } });
    assert.ok(r.ok, r.ok ? '' : `${text}\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  }
  // The framing forms, each as a listener's framing.
  const framing = blocks.find((b) => b.startsWith('framing: line'));
  assert.ok(framing);
  for (const part of framing.split('\n\n')) {
    const text = `listeners:\n  - id: l\n    listen: 127.0.0.1:0\n${part.replace(/^/gm, '    ')}\n`;
    const r = validateConfigText(text, 'yaml', framers);
    assert.ok(r.ok, r.ok ? '' : `${text}\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  }
});

test('framer size options accept "64KiB"-style sizes in YAML (built-in framers), errors keep path and position', async () => {
  const { createFramerRegistry } = await import('../../src/framing/builtins.js');
  const framers = createFramerRegistry();
  const listener = (framing: string): string => `listeners:\n  - id: l\n    listen: 127.0.0.1:0\n    framing: ${framing}\n`;
  const ok = validateConfigText(listener('{ type: line, maxLength: 64KiB, maxBufferedBytes: 1MiB }'), 'yaml', framers);
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  assert.deepEqual(ok.config.listeners[0]!.framing.toUpstream.options, {
    delimiter: 'any',
    stripDelimiter: true,
    maxLength: 65_536,
    maxBufferedBytes: 1_048_576,
  });
  const fromEnv = validateConfigText(listener('{ type: netstring, maxLength: "${NS_MAX}" }'), 'yaml', framers, { env: { NS_MAX: '2MB' } });
  assert.ok(fromEnv.ok);
  assert.equal(fromEnv.config.listeners[0]!.framing.toDownstream.options['maxLength'], 2_000_000);

  const bad = validateConfigText(listener('{ toUpstream: { type: length-prefixed, maxFrameLength: 16MB0 } }'), 'yaml', framers);
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map((e) => [e.path, e.message, e.line]), [
    [
      'listeners[0].framing.toUpstream.maxFrameLength',
      'expected a size like "512", "64KiB", "1MiB", "10MB" or a number of bytes, got "16MB0"',
      4,
    ],
  ]);
});
