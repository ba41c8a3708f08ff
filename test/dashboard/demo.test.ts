// `switchyard demo` (not --once): the dashboard URL is the first thing it prints, the page is served there, and its
// bounded background traffic keeps flowing (so the charts move).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCli } from '../helpers/cli.js';
import { ensureBuilt } from './driver.js';

test('demo prints the dashboard URL first, serves the page there and keeps traffic flowing', { timeout: 60_000 }, async (t) => {
  await ensureBuilt();
  const demo = spawnCli(['demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  t.after(async () => {
    demo.kill('SIGINT');
    // a demo that does not stop on Ctrl-C within 15 s is killed, so no run of this test leaves it behind
    const stopped = await Promise.race([demo.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000).unref())]);
    if (!stopped) {
      demo.kill('SIGKILL');
      await demo.exited;
      assert.fail('the demo did not stop within 15 s of SIGINT');
    }
  });
  await demo.waitFor(/Ctrl-C to stop\./, 30_000);
  const first = demo.stdout().split('\n')[0] ?? '';
  const m = /^dashboard (http:\/\/127\.0\.0\.1:\d+)\/ /.exec(first);
  assert.ok(m, `first line: ${first}`);
  const page = await fetch(`${m[1]}/`, { headers: { accept: 'text/html' } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<script type="module" src="\/ui\/app-[A-Z0-9]+\.js">/);
  const totals = async (): Promise<Record<string, number>> => {
    const list = (await (await fetch(`${m[1]}/api/v1/listeners`)).json()) as Array<{ id: string; stats: { total: number } }>;
    return Object.fromEntries(list.map((l) => [l.id, l.stats.total]));
  };
  const start = await totals();
  let now = start;
  const flowing = (): boolean => now['demo']! >= start['demo']! + 3 && now['nvariant']! >= start['nvariant']! + 3;
  // Polled (bounded: 20 s at most); the loop sends 5 requests/s, alternating between the two listeners.
  for (let i = 0; i < 40 && !flowing(); i++) {
    await new Promise((r) => setTimeout(r, 500));
    now = await totals();
  }
  assert.ok(now['demo']! >= start['demo']! + 3, `line listener connections ${start['demo']} -> ${now['demo']}`);
  assert.ok(now['nvariant']! >= start['nvariant']! + 3, `n-variant listener connections ${start['nvariant']} -> ${now['nvariant']}`);
});
