import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { validateConfigText } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { Switchyard } from '../../src/runtime/switchyard.js';

const doc = readFileSync(new URL('../../docs/nvariant.md', import.meta.url), 'utf8');

test('docs/nvariant.md: the worked example is a valid config that starts (ports moved to 0, no files written)', async () => {
  const m = /```yaml\n(# nvariant-notes\.yaml[\s\S]*?)```/.exec(doc);
  assert.ok(m, 'the worked example is in the doc');
  const text = m[1]!.replace(/listen: 127\.0\.0\.1:\d+/g, 'listen: 127.0.0.1:0').replace(/file: \.\/divergences\.jsonl/, '');
  const r = validateConfigText(text, 'yaml', createFramerRegistry(), { env: { NOTES_DB_PASSWORD: 'pw' } });
  assert.ok(r.ok, r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  const config = r.config;
  assert.equal(config.routes[0]!.replicate!.variants.length, 3);
  assert.equal(config.routes[0]!.replicate!.filterPair, true);
  assert.equal(config.routes[1]!.merge!.postgres!.auth.method, 'scram-sha-256');
  const { admin: _admin, ...rest } = config;
  const yard = await Switchyard.start(rest, { defaultMetrics: false });
  try {
    assert.deepEqual([...yard.routes.keys()], ['notes', 'notes-db']);
    assert.equal((yard.routes.get('notes')!.engine!.toJSON() as { policy: string }).policy, 'unanimous');
    assert.equal((yard.routes.get('notes-db')!.engine!.toJSON() as { mode: string }).mode, 'merge');
  } finally {
    await yard.close();
  }
});

test('docs/nvariant.md documents every replicate, merge, mirror, normalise and noise key', () => {
  const keys = {
    replicate: ['variants', 'policy', 'timeout', 'filterPair', 'filterPairDelay', 'quarantine', 'maxMessageSize', 'maxInFlight', 'normalise', 'noise'],
    merge: ['listeners', 'sources', 'names', 'timeout', 'maxMessageSize', 'normalise', 'postgres'],
    mirror: ['cluster', 'fraction', 'compare', 'queueSize', 'timeout', 'maxMessageSize', 'normalise'],
    normalise: ['ignoreHeaders', 'compareHeaders', 'masks', 'regex'],
    noise: ['warmup', 'minSamples', 'relative', 'absolute'],
  };
  for (const [section, names] of Object.entries(keys)) {
    for (const k of names) assert.ok(doc.includes(`| \`${k}\` |`), `docs/nvariant.md has a table row for ${section}.${k}`);
  }
});
