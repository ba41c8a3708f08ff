/** The WAMP parts of the config: listener options, the cluster wamp block, route match keys, the docs example. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';

function issues(raw: Record<string, unknown>): string[] {
  const r = validateConfig(raw, createFramerRegistry());
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

function base(listener: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}, route: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ id: 'w', listen: '127.0.0.1:0', protocol: { type: 'wamp' }, ...listener }],
    clusters: [{ id: 'c', endpoints: ['127.0.0.1:9000'], wamp: { transport: 'rawsocket', serializers: ['cbor'] }, ...cluster }],
    routes: [{ id: 'r', listener: 'w', cluster: 'c', match: { realm: 'realm1', authrole: 'user' }, ...route }],
  };
}

test('wamp config: valid shapes pass; mistakes are named with their path', () => {
  assert.deepEqual(issues(base()), []);
  assert.match(issues(base({ protocol: { type: 'wamp', serializer: ['json'] } }))[0]!, /^listeners\[0\]\.protocol: unknown option\(s\) serializer \(known: path, serializers/);
  assert.match(issues(base({ protocol: { type: 'wamp', serializers: ['ubjson'] } }))[0]!, /^listeners\[0\]\.protocol\.serializers\[0\]/);
  assert.deepEqual(issues(base({ faults: [{ type: 'error', match: { procedure: 'com.x', topic: 't', realm: 'r', authrole: 'a' } }] })), []);
  assert.match(issues(base({}, { wamp: { auth: { method: 'ticket' } } }))[0]!, /^clusters\[0\]\.wamp\.auth\.ticket: auth method "ticket" needs a ticket/);
  assert.match(issues(base({}, { wamp: { transport: 'tcp' } }))[0]!, /^clusters\[0\]\.wamp\.transport/);
  assert.match(issues(base({}, {}, { match: { realm: 'realm1', procedure: 'x' } })).join('\n'), /procedure/);
});

test('the YAML examples in docs/wamp.md are valid', () => {
  const doc = readFileSync(new URL('../../docs/wamp.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1);
  for (const b of blocks) assert.deepEqual(issues(parse(b) as Record<string, unknown>), []);
});
