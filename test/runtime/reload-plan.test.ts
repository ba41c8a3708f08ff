import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import type { SwitchyardConfig } from '../../src/config/types.js';
import { changedKeys, describePlan, planReload } from '../../src/runtime/reload-plan.js';

const framers = createFramerRegistry();

function config(raw: Record<string, unknown>): SwitchyardConfig {
  const r = validateConfig(raw, framers);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.config;
}

const base = {
  admin: { listen: '127.0.0.1:9901' },
  listeners: [
    { id: 'web', listen: '127.0.0.1:8080' },
    { id: 'db', listen: '127.0.0.1:5433', idleTimeout: '30s' },
  ],
  clusters: [
    { id: 'app', endpoints: ['127.0.0.1:3000'] },
    { id: 'pg', endpoints: ['127.0.0.1:5432'] },
  ],
  routes: [
    { id: 'web', listener: 'web', cluster: 'app' },
    { id: 'db', listener: 'db', cluster: 'pg' },
  ],
};

function edit(change: (raw: typeof base & Record<string, unknown>) => void): SwitchyardConfig {
  const raw = structuredClone(base) as typeof base & Record<string, unknown>;
  change(raw);
  return config(raw);
}

describe('reload plan', () => {
  test('the same config: everything unchanged, the plan is empty', () => {
    const plan = planReload(config(base), config(base));
    assert.equal(plan.empty, true);
    assert.deepEqual(plan.listeners.unchanged, ['web', 'db']);
    assert.deepEqual(plan.clusters.unchanged, ['app', 'pg']);
    assert.deepEqual(plan.routes.unchanged, ['web', 'db']);
    assert.deepEqual(describePlan(plan), []);
  });

  test('added, changed and removed per kind, with the changed keys named', () => {
    const next = edit((raw) => {
      raw.listeners.push({ id: 'api', listen: '127.0.0.1:8081' });
      raw.listeners = raw.listeners.filter((l) => l.id !== 'db');
      raw.clusters[0]!.endpoints = ['127.0.0.1:3000', '127.0.0.1:3001'];
      raw.clusters = raw.clusters.filter((c) => c.id !== 'pg');
      raw.clusters.push({ id: 'api', endpoints: ['127.0.0.1:4000'] });
      raw.routes = [{ id: 'web', listener: 'web', cluster: 'app' }, { id: 'api', listener: 'api', cluster: 'api' }];
    });
    const plan = planReload(config(base), next);
    assert.equal(plan.empty, false);
    assert.deepEqual(plan.listeners, { added: ['api'], changed: [], removed: ['db'], unchanged: ['web'] });
    assert.deepEqual(plan.clusters.added, ['api']);
    assert.deepEqual(plan.clusters.changed, [{ id: 'app', keys: ['endpoints'] }]);
    assert.deepEqual(plan.clusters.unchanged, []);
    assert.deepEqual(plan.clusters.removed, ['pg']);
    assert.deepEqual(plan.routes.added, ['api']);
    assert.deepEqual(plan.routes.removed, ['db']);
    assert.deepEqual(plan.routes.unchanged, ['web']);
    const lines = describePlan(plan);
    assert.ok(lines.includes('listener api: added'), lines.join('\n'));
    assert.ok(lines.includes('cluster app: changed (endpoints)'), lines.join('\n'));
    assert.ok(lines.includes('route db: removed'), lines.join('\n'));
  });

  test('a listener changed only in faults, timeouts or limits is updated in place; a new address replaces it', () => {
    const inPlace = edit((raw) => {
      Object.assign(raw.listeners[0]!, { idleTimeout: '5s', maxConnections: 10, faults: [{ type: 'latency', attributes: { latency: 10 } }], socket: { keepAlive: '30s' } });
    });
    const plan = planReload(config(base), inPlace);
    assert.deepEqual(plan.listeners.changed, [{ id: 'web', keys: ['faults', 'idleTimeout', 'maxConnections', 'socket.keepAlive'], action: 'update' }]);
    const moved = edit((raw) => {
      raw.listeners[0]!.listen = '127.0.0.1:8090';
      Object.assign(raw.listeners[1]!, { idleTimeout: '1m' });
    });
    const plan2 = planReload(config(base), moved);
    assert.deepEqual(plan2.listeners.changed, [
      { id: 'web', keys: ['listen'], action: 'replace' },
      { id: 'db', keys: ['idleTimeout'], action: 'update' },
    ]);
    // A key the runtime cannot change on a live listener (framing) replaces it too, even next to in-place ones.
    const framed = edit((raw) => Object.assign(raw.listeners[0]!, { idleTimeout: '5s', framing: { type: 'line' } }));
    const c = planReload(config(base), framed).listeners.changed[0]!;
    assert.equal(c.action, 'replace');
    assert.ok(c.keys.includes('idleTimeout') && c.keys.some((k) => k.startsWith('framing.')), c.keys.join());
  });

  test('a route changed (new cluster) is replaced; a replicate route holding a changed cluster is rebuilt', () => {
    const next = edit((raw) => {
      raw.routes[1]!.cluster = 'app';
    });
    const plan = planReload(config(base), next);
    assert.deepEqual(plan.routes.changed, [{ id: 'db', keys: ['cluster'] }]);
    assert.deepEqual(plan.routes.rebuilt, []);

    const withReplicate = { ...base, routes: [base.routes[0], { id: 'db', listener: 'db', replicate: { variants: ['app', 'pg'] } }] };
    const next2 = structuredClone(withReplicate);
    next2.clusters[1] = { id: 'pg', endpoints: ['127.0.0.1:5434'] };
    const plan2 = planReload(config(withReplicate), config(next2));
    assert.deepEqual(plan2.clusters.changed, [{ id: 'pg', keys: ['endpoints'] }]);
    assert.deepEqual(plan2.routes.unchanged, ['web', 'db']);
    assert.deepEqual(plan2.routes.rebuilt, [{ id: 'db', clusters: ['pg'] }]);
    assert.ok(describePlan(plan2).includes('route db: rebuilt (uses changed cluster pg)'));
  });

  test('sections: shutdown applies live; admin, log and seed need a restart and are reported, not applied', () => {
    const next = edit((raw) => {
      raw['shutdown'] = { drainTimeout: '2s' };
      raw['log'] = { level: 'debug' };
      raw['seed'] = 7;
      raw.admin = { listen: '127.0.0.1:9902' };
    });
    const plan = planReload(config(base), next);
    assert.deepEqual(plan.settings, [{ id: 'shutdown', keys: ['shutdown.drainTimeout'] }]);
    assert.deepEqual(plan.requiresRestart, [
      { section: 'admin', keys: ['admin.listen'] },
      { section: 'log', keys: ['log.level'] },
      { section: 'seed', keys: ['seed'] },
    ]);
    assert.ok(describePlan(plan).some((l) => /^admin: changed, requires restart, not applied/.test(l)));
  });

  test('route order: a change of the evaluation order per listener is reported', () => {
    const two = { ...base, routes: [...base.routes, { id: 'web2', listener: 'web', cluster: 'pg' }] };
    const swapped = structuredClone(two);
    swapped.routes = [swapped.routes[2]!, swapped.routes[0]!, swapped.routes[1]!];
    // (Validation may refuse two routes on one listener before routing lands: the plan works on any two configs.)
    const a = { ...config(base), routes: two.routes.map((r) => ({ ...r })) } as SwitchyardConfig;
    const b = { ...config(base), routes: swapped.routes.map((r) => ({ ...r })) } as SwitchyardConfig;
    assert.equal(planReload(a, b).routes.reordered, true);
    assert.equal(planReload(a, a).routes.reordered, false);
    // Moving routes of different listeners around is no change of order.
    const c = { ...a, routes: [a.routes[1]!, a.routes[0]!, a.routes[2]!] };
    assert.equal(planReload(a, c).routes.reordered, false);
  });

  test('changedKeys: nested paths, absent equals undefined, arrays compared whole', () => {
    assert.deepEqual(changedKeys({ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 2, d: 4 } }), ['b.d']);
    assert.deepEqual(changedKeys({ a: 1, x: undefined }, { a: 1 }), []);
    assert.deepEqual(changedKeys({ l: [1, 2] }, { l: [1, 3] }), ['l']);
    assert.deepEqual(changedKeys({ a: 1 }, { a: 1, n: 'new' }), ['n']);
    assert.deepEqual(changedKeys(1, 2), ['(value)']);
    assert.deepEqual(changedKeys({ listen: { kind: 'tcp', host: 'h', port: 1 } }, { listen: { kind: 'tcp', host: 'h', port: 2 } }), ['listen']);
  });
});
