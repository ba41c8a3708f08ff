// The dashboard in a real headless Chromium (Debian's chromium, driven by playwright-core) against a real switchyard,
// real backends and its admin API on loopback. Each test saves a screenshot under the run's temporary folder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { needPeer } from '../helpers/services.js';
import { CHROMIUM, chromiumPresent, ensureBuilt, launchBrowser, lineRoundTrip, nvGet, openPage, screenshot, startDemoYard, type DemoYard } from './driver.js';

// The page's globals as the callbacks run in the browser use them (this project's tsconfig has no DOM lib).
interface El {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  value?: string;
  dispatchEvent(event: Event): boolean;
}
declare function requestAnimationFrame(callback: () => void): number;
declare const document: { getElementById(id: string): El | null; querySelector(sel: string): El | null; querySelectorAll(sel: string): Iterable<El> };
declare const window: Record<string, unknown>;

describe('dashboard in a real browser', { timeout: 180_000 }, () => {
  let demo: DemoYard;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const have = chromiumPresent();

  before(async () => {
    if (!have) return;
    await ensureBuilt();
    demo = await startDemoYard();
    browser = await launchBrowser();
    ({ page, errors } = await openPage(browser));
  });
  after(async () => {
    await browser?.close();
    await demo?.close();
  });

  test('the page loads with no console errors and lists the listeners, clusters and routes', async (t) => {
    if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM} (apt-get install chromium)`)) return;
    const res = await page.goto(`${demo.admin.url}/`);
    assert.equal(res?.status(), 200);
    const headers = res.headers();
    assert.match(headers['content-type'] ?? '', /^text\/html/);
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self'/);
    await page.waitForSelector('tr[data-listener="demo"]', { timeout: 15_000 });
    await page.waitForSelector('tr[data-listener="nvariant"]');
    await page.waitForSelector('tr[data-cluster="demo-backend"]');
    await page.waitForSelector('tr[data-route="accounts"]');
    assert.match(await page.textContent('tr[data-listener="nvariant"]') ?? '', /http/);
    // The charts get points once traffic has been seen over two polls (2 s apart).
    for (let i = 0; i < 5; i++) await lineRoundTrip(demo.linePort, `hello ${i}`);
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-listener="demo"] .spark-value')].some((e) => /^[1-9]|^0\.[1-9]/.test(e.textContent ?? '')), undefined, { timeout: 15_000 });
    await screenshot(page, 'overview');
    assert.deepEqual(errors, [], 'no console errors');
  });

  test('a latency fault added through the form makes requests through that listener measurably slower', async (t) => {
    if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM}`)) return;
    const baseline = Math.min(...(await Promise.all([0, 1, 2].map(async (i) => (await lineRoundTrip(demo.linePort, `base ${i}`)).ms))));
    await page.goto(`${demo.admin.url}/#/faults/demo`);
    await page.waitForSelector('#add-fault #opt-latency', { timeout: 15_000 });
    assert.equal(await page.inputValue('#fault-listener'), 'demo');
    // The form is generated from the fault types the API lists (custom plugins included): every type is offered.
    const types = ((await (await fetch(`${demo.admin.url}/api/v1/faults/types`)).json()) as Array<{ type: string }>).map((x) => x.type);
    assert.deepEqual(await page.$$eval('#fault-type option', (os) => os.map((o) => (o as unknown as { value: string }).value)), types);
    await page.selectOption('#fault-type', 'bandwidth');
    await page.waitForSelector('#add-fault #opt-rate');
    assert.equal(await page.$('#add-fault #opt-latency'), null, "the bandwidth fault's own options replace latency's");
    // A value typed as soon as the new type's inputs appear, before the browser paints, stays typed (the form used to
    // reset a type's options after the render that showed them, which swallowed it).
    const typedEarly = await page.evaluate(async () => {
      const select = document.querySelector('#fault-type')!;
      select.value = 'latency';
      select.dispatchEvent(new Event('change', { bubbles: true }));
      let input: El | null = null;
      for (let i = 0; i < 1000 && input === null; i++) {
        await Promise.resolve(); // microtasks only: the re-render runs, the after-paint work does not
        input = document.querySelector('#add-fault #opt-latency');
      }
      if (input === null) return 'no latency input';
      input.value = '250';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      for (let f = 0; f < 3; f++) await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 20)));
      return document.querySelector('#add-fault #opt-latency')?.value;
    });
    assert.equal(typedEarly, '250', 'a latency typed right after switching the type is kept');
    await page.selectOption('#fault-type', 'latency');
    await page.fill('#opt-latency', '600');
    await page.click('#add-fault button[type="submit"]');
    await page.waitForSelector('#add-fault .ok', { timeout: 10_000 });
    await page.waitForSelector('[data-faults-of="demo"] tr[data-fault="latency_downstream"]', { timeout: 10_000 });
    const faults = demo.yard.faultSet('demo').list().map((f) => f.toJSON());
    assert.equal(faults.length, 1);
    assert.equal(faults[0]!['type'], 'latency');
    assert.deepEqual(faults[0]!['attributes'], { latency: 600, jitter: 0 });
    const slowed = await lineRoundTrip(demo.linePort, 'slow');
    assert.match(slowed.reply, /^SLOW$/);
    assert.ok(slowed.ms >= 550, `with a 600 ms latency fault the round trip took ${slowed.ms.toFixed(0)} ms`);
    assert.ok(baseline < 300, `baseline round trip ${baseline.toFixed(0)} ms`);
    await screenshot(page, 'faults');
    // Toggle off and remove from the page: the fault goes away.
    await page.click('[data-faults-of="demo"] tr[data-fault="latency_downstream"] button:has-text("Disable")');
    await page.waitForSelector('[data-faults-of="demo"] tr[data-fault="latency_downstream"] button:has-text("Enable")', { timeout: 10_000 });
    assert.equal(demo.yard.faultSet('demo').get('latency_downstream')?.toJSON()['toxicity'], 0);
    await page.click('[data-faults-of="demo"] tr[data-fault="latency_downstream"] button:has-text("Remove")');
    await page.waitForSelector('[data-faults-of="demo"] tr[data-fault="latency_downstream"]', { state: 'detached', timeout: 10_000 });
    assert.equal(demo.yard.faultSet('demo').list().length, 0);
    assert.deepEqual(errors, [], 'no console errors');
  });

  test('a crafted request shows up as a divergence within 1 s without a reload; its diff names the field; quarantine from the page takes the variant out', async (t) => {
    if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM}`)) return;
    await page.goto(`${demo.admin.url}/#/divergences`);
    await page.waitForFunction(() => document.getElementById('sse-state')?.textContent === 'connected', undefined, { timeout: 15_000 });
    await page.evaluate(() => (window['noReload'] = true));
    const before = demo.yard.divergences.list().length;
    const crafted = await nvGet(demo.nvPort, '/account?id=2');
    assert.equal(crafted.status, 502, crafted.body);
    const event = demo.yard.divergences.list().slice(before).find((e) => e.route === 'accounts');
    assert.ok(event, 'the proxy recorded the divergence');
    const row = `tr[data-divergence="${event.id}"]`;
    await page.waitForSelector(row, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => window['noReload']), true, 'the page was not reloaded');
    // Measured inside the page, from the event's time (the proxy's clock, same machine) to the row's first render.
    const timing = await page.$eval(row, (node) => {
      const el = node as unknown as El;
      return { event: Number(el.dataset['eventTime']), received: el.dataset['receivedAt'], rendered: Number(el.dataset['renderedAt']) };
    });
    assert.ok(timing.received !== undefined, 'the row came live from the event stream');
    const delay = timing.rendered - timing.event;
    t.diagnostic(`divergence on screen ${delay} ms after the proxy recorded it`);
    assert.ok(delay <= 1000, `the row appeared ${delay} ms after the event`);
    await screenshot(page, 'divergences');

    await page.click(`${row} a`);
    await page.waitForSelector('#diff tr[data-field="/status"]', { timeout: 10_000 });
    const diffText = (await page.textContent('#diff')) ?? '';
    assert.match(diffText, /\/body\/owner/);
    assert.match(diffText, /"bob"/);
    assert.match((await page.textContent('#diff tr[data-field="/status"]')) ?? '', /403.*200/s);
    await page.waitForSelector('#variants tr[data-variant="v3"] button:has-text("Quarantine")', { timeout: 10_000 });
    await screenshot(page, 'divergence-detail');
    await page.click('#variants tr[data-variant="v3"] button:has-text("Quarantine")');
    await page.waitForFunction(() => document.querySelector('#variants tr[data-variant="v3"] .variant-state')?.textContent === 'quarantined', undefined, { timeout: 10_000 });
    const states = (await (await fetch(`${demo.admin.url}/api/v1/routes/accounts/variants`)).json()) as Array<{ name: string; state: string }>;
    assert.equal(states.find((v) => v.name === 'v3')?.state, 'quarantined');
    // v3 is out of the vote: v1 and v2 agree, the client gets their refusal instead of a blocked divergence.
    const after = await nvGet(demo.nvPort, '/account?id=2');
    assert.equal(after.status, 403, after.body);
    await page.click('#variants tr[data-variant="v3"] button:has-text("Restore")');
    await page.waitForFunction(() => document.querySelector('#variants tr[data-variant="v3"] .variant-state')?.textContent === 'active', undefined, { timeout: 10_000 });
    assert.deepEqual(errors, [], 'no console errors');
  });
});

describe('dashboard with an admin token', { timeout: 120_000 }, () => {
  let demo: DemoYard;
  let browser: Browser;
  const have = chromiumPresent();
  before(async () => {
    if (!have) return;
    await ensureBuilt();
    demo = await startDemoYard({ token: 's3cret-dash' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await demo?.close();
  });

  test('token-protected mutations fail without the token and work with it', async (t) => {
    if (!needPeer(t, have, `chromium is not installed at ${CHROMIUM}`)) return;
    const kept = await nvGet(demo.nvPort, '/account?id=2');
    assert.equal(kept.status, 502, 'a divergence the API keeps before the page opens');
    const keptId = demo.yard.divergences.list().at(-1)!.id;
    const { page, errors } = await openPage(browser);
    const res = await page.goto(`${demo.admin.url}/`);
    assert.equal(res?.status(), 200, 'the page itself needs no token');
    await page.waitForSelector('#token-form', { timeout: 15_000 });
    assert.equal(await page.$('tr[data-listener="demo"]'), null, 'nothing is shown without the token');
    // A mutation from the page without the token is refused.
    const refused = await page.evaluate(async () => {
      const r = await fetch('/api/v1/listeners/demo/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'latency', attributes: { latency: 100 } }) });
      return { status: r.status, body: await r.text() };
    });
    assert.equal(refused.status, 401, refused.body);
    assert.match(refused.body, /missing bearer token/);
    assert.equal(demo.yard.faultSet('demo').list().length, 0);
    await page.goto(`${demo.admin.url}/#/faults/demo`);
    await page.waitForSelector('#token-form');
    assert.equal(await page.$('#add-fault button[type="submit"]:not([disabled])'), null, 'no enabled add button without the token');
    await screenshot(page, 'token-prompt');
    // With the token (asked once, kept for the tab) the same form works.
    await page.fill('#token-input', 's3cret-dash');
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#add-fault #opt-latency', { timeout: 15_000 });
    await page.fill('#opt-latency', '100');
    await page.click('#add-fault button[type="submit"]');
    await page.waitForSelector('#add-fault .ok', { timeout: 10_000 });
    assert.equal(demo.yard.faultSet('demo').list().length, 1);
    await page.reload();
    await page.waitForSelector('[data-faults-of="demo"] tr[data-fault="latency_downstream"]', { timeout: 15_000 });
    assert.equal(await page.$('#token-form'), null, 'the token is kept for the tab');
    await screenshot(page, 'token-faults');
    // The divergences the API kept are listed once the token is given, and new ones arrive live with it.
    await page.goto(`${demo.admin.url}/#/divergences`);
    await page.waitForSelector(`tr[data-divergence="${keptId}"]`, { timeout: 15_000 });
    await page.waitForFunction(() => document.getElementById('sse-state')?.textContent === 'connected', undefined, { timeout: 15_000 });
    await nvGet(demo.nvPort, '/account?id=2');
    await page.waitForSelector(`tr[data-divergence="${keptId + 1}"][data-received-at]`, { timeout: 15_000 });
    // The only console errors are the browser's own lines for the refused (401) requests.
    assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
  });
});
