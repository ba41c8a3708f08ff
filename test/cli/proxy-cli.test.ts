import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startServer, connect, readAll, pseudoRandomChunks, writeChunks, hashAll, freePort } from '../helpers/net.js';
import { spawnCli, rssKiB } from '../helpers/cli.js';

const MiB = 1024 * 1024;

async function startCliProxy(t: { after(fn: () => unknown): void }, upstreamPort: number, extra: string[] = []) {
  const port = await freePort();
  const p = spawnCli(['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstreamPort}`, '--log-level', 'warn', ...extra]);
  t.after(() => p.kill('SIGKILL'));
  await p.waitFor(/switchyard proxy: /);
  return { p, port };
}

describe('switchyard proxy (CLI)', () => {
  test('forwards 256 MiB byte-exact each way, concurrently', async (t) => {
    const size = 256 * MiB;
    let serverGot: Promise<{ sha256: string; bytes: number }> | undefined;
    let serverSent: Promise<string> | undefined;
    const upstream = await startServer((s) => {
      serverGot = hashAll(s);
      serverSent = writeChunks(s, pseudoRandomChunks(size, 7));
    });
    t.after(() => upstream.close());
    const { port } = await startCliProxy(t, upstream.port);
    const client = await connect(port);
    const clientGot = hashAll(client);
    const sent = await writeChunks(client, pseudoRandomChunks(size, 8));
    const down = await clientGot;
    const up = await serverGot!;
    assert.equal(up.bytes, size);
    assert.equal(up.sha256, sent);
    assert.equal(down.bytes, size);
    assert.equal(down.sha256, await serverSent!);
  });

  test('keeps half-close: "abc" + FIN, the server answers after EOF, the client gets the answer', async (t) => {
    const upstream = await startServer(async (s) => {
      const got = await readAll(s);
      s.end(`seen ${got.length} bytes: ${got.toString()}`);
    });
    t.after(() => upstream.close());
    const { port } = await startCliProxy(t, upstream.port);
    const client = await connect(port);
    client.end('abc');
    assert.equal((await readAll(client)).toString(), 'seen 3 bytes: abc');
  });

  test('closes the client promptly when the upstream is down', async (t) => {
    const dead = await freePort();
    const { p, port } = await startCliProxy(t, dead);
    const client = await connect(port);
    assert.equal((await readAll(client)).length, 0);
    // the error is logged with its code
    for (let i = 0; i < 500 && !p.stderr().includes('SWY_UPSTREAM_REFUSED'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(p.stderr(), /SWY_UPSTREAM_REFUSED/);
  });

  test('backpressure: 256 MiB to a client that reads at a crawl keeps the proxy RSS bounded', async (t) => {
    const size = 256 * MiB;
    let sent: Promise<string> | undefined;
    let serverSocket: import('node:net').Socket | undefined;
    let connections = 0;
    const upstream = await startServer((s) => {
      if (++connections === 1) {
        s.end('warm'); // the warm-up connection
        return;
      }
      serverSocket = s;
      sent = writeChunks(s, pseudoRandomChunks(size, 9));
    });
    t.after(() => upstream.close());
    const { p, port } = await startCliProxy(t, upstream.port);
    const pid = p.child.pid!;
    // warm up: one small connection so lazy allocations are done before the baseline
    const warm = await connect(port);
    warm.end();
    await readAll(warm);
    const client = await connect(port);
    client.pause();
    await new Promise((r) => setTimeout(r, 200));
    const base = await rssKiB(pid);
    let peak = base;
    const sample = setInterval(() => {
      rssKiB(pid).then((v) => (peak = Math.max(peak, v)), () => undefined);
    }, 25);
    t.after(() => clearInterval(sample));
    // Crawl: 16 KiB every 10 ms for 1.5 s (~1.6 MB/s while the upstream could send GB/s)…
    const crawlUntil = Date.now() + 1500;
    let received = 0;
    while (Date.now() < crawlUntil) {
      const chunk = client.read(16 * 1024) as Buffer | null;
      if (chunk) received += chunk.length;
      await new Promise((r) => setTimeout(r, 10));
    }
    const crawlPeak = peak;
    // While the client crawls, the upstream must have been held back (kernel buffers + bounded proxy buffers),
    // not allowed to push its 256 MiB into the proxy's memory.
    const pushedDuringCrawl = serverSocket!.bytesWritten - serverSocket!.writableLength;
    // …then read the rest at full speed.
    const rest = hashAll(client);
    client.resume();
    const r = await rest;
    clearInterval(sample);
    await sent;
    assert.equal(received + r.bytes, size);
    const crawlGrowthMiB = (crawlPeak - base) / 1024;
    const growthMiB = (peak - base) / 1024;
    t.diagnostic(`upstream got ${(pushedDuringCrawl / MiB).toFixed(1)} MiB into the sockets during the crawl (client read ${(received / MiB).toFixed(1)} MiB)`);
    t.diagnostic(`proxy RSS base ${(base / 1024).toFixed(1)} MiB; growth during the crawl ${crawlGrowthMiB.toFixed(2)} MiB; peak growth overall ${growthMiB.toFixed(2)} MiB`);
    assert.ok(pushedDuringCrawl < 48 * MiB, `the upstream pushed ${(pushedDuringCrawl / MiB).toFixed(1)} MiB while the client crawled: not held back`);
    assert.ok(crawlGrowthMiB < 4, `proxy RSS grew by ${crawlGrowthMiB.toFixed(2)} MiB while the client crawled`);
    // At full speed the only growth is transient 64 KiB read buffers awaiting GC (V8 collects external memory in
    // steps of tens of MiB); it must not scale with the 256 MiB pushed.
    assert.ok(growthMiB < 64, `proxy RSS grew by ${growthMiB.toFixed(2)} MiB at full speed`);
  });

  test('SIGTERM drains: live connections keep working, new ones are refused, the process exits 0', async (t) => {
    const upstream = await startServer((s) => s.pipe(s));
    t.after(() => upstream.close());
    const { p, port } = await startCliProxy(t, upstream.port, ['--drain-timeout', '10s']);
    const client = await connect(port);
    client.write('one');
    await once(client, 'data');
    p.kill('SIGTERM');
    // wait until the listener stopped accepting
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      refused = await connect(port).then(
        (s) => (s.destroy(), false),
        () => true,
      );
      if (!refused) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(refused, 'new connections are refused while draining');
    client.write('two');
    const [two] = (await once(client, 'data')) as [Buffer];
    assert.equal(two.toString(), 'two');
    client.end();
    await readAll(client);
    const { code } = await p.exited;
    assert.equal(code, 0);
  });

  test('usage errors name the flag', async () => {
    const p = spawnCli(['proxy', '--listen', '127.0.0.1:80800', '--upstream', '127.0.0.1:1']);
    const { code } = await p.exited;
    assert.equal(code, 2);
    assert.match(p.stderr(), /--listen: bad port/);
  });
});
