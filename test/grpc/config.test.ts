import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';

function issues(raw: Record<string, unknown>): string[] {
  const r = validateConfig(raw, createFramerRegistry());
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

const base = (route: Record<string, unknown>, listener: Record<string, unknown> = {}): Record<string, unknown> => ({
  listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', ...listener }, { id: 't', listen: '127.0.0.1:0' }],
  clusters: [{ id: 'a', endpoints: ['127.0.0.1:1'] }, { id: 'b', endpoints: ['127.0.0.1:2'] }],
  routes: [{ id: 'r', listener: 'g', cluster: 'a', ...route }],
});

test('a grpc route with defaults is valid and normalised', () => {
  const r = validateConfig(base({ grpc: { secondaries: ['b'] } }, { protocol: { type: 'grpc', authority: 'client' } }), createFramerRegistry());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(r.config.routes[0]!.grpc, { secondaries: ['b'], secondaryErrors: 'swallow', compare: { policy: 'off', blockStatus: 'INTERNAL', holdLimit: 4 * 1024 * 1024 }, secondaryQueue: 4 * 1024 * 1024 });
  assert.deepEqual(r.config.listeners[0]!.protocol, { type: 'grpc', options: { authority: 'client' } });
});

test('grpc config errors name the path and the problem', () => {
  assert.deepEqual(issues(base({ grpc: { secondaries: ['c'] } })), ['routes[0].grpc.secondaries[0]: no cluster with id "c"; known: a, b']);
  assert.match(issues(base({ grpc: { compare: { policy: 'vote' } } }))[0]!, /^routes\[0\]\.grpc\.compare\.policy: /);
  assert.deepEqual(issues(base({ grpc: { compare: { policy: 'weighted', masks: ['/1/3'], blockStatus: 'UNAVAILABLE' } } })), []);
  assert.match(issues(base({ grpc: { secondaryErrors: 'ignore' } }))[0]!, /^routes\[0\]\.grpc\.secondaryErrors: /);
  assert.match(issues(base({ grpc: { mutators: '(' } }))[0]!, /^routes\[0\]\.grpc\.mutators: invalid regular expression/);
  assert.match(issues(base({ listener: 't', grpc: {} }))[0]!, /^routes\[0\]\.grpc: listener "t" is not a grpc listener/);
  assert.match(issues(base({}, { faults: [{ type: 'slicer', scope: 'request' }] }))[0]!, /^listeners\[0\]\.faults\[0\]\.type: fault type "slicer" cannot act per call on a grpc listener/);
  assert.match(issues(base({}, { protocol: { type: 'grpc', authoritee: 'x' } }))[0]!, /^listeners\[0\]\.protocol: unknown option\(s\) authoritee/);
  assert.match(issues(base({ grpc: {}, cluster: undefined }))[0]!, /^routes\[0\]\.cluster: missing/);
});

test('the YAML example in docs/grpc.md is valid', async () => {
  const { readFileSync } = await import('node:fs');
  const { parse } = await import('yaml');
  const doc = readFileSync(new URL('../../docs/grpc.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1);
  for (const b of blocks) assert.deepEqual(issues(parse(b) as Record<string, unknown>), []);
});

test('engine: auto, http2 and frames are accepted; frames is refused for a listener or route that cannot be plain, naming why', () => {
  const frames = { protocol: { type: 'grpc', engine: 'frames' } };
  for (const engine of ['auto', 'http2', 'frames']) assert.deepEqual(issues(base({}, { protocol: { type: 'grpc', engine } })), []);
  assert.match(issues(base({}, { protocol: { type: 'grpc', engine: 'fast' } }))[0]!, /^listeners\[0\]\.protocol\.engine: /);
  assert.deepEqual(issues(base({ grpc: { secondaries: ['b'] } }, frames)), ['routes[0]: listener "g" has engine "frames", which serves plain routes only: this route has grpc.secondaries (use engine "auto" or "http2")']);
  assert.match(issues(base({ mirror: { cluster: 'b' } }, frames))[0]!, /^routes\[0\]: .*this route has a mirror/);
  assert.match(issues(base({}, { ...frames, faults: [] }))[0]!, /^listeners\[0\]\.protocol\.options\.engine: engine "frames" serves plain listeners only: this listener has faults/);
  // A director registered from code is not in the config: such a route's calls are refused on a frames connection (see docs/grpc.md).
  assert.deepEqual(issues(base({ grpc: { secondaries: ['b'] } }, { protocol: { type: 'grpc', engine: 'auto' } })), []);
});
