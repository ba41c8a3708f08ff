import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { testRegistry } from '../helpers/config-registry.js';
import { buildConfigSchema, listenerSchema, parseObjectConfig, routeSchema, validateConfig } from '../../src/runtime/config.js';
import { clusterSchema } from '../../src/config/cluster-schema.js';
import { crossReferenceIssues } from '../../src/config/cross-references.js';
import { formatPath, validateWith, type ConfigIssue } from '../../src/config/issues.js';
import type { ClusterConfig, ListenerConfig, RouteConfig, SwitchyardConfig } from '../../src/config/types.js';
import { hasCode, ErrorCodes, type SwitchyardError } from '../../src/core/errors.js';

// Compile-time: the schemas produce exactly the config types.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typeChecks: [
  Equals<z.output<ReturnType<typeof buildConfigSchema>>, SwitchyardConfig>,
  Equals<z.output<ReturnType<typeof listenerSchema>>, ListenerConfig>,
  Equals<z.output<typeof clusterSchema>, ClusterConfig>,
  Equals<z.output<typeof routeSchema>, RouteConfig>,
] = [true, true, true, true];
void typeChecks;


const registry = testRegistry();

function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ id: 'web', listen: '127.0.0.1:8080', ...extra }],
    clusters: [{ id: 'app', endpoints: ['127.0.0.1:9000'] }],
    routes: [{ id: 'web', listener: 'web', cluster: 'app' }],
  };
}

function errorsOf(raw: unknown, env: Record<string, string | undefined> = {}): ConfigIssue[] {
  const r = validateConfig(raw, registry, { env });
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors;
}

function lines(raw: unknown): string[] {
  return errorsOf(raw).map((e) => `${e.path}: ${e.message}`);
}

function valid(raw: unknown, env: Record<string, string | undefined> = {}): SwitchyardConfig {
  const r = validateConfig(raw, registry, { env });
  if (!r.ok) assert.fail(`expected valid, got:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return r.config;
}

test('an empty document is a valid config with every default', () => {
  const c = valid({});
  assert.deepEqual(c, {
    log: { level: 'info' },
    shutdown: { drainTimeout: 10_000 },
    listeners: [],
    clusters: [],
    routes: [],
  });
});

test('listener, cluster and route defaults', () => {
  const c = valid(minimal());
  assert.deepEqual(c.listeners[0], {
    id: 'web',
    transport: 'tcp',
    listen: { kind: 'tcp', host: '127.0.0.1', port: 8080 },
    framing: {
      toUpstream: { type: 'passthrough', options: { maxBufferedBytes: 16 << 20 } },
      toDownstream: { type: 'passthrough', options: { maxBufferedBytes: 16 << 20 } },
    },
    maxConnections: 10_000,
    maxConnectionsPerSource: 0,
    idleTimeout: 0,
    requestHeaderTimeout: 10_000,
    requestTimeout: 0,
    minDataRate: { bytesPerSecond: 0, grace: 5_000 },
    backlog: 511,
    socket: { noDelay: true, keepAlive: 0, splice: 'auto' },
    udp: { flowIdleTimeout: 60_000, maxFlows: 10_000, maxDatagramSize: 65_507 },
  });
  assert.deepEqual(c.clusters[0], {
    id: 'app',
    endpoints: [{ address: { kind: 'tcp', host: '127.0.0.1', port: 9000 }, weight: 1 }],
    balancer: 'round_robin',
    connectTimeout: 5_000,
    socket: { noDelay: true, keepAlive: 0 },
  });
  assert.deepEqual(c.routes[0], { id: 'web', listener: 'web', cluster: 'app' });
  assert.equal(c.admin, undefined);
});

test('friendly forms: durations, sizes, numeric strings, endpoint objects', () => {
  const raw = minimal({ idleTimeout: '1.5s', maxConnections: '250', backlog: 128, socket: { keepAlive: '1m', noDelay: 'false' }, udp: { maxDatagramSize: '1KiB', flowIdleTimeout: 500 } });
  (raw['clusters'] as Array<Record<string, unknown>>)[0] = {
    id: 'app',
    endpoints: ['[::1]:9000', { address: 'unix:/tmp/app.sock', weight: 3 }, 'localhost:9001'],
    balancer: 'least_connections',
    connectTimeout: '250ms',
  };
  const c = valid(raw);
  const l = c.listeners[0]!;
  assert.equal(l.idleTimeout, 1500);
  assert.equal(l.maxConnections, 250);
  assert.equal(l.backlog, 128);
  assert.deepEqual(l.socket, { noDelay: false, keepAlive: 60_000, splice: 'auto' });
  assert.deepEqual(l.udp, { flowIdleTimeout: 500, maxFlows: 10_000, maxDatagramSize: 1024 });
  const cl = c.clusters[0]!;
  assert.deepEqual(cl.endpoints, [
    { address: { kind: 'tcp', host: '::1', port: 9000 }, weight: 1 },
    { address: { kind: 'unix', path: '/tmp/app.sock' }, weight: 3 },
    { address: { kind: 'tcp', host: 'localhost', port: 9001 }, weight: 1 },
  ]);
  assert.equal(cl.balancer, 'least_connections');
  assert.equal(cl.connectTimeout, 250);
});

test('framing: a name, one object for both directions, or one per direction', () => {
  const byName = valid(minimal({ framing: 'line' })).listeners[0]!.framing;
  const lineDefaults = { delimiter: 'any', stripDelimiter: true, maxLength: 65536 };
  assert.deepEqual(byName, { toUpstream: { type: 'line', options: lineDefaults }, toDownstream: { type: 'line', options: lineDefaults } });
  assert.notEqual(byName.toUpstream, byName.toDownstream, 'directions must not share one object');

  const both = valid(minimal({ framing: { type: 'line', maxLength: 1024 } })).listeners[0]!.framing;
  assert.deepEqual(both.toUpstream, { type: 'line', options: { ...lineDefaults, maxLength: 1024 } });
  assert.deepEqual(both.toDownstream, both.toUpstream);

  const split = valid(minimal({ framing: { toUpstream: { type: 'fixed', size: 4 }, toDownstream: 'line' } })).listeners[0]!.framing;
  assert.deepEqual(split, { toUpstream: { type: 'fixed', options: { size: 4 } }, toDownstream: { type: 'line', options: lineDefaults } });

  const oneSide = valid(minimal({ framing: { toUpstream: 'line' } })).listeners[0]!.framing;
  assert.equal(oneSide.toDownstream.type, 'passthrough');

  // ${ENV} values are strings: framer options take "1024" and "false" too.
  const fromEnv = valid(minimal({ framing: { type: 'line', maxLength: '1024', stripDelimiter: 'false' } })).listeners[0]!.framing;
  assert.deepEqual(fromEnv.toUpstream.options, { ...lineDefaults, maxLength: 1024, stripDelimiter: false });
});

test('framing errors name the direction and the option', () => {
  assert.deepEqual(lines(minimal({ framing: { toUpstream: { type: 'line', maxLength: 'big' }, toDownstream: 'lines' } })), [
    'listeners[0].framing.toUpstream.maxLength: expected a number, got "big"',
    'listeners[0].framing.toDownstream: unknown framer "lines" (did you mean "line"?); known framers: passthrough, line, fixed',
  ]);
  assert.deepEqual(lines(minimal({ framing: { type: 'line', maxLenght: 10 } })), [
    'listeners[0].framing.maxLenght: unknown key (did you mean "maxLength"?)',
  ]);
  assert.deepEqual(lines(minimal({ framing: 'fixed' })), [
    'listeners[0].framing: framer "fixed" needs options, write {type: "fixed", ...}: size: missing (expected a number)',
  ]);
  assert.deepEqual(lines(minimal({ framing: { type: 'line', toUpstream: 'line' } })), [
    'listeners[0].framing.toUpstream: use either "type" (the same framer both ways) or "toUpstream"/"toDownstream", not both',
  ]);
  assert.deepEqual(lines(minimal({ framing: { toUpstrem: 'line' } })), [
    'listeners[0].framing.toUpstrem: unknown key (did you mean "toUpstream"?)',
    'listeners[0].framing.type: missing "type" (expected a framer name like "line", {type: "line", ...options} or {toUpstream: ..., toDownstream: ...})',
  ]);
  assert.deepEqual(lines(minimal({ framing: 7 })), [
    'listeners[0].framing: expected a framer name like "line", {type: "line", ...options} or {toUpstream: ..., toDownstream: ...}, got 7',
  ]);
  assert.deepEqual(lines(minimal({ framing: { type: 3 } })), [
    'listeners[0].framing.type: got 3 (expected a framer name: passthrough, line, fixed)',
  ]);
});

test('address errors say what was expected and what was found', () => {
  assert.deepEqual(lines(minimal({ listen: '8080' })), ['listeners[0].listen: expected HOST:PORT, [IPv6]:PORT or unix:/path, got "8080"']);
  assert.deepEqual(lines(minimal({ listen: 8080 })), ['listeners[0].listen: expected HOST:PORT, [IPv6]:PORT or unix:/path, got 8080']);
  assert.deepEqual(lines(minimal({ listen: undefined })), ['listeners[0].listen: missing (expected HOST:PORT, [IPv6]:PORT or unix:/path)']);
  assert.deepEqual(lines(minimal({ listen: '127.0.0.1:70000' })), [
    'listeners[0].listen: bad port "70000" in "127.0.0.1:70000": expected an integer 0-65535',
  ]);
  assert.deepEqual(lines(minimal({ listen: '::1:8080' })), ['listeners[0].listen: IPv6 addresses need brackets, e.g. "[::1]:8080", got "::1:8080"']);
});

test('port 0 is fine for listeners and admin, not for endpoints', () => {
  const c = valid({ ...minimal({ listen: '127.0.0.1:0' }), admin: { listen: '[::1]:0' } });
  assert.equal(c.listeners[0]!.listen.kind === 'tcp' && c.listeners[0]!.listen.port, 0);
  assert.deepEqual(c.admin?.listen, { kind: 'tcp', host: '::1', port: 0 });
  const raw = minimal();
  (raw['clusters'] as Array<Record<string, unknown>>)[0]!['endpoints'] = ['127.0.0.1:0', { address: 'localhost:0' }];
  assert.deepEqual(lines(raw), [
    'clusters[0].endpoints[0]: port 0 in "127.0.0.1:0" is only valid for listening (any free port); a destination needs a real port',
    'clusters[0].endpoints[1].address: port 0 in "localhost:0" is only valid for listening (any free port); a destination needs a real port',
  ]);
});

test('unix sockets: tcp transport only', () => {
  const c = valid(minimal({ listen: 'unix:/tmp/sy.sock' }));
  assert.deepEqual(c.listeners[0]!.listen, { kind: 'unix', path: '/tmp/sy.sock' });
  assert.deepEqual(valid(minimal({ listen: '/tmp/sy.sock' })).listeners[0]!.listen, { kind: 'unix', path: '/tmp/sy.sock' });
  assert.deepEqual(lines(minimal({ listen: 'unix:/tmp/sy.sock', transport: 'udp' })), [
    'listeners[0].listen: a unix socket needs transport "tcp", not "udp"',
  ]);
  assert.deepEqual(lines(minimal({ transport: 'unix' })), [
    'listeners[0].transport: expected one of "tcp", "udp", got "unix" (a Unix socket listener is transport "tcp" with listen: unix:/path)',
  ]);
});

test('unknown keys everywhere, with suggestions', () => {
  const raw: Record<string, unknown> = { ...minimal({ idleTimout: '5s', sokcet: { noDelay: true } }), listener: [], admin: { listn: '127.0.0.1:0' } };
  (raw['clusters'] as Array<Record<string, unknown>>)[0]!['endpoints'] = [{ address: '127.0.0.1:1', wieght: 2 }];
  (raw['routes'] as Array<Record<string, unknown>>)[0]!['zzz'] = 1;
  const errs = errorsOf(raw);
  const byPath = Object.fromEntries(errs.map((e) => [e.path, e.message]));
  assert.equal(byPath['listeners[0].idleTimout'], 'unknown key (did you mean "idleTimeout"?)');
  assert.equal(byPath['listeners[0].sokcet'], 'unknown key (did you mean "socket"?)');
  assert.equal(byPath['listener'], 'unknown key (did you mean "listeners"?)');
  assert.equal(byPath['admin.listn'], 'unknown key (did you mean "listen"?)');
  assert.equal(byPath['clusters[0].endpoints[0].wieght'], 'unknown key (did you mean "weight"?)');
  assert.equal(byPath['routes[0].zzz'], 'unknown key');
  assert.equal(errs.length, 6, errs.map((e) => e.path).join(', '));
  assert.ok(errs.every((e) => e.code === 'unknown_key'));
  assert.deepEqual(errs.find((e) => e.path === 'listeners[0].idleTimout')?.segments, ['listeners', 0, 'idleTimout']);
});

test('every issue is reported, not just the first', () => {
  const raw = {
    log: { level: 'verbose' },
    shutdown: { drainTimeout: '-1s' },
    listeners: [
      { id: 'bad id', listen: '127.0.0.1:8080', maxConnections: -1, backlog: 1.5 },
      { id: 'u', listen: '127.0.0.1:53', transport: 'udp', udp: { maxDatagramSize: '1MiB', maxFlows: 0 } },
    ],
    clusters: [{ id: 'c', endpoints: [], balancer: 'round-robin', connectTimeout: '5 sec' }, { id: 'd' }],
    routes: [{ listener: 'u', cluster: 'c' }],
  };
  assert.deepEqual(lines(raw), [
    'log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbose"',
    'shutdown.drainTimeout: expected a duration like "500ms", "5s", "2m", "1h" or a number of milliseconds, got "-1s"',
    'listeners[0].id: expected an id of letters, digits, "_", "." and "-", starting with a letter or digit, got "bad id"',
    'listeners[0].maxConnections: expected an integer >= 0, got -1',
    'listeners[0].backlog: expected an integer 0-65535, got 1.5',
    'listeners[1].udp.maxFlows: expected an integer >= 1, got 0',
    'listeners[1].udp.maxDatagramSize: expected a size of 1-65535 bytes, got "1MiB"',
    'clusters[0].endpoints: expected at least 1 item, got 0 items',
    'clusters[0].balancer: expected one of "round_robin", "random", "least_connections", got "round-robin" (did you mean "round_robin"?)',
    'clusters[0].connectTimeout: expected a duration like "500ms", "5s", "2m", "1h" or a number of milliseconds, got "5 sec"',
    'clusters[1].endpoints: missing (expected a list)',
    'routes[0].id: missing (expected an id of letters, digits, "_", "." and "-", starting with a letter or digit)',
  ]);
});

test('the root must be an object', () => {
  assert.deepEqual(lines([1, 2]), [': expected an object, got a list']);
  assert.deepEqual(lines({ listeners: { id: 'x' } }), ['listeners: expected a list, got an object']);
});

test('cross references: unique ids, existing listener and cluster', () => {
  const raw = {
    listeners: [
      { id: 'web', listen: '127.0.0.1:1' },
      { id: 'web', listen: '127.0.0.1:2' },
      { id: 'api', listen: '127.0.0.1:3' },
    ],
    clusters: [
      { id: 'app', endpoints: ['127.0.0.1:9'] },
      { id: 'app', endpoints: ['127.0.0.1:9'] },
    ],
    routes: [
      { id: 'r1', listener: 'web', cluster: 'app' },
      { id: 'r1', listener: 'wbe', cluster: 'ap' },
      { id: 'r3', listener: 'web', cluster: 'nothing-like-it' },
    ],
  };
  const errs = errorsOf(raw);
  assert.deepEqual(
    errs.map((e) => `${e.path}: ${e.message} [${e.code}]`),
    [
      'listeners[1].id: duplicate listener id "web" (also listeners[0]) [duplicate]',
      'clusters[1].id: duplicate cluster id "app" (also clusters[0]) [duplicate]',
      'routes[1].id: duplicate route id "r1" (also routes[0]) [duplicate]',
      'routes[1].listener: no listener with id "wbe" (did you mean "web"?); known: web, api [reference]',
      'routes[1].cluster: no cluster with id "ap" (did you mean "app"?); known: app [reference]',
      'routes[2].cluster: no cluster with id "nothing-like-it"; known: app [reference]',
    ],
  );
  assert.deepEqual(lines({ routes: [{ id: 'r', listener: 'l', cluster: 'c' }] }), [
    'routes[0].listener: no listener with id "l"; no listeners are defined',
    'routes[0].cluster: no cluster with id "c"; no clusters are defined',
  ]);
});

test('cross references are checked even when objects have other errors', () => {
  const raw = minimal({ listen: 'nope' });
  (raw['routes'] as Array<Record<string, unknown>>).push({ id: 'r2', listener: 'web', cluster: 'app', default: true }, { id: 'r3', listener: 'web', cluster: 'app', default: true });
  assert.deepEqual(lines(raw), [
    'listeners[0].listen: expected HOST:PORT, [IPv6]:PORT or unix:/path, got "nope"',
    'routes[2].default: listener "web" already has a default route (routes[1]); at most one per listener',
  ]);
  // And as a standalone function on raw input.
  assert.deepEqual(
    crossReferenceIssues({ listeners: [{ id: 'a' }], routes: [{ listener: 'b' }, 7] }).map((i) => i.path),
    ['routes[0].listener'],
  );
});

test('a listener without a route is valid', () => {
  const c = valid({ listeners: [{ id: 'lonely', listen: '127.0.0.1:0' }] });
  assert.equal(c.routes.length, 0);
});

test('udp listeners cannot route to unix or TLS clusters', () => {
  const raw = {
    listeners: [{ id: 'dns', transport: 'udp', listen: '127.0.0.1:5353' }],
    clusters: [{ id: 'c', endpoints: ['127.0.0.1:53', 'unix:/tmp/x'], tls: true }],
    routes: [{ id: 'r', listener: 'dns', cluster: 'c' }],
  };
  assert.deepEqual(lines(raw), [
    'routes[0].cluster: udp listener "dns" cannot send to unix socket clusters[0].endpoints[1]',
    'routes[0].cluster: udp listener "dns" cannot use TLS cluster "c"',
  ]);
});

test('server TLS needs cert and key; tcp only', () => {
  const c = valid(minimal({ tls: { cert: 'server.pem', key: 'server.key', alpn: ['h2', 'http/1.1'], sni: { 'api.example.com': { cert: 'a.pem', key: 'a.key' } } } }));
  assert.deepEqual(c.listeners[0]!.tls, {
    cert: 'server.pem',
    key: 'server.key',
    sni: { 'api.example.com': { cert: 'a.pem', key: 'a.key' } },
    requestClientCert: false,
    rejectUnauthorized: true,
    alpn: ['h2', 'http/1.1'],
  });
  assert.deepEqual(lines(minimal({ tls: { cert: 'server.pem' } })), ['listeners[0].tls.key: missing (expected a PEM private key file path)']);
  assert.deepEqual(lines(minimal({ tls: {} })), [
    'listeners[0].tls.cert: missing (expected a PEM certificate file path)',
    'listeners[0].tls.key: missing (expected a PEM private key file path)',
  ]);
  assert.deepEqual(lines(minimal({ tls: { cert: 'c', key: 'k', sni: { 'a.example': { cert: 'x' } }, minVersion: 'TLSv1.1' } })), [
    'listeners[0].tls.sni["a.example"].key: missing (expected a PEM private key file path)',
    'listeners[0].tls.minVersion: expected one of "TLSv1.2", "TLSv1.3", got "TLSv1.1" (did you mean "TLSv1.2"?)',
  ]);
  assert.deepEqual(lines(minimal({ transport: 'udp', tls: { cert: 'c', key: 'k' } })), ['listeners[0].tls: TLS needs transport "tcp", not "udp"']);
});

test('client TLS: true, false or options; cert and key go together', () => {
  const withTls = (tls: unknown): Record<string, unknown> => {
    const raw = minimal();
    (raw['clusters'] as Array<Record<string, unknown>>)[0]!['tls'] = tls;
    return raw;
  };
  assert.deepEqual(valid(withTls(true)).clusters[0]!.tls, { rejectUnauthorized: true, alpn: [] });
  assert.equal(valid(withTls(false)).clusters[0]!.tls, undefined);
  assert.deepEqual(valid(withTls({ servername: 'db.internal', rejectUnauthorized: false, ca: 'ca.pem' })).clusters[0]!.tls, {
    servername: 'db.internal',
    rejectUnauthorized: false,
    ca: 'ca.pem',
    alpn: [],
  });
  assert.deepEqual(lines(withTls({ cert: 'client.pem' })), ['clusters[0].tls.key: missing (a client certificate needs its key)']);
  assert.deepEqual(lines(withTls('yes')), ['clusters[0].tls: expected true, false or an object of TLS options, got "yes"']);
  assert.deepEqual(lines(withTls({ rejectUnauthorised: false })), ['clusters[0].tls.rejectUnauthorised: unknown key (did you mean "rejectUnauthorized"?)']);
});

test('admin: listen default, token from the environment when not set', () => {
  assert.deepEqual(valid({ admin: {} }).admin, { listen: { kind: 'tcp', host: '127.0.0.1', port: 9901 } });
  assert.deepEqual(valid({ admin: {} }, { SWITCHYARD_ADMIN_TOKEN: 's3cret' }).admin?.token, 's3cret');
  assert.equal(valid({ admin: {} }, { SWITCHYARD_ADMIN_TOKEN: '' }).admin?.token, undefined);
  assert.equal(valid({ admin: { token: 'mine' } }, { SWITCHYARD_ADMIN_TOKEN: 's3cret' }).admin?.token, 'mine');
  assert.deepEqual(lines({ admin: { token: '' } }), ['admin.token: expected a token (omit the key for no token), got ""']);
  assert.deepEqual(valid({ admin: { listen: 'unix:/run/switchyard-admin.sock' } }).admin?.listen, { kind: 'unix', path: '/run/switchyard-admin.sock' });
});

test('per-object schemas for the admin API apply the same validation and defaults', () => {
  const l = validateWith(listenerSchema(registry), { id: 'x', listen: '127.0.0.1:0', framing: 'line' });
  assert.ok(l.ok);
  assert.equal(l.value.maxConnections, 10_000);
  const bad = validateWith(clusterSchema, { id: 'c', endpoints: ['nope'], balancr: 'random' });
  assert.ok(!bad.ok);
  assert.deepEqual(
    bad.errors.map((e) => `${e.path}: ${e.message}`),
    ['endpoints[0]: expected HOST:PORT, [IPv6]:PORT or unix:/path, got "nope"', 'balancr: unknown key (did you mean "balancer"?)'],
  );
  assert.deepEqual(parseObjectConfig('route', { id: 'r', listener: 'l', cluster: 'c' }), { id: 'r', listener: 'l', cluster: 'c' });
  assert.throws(
    () => parseObjectConfig('listener', { id: 'x', listen: '1.2.3.4' }, registry),
    (err: SwitchyardError) => {
      assert.ok(hasCode(err, ErrorCodes.CONFIG_INVALID));
      assert.equal(err.message, 'invalid listener (1 issue):\n  listen: expected HOST:PORT, [IPv6]:PORT or unix:/path, got "1.2.3.4"');
      assert.equal((err.details?.['issues'] as ConfigIssue[])[0]?.path, 'listen');
      return true;
    },
  );
});

test('paths are formatted with brackets for indexes and odd keys', () => {
  assert.equal(formatPath(['listeners', 0, 'framing', 'toUpstream', 'maxLength']), 'listeners[0].framing.toUpstream.maxLength');
  assert.equal(formatPath(['listeners', 0, 'tls', 'sni', 'api.example.com', 'cert']), 'listeners[0].tls.sni["api.example.com"].cert');
  assert.equal(formatPath([]), '');
  assert.equal(formatPath([3]), '[3]');
});

test('validation never throws, whatever the input', async () => {
  const { default: fc } = await import('fast-check');
  const keys = ['listeners', 'clusters', 'routes', 'admin', 'id', 'listen', 'framing', 'type', 'toUpstream', 'endpoints', 'tls', 'listener', 'cluster', 'address', 'udp', 'transport'];
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('127.0.0.1:1', 'unix:/x', 'line', 'udp', 'a'));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(fc.constantFrom(...keys), tie('tree'), { maxKeys: 4 })),
  }));
  fc.assert(
    fc.property(tree, (raw) => {
      const r = validateConfig(raw, registry, { env: {} });
      if (!r.ok) for (const e of r.errors) assert.equal(typeof e.message, 'string');
    }),
    { numRuns: 500 },
  );
  assert.deepEqual(lines({ listeners: ['web', null] }), ['listeners[0]: expected an object, got "web"', 'listeners[1]: expected an object, got null']);
});
