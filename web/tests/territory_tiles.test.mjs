// Browser test of the territory planner in tile mode (`/territories?tiles=1`): the plan's
// territories and accounts are drawn from the vector tiles of /api/plans/{id}/tiles/{z}/{x}/{y}
// (not GeoJSON), the list shows the accounts in view, and clicking and the lasso still select.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/territory_tiles.test.mjs

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { collectPageProblems, launchBrowser, screenshotDir, serverUrl, signInAsDemoUser } from './lib/browser.mjs';
import { DEMO_MANAGER, pageJson } from './lib/api.mjs';
import { clickableAccount, createDraft, deleteDraft } from './lib/planner.mjs';

const MVT = 'application/vnd.mapbox-vector-tile';
const TILE_PATH = /\/api\/plans\/[0-9a-f-]+\/tiles\/\d+\/\d+\/\d+/;
const TILE_SET_PATH = /\/api\/plans\/[0-9a-f-]+\/tiles$/;

/** Rendered features of a layer: their source, source layer, id and properties. */
function rendered(page, layer) {
  return page.evaluate((id) => window.terraneTerritoryMap.queryRenderedFeatures({ layers: [id] })
    .map((f) => ({ source: f.source, sourceLayer: f.sourceLayer, id: String(f.id), properties: f.properties })), layer);
}

describe('territory planner on vector tiles', () => {
  let browser;
  let baseUrl;
  let shots;

  before(async () => {
    baseUrl = serverUrl();
    shots = await screenshotDir();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test('?tiles=1 draws territories and accounts from the vector tiles; click and lasso select', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      const tileAnswers = [];
      page.on('response', (response) => {
        if (TILE_PATH.test(new URL(response.url()).pathname)) {
          tileAnswers.push({ status: response.status(), type: response.headers()['content-type'] ?? '' });
        }
      });
      await signInAsDemoUser(page, baseUrl, DEMO_MANAGER);
      const response = await page.goto(`${baseUrl}/territories?tiles=1`, { waitUntil: 'domcontentloaded' });
      assert.equal(response?.status(), 200);
      await page.locator('#terr[data-state="ready"][data-source="tiles"]').waitFor({ timeout: 60_000 });
      await page.locator('#terr-map[data-state="ready"][data-source="tiles"]').waitFor({ timeout: 60_000 });
      const planId = await page.locator('#terr').getAttribute('data-plan-id');
      const plan = await pageJson(page, `/api/plans/${planId}`);
      const accounts = new Map((await pageJson(page, `/api/plans/${planId}/accounts`)).features
        .map((f) => [String(f.properties.id), f]));

      // One vector source for both layers; no GeoJSON source for them.
      const sources = await page.evaluate(() => {
        const map = window.terraneTerritoryMap;
        return {
          tiles: map.getSource('plan-tiles')?.type,
          geojsonAccounts: Boolean(map.getSource('plan-accounts')),
          geojsonShapes: Boolean(map.getSource('plan-shapes')),
          accountsLayer: map.getLayer('plan-accounts')?.source,
          shapesLayer: map.getLayer('shape-fill')?.source,
          tileUrl: map.getSource('plan-tiles')?.tiles?.[0],
        };
      });
      assert.equal(sources.tiles, 'vector');
      assert.equal(sources.geojsonAccounts, false);
      assert.equal(sources.geojsonShapes, false);
      assert.equal(sources.accountsLayer, 'plan-tiles');
      assert.equal(sources.shapesLayer, 'plan-tiles');
      assert.ok(sources.tileUrl.startsWith(`${baseUrl}/api/plans/${planId}/tiles/{z}/{x}/{y}`), sources.tileUrl);

      // Zoomed in enough that tiles are not thinned (zoom 12 and deeper).
      await page.evaluate(async () => {
        const map = window.terraneTerritoryMap;
        if (map.getZoom() < 12.5) {
          map.jumpTo({ zoom: 12.5 });
          await map.once('idle');
        }
      });
      await page.waitForFunction(() => window.terraneTerritoryMap.loaded());

      const territories = await rendered(page, 'shape-fill');
      assert.ok(territories.length > 0, 'territory polygons should be drawn');
      const planTerritories = new Set(plan.territories.map((t) => t.id));
      for (const t of territories) {
        assert.equal(t.source, 'plan-tiles');
        assert.equal(t.sourceLayer, 'territories');
        assert.ok(planTerritories.has(t.properties.territory_id), `territory ${t.properties.territory_id} is the plan's`);
        assert.match(t.properties.color, /^#[0-9a-fA-F]{6}$/);
      }

      const points = await rendered(page, 'plan-accounts');
      assert.ok(points.length > 0, 'account points should be drawn');
      for (const p of points) {
        assert.equal(p.source, 'plan-tiles');
        assert.equal(p.sourceLayer, 'accounts');
        const account = accounts.get(p.id);
        assert.ok(account, `account ${p.id} is the plan's`);
        assert.equal(p.properties.territory_id, account.properties.territory_id);
        assert.equal(p.properties.name, account.properties.name);
        assert.equal(p.properties.count, 1, 'no thinning from zoom 12');
      }
      // Every account of the plan well inside the view is drawn.
      const inside = await page.evaluate((features) => {
        const map = window.terraneTerritoryMap;
        const { width, height } = map.getCanvas().getBoundingClientRect();
        return features.filter((f) => {
          const at = map.project(f.geometry.coordinates);
          return at.x > 12 && at.y > 12 && at.x < width - 12 && at.y < height - 12;
        }).map((f) => String(f.properties.id));
      }, [...accounts.values()]);
      const drawn = new Set(points.map((p) => p.id));
      assert.ok(inside.length > 0, 'some accounts should be in view');
      assert.deepEqual(inside.filter((id) => !drawn.has(id)), [], 'accounts in view missing from the tiles');

      // The list holds the accounts drawn in the view.
      await page.waitForFunction(() => /drawn in the view/.test(document.getElementById('terr-list-count').textContent));
      const listed = await page.locator('#terr-list input[data-account-id]').count();
      assert.ok(listed > 0 && listed <= drawn.size, `${listed} listed, ${drawn.size} drawn`);
      await page.screenshot({ path: join(shots, 'territories-tiles.png') });

      // A click on a point selects its account and draws it selected.
      const target = await clickableAccount(page);
      assert.ok(target, 'some account should be clickable');
      await page.mouse.click(target.x, target.y);
      await page.locator('#terr[data-selected="1"]').waitFor({ timeout: 10_000 });
      const selected = await page.evaluate((id) => window.terraneTerritoryMap
        .getFeatureState({ source: 'plan-tiles', sourceLayer: 'accounts', id }).selected === true, target.id);
      assert.ok(selected, 'the clicked account should be drawn as selected');
      await page.locator(`#terr-details [data-account-id="${target.id}"]`).waitFor();
      await page.click('#terr-clear');

      // The lasso takes the drawn accounts inside it.
      const square = await page.evaluate(() => {
        const map = window.terraneTerritoryMap;
        const canvas = map.getCanvas().getBoundingClientRect();
        const centre = [canvas.width / 2, canvas.height / 2];
        const at = map.queryRenderedFeatures({ layers: ['plan-accounts'] })
          .map((f) => map.project(f.geometry.coordinates))
          .sort((a, b) => Math.hypot(a.x - centre[0], a.y - centre[1]) - Math.hypot(b.x - centre[0], b.y - centre[1]))[0];
        const half = 40;
        const sq = { left: canvas.left + at.x - half, top: canvas.top + at.y - half, size: 2 * half };
        const ids = new Set(map.queryRenderedFeatures({ layers: ['plan-accounts'] }).filter((f) => {
          const p = map.project(f.geometry.coordinates);
          const x = canvas.left + p.x;
          const y = canvas.top + p.y;
          return x > sq.left && x < sq.left + sq.size && y > sq.top && y < sq.top + sq.size;
        }).map((f) => String(f.id)));
        return { ...sq, expected: [...ids].sort() };
      });
      assert.ok(square.expected.length > 0, 'the square should hold some accounts');
      await page.click('#terr-lasso');
      const corners = [
        [square.left, square.top],
        [square.left + square.size, square.top],
        [square.left + square.size, square.top + square.size],
        [square.left, square.top + square.size],
        [square.left, square.top + 1],
      ];
      await page.mouse.move(...corners[0]);
      await page.mouse.down();
      for (const corner of corners.slice(1)) {
        await page.mouse.move(...corner, { steps: 8 });
      }
      await page.mouse.up();
      await page.locator(`#terr[data-selected="${square.expected.length}"]`).waitFor({ timeout: 10_000 });

      assert.ok(tileAnswers.some((a) => a.status === 200 && a.type === MVT), `tiles answered: ${JSON.stringify(tileAnswers)}`);
      assert.deepEqual(tileAnswers.filter((a) => a.status >= 400), [], 'no tile request should fail');
      // Tile requests the map cancels when the view moves are not problems.
      assert.deepEqual(problems.filter((p) => !(TILE_PATH.test(p) && /ERR_ABORTED/.test(p))), [], 'the page should report no errors');

      // Without ?tiles=1 the small demo plan is drawn from GeoJSON.
      await page.goto(`${baseUrl}/territories`, { waitUntil: 'domcontentloaded' });
      await page.locator('#terr[data-state="ready"][data-source="geojson"]').waitFor({ timeout: 60_000 });
      await page.locator('#terr-map[data-state="ready"][data-source="geojson"]').waitFor({ timeout: 60_000 });
    } finally {
      await context.close();
    }
  });

  test('a hand move in tile mode redraws the moved account from fresh tiles, without asking for the tile set again', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      const tileSetRequests = [];
      const tileRequests = [];
      page.on('request', (request) => {
        const path = new URL(request.url()).pathname;
        if (TILE_SET_PATH.test(path)) {
          tileSetRequests.push(path);
        } else if (TILE_PATH.test(path)) {
          tileRequests.push(path);
        }
      });
      await signInAsDemoUser(page, baseUrl, DEMO_MANAGER);
      await page.goto(`${baseUrl}/territories?tiles=1`, { waitUntil: 'domcontentloaded' });
      await page.locator('#terr[data-state="ready"][data-source="tiles"]').waitFor({ timeout: 60_000 });

      // A draft copied from the published plan, drawn from tiles.
      const draftId = await createDraft(page, { name: 'Tile move test', method: 'copy', state: '[data-state="ready"][data-source="tiles"]' });
      await page.locator(`#terr-map[data-state="ready"][data-source="tiles"][data-plan-id="${draftId}"]`).waitFor({ timeout: 60_000 });
      const accounts = (await pageJson(page, `/api/plans/${draftId}/accounts`)).features.map((f) => f.properties);
      const locked = accounts.filter((a) => a.locked).map((a) => String(a.id));
      const target = await clickableAccount(page, { exclude: locked });
      assert.ok(target, 'some unlocked account should be clickable');
      const fromId = accounts.find((a) => String(a.id) === target.id).territory_id;
      const toId = await page.evaluate((from) => [...document.querySelectorAll('#terr-move-to option')]
        .map((o) => o.value).find((v) => v && v !== from), fromId);
      assert.ok(toId, 'another territory to move to');
      const count = (id) => page.locator(`#terr-territories tr[data-territory-id="${id}"]`).getAttribute('data-accounts');
      const toBefore = Number(await count(toId));

      await page.mouse.click(target.x, target.y);
      await page.locator('#terr[data-selected="1"]').waitFor({ timeout: 10_000 });
      const [setsBefore, tilesBefore] = [tileSetRequests.length, tileRequests.length];
      await page.selectOption('#terr-move-to', toId);
      await page.click('#terr-move');
      await page.locator(`#terr-territories tr[data-territory-id="${toId}"][data-accounts="${toBefore + 1}"]`)
        .waitFor({ timeout: 30_000 });
      // The moved account is drawn from tiles that say its new territory.
      await page.waitForFunction(({ id, territory }) => window.terraneTerritoryMap
        .queryRenderedFeatures({ layers: ['plan-accounts'] })
        .some((f) => String(f.id) === id && f.properties.territory_id === territory), { id: target.id, territory: toId }, { timeout: 30_000 });
      assert.equal(tileSetRequests.length, setsBefore, 'the tile set should not be asked for again after a move');
      assert.ok(tileRequests.length > tilesBefore, 'the tiles should be asked for again after a move');
      assert.deepEqual(problems.filter((p) => !(TILE_PATH.test(p) && /ERR_ABORTED/.test(p))), [], 'the page should report no errors');

      // The draft goes (a second press confirms).
      await deleteDraft(page);
    } finally {
      await context.close();
    }
  });
});
