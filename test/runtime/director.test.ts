import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Route, RouteTable } from '../../src/routing/director.js';
import { Cluster } from '../../src/upstream/cluster.js';
import type { RouteConfig } from '../../src/config/types.js';
import { parseObjectConfig } from '../../src/runtime/config.js';

function cluster(id: string): Cluster {
  // through the schema, so defaults of later cluster keys are filled in
  const c = new Cluster(parseObjectConfig('cluster', { id, endpoints: ['127.0.0.1:1'] }));
  c.start();
  return c;
}

function route(config: Partial<RouteConfig> & { id: string }): Route {
  const r = new Route({ listener: 'l', cluster: 'a', ...config });
  r.start();
  return r;
}

const clusters = new Map([['a', cluster('a')], ['b', cluster('b')]]);
after(() => {
  for (const c of clusters.values()) c.stop();
});
const PG = { startupAttributes: ['database', 'user', 'application_name'] };
const HTTP = { maps: { headers: 'header', query: 'query' } };

function table(routes: Route[], facts?: { startupAttributes?: string[]; maps?: Record<string, string> }): RouteTable {
  const t = new RouteTable(() => facts);
  t.publish(routes, clusters);
  return t;
}

test('scope: fixed (first route takes everything), connection, startup, request', () => {
  assert.equal(table([route({ id: 'r' })]).routing('l')?.scope, 'fixed');
  assert.equal(table([route({ id: 'r' }), route({ id: 's', match: { sourceAddress: '10.0.0.0/8' } })]).routing('l')?.scope, 'fixed');
  assert.equal(table([route({ id: 'r', match: { sni: 'a.test' } }), route({ id: 's' })]).routing('l')?.scope, 'connection');
  assert.equal(table([route({ id: 'r', match: { database: 'x', sourceAddress: '10.0.0.0/8' } }), route({ id: 's' })], PG).routing('l')?.scope, 'startup');
  assert.equal(table([route({ id: 'r', match: { path: '/x/*' } })], HTTP).routing('l')?.scope, 'request');
  assert.equal(table([route({ id: 'r', match: { not: { headers: { 'x-a': '1' } } } })], HTTP).routing('l')?.scope, 'request');
  assert.equal(table([route({ id: 'r', cluster: undefined, directResponse: { status: 200, body: '' } })], HTTP).routing('l')?.scope, 'request');
  assert.equal(table([]).routing('l'), undefined);
  assert.equal(table([]).resolve('l'), undefined);
});

test('select: first match in order; fallback: the default route, else the first; mapKeys; resolve = first route', () => {
  const t = table(
    [
      route({ id: 'canary', cluster: 'b', match: { path: '/u/*', headers: { 'X-Canary': '1' } } }),
      route({ id: 'users', match: { path: '/u/*' }, default: true }),
      route({ id: 'q', match: { query: { v: '2' } } }),
    ],
    HTTP,
  );
  const r = t.routing('l')!;
  assert.deepEqual(r.choices.map((c) => c.route.id), ['canary', 'users', 'q']);
  assert.equal(r.select({ path: '/u/1', 'header.x-canary': '1' })?.route.id, 'canary');
  assert.equal(r.select({ path: '/u/1' })?.route.id, 'users');
  assert.equal(r.select({ path: '/z', 'query.v': '2' })?.route.id, 'q');
  assert.equal(r.select({ path: '/z' }), undefined);
  assert.equal(r.fallback?.route.id, 'users');
  assert.equal(r.choices[0]!.cluster?.id, 'b');
  assert.deepEqual([...r.mapKeys].sort(), ['header.x-canary', 'query.v']);
  assert.equal(t.resolve('l')?.route.id, 'canary');
  const plain = table([route({ id: 'x', match: { sni: 'a' } }), route({ id: 'y' })]).routing('l')!;
  assert.equal(plain.fallback?.route.id, 'x');
  assert.deepEqual(plain.mapKeys, []);
});

test('routes whose cluster is missing or stopped are left out; a stopped route too', () => {
  const stopped = route({ id: 'gone' });
  stopped.stop();
  const t = table([stopped, route({ id: 'nocluster', cluster: 'zz' }), route({ id: 'ok' })]);
  assert.deepEqual(t.routing('l')!.choices.map((c) => c.route.id), ['ok']);
});
