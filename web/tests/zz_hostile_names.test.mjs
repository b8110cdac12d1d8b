// Hostile account names through the map popup and the CSV export: markup is shown as text and
// never runs, formula-like cells are neutralised, a 500-character name does not widen the page.
//
// Needs the accounts of tests/fixtures/hostile-accounts.sql (scripts/test.sh loads them after
// the seed, before it counts the accounts the map must draw):
//
//   TERRANE_URL=http://127.0.0.1:8080 npm test
//
// Screenshots go to TERRANE_SCREENSHOT_DIR (default web/screenshots).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import {
  collectPageProblems,
  sharedBrowser,
  signInAsDemoUser,
  waitForMapSettled,
} from './lib/browser.mjs';
import { DEMO_MANAGER, pageJson } from './lib/api.mjs';
import { createDraft, deleteDraft } from './lib/planner.mjs';

/** The names of tests/fixtures/hostile-accounts.sql, by crm_id. */
const HOSTILE = Object.freeze({
  'HOSTILE-1': '<script>alert(1)</script>',
  'HOSTILE-2': '=HYPERLINK("http://x","y")',
  'HOSTILE-3': '+cmd',
  'HOSTILE-4': '@SUM(1)',
  'HOSTILE-5': 'Caf\u202Ee evil',
  'HOSTILE-6': 'W'.repeat(500),
});

/** Records dialogs (alert, confirm, prompt) the page opens, dismissing them. */
function collectDialogs(page) {
  const dialogs = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  return dialogs;
}

/** Width of the table `selector` and of the box it sits in (px): a name must not widen it. */
function tableFit(page, selector) {
  return page.evaluate((sel) => {
    const table = document.querySelector(sel);
    return { table: table.getBoundingClientRect().width, box: table.parentElement.clientWidth };
  }, selector);
}

/** Splits CSV text into rows of cells (quoted cells, doubled quotes, `,` or `;`). */
function parseCsv(text) {
  const body = text.replace(/^\uFEFF/, '');
  const header = body.slice(0, body.indexOf('\n'));
  const delimiter = (header.match(/;/g) ?? []).length > (header.match(/,/g) ?? []).length ? ';' : ',';
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i];
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += c;
    }
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

describe('hostile account names', () => {
  const suite = sharedBrowser();

  test('the map popup shows each hostile name as text, runs nothing, keeps the page width', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      const dialogs = collectDialogs(page);
      await signInAsDemoUser(page, suite.baseUrl);
      const response = await page.goto(`${suite.baseUrl}/`, { waitUntil: 'domcontentloaded' });
      assert.equal(response?.status(), 200);
      const { state, error } = await waitForMapSettled(page);
      assert.equal(state, 'ready', `map should become ready, but it shows: ${error}`);

      // Where each is, from the whole map before zooming in.
      const positions = await page.evaluate(
        (names) => {
          const all = window.terraneMap.queryRenderedFeatures({ layers: ['accounts'] });
          return names.map((n) => all.find((f) => f.properties.name === n)?.geometry.coordinates ?? null);
        },
        Object.values(HOSTILE),
      );
      for (const [i, [crmId, name]] of Object.entries(HOSTILE).entries()) {
        assert.ok(positions[i], `${crmId} should be drawn (tests/fixtures/hostile-accounts.sql loaded?)`);
        // Zoom onto the account so that it is the top-most point where it is drawn.
        const found = await page.evaluate(async ({ wanted, center }) => {
          const map = window.terraneMap;
          map.jumpTo({ center, zoom: 19 });
          await map.once('idle');
          // Tiles quantise positions by zoom: take the position drawn at this zoom.
          const drawn = map
            .queryRenderedFeatures({ layers: ['accounts'] })
            .find((f) => f.properties.name === wanted);
          if (!drawn) return { x: 0, y: 0, topName: undefined };
          const at = map.project(drawn.geometry.coordinates);
          const [top] = map.queryRenderedFeatures([at.x, at.y], { layers: ['accounts'] });
          const box = map.getCanvas().getBoundingClientRect();
          return { x: box.left + at.x, y: box.top + at.y, topName: top?.properties.name };
        }, { wanted: name, center: positions[i] });
        assert.equal(found.topName, name, `${crmId} should be the top-most point where it is drawn`);

        await page.mouse.click(found.x, found.y);
        const popupName = page.locator('.maplibregl-popup .account-card__name');
        await popupName.waitFor({ timeout: 10_000 });
        assert.equal(await popupName.textContent(), name, `${crmId}: the popup shows the name as text`);
        assert.equal(await page.locator('.maplibregl-popup script').count(), 0, `${crmId}: no element made of the name`);
        const layout = await page.evaluate(() => {
          const el = document.querySelector('.maplibregl-popup .account-card__name');
          const popup = document.querySelector('.maplibregl-popup');
          const content = popup.querySelector('.maplibregl-popup-content');
          const style = getComputedStyle(el);
          return {
            pageWidth: document.documentElement.scrollWidth,
            viewportWidth: window.innerWidth,
            popupWidth: popup.getBoundingClientRect().width,
            // Content wider than the card spills out of it (overflow is visible).
            contentScroll: content.scrollWidth,
            contentWidth: content.clientWidth,
            nameFits: el.scrollWidth <= el.clientWidth,
            nameEllipsis: style.textOverflow === 'ellipsis' && style.overflowX === 'hidden',
          };
        });
        if (crmId === 'HOSTILE-6') await page.screenshot({ path: join(suite.shots, 'hostile-long-name.png') });
        assert.ok(layout.pageWidth <= layout.viewportWidth, `${crmId}: page should not scroll sideways: ${JSON.stringify(layout)}`);
        assert.ok(layout.popupWidth <= layout.viewportWidth, `${crmId}: popup should fit the screen: ${JSON.stringify(layout)}`);
        assert.ok(layout.contentScroll <= layout.contentWidth, `${crmId}: nothing should spill out of the popup: ${JSON.stringify(layout)}`);
        assert.ok(layout.nameFits || layout.nameEllipsis, `${crmId}: a name too long for the card ends in an ellipsis: ${JSON.stringify(layout)}`);
        await page.keyboard.press('Escape');
        await page.locator('.maplibregl-popup-close-button').click().catch(() => {});
      }
      assert.deepEqual(dialogs, [], 'no script should run (no dialog)');
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('the planner lists, moves and diffs hostile names as text, without widening the page', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      const dialogs = collectDialogs(page);
      await signInAsDemoUser(page, suite.baseUrl, DEMO_MANAGER);
      const response = await page.goto(`${suite.baseUrl}/territories`, { waitUntil: 'domcontentloaded' });
      assert.equal(response?.status(), 200);
      await page.locator('#terr[data-state="ready"][data-plan-status="published"]').waitFor({ timeout: 60_000 });
      // A draft made from today's owners holds the accounts added after the seed.
      const draftId = await createDraft(page, { name: 'Hostile names', method: 'current' });
      await page.locator(`#terr-map[data-state="ready"][data-plan-id="${draftId}"]`).waitFor({ timeout: 60_000 });
      const accounts = (await pageJson(page, `/api/plans/${draftId}/accounts`)).features;
      const hostile = Object.entries(HOSTILE).map(([crmId, name]) => {
        const feature = accounts.find((f) => f.properties.name === name);
        assert.ok(feature, `${crmId} should be in the manager's draft (tests/fixtures/hostile-accounts.sql loaded?)`);
        return { crmId, name, id: String(feature.properties.id), territory: feature.properties.territory_id };
      });

      // The list: each name found by search, shown as text, the row no wider than the page.
      for (const { crmId, name, id } of hostile) {
        await page.fill('#terr-search', name.slice(0, 40));
        const row = page.locator(`#terr-list tr[data-account-id="${id}"]`);
        await row.waitFor({ timeout: 10_000 });
        assert.equal(await row.locator('button').first().textContent(), name, `${crmId}: listed as text`);
        await row.locator(`input[data-account-id="${id}"]`).check();
        const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, viewport: window.innerWidth }));
        assert.ok(widths.page <= widths.viewport, `${crmId}: the page should not scroll sideways: ${JSON.stringify(widths)}`);
      }
      await page.locator(`#terr[data-selected="${hostile.length}"]`).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: join(suite.shots, 'hostile-planner-list.png') });
      const listFit = await tableFit(page, '#terr-list');
      assert.ok(listFit.table <= listFit.box + 1, `the account list should fit its panel: ${JSON.stringify(listFit)}`);

      // Moved to another territory, then diffed against the published plan.
      const target = await page.evaluate((from) => [...document.querySelectorAll('#terr-move-to option')]
        .map((o) => o.value).find((v) => v && v !== from), hostile[0].territory);
      await page.selectOption('#terr-move-to', target);
      await page.click('#terr-move');
      await page.locator('#terr[data-selected="0"]').waitFor({ timeout: 30_000 });
      await page.click('#terr-diff');
      await page.locator('#terr-diff-table').waitFor({ timeout: 30_000 });
      for (const { crmId, name, id } of hostile) {
        const cell = page.locator(`#terr-diff-table tbody tr[data-account-id="${id}"] td`).first();
        if (await cell.count() === 0) continue; // already in the target territory
        assert.equal(await cell.textContent(), name, `${crmId}: the diff shows the name as text`);
      }
      const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, viewport: window.innerWidth }));
      await page.screenshot({ path: join(suite.shots, 'hostile-planner-diff.png') });
      assert.ok(widths.page <= widths.viewport, `the diff should not widen the page: ${JSON.stringify(widths)}`);
      const diffFit = await tableFit(page, '#terr-diff-table');
      assert.ok(diffFit.table <= diffFit.box + 1, `the diff table should fit its panel: ${JSON.stringify(diffFit)}`);
      assert.equal(await page.locator('#terr script, #terr-diff-result script').count(), 0, 'no element made of a name');

      await deleteDraft(page);
      assert.deepEqual(dialogs, [], 'no script should run (no dialog)');
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('the CSV export neutralises formula-like names and keeps the others as they are', async () => {
    const context = await suite.browser.newContext();
    try {
      const page = await context.newPage();
      await signInAsDemoUser(page, suite.baseUrl);
      const response = await page.request.get(`${suite.baseUrl}/admin/export/accounts.csv`);
      assert.equal(response.status(), 200);
      const rows = parseCsv(await response.text());
      const header = rows[0].map((h) => h.trim());
      const crmIdAt = header.indexOf('crm_id');
      const nameAt = header.indexOf('name');
      assert.ok(crmIdAt >= 0 && nameAt >= 0, `header: ${header.join(',')}`);
      const exported = new Map(rows.slice(1).map((r) => [r[crmIdAt], r[nameAt]]));
      for (const [crmId, name] of Object.entries(HOSTILE)) {
        assert.ok(exported.has(crmId), `${crmId} should be exported`);
        const expected = /^[=+\-@\t\r]/.test(name) ? `'${name}` : name;
        assert.equal(exported.get(crmId), expected, `${crmId}'s name cell`);
      }
      for (const [crmId, cell] of exported) {
        assert.ok(!/^[=+\-@\t\r]/.test(cell ?? ''), `${crmId}: no exported name starts like a formula`);
      }
    } finally {
      await context.close();
    }
  });
});
