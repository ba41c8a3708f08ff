/**
 * What the dashboard tests and the docs' screenshot script share: a demo-like switchyard (a line service behind a
 * line-framed listener, three variants of an accounts service behind an N-variant HTTP listener, the third with a
 * planted bug) with its admin API, all on loopback; and a headless Debian Chromium driven by playwright-core.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.mjs';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startLineServer, type TestServer } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export function chromiumPresent(): boolean {
  return existsSync(CHROMIUM);
}

let built: Promise<unknown> | undefined;
/** Build the bundle once per process (the admin API serves dist/dashboard/ when run from src/). */
export function ensureBuilt(): Promise<unknown> {
  return (built ??= buildDashboard());
}

const ACCOUNTS: Record<string, { id: number; owner: string; balance: number }> = {
  '1': { id: 1, owner: 'alice', balance: 120 },
  '2': { id: 2, owner: 'bob', balance: 9500 },
};

/** The demo's accounts service: the caller (x-user, default alice) may read only their own account, unless flawed. */
async function startVariant(name: string, flawed: boolean): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://demo');
    const user = String(req.headers['x-user'] ?? 'alice');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-variant': name });
      res.end(JSON.stringify(body));
    };
    const account = ACCOUNTS[url.searchParams.get('id') ?? ''];
    if (url.pathname !== '/account' || !account) return send(404, { error: 'not found' });
    if (account.owner !== user && !flawed) return send(403, { error: 'not your account' });
    send(200, account);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

export interface DemoYard {
  yard: Switchyard;
  admin: AdminServer;
  /** The line listener's port (listener "demo"). */
  linePort: number;
  /** The N-variant HTTP listener's port (listener "nvariant", route "accounts"). */
  nvPort: number;
  close(): Promise<void>;
}

export async function startDemoYard(options: { token?: string } = {}): Promise<DemoYard> {
  const backend: TestServer = await startLineServer((line) => line.toUpperCase());
  const variants = [await startVariant('v1', false), await startVariant('v2', false), await startVariant('v3', true)];
  const port = (s: http.Server): number => (s.address() as net.AddressInfo).port;
  const yard = await startYard({
    listeners: [
      { id: 'demo', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } },
      { id: 'nvariant', listen: '127.0.0.1:0', protocol: 'http' },
    ],
    clusters: [{ id: 'demo-backend', endpoints: [`127.0.0.1:${backend.port}`] }, ...variants.map((v, i) => ({ id: `v${i + 1}`, endpoints: [`127.0.0.1:${port(v)}`] }))],
    routes: [
      { id: 'demo', listener: 'demo', cluster: 'demo-backend' },
      { id: 'accounts', listener: 'nvariant', replicate: { variants: ['v1', 'v2', 'v3'], policy: 'unanimous', timeout: '2s', normalise: { ignoreHeaders: ['x-variant'] } } },
    ],
  });
  const admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, ...(options.token ? { token: options.token } : {}) });
  const portOf = (id: string): number => {
    const a = yard.listeners.get(id)!.address!;
    return a.kind === 'tcp' ? a.port : 0;
  };
  return {
    yard,
    admin,
    linePort: portOf('demo'),
    nvPort: portOf('nvariant'),
    close: async () => {
      await admin.close();
      await yard.close({ drainTimeout: 0 });
      await backend.close();
      for (const v of variants) {
        v.closeAllConnections();
        await new Promise<void>((r) => v.close(() => r()));
      }
    },
  };
}

/** One line through the line listener: the reply and how long the round trip took (ms). */
export async function lineRoundTrip(port: number, line: string): Promise<{ reply: string; ms: number }> {
  const start = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  socket.end(`${line}\n`);
  let reply = '';
  for await (const chunk of socket) reply += chunk as string;
  return { reply: reply.trimEnd(), ms: performance.now() - start };
}

/** One GET through the N-variant listener (own connection). */
export function nvGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** A page that records console errors and uncaught exceptions (the tests assert there are none). */
export async function openPage(browser: Browser, options: { colorScheme?: 'light' | 'dark'; width?: number; height?: number } = {}): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 860 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return { page, errors };
}

let shotDir: Promise<string> | undefined;

/** Save a full-page screenshot under this test run's temporary folder and check it is a non-empty PNG; its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(await (shotDir ??= mkdtemp(path.join(os.tmpdir(), 'switchyard-dashboard-'))), `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const size = (await stat(file)).size;
  assert.ok(size > 1000, `screenshot ${file} is ${size} bytes`);
  assert.deepEqual([...(await readFile(file)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG file');
  return file;
}
