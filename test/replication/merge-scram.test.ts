/**
 * The merge's client-side SCRAM-SHA-256 against a real PostgreSQL that demands it. The shared server on :5432
 * trusts every local user, so this test starts its own throwaway cluster (initdb --auth=scram-sha-256, run as the
 * `postgres` OS user, on a free loopback port) and stops it by PID afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startYard } from '../helpers/yard.js';
import { freePort } from '../helpers/net.js';

const PASSWORD = 'sup3r-s3cret';
let dir: string | undefined;
let server: ChildProcess | undefined;
let port = 0;
let why: string | undefined;

function pgBin(name: string): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  for (const v of readdirSync(base).sort().reverse()) {
    const p = join(base, v, 'bin', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

before(async () => {
  const initdb = pgBin('initdb');
  const postgres = pgBin('postgres');
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (!initdb || !postgres) return void (why = 'PostgreSQL server binaries (initdb) are not installed');
  if (process.getuid?.() !== 0 || uid.status !== 0) return void (why = 'needs root and a `postgres` OS user to start a private PostgreSQL cluster');
  dir = mkdtempSync(join(tmpdir(), 'swy-scram-'));
  const owner = Number(uid.stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(dir, owner, gid);
  const pw = join(dir, 'pw');
  writeFileSync(pw, `${PASSWORD}\n`);
  chownSync(pw, owner, gid);
  const data = join(dir, 'data');
  const init = spawnSync('runuser', ['-u', 'postgres', '--', initdb, '-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pw}`, '-E', 'UTF8', '--no-sync'], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  port = await freePort();
  server = spawn('runuser', ['-u', 'postgres', '--', postgres, '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Ready for queries (not just accepting connections).
  for (let i = 0; i < 100; i++) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    try {
      await c.connect();
      await c.end();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});

after(async () => {
  if (server?.pid) {
    // runuser forwards the signal to postgres: SIGINT = fast shutdown.
    server.kill('SIGINT');
    await new Promise((r) => {
      const t = setTimeout(r, 5000);
      server!.once('exit', () => (clearTimeout(t), r(undefined)));
    });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('merge → a PostgreSQL that demands SCRAM-SHA-256: the proxy authenticates itself; a wrong backend password reaches the variants as an error', async (t) => {
  if (why) {
    if (process.env['CI']) assert.fail(`${why} (required in CI)`);
    t.skip(why);
    return;
  }
  for (const [password, ok] of [[PASSWORD, true], ['wrong', false]] as const) {
    const yard = await startYard({
      listeners: [1, 2].map((i) => ({ id: `p${i}`, listen: '127.0.0.1:0', protocol: 'postgres' })),
      clusters: [{ id: 'db', endpoints: [`127.0.0.1:${port}`] }],
      routes: [{ id: 'm', cluster: 'db', merge: { listeners: ['p1', 'p2'], timeout: '2s', postgres: { auth: { method: 'trust' }, backend: { user: 'postgres', password, database: 'postgres' } } } }],
    });
    const cs = [1, 2].map((i) => {
      const a = yard.listeners.get(`p${i}`)!.address!;
      const c = new pg.Client({ host: '127.0.0.1', port: a.kind === 'tcp' ? a.port : 0, user: 'app', database: 'postgres' });
      c.on('error', () => undefined);
      return c;
    });
    try {
      if (ok) {
        await Promise.all(cs.map((c) => c.connect()));
        const rs = await Promise.all(cs.map((c) => c.query('SELECT current_user AS u, $1::text AS echo', ['scram'])));
        for (const r of rs) assert.deepEqual(r.rows, [{ u: 'postgres', echo: 'scram' }]);
      } else {
        const errs = await Promise.all(cs.map((c) => c.connect().then(() => c.query('SELECT 1')).then(() => undefined, (e: Error) => e)));
        for (const e of errs) {
          assert.ok(e instanceof Error);
          assert.match(e.message, /password authentication failed|backend authentication failed/);
        }
      }
    } finally {
      await Promise.all(cs.map((c) => c.end().catch(() => undefined)));
      await yard.close();
    }
  }
});
