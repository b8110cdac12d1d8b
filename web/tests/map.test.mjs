// Browser tests of the account map against a running server with seeded accounts.
//
//   TERRANE_URL=http://127.0.0.1:8080 TERRANE_EXPECTED_ACCOUNTS=600 npm test
//
// Screenshots go to TERRANE_SCREENSHOT_DIR (default web/screenshots).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  collectPageProblems,
  launchBrowser,
  requireEnv,
  screenshotDir,
  serverUrl,
  waitForMapSettled,
  signInAsDemoUser,
} from './lib/browser.mjs';

function expectedAccounts() {
  const raw = requireEnv(
    'TERRANE_EXPECTED_ACCOUNTS',
    'set it to the number of accounts the server was seeded with',
  );
  const count = Number(raw);
  // Zero would let an empty map pass: the map is tested against a seeded database.
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`TERRANE_EXPECTED_ACCOUNTS must be a positive whole number, got ${raw}`);
  }
  return count;
}

/** Account ids drawn by the accounts layer; tiles may hold copies of a point, so dedupe. */
function renderedAccountIds(page) {
  return page.evaluate(() => {
    const features = window.terraneMap.queryRenderedFeatures({ layers: ['accounts'] });
    return [...new Set(features.map((f) => String(f.id ?? f.properties.id)))];
  });
}

/** Opens the map page and waits for it to settle, failing with what the page said. */
async function openReadyMap(page, baseUrl) {
  // Signed in as the admin, who sees every seeded account.
  await signInAsDemoUser(page, baseUrl);
  const response = await page.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded' });
  assert.equal(response?.status(), 200, 'GET / should answer 200');
  const { state, error } = await waitForMapSettled(page);
  assert.equal(state, 'ready', `map should become ready, but it shows: ${error}`);
}

describe('account map', () => {
  let browser;
  let baseUrl;
  let expected;
  let shots;

  before(async () => {
    baseUrl = serverUrl();
    expected = expectedAccounts();
    shots = await screenshotDir();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test('desktop map draws every seeded account without page errors', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);

      await openReadyMap(page, baseUrl);
      const ids = await renderedAccountIds(page);
      const featureCount = await page.locator('#map').getAttribute('data-feature-count');
      await page.screenshot({ path: join(shots, 'map.png') });

      assert.equal(ids.length, expected, 'every account should be drawn inside the view');
      assert.equal(featureCount, String(expected), 'data-feature-count should match the seed');
      assert.match(await page.locator('#account-count').textContent(), /\d+ accounts?/);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('phone viewport reaches ready with the map as wide as the screen', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);

      await openReadyMap(page, baseUrl);
      const layout = await page.evaluate(() => {
        const canvas = window.terraneMap.getCanvas().getBoundingClientRect();
        return {
          canvasLeft: canvas.left,
          canvasWidth: canvas.width,
          canvasHeight: canvas.height,
          viewportWidth: window.innerWidth,
          pageWidth: document.documentElement.scrollWidth,
        };
      });
      await page.screenshot({ path: join(shots, 'map-phone.png') });

      assert.equal(layout.viewportWidth, 390);
      assert.ok(Math.abs(layout.canvasLeft) < 1, `canvas should start at the left edge: ${layout.canvasLeft}`);
      assert.ok(Math.abs(layout.canvasWidth - 390) < 1, `canvas should be 390 px wide: ${layout.canvasWidth}`);
      assert.ok(layout.canvasHeight > 600, `canvas should take most of the height: ${layout.canvasHeight}`);
      assert.ok(layout.pageWidth <= 390, `page should not scroll sideways: ${layout.pageWidth}`);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('clicking an account opens a popup with its name', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);

      await openReadyMap(page, baseUrl);
      // The top-most account under some drawn point: that is the one a click picks.
      const target = await page.evaluate(() => {
        const map = window.terraneMap;
        const [first] = map.queryRenderedFeatures({ layers: ['accounts'] });
        const at = map.project(first.geometry.coordinates);
        const [top] = map.queryRenderedFeatures([at.x, at.y], { layers: ['accounts'] });
        const box = map.getCanvas().getBoundingClientRect();
        return { x: box.left + at.x, y: box.top + at.y, name: top.properties.name };
      });
      await page.mouse.click(target.x, target.y);
      const popupName = page.locator('.maplibregl-popup .account-card__name');
      await popupName.waitFor({ timeout: 10_000 });

      assert.equal(await popupName.textContent(), target.name);
      assert.equal(await page.locator('.maplibregl-popup .account-card__facts dt').count(), 4);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });
});
