// Takes the screenshots of docs/dashboard.md with the browser tests' driver (same demo yard, same Chromium):
//   node --import tsx test/dashboard/screenshots.ts [OUTDIR]     (default docs/)
// Writes dashboard-overview.png, dashboard-overview-dark.png, dashboard-faults.png, dashboard-divergences.png and
// dashboard-divergence.png and dashboard-traffic.png. Bounded: about 20 s of 5 requests/s background traffic, then the shots.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startDemoLoad } from '../../src/cli/commands/demo-load.js';
import { chromiumPresent, CHROMIUM, ensureBuilt, launchBrowser, nvGet, openPage, startDemoYard } from './driver.js';

const outDir = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
if (!chromiumPresent()) throw new Error(`chromium is not installed at ${CHROMIUM} (apt-get install chromium)`);
await ensureBuilt();
const demo = await startDemoYard();
const browser = await launchBrowser();
const load = startDemoLoad({ line: { host: '127.0.0.1', port: demo.linePort }, http: { host: '127.0.0.1', port: demo.nvPort, path: '/account?id=1' } }, { rate: 5, duration: 60_000 });
try {
  const shoot = async (page: Page, name: string): Promise<void> => {
    const file = path.join(outDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`wrote ${file}\n`);
  };
  const { page, errors } = await openPage(browser, { width: 1280, height: 760 });
  await page.goto(`${demo.admin.url}/`);
  await page.waitForSelector('tr[data-listener="demo"]', { timeout: 15_000 });
  await new Promise((r) => setTimeout(r, 20_000));
  await nvGet(demo.nvPort, '/account?id=2');
  await shoot(page, 'dashboard-overview');
  const dark = await openPage(browser, { width: 1280, height: 760, colorScheme: 'dark' });
  await dark.page.goto(`${demo.admin.url}/`);
  await dark.page.waitForSelector('tr[data-listener="demo"]', { timeout: 15_000 });
  await new Promise((r) => setTimeout(r, 6_000));
  await shoot(dark.page, 'dashboard-overview-dark');
  await dark.page.context().close();

  await page.goto(`${demo.admin.url}/#/faults/demo`);
  await page.waitForSelector('#add-fault #opt-latency', { timeout: 15_000 });
  await page.fill('#opt-latency', '250');
  await page.fill('#opt-jitter', '50');
  await page.click('#add-fault button[type="submit"]');
  await page.waitForSelector('[data-faults-of="demo"] tr[data-fault="latency_downstream"]', { timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 2_500));
  await shoot(page, 'dashboard-faults');

  await page.goto(`${demo.admin.url}/#/divergences`);
  await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById('sse-state')?.textContent === 'connected', undefined, { timeout: 15_000 });
  await nvGet(demo.nvPort, '/account?id=2');
  await page.waitForSelector('tr[data-divergence="2"]', { timeout: 10_000 });
  await shoot(page, 'dashboard-divergences');
  await page.click('tr[data-divergence="2"] a');
  await page.waitForSelector('#variants tr[data-variant="v3"] button', { timeout: 10_000 });
  await shoot(page, 'dashboard-divergence');

  // Traffic: the line listener's tail is off by default (not a protocol listener); the page's switch turns it on
  await page.goto(`${demo.admin.url}/#/traffic/demo`);
  await page.waitForSelector('#traffic-state', { timeout: 15_000 });
  await page.click('#traffic-toggle');
  await page.waitForSelector('#traffic-table tr.traffic-row:nth-child(6)', { timeout: 20_000 });
  await shoot(page, 'dashboard-traffic');
  if (errors.length > 0) throw new Error(`console errors: ${errors.join('; ')}`);
} finally {
  load.stop();
  await browser.close();
  await demo.close();
}
