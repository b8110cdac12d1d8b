// Browser tests of moving an account's pin by hand (issue 5): a manager moves it with the arrow
// keys or by dragging, saves, and the account keeps the new place with precision "manual";
// a rep is not offered the control and the server refuses them.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/pins.test.mjs
//
// Screenshots go to TERRANE_SCREENSHOT_DIR (default web/screenshots).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  collectPageProblems,
  launchBrowser,
  screenshotDir,
  serverUrl,
  signInAsDemoUser,
  waitForMapSettled,
} from './lib/browser.mjs';
import { DEMO_MANAGER, DEMO_REP, accountsById, pageFetch } from './lib/api.mjs';

/** map.js moves the pin this many degrees per arrow key press. */
const KEY_STEP_DEG = 0.00005;
const PRESSES = 40;

async function openReadyMap(page, baseUrl, email) {
  await signInAsDemoUser(page, baseUrl, email);
  const { state, error } = await waitForMapSettled(page);
  assert.equal(state, 'ready', `map should become ready, but it shows: ${error}`);
}

/**
 * An account drawn on top at its own point (so a click there picks it), nearest the middle
 * of the map (so a moved pin stays in view), other than those in `exclude`. Returns its id
 * and the page coordinates to click.
 */
function clickableAccount(page, exclude = []) {
  return page.evaluate((skip) => {
    const map = window.terraneMap;
    const canvas = map.getCanvas().getBoundingClientRect();
    const centre = { x: canvas.width / 2, y: canvas.height / 2 };
    const candidates = map.queryRenderedFeatures({ layers: ['accounts'] })
      .map((f) => ({ id: String(f.id ?? f.properties.id), at: map.project(f.geometry.coordinates) }))
      .filter((c) => !skip.includes(c.id))
      .sort((a, b) => Math.hypot(a.at.x - centre.x, a.at.y - centre.y)
        - Math.hypot(b.at.x - centre.x, b.at.y - centre.y));
    for (const c of candidates) {
      const [top] = map.queryRenderedFeatures([c.at.x, c.at.y], { layers: ['accounts'] });
      if (top && String(top.id ?? top.properties.id) === c.id) {
        return { id: c.id, x: canvas.left + c.at.x, y: canvas.top + c.at.y };
      }
    }
    return null;
  }, exclude);
}

/** Ids of the accounts drawn under `lonLat` (within a few pixels). */
function accountIdsDrawnAt(page, lonLat) {
  return page.evaluate((ll) => {
    const map = window.terraneMap;
    const at = map.project(ll);
    const box = [[at.x - 2, at.y - 2], [at.x + 2, at.y + 2]];
    return map.queryRenderedFeatures(box, { layers: ['accounts'] })
      .map((f) => String(f.id ?? f.properties.id));
  }, lonLat);
}

/** Clicks the account and then "Move pin" in its popup; the editor shows. */
async function startMovingPin(page, target) {
  await page.mouse.click(target.x, target.y);
  const move = page.locator('.maplibregl-popup .account-card__move');
  await move.waitFor({ timeout: 10_000 });
  await move.click();
  await page.locator('#pin-editor').waitFor({ state: 'visible' });
}

async function savePin(page) {
  await page.click('#pin-save');
  await page.locator('#pin-editor').waitFor({ state: 'hidden', timeout: 10_000 });
}

function assertNear(actual, expected, toleranceDeg, what) {
  assert.ok(
    Math.abs(actual[0] - expected[0]) <= toleranceDeg && Math.abs(actual[1] - expected[1]) <= toleranceDeg,
    `${what}: expected about ${expected.join(', ')}, got ${actual.join(', ')}`,
  );
}

describe('moving a pin by hand', () => {
  let browser;
  let baseUrl;
  let shots;
  /** Accounts moved by earlier tests, so later ones pick others. */
  const moved = [];

  before(async () => {
    baseUrl = serverUrl();
    shots = await screenshotDir();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test('a manager moves a pin with the arrow keys; it is saved as manual and stays after a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      page.on('dialog', (dialog) => {
        problems.push(`dialog: ${dialog.message()}`);
        dialog.dismiss().catch(() => {});
      });

      await openReadyMap(page, baseUrl, DEMO_MANAGER);
      const target = await clickableAccount(page);
      assert.ok(target, 'some account should be drawn on top at its own point');
      moved.push(target.id);
      const beforeMove = (await accountsById(page)).get(target.id);
      assert.ok(beforeMove, 'the manager should see the account through the API');
      const [lon0, lat0] = beforeMove.geometry.coordinates;

      await startMovingPin(page, target);
      const focused = await page.evaluate(() => document.activeElement?.classList.contains('maplibregl-marker'));
      assert.ok(focused, 'the draggable pin should have the keyboard focus');
      const centreBefore = await page.evaluate(() => window.terraneMap.getCenter().toArray());
      for (let i = 0; i < PRESSES; i += 1) {
        await page.keyboard.press('ArrowRight');
      }
      for (let i = 0; i < PRESSES; i += 1) {
        await page.keyboard.press('ArrowUp');
      }
      // The arrow keys move the pin, not the map under it.
      assert.deepEqual(await page.evaluate(() => window.terraneMap.getCenter().toArray()), centreBefore);
      assert.ok(await page.locator('.maplibregl-marker').isVisible(), 'the pin should stay in view');
      await page.screenshot({ path: join(shots, 'pin-moving.png') });
      await savePin(page);

      const expected = [lon0 + PRESSES * KEY_STEP_DEG, lat0 + PRESSES * KEY_STEP_DEG];
      const afterMove = (await accountsById(page)).get(target.id);
      assertNear(afterMove.geometry.coordinates, expected, 1e-7, 'the saved location');
      assert.equal(afterMove.properties.geocode_precision, 'manual');

      // A fresh page load draws the account at its new place, no longer at the old one.
      await page.reload({ waitUntil: 'domcontentloaded' });
      const { state } = await waitForMapSettled(page);
      assert.equal(state, 'ready');
      assert.ok(
        (await accountIdsDrawnAt(page, expected)).includes(target.id),
        'after a reload the account should be drawn at the new place',
      );
      assert.ok(
        !(await accountIdsDrawnAt(page, [lon0, lat0])).includes(target.id),
        'after a reload the account should no longer be drawn at the old place',
      );
      const reloaded = (await accountsById(page)).get(target.id);
      assertNear(reloaded.geometry.coordinates, expected, 1e-7, 'the location after a reload');
      assert.equal(reloaded.properties.geocode_precision, 'manual');
      await page.screenshot({ path: join(shots, 'pin-moved.png') });
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('a manager drags a pin to a new place and saves it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);

      await openReadyMap(page, baseUrl, DEMO_MANAGER);
      const target = await clickableAccount(page, moved);
      assert.ok(target, 'another account should be drawn on top at its own point');
      moved.push(target.id);
      const beforeMove = (await accountsById(page)).get(target.id);

      await startMovingPin(page, target);
      const pin = await page.locator('.maplibregl-marker').boundingBox();
      assert.ok(pin, 'the draggable pin should be shown');
      const from = { x: pin.x + pin.width / 2, y: pin.y + pin.height / 2 };
      const by = { x: 70, y: -45 };
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      await page.mouse.move(from.x + by.x, from.y + by.y, { steps: 12 });
      await page.mouse.up();
      await savePin(page);

      const afterMove = (await accountsById(page)).get(target.id);
      assert.equal(afterMove.properties.geocode_precision, 'manual');
      // The pin moved by the drag, measured on screen (the map has not moved).
      const shift = await page.evaluate(([a, b]) => {
        const map = window.terraneMap;
        const p = map.project(a);
        const q = map.project(b);
        return { x: q.x - p.x, y: q.y - p.y };
      }, [beforeMove.geometry.coordinates, afterMove.geometry.coordinates]);
      assert.ok(
        Math.abs(shift.x - by.x) <= 3 && Math.abs(shift.y - by.y) <= 3,
        `the pin should have moved by the drag (${by.x}, ${by.y}) px, moved (${shift.x}, ${shift.y})`,
      );
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('a rep is not offered "Move pin" and the server refuses their pin', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);

      await openReadyMap(page, baseUrl, DEMO_REP);
      assert.equal(await page.locator('#map').getAttribute('data-can-move-pins'), 'false');
      const target = await clickableAccount(page);
      assert.ok(target, 'the rep should see some of their accounts');
      await page.mouse.click(target.x, target.y);
      await page.locator('.maplibregl-popup .account-card__name').waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('.maplibregl-popup .account-card__move').count(), 0);
      assert.equal(await page.locator('#pin-editor').isVisible(), false);

      const csrf = await page.locator('#map').getAttribute('data-csrf');
      const account = (await accountsById(page)).get(target.id);
      const [lon, lat] = account.geometry.coordinates;
      const refused = await pageFetch(page, `/api/accounts/${target.id}/location`, {
        method: 'POST',
        csrf,
        body: { lon: lon + 0.001, lat },
      });
      assert.equal(refused.status, 403, `a rep's pin move should be forbidden: ${JSON.stringify(refused.body)}`);
      const unchanged = (await accountsById(page)).get(target.id);
      assert.deepEqual(unchanged.geometry.coordinates, account.geometry.coordinates);
      // The refused call is the one failed request the page saw.
      assert.deepEqual(
        problems.filter((p) => !p.includes('403')),
        [],
        'the page should report no other errors',
      );
    } finally {
      await context.close();
    }
  });
});
