// A divergence's page shows the noise the route's filter pair learned: two identical variants that put a random
// nonce in every answer (learned as noise), and a third that also changes a real field (the divergence).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import type { Browser } from 'playwright-core';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { needPeer } from '../helpers/services.js';
import { startYard } from '../helpers/yard.js';
import { CHROMIUM, chromiumPresent, ensureBuilt, launchBrowser, nvGet, openPage, screenshot } from './driver.js';

const have = chromiumPresent();
let yard: Switchyard;
let admin: AdminServer;
let browser: Browser;
const servers: http.Server[] = [];

async function variant(value: number): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ nonce: randomUUID(), value }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  if (!have) return;
  await ensureBuilt();
  const ports = [await variant(1), await variant(1), await variant(2)];
  yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: ports.map((p, i) => ({ id: `n${i + 1}`, endpoints: [`127.0.0.1:${p}`] })),
    routes: [{ id: 'pair', listener: 'web', replicate: { variants: ['n1', 'n2', 'n3'], policy: 'unanimous', filterPair: true, timeout: '2s' } }],
  });
  admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await admin?.close();
  await yard?.close({ drainTimeout: 0 });
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

test("a divergence's page shows the filter pair's learned noise per endpoint and field", { timeout: 90_000 }, async (t) => {
  if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM}`)) return;
  const a = yard.listeners.get('web')!.address!;
  const port = a.kind === 'tcp' ? a.port : 0;
  for (let i = 0; i < 3; i++) await nvGet(port, '/item/42');
  const event = yard.divergences.list().find((e) => e.route === 'pair');
  assert.ok(event, 'n3 differs on /body/value: a divergence');
  assert.ok(event.fields.includes('/body/value'), event.fields.join(' '));
  const { page, errors } = await openPage(browser);
  await page.goto(`${admin.url}/#/divergences/${event.id}`);
  await page.waitForSelector('#noise', { timeout: 15_000 });
  const count = async (field: string, which: 'noise' | 'raw'): Promise<number> =>
    Number(await page.textContent(`#noise tr[data-endpoint="GET /item/:id"][data-field="${field}"] .${which}-count`));
  // The identical pair differed on the nonce every time: noise. The value differs only in the third variant: raw, not noise.
  assert.equal(await count('/body/nonce', 'noise'), 3);
  assert.equal(await count('/body/value', 'noise'), 0);
  assert.equal(await count('/body/value', 'raw'), 3);
  assert.match((await page.textContent('#diff')) ?? '', /\/body\/value/);
  await screenshot(page, 'noise');
  assert.deepEqual(errors, []);
});
