/**
 * Issue 4's acceptance scenario with real peers: three differently-written HTTP variants of one service (plain
 * node:http, fastify, and a flawed one that leaks a secret on a crafted request), each with its own pg.Client that
 * goes through switchyard's outgoing merge to ONE real PostgreSQL; switchyard's incoming replicate in front.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startYard } from '../helpers/yard.js';
import { needService, reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { createSchema, dropSchema, startFastifyVariant, startFlawedVariant, startPlainVariant, type RunningVariant, type VariantOptions } from './fixtures/variants.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
let available = false;

before(async () => {
  available = await reachable(PG.host, PG.port);
});

const needPg = (t: { skip(msg: string): void }): boolean => needService(t, available, 'postgres');

type Starter = (o: VariantOptions & { silentPath?: string }) => Promise<RunningVariant>;

interface Stack {
  yard: Switchyard;
  url: string;
  variants: RunningVariant[];
  table: string;
  close(): Promise<void>;
}

/**
 * Start the merge (one listener per variant → the real PostgreSQL), the variants on it, then the replicate route
 * in front. Returns the front URL.
 */
async function stack(starters: Starter[], replicate: Record<string, unknown>, opts: { noise?: boolean; silentPath?: string } = {}): Promise<Stack> {
  const table = `swy_nv_${randomBytes(3).toString('hex')}`;
  await createSchema(PG, table);
  const n = starters.length;
  const back = await startYard({
    listeners: starters.map((_, i) => ({ id: `db${i}`, listen: '127.0.0.1:0', protocol: 'postgres' })),
    clusters: [{ id: 'postgres', endpoints: [`${PG.host}:${PG.port}`] }],
    routes: [{ id: 'db-merge', cluster: 'postgres', merge: { listeners: starters.map((_, i) => `db${i}`), timeout: '2s', postgres: { auth: { method: 'scram-sha-256', users: { notes: 'n0tes' } }, backend: { user: 'postgres' } } } }],
  });
  const variants: RunningVariant[] = [];
  // Variants connect their pg.Client on start; the merge groups the k-th connection of each, so start them together.
  const started = await Promise.all(
    starters.map((start, i) => {
      const a = back.listeners.get(`db${i}`)!.address!;
      const port = a.kind === 'tcp' ? a.port : 0;
      return start({ pg: { host: '127.0.0.1', port, user: 'notes', database: PG.database, password: 'n0tes' }, table, noise: opts.noise ?? false, ...(opts.silentPath ? { silentPath: opts.silentPath } : {}) });
    }),
  );
  variants.push(...started);
  const front = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    routes: [{ id: 'notes', listener: 'front', replicate: { variants: variants.map((v) => `127.0.0.1:${v.port}`), timeout: '1s', ...replicate } }],
  });
  const a = front.listeners.get('front')!.address!;
  const url = a.kind === 'tcp' ? `http://127.0.0.1:${a.port}` : '';
  void n;
  return {
    yard: front,
    url,
    variants,
    table,
    async close() {
      await front.close();
      await Promise.all(variants.map((v) => v.close().catch(() => undefined)));
      // The merge log is per yard: surface its divergences in failures.
      const merged = back.divergences.list();
      await back.close();
      await dropSchema(PG, table);
      if (merged.length > 0 && process.env['SWY_DEBUG']) console.error(JSON.stringify(merged, null, 1));
    },
  };
}

async function get(url: string, user: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await request(url, { headers: { 'x-user': user, ...headers } });
  const text = await r.body.text();
  return { status: r.statusCode, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

const plainFastifyFlawed: Starter[] = [startPlainVariant, startFastifyVariant, startFlawedVariant];

test('unanimous: ordinary traffic (reads, a transactional write) flows through both proxies; the crafted request is blocked with a 502 and recorded with a readable diff', async (t) => {
  if (!needPg(t)) return;
  const s = await stack(plainFastifyFlawed, { policy: 'unanimous' });
  try {
    const list = await get(`${s.url}/notes`, 'alice');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body['notes'], [{ id: 1, title: 'alice groceries' }]);
    const created = await request(`${s.url}/notes`, { method: 'POST', headers: { 'x-user': 'alice', 'content-type': 'application/json' }, body: JSON.stringify({ title: 'new', body: 'written once' }) });
    assert.equal(created.statusCode, 201);
    const { id } = (await created.body.json()) as { id: number };
    const own = await get(`${s.url}/notes/${id}`, 'alice');
    assert.equal(own.status, 200);
    assert.deepEqual(own.body, { id, title: 'new', body: 'written once' });
    const other = await get(`${s.url}/notes/2`, 'alice');
    assert.equal(other.status, 403);
    assert.equal(s.yard.divergences.list().length, 0, 'no false alarms on ordinary traffic');

    const crafted = await get(`${s.url}/notes/2`, 'alice', { 'x-debug': '1' });
    assert.equal(crafted.status, 502);
    assert.doesNotMatch(JSON.stringify(crafted.body), /s-bob todo|bike/, 'the block reveals nothing of the variants');
    const events = s.yard.divergences.list();
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.decision, 'blocked');
    assert.deepEqual(e.variants.map((v) => v.agreed), [true, true, false]);
    assert.ok(e.fields.includes('/status'), e.fields.join(','));
    assert.ok(e.fields.some((f) => f.startsWith('/body/secret')), e.fields.join(','));
    assert.match(e.diff, /secret/);
  } finally {
    await s.close();
  }
});

test('majority: the flawed variant is out-voted; the client gets the majority\'s 403', async (t) => {
  if (!needPg(t)) return;
  const s = await stack(plainFastifyFlawed, { policy: 'majority' });
  try {
    const crafted = await get(`${s.url}/notes/2`, 'alice', { 'x-debug': '1' });
    assert.equal(crafted.status, 403);
    assert.deepEqual(crafted.body, { error: 'forbidden' });
    const e = s.yard.divergences.list().at(-1)!;
    assert.equal(e.decision, 'outvoted');
    assert.equal(e.variants[2]!.agreed, false);
    // Ordinary traffic keeps flowing afterwards.
    const ok = await get(`${s.url}/notes/1`, 'alice');
    assert.equal(ok.status, 200);
  } finally {
    await s.close();
  }
});

test('a silent variant times out and counts as diverging', async (t) => {
  if (!needPg(t)) return;
  const s = await stack(plainFastifyFlawed, { policy: 'majority' }, { silentPath: '/hang' });
  try {
    const r = await get(`${s.url}/hang`, 'alice');
    // plain and fastify answer 404 alike; the flawed one stays silent → out-voted by timeout.
    assert.equal(r.status, 404);
    const e = s.yard.divergences.list().at(-1)!;
    assert.equal(e.variants[2]!.status, 'timeout');
    assert.equal(e.decision, 'outvoted');
  } finally {
    await s.close();
  }
});

test('filter pair: two identical copies teach that requestId/servedAt are noise — no false alarms; a real difference is still caught', async (t) => {
  if (!needPg(t)) return;
  // [plain, plain] = the filter pair; fastify and flawed are the diversified variants.
  const s = await stack([startPlainVariant, startPlainVariant, startFastifyVariant, startFlawedVariant], { policy: 'unanimous', filterPair: true, noise: { warmup: 8 } }, { noise: true });
  try {
    // Warm-up: the route's first 8 exchanges teach the noise model (served by the primary, differences only reported).
    for (const path of ['/health', '/health', '/health', '/notes', '/notes/1', '/health', '/notes', '/notes/3']) {
      const r = await get(`${s.url}${path}`, 'alice');
      assert.ok(r.status === 200 || r.status === 403, `warm-up ${path}: ${r.status}`);
    }
    assert.ok(s.yard.divergences.list().every((e) => e.decision === 'reported'));
    const learnedDuringWarmup = s.yard.divergences.list().length;
    // After it: random ids and timestamps no longer raise alarms, on any endpoint.
    for (let i = 0; i < 3; i++) {
      for (const path of ['/notes', '/notes/1', '/health', '/notes/3']) {
        const r = await get(`${s.url}${path}`, 'alice');
        assert.ok(r.status === 200 || r.status === 403, `${path}: ${r.status} ${JSON.stringify(s.yard.divergences.list().at(-1))}`);
      }
    }
    assert.equal(s.yard.divergences.list().length, learnedDuringWarmup, JSON.stringify(s.yard.divergences.list().at(-1)?.fields));
    const crafted = await get(`${s.url}/notes/2`, 'alice', { 'x-debug': '1' });
    assert.equal(crafted.status, 502);
    const e = s.yard.divergences.list().at(-1)!;
    assert.ok(!e.fields.some((f) => /requestId|servedAt/.test(f)), `noise must not be reported: ${e.fields.join(', ')}`);
    const noise = (s.yard.routes.get('notes')!.engine as unknown as { noise: { toJSON(): Record<string, { fields: Record<string, unknown> }> } }).noise.toJSON();
    const learned = Object.values(noise).flatMap((ep) => Object.keys(ep.fields));
    assert.ok(learned.includes('/body/requestId'), learned.join(', '));
  } finally {
    await s.close();
  }
});
