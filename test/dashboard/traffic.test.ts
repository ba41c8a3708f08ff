// The dashboard's Traffic view in a real headless Chromium against a real switchyard (the demo-like yard of
// driver.ts): the line listener's tail is off (not a protocol listener) until the page's switch turns it on; then
// connections through it appear in the table without a reload. A screenshot is saved under the run's temp folder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { needPeer } from '../helpers/services.js';
import { CHROMIUM, chromiumPresent, ensureBuilt, launchBrowser, lineRoundTrip, openPage, startDemoYard, type DemoYard } from './driver.js';

interface El {
  textContent: string | null;
}
declare const document: { querySelectorAll(sel: string): Iterable<El> };

const TOKEN = 'traffic-view-token';

describe('dashboard Traffic view in a real browser', { timeout: 120_000 }, () => {
  let demo: DemoYard;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const have = chromiumPresent();

  before(async () => {
    if (!have) return;
    await ensureBuilt();
    demo = await startDemoYard({ token: TOKEN });
    browser = await launchBrowser();
    ({ page, errors } = await openPage(browser));
  });
  after(async () => {
    await browser?.close();
    await demo?.close();
  });

  test('read-only without the token; with it, the switch turns the tail on and connections show up live', async (t) => {
    if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM} (apt-get install chromium)`)) return;
    const res = await page.goto(`${demo.admin.url}/#/traffic/demo`);
    assert.equal(res?.status(), 200);
    // without the token: the form asks for it and the switch is disabled
    await page.waitForSelector('#token-form', { timeout: 15_000 });
    assert.equal(await page.isDisabled('#traffic-toggle'), true);
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#traffic-state', { timeout: 15_000 });
    assert.equal(await page.inputValue('#traffic-listener'), 'demo');
    assert.match((await page.textContent('#traffic-state')) ?? '', /off/);
    // before the tail is on nothing is recorded
    await lineRoundTrip(demo.linePort, 'unseen');
    await page.click('#traffic-toggle');
    await page.waitForFunction(() => /recording/.test([...document.querySelectorAll('#traffic-state')][0]?.textContent ?? ''), undefined, { timeout: 10_000 });
    assert.equal(demo.yard.listeners.get('demo')!.config.id, 'demo');
    for (let i = 0; i < 3; i++) assert.equal((await lineRoundTrip(demo.linePort, `hello ${i}`)).reply, `HELLO ${i}`);
    // polled every second: generous wait
    await page.waitForFunction(() => [...document.querySelectorAll('#traffic-table tr.traffic-row')].length >= 3, undefined, { timeout: 20_000 });
    const rows = await page.locator('#traffic-table tr.traffic-row').allTextContents();
    assert.equal(rows.length, 3, rows.join('\n'));
    for (const r of rows) {
      assert.match(r, /127\.0\.0\.1:\d+/);
      assert.match(r, /demo-backend/);
      assert.match(r, /↑8 B ↓8 B/);
    }
    // the API says the same as the page
    const api = (await (await fetch(`${demo.admin.url}/api/v1/listeners/demo/traffic`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { enabled: boolean; records: unknown[] };
    assert.equal(api.enabled, true);
    assert.equal(api.records.length, 3);
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'switchyard-dashboard-')), 'traffic.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok((await stat(file)).size > 1000);
    assert.deepEqual([...(await readFile(file)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG file');
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), [], 'no console errors but the refused call before the token');
  });
});
