import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegistry } from '../helpers/config-registry.js';
import { validateConfig } from '../../src/runtime/config.js';
import { validateConfigText } from '../../src/runtime/config.js';
import type { SwitchyardConfig } from '../../src/config/types.js';
import { compileRouteMatch } from '../../src/routing/route-match.js';
import { flattenRouteMatch, shadows } from '../../src/config/route-match.js';
import { httpRouteAttributes } from '../../src/protocols/http/route-attributes.js';

const registry = testRegistry();

function cfg(listeners: Array<Record<string, unknown>>, routes: Array<Record<string, unknown>>): Record<string, unknown> {
  return { listeners, clusters: [{ id: 'a', endpoints: ['127.0.0.1:9001'] }, { id: 'b', endpoints: ['127.0.0.1:9002'] }], routes };
}

const HTTP = { id: 'web', listen: '127.0.0.1:0', protocol: 'http' };
const PG = { id: 'pg', listen: '127.0.0.1:0', protocol: 'postgres' };

function lines(raw: unknown): string[] {
  const r = validateConfig(raw, registry);
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

function valid(raw: unknown): { config: SwitchyardConfig; warnings: string[] } {
  const r = validateConfig(raw, registry);
  if (!r.ok) assert.fail(`expected valid, got:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return { config: r.config, warnings: (r.warnings ?? []).map((w) => `${w.path}: ${w.message}`) };
}

test('routes: every match form is accepted and kept as written', () => {
  const match = {
    host: 'api.example.com',
    path: '/v1/*',
    method: ['GET', 'HEAD'],
    headers: { 'X-Canary': '1' },
    query: { v: 2 },
    not: { path: '/^\\/v1\\/internal/' },
    sourceAddress: ['10.0.0.0/8', '127.0.0.1', '::1/128'],
    destinationPort: 8080,
  };
  const { config, warnings } = valid(
    cfg(
      [HTTP],
      [
        { id: 'r1', listener: 'web', cluster: 'a', match },
        { id: 'r2', listener: 'web', cluster: 'b', default: true },
      ],
    ),
  );
  assert.deepEqual(config.routes[0]!.match, match);
  assert.equal(config.routes[1]!.default, true);
  assert.deepEqual(warnings, []);
});

test('routes: shape errors name the path inside match', () => {
  assert.deepEqual(
    lines(
      cfg(
        [HTTP],
        [
          { id: 'r1', listener: 'web', cluster: 'a', match: { path: '/(a+)+$/', method: [], headers: {}, sourceAddress: '10.0.0.0/33' } },
          { id: 'r2', listener: 'web', cluster: 'a', match: 'everything' },
          { id: 'r3', listener: 'web', cluster: 'a', match: { not: 3, headers: { x: { y: 1 } } } },
        ],
      ),
    ),
    [
      'routes[0].match.path: regular expression /(a+)+$/ is refused: the repeated group (a+)+ contains the quantifier "+" (nested quantifiers can backtrack catastrophically; write it without the nesting)',
      'routes[0].match.method: an empty list never matches: give at least one value',
      'routes[0].match.headers: an empty map matches everything: remove it or give at least one name: value',
      'routes[0].match.sourceAddress: expected a CIDR block like "10.0.0.0/8" or "::1/128" (or an address, a "*" wildcard or a /regex/), got "10.0.0.0/33"',
      'routes[1].match: expected an object of attributes to match (e.g. {path: "/api/*"}), got "everything"',
      'routes[2].match.not: expected a match object to negate, like {path: "/health"}, got 3',
      'routes[2].match.headers.x: expected a string, number or boolean (or a list of them), got an object',
    ].map((l) => l),
  );
});

test('routes: match keys must be ones the listener can route on', () => {
  const raw = cfg(
    [HTTP, PG, { id: 'raw', listen: '127.0.0.1:0' }, { id: 'my', listen: '127.0.0.1:0', protocol: 'mysql' }, { id: 'u', listen: '127.0.0.1:0', transport: 'udp' }],
    [
      { id: 'h1', listener: 'web', cluster: 'a', match: { pth: '/x', sni: 'a.test' } },
      { id: 'p1', listener: 'pg', cluster: 'a', match: { database: 'x', query: 'select' } },
      { id: 'r1', listener: 'raw', cluster: 'a', match: { sourceAddress: '10.0.0.0/8', path: '/x' } },
      { id: 'm1', listener: 'my', cluster: 'a', match: { database: 'shop', user: 'app', command: 'COM_QUERY' } },
      { id: 'u1', listener: 'u', cluster: 'a', match: { sourceAddress: '10.0.0.0/8' } },
    ],
  );
  const out = lines(raw);
  assert.equal(out.length, 6, out.join('\n'));
  assert.match(out[0]!, /^routes\[0\]\.match\.pth: unknown route match key "pth" \(did you mean "path"\?\) \(protocol "http" routes on: sourceAddress, destinationPort, method, path, query, host, version, headers\)$/);
  assert.match(out[1]!, /^routes\[0\]\.match\.sni: "sni" needs a TLS listener \(listener "web" has no tls\)$/);
  assert.match(out[2]!, /^routes\[1\]\.match\.query: unknown route match key "query" \(protocol "postgres" routes on: sourceAddress, destinationPort, database, user, application_name\)$/);
  assert.match(out[3]!, /^routes\[2\]\.match\.path: unknown route match key "path" \(listener "raw" is raw TCP: routes match connection attributes only\)$/);
  assert.match(out[4]!, /^routes\[3\]\.match\.command: unknown route match key "command" \(protocol "mysql" routes on: sourceAddress, destinationPort, database, user\)$/);
  assert.match(out[5]!, /^routes\[4\]\.match\.sourceAddress: listener "u" is udp/);
});

test('routes: at most one default per listener; one action per route; HTTP actions only on http listeners', () => {
  const out = lines(
    cfg(
      [HTTP, PG],
      [
        { id: 'd1', listener: 'web', cluster: 'a', default: true },
        { id: 'd2', listener: 'web', cluster: 'b', default: true, match: { path: '/b/*' } },
        { id: 'x1', listener: 'web', cluster: 'a', redirect: { location: '/new' }, match: { path: '/old' } },
        { id: 'x2', listener: 'web', directResponse: { status: 200, body: 'ok' }, redirect: { location: '/x' }, match: { path: '/y' } },
        { id: 'x3', listener: 'pg', cluster: 'a', rewrite: { host: 'h' } },
        { id: 'x4', listener: 'web', match: { path: '/z' } },
        { id: 'x5', listener: 'web', redirect: { status: 200, location: '/x' }, match: { path: '/w' } },
      ],
    ),
  );
  assert.deepEqual(out.sort(), [
    'routes[1].default: listener "web" already has a default route (routes[0]); at most one per listener',
    'routes[2].cluster: not allowed together with redirect (a route has exactly one action: cluster, replicate, merge, redirect or directResponse)',
    'routes[3].directResponse: not allowed together with redirect (a route has exactly one action: cluster, replicate, merge, redirect or directResponse)',
    'routes[4].rewrite: only on listeners that answer HTTP requests (protocol: http); listener "pg" is protocol "postgres"',
    'routes[5].cluster: missing (expected a cluster id (or replicate: { variants: [...] }, redirect or directResponse))',
    'routes[6].redirect.status: expected one of 301, 302, 303, 307, 308, got 200',
  ]);
  const ok = valid(cfg([HTTP], [{ id: 'r', listener: 'web', redirect: { location: 'https://x.test/' } }, { id: 'd', listener: 'web', directResponse: { status: 204 } }]));
  assert.deepEqual(ok.config.routes[0]!.redirect, { status: 302, location: 'https://x.test/' });
  assert.deepEqual(ok.config.routes[1]!.directResponse, { status: 204, body: '' });
});

test('routes: shadowed routes are warnings (no match, the same match, a subset), with line numbers from the loader', () => {
  const { warnings } = valid(
    cfg(
      [HTTP],
      [
        { id: 'api', listener: 'web', cluster: 'a', match: { path: '/api/*' } },
        { id: 'api2', listener: 'web', cluster: 'b', match: { path: '/api/*' } },
        { id: 'api-get', listener: 'web', cluster: 'b', match: { path: '/api/*', method: 'GET' } },
        { id: 'other', listener: 'web', cluster: 'b', match: { path: '/other/*' } },
        { id: 'all', listener: 'web', cluster: 'a' },
        { id: 'never', listener: 'web', cluster: 'b', match: { path: '/never' } },
      ],
    ),
  );
  assert.deepEqual(warnings, [
    'routes[1].match: route "api2" can never match: routes[0] ("api") on listener "web" comes first and has the same match',
    'routes[2].match: route "api-get" can never match: routes[0] ("api") on listener "web" comes first and matches everything this one would (its conditions are a subset of these)',
    'routes[5].match: route "never" can never match: routes[4] ("all") on listener "web" comes first and has no match (it takes everything)',
  ]);
  const yaml = [
    'listeners: [{id: web, listen: "127.0.0.1:0"}]',
    'clusters: [{id: a, endpoints: ["127.0.0.1:1"]}]',
    'routes:',
    '  - {id: first, listener: web, cluster: a}',
    '  - id: second',
    '    listener: web',
    '    cluster: a',
    '    match: {sourceAddress: 10.0.0.0/8}',
  ].join('\n');
  const r = validateConfigText(yaml, 'yaml', registry);
  assert.ok(r.ok);
  assert.equal(r.warnings?.length, 1);
  assert.equal(r.warnings?.[0]?.code, 'shadowed');
  assert.equal(r.warnings?.[0]?.line, 8);
});

test('routes: replicate routes cannot share a listener whose routes are decided per request or startup; merge routes take their listeners whole', () => {
  const raw = {
    listeners: [HTTP, { id: 'l2', listen: '127.0.0.1:0' }, { id: 'l3', listen: '127.0.0.1:0' }],
    clusters: [{ id: 'a', endpoints: ['127.0.0.1:1'] }],
    routes: [
      { id: 'r1', listener: 'web', cluster: 'a', match: { path: '/x' } },
      { id: 'rep', listener: 'web', replicate: { variants: ['127.0.0.1:1', '127.0.0.1:2'] } },
      { id: 'm', cluster: 'a', merge: { listeners: ['l2', 'l3'] } },
      { id: 'm2', listener: 'l2', cluster: 'a' },
    ],
  };
  const out = lines(raw);
  assert.match(out[0]!, /^routes\[1\]\.replicate: a replicate route takes whole connections: it cannot share listener "web" with routes decided later/);
  assert.match(out[1]!, /^routes\[3\]\.listener: listener "l2" has a merge route \(routes\[2\]\), which takes all its connections: it can have no other route \(routes\[3\]\)$/);
  assert.equal(out.length, 2, out.join('\n'));
});

test('compiled match: CIDR source addresses, map forms, not, and no attributes', () => {
  const m = compileRouteMatch({ sourceAddress: ['10.0.0.0/8', '::1/128', '192.168.1.*'] });
  assert.equal(m({ sourceAddress: '10.1.2.3' }), true);
  assert.equal(m({ sourceAddress: '::ffff:10.1.2.3' }), true);
  assert.equal(m({ sourceAddress: '::1' }), true);
  assert.equal(m({ sourceAddress: '192.168.1.77' }), true);
  assert.equal(m({ sourceAddress: '11.0.0.1' }), false);
  assert.equal(m({}), false);
  assert.equal(m(undefined), false);
  assert.equal(compileRouteMatch(undefined)(undefined), true);
  assert.equal(compileRouteMatch({})({ path: '/' }), true);
  const maps = { headers: 'header', query: 'query' };
  const h = compileRouteMatch({ path: '/api/*', headers: { 'X-Canary': '1' }, not: { query: { debug: 'true' } } }, maps);
  assert.equal(h({ path: '/api/x', 'header.x-canary': '1' }), true);
  assert.equal(h({ path: '/api/x', 'header.x-canary': '1', 'query.debug': 'true' }), false);
  assert.equal(h({ path: '/api/x' }), false);
  assert.deepEqual(flattenRouteMatch({ headers: { 'X-A': 1 }, query: 'raw=1' }, maps), { 'header.x-a': 1, query: 'raw=1' });
  const p = compileRouteMatch({ destinationPort: 8443, sni: '*.example.com' });
  assert.equal(p({ destinationPort: 8443, sni: 'api.example.com' }), true);
  assert.equal(p({ destinationPort: 8080, sni: 'api.example.com' }), false);
});

test('shadows: no match, equal and subset specs', () => {
  assert.equal(shadows(undefined, { a: 1 }), true);
  assert.equal(shadows({}, undefined), true);
  assert.equal(shadows({ a: 1 }, undefined), false);
  assert.equal(shadows({ a: [1, 2] }, { a: [1, 2], b: 3 }), true);
  assert.equal(shadows({ a: [1, 2] }, { a: [2, 1] }), false);
  assert.equal(shadows({ not: { a: 1 } }, { not: { a: 1 }, b: 2 }), true);
});

test('http route attributes: headers by lower-case name (repeats joined), query parameters decoded', () => {
  const head = Buffer.from('GET /x?v=2&name=a%20b&v=3 HTTP/1.1\r\nHost: h\r\nX-Canary: 1\r\nx-tag: a\r\nX-Tag: b\r\n\r\n', 'latin1');
  assert.deepEqual(httpRouteAttributes(head, ['header.x-canary', 'header.x-tag', 'header.absent', 'query.v', 'query.name', 'query.none']), {
    'query.v': '2',
    'query.name': 'a b',
    'header.x-canary': '1',
    'header.x-tag': 'a, b',
  });
});
