import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnCli, type CliProcess } from '../helpers/cli.js';
import { connect, pseudoRandomChunks, readAll, startLineServer, startServer } from '../helpers/net.js';

const TOTAL = 64 * 1024 * 1024;
const CHUNK = 256 * 1024;

/** Poll `check` until it returns a value (not undefined), within a generous deadline. */
async function waitUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined, deadline = 30_000): Promise<T> {
  const until = Date.now() + deadline;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One line in, its upper-case answer out, over a fresh connection. */
async function ask(port: number, line: string): Promise<string> {
  const s = await connect(port);
  s.end(`${line}\n`);
  return (await readAll(s)).toString();
}

async function reloadsOf(adminUrl: string, result: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const m = new RegExp(`^switchyard_config_reloads_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function yaml(opts: { echoPort: number; upperPort: number; withLines: boolean; broken?: boolean; linesListen?: string; splice?: 'auto' | 'off' }): string {
  return [
    'admin:',
    '  listen: 127.0.0.1:0',
    'listeners:',
    '  - id: bulk',
    '    listen: 127.0.0.1:0',
    `    socket: { splice: ${opts.splice ?? 'auto'} }`,
    ...(opts.broken ? ['    idleTimeout: banana'] : []),
    ...(opts.withLines ? ['  - id: lines', `    listen: ${opts.linesListen ?? '127.0.0.1:0'}`] : []),
    'clusters:',
    '  - id: echo',
    `    endpoints: [127.0.0.1:${opts.echoPort}]`,
    ...(opts.withLines ? ['  - id: upper', '    endpoints:', '      - 127.0.0.1:${UPPER_PORT}'] : []),
    'routes:',
    '  - { id: bulk, listener: bulk, cluster: echo }',
    ...(opts.withLines ? ['  - { id: lines, listener: lines, cluster: upper }'] : []),
    'shutdown: { drainTimeout: 2s }',
    '',
  ].join('\n');
}

describe('switchyard run: hot reload', () => {
  for (const splice of ['auto', 'off'] as const) {
    test(`SIGHUP adds a listener while a 64 MiB transfer on an unchanged one goes on byte-exact; an invalid file is rejected and the old config serves (splice: ${splice})`, async (t) => {
      // The echo upstream hashes what it receives and sends it back.
      let upstreamHash: string | undefined;
      const echo = await startServer((s) => {
        const h = createHash('sha256');
        s.on('data', (c: Buffer) => h.update(c));
        s.on('end', () => (upstreamHash = h.digest('hex')));
        s.pipe(s);
      });
      t.after(() => echo.close());
      const upper = await startLineServer((l) => l.toUpperCase());
      t.after(() => upper.close());
      const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-reload-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'proxy.yaml');
      await writeFile(file, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: false, splice }));
      const p = spawnCli(['run', '-c', file, '--log-level', 'info'], { UPPER_PORT: String(upper.port) });
      t.after(() => p.kill('SIGKILL'));
      const bulkPort = Number((await p.waitFor(/listener bulk: 127\.0\.0\.1:(\d+)/))[1]);
      const adminUrl = (await p.waitFor(/admin API: (http:\S+)/))[1]!;

      // The transfer: sent in chunks with backpressure, paused half-way until the reload has been checked.
      const client = await connect(bulkPort);
      let clientError: Error | undefined;
      client.on('error', (err) => (clientError = err));
      const received = createHash('sha256');
      let receivedBytes = 0;
      client.on('data', (c: Buffer) => {
        received.update(c);
        receivedBytes += c.length;
      });
      const ended = once(client, 'end');
      const sent = createHash('sha256');
      let resume!: () => void;
      const resumed = new Promise<void>((r) => (resume = r));
      let halfway!: () => void;
      const atHalf = new Promise<void>((r) => (halfway = r));
      const sending = (async () => {
        let n = 0;
        for (const chunk of pseudoRandomChunks(TOTAL, 12, CHUNK)) {
          sent.update(chunk);
          if (!client.write(chunk)) await once(client, 'drain');
          n += chunk.length;
          if (n === TOTAL / 2) {
            halfway();
            await resumed;
          }
        }
        client.end();
      })();
      await atHalf;
      await waitUntil('half the bytes back', () => (receivedBytes >= TOTAL / 4 ? true : undefined));

      // Reload 1: a second listener, cluster and route.
      await writeFile(file, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: true, splice }));
      p.kill('SIGHUP');
      await p.waitFor(/reload \(SIGHUP\): applied: .*listener lines: added/);
      const linesPort = Number((await p.waitFor(/listener lines: 127\.0\.0\.1:(\d+)/))[1]);
      assert.equal(await ask(linesPort, 'hello'), 'HELLO\n');
      assert.equal(await reloadsOf(adminUrl, 'applied'), 1);

      resume();
      await sending;
      await waitUntil('the transfer to end', () => (receivedBytes >= TOTAL ? true : undefined), 120_000);
      await ended;
      assert.equal(clientError, undefined, 'the transfer connection was never reset');
      assert.equal(receivedBytes, TOTAL);
      const sentHash = sent.digest('hex');
      assert.equal(received.digest('hex'), sentHash, 'byte-exact back');
      await waitUntil('the upstream hash', () => upstreamHash);
      assert.equal(upstreamHash, sentHash, 'byte-exact to the upstream');
      // The same listener object carried it all (a replaced one would have started its counters again).
      const listeners = (await (await fetch(`${adminUrl}/api/v1/listeners`)).json()) as Array<{ id: string; stats: { total: number } }>;
      assert.equal(listeners.find((l) => l.id === 'bulk')?.stats.total, 1);

      // Reload 2: an invalid file is rejected, its issue logged with its path, and the running config serves on.
      await writeFile(file, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: true, broken: true, splice }));
      p.kill('SIGHUP');
      await p.waitFor(/reload \(SIGHUP\): rejected, the running config is kept/);
      await waitUntil('the issue in the log', () => (/listeners\[0\]\.idleTimeout/.test(p.stderr()) ? true : undefined));
      assert.equal(await reloadsOf(adminUrl, 'rejected'), 1);
      assert.equal(await reloadsOf(adminUrl, 'applied'), 1);
      assert.equal(await ask(linesPort, 'still'), 'STILL\n');
      const again = await connect(bulkPort);
      again.end('ping');
      assert.equal((await readAll(again)).toString(), 'ping');
    });
  }

  test('--watch reloads when the file is replaced by a rename (as editors save), without a signal', async (t) => {
    const echo = await startServer((s) => s.pipe(s));
    t.after(() => echo.close());
    const upper = await startLineServer((l) => l.toUpperCase());
    t.after(() => upper.close());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-watch-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'proxy.yaml');
    await writeFile(file, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: false }));
    const p: CliProcess = spawnCli(['run', '-c', file, '--watch', '--log-level', 'warn'], { UPPER_PORT: String(upper.port) });
    t.after(() => p.kill('SIGKILL'));
    await p.waitFor(/listener bulk: 127\.0\.0\.1:(\d+)/);
    const adminUrl = (await p.waitFor(/admin API: (http:\S+)/))[1]!;
    // Save as an editor does: a temp file renamed over the original.
    const tmp = path.join(dir, '.proxy.yaml.swp');
    await writeFile(tmp, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: true }));
    await rename(tmp, file);
    await p.waitFor(/reload \(file changed\): applied: .*listener lines: added/, 30_000);
    const linesPort = Number((await p.waitFor(/listener lines: 127\.0\.0\.1:(\d+)/))[1]);
    assert.equal(await ask(linesPort, 'watched'), 'WATCHED\n');
    // A second save after the rename is seen too (the folder is watched, not the replaced file).
    await writeFile(file, yaml({ echoPort: echo.port, upperPort: upper.port, withLines: false }));
    await p.waitFor(/reload \(file changed\): applied: .*listener lines: removed/, 30_000);
    assert.equal(await reloadsOf(adminUrl, 'applied'), 2);
    // The removed listener no longer accepts.
    await assert.rejects(connect(linesPort), /ECONNREFUSED/);
  });
});
