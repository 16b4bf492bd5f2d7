/**
 * The operator dashboard in headless Chromium (Debian's /usr/bin/chromium through playwright-core): token
 * prompt, live status and charts, dead letters with their errors and a working requeue button, search.
 * Everything is served by the app (no CDN). A screenshot is kept in test-artifacts/dashboard.png.
 * Install Chromium with scripts/ci/ensure-chromium.sh.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PKG_DIR, type Started, startApp, summary } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const ARTIFACTS = join(PKG_DIR, 'test-artifacts');
const TOKEN = 'dashboard-token-123';

describe('dashboard', () => {
  let app: Started;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: run scripts/ci/ensure-chromium.sh (installs Debian's chromium)`,
      );
    app = await startApp({ server: { authToken: TOKEN } }, { token: TOKEN });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('shows sync state, dead letters with a requeue button, and searches', async () => {
    await app.request('POST', '/summaries', {
      summaries: [
        summary('shop.cart.Cart.add_item', 'Adds an item to the shopping cart and updates the total price'),
        summary('shop.cart.Cart', 'Shopping cart holding items and computing totals', 'class'),
        summary('shop.payment', 'Payment processing: card authorisation and refunds', 'package'),
      ],
    });
    app.faulty.poisonId('shop.broken.Thing');
    await app.request('PUT', '/summaries/shop.broken.Thing', {
      summary: 'rejected by the index',
      level: 'method',
    });
    expect((await app.request('POST', '/sync/flush')).body.deadLetters).toBe(1);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(app.url)) foreign.push(req.url());
    });

    await page.goto(app.url);
    // A token is configured: the page asks for it.
    await page.locator('#auth').waitFor({ state: 'visible' });
    await page.fill('#token', TOKEN);
    await page.click('#auth-form button');
    await page.locator('body[data-loaded="true"]').waitFor();
    await expect.poll(() => page.textContent('#summaries')).toBe('4');
    expect(await page.textContent('#dead')).toBe('1');
    expect(await page.textContent('#setup')).toContain('batch');
    const row = page.locator('#dead-table tbody tr');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('shop.broken.Thing');
    expect(await row.textContent()).toContain('injected 400');

    await page.fill('#search-text', 'shopping cart total price');
    await page.click('#search-form button');
    await page.locator('body[data-searched="true"]').waitFor();
    const first = page.locator('#search-results li').first();
    expect(await first.textContent()).toContain('shop.cart.Cart.add_item');

    // Let the charts collect a few samples, then keep a screenshot.
    await page.waitForTimeout(1_500);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // Fix the cause, press Requeue: the dead letter is delivered and disappears.
    app.faulty.curePoison();
    await row.locator('button').click();
    await page.locator('#dead-empty').waitFor({ state: 'visible' });
    await expect.poll(async () => (await app.request('GET', '/sync/status')).body.deadLetters).toBe(0);
    await app.request('POST', '/sync/flush');
    const hits = (await app.request('POST', '/search', { text: 'rejected by the index', k: 1 })).body.hits;
    expect(hits[0].targetFqn).toBe('shop.broken.Thing');

    expect(foreign).toEqual([]);
    await page.close();
  });
});
