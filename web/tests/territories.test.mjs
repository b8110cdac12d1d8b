// Browser tests of the territory planner (issue 6): a manager makes a draft, moves accounts
// chosen in the account list and on the map, sees the workload numbers change, reviews the
// diff and the CRM calls, publishes, and finds the owner changes in the outbox. Also the lasso,
// a keyboard-only path and the phone layout.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/territories.test.mjs
//
// Screenshots go to TERRANE_SCREENSHOT_DIR (default web/screenshots).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  DEMO_ADMIN,
  collectPageProblems,
  launchBrowser,
  screenshotDir,
  serverUrl,
  signInAsDemoUser,
} from './lib/browser.mjs';
import { DEMO_MANAGER, DEMO_REP, accountsById, pageJson } from './lib/api.mjs';
import { clickableAccount, createDraft, deleteDraft } from './lib/planner.mjs';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Opens /territories and waits until the team's published plan is drawn. */
async function openPlanner(page, baseUrl) {
  await signInAsDemoUser(page, baseUrl, DEMO_MANAGER);
  const response = await page.goto(`${baseUrl}/territories`, { waitUntil: 'domcontentloaded' });
  assert.equal(response?.status(), 200, 'GET /territories should answer 200 for a manager');
  await page.locator('#terr[data-state="ready"][data-plan-status="published"]').waitFor({ timeout: 60_000 });
  await page.locator('#terr-map[data-state="ready"]').waitFor({ timeout: 60_000 });
  const alert = page.locator('#terr-alert');
  assert.equal(await alert.isVisible(), false, `no error should show: ${await alert.textContent()}`);
}

/** Waits until the page shows plan `planId` (drawn, map idle, no job running). */
async function waitForPlan(page, planId, status) {
  const statusSel = status ? `[data-plan-status="${status}"]` : '';
  await page.locator(`#terr[data-state="ready"][data-plan-id="${planId}"]${statusSel}`).waitFor({ timeout: 120_000 });
  await page.locator(`#terr-map[data-state="ready"][data-plan-id="${planId}"]`).waitFor({ timeout: 60_000 });
}

/** TERRANE_EXPECT_WRITEBACK=1: the server has the demo's CRM connections; owner changes must be written back. */
function expectWriteBack() {
  return process.env.TERRANE_EXPECT_WRITEBACK === '1';
}

/** Polls a plan until its background job is neither queued nor running; returns the plan. */
async function waitForJob(page, planId, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const plan = await pageJson(page, `/api/plans/${planId}`);
    if (plan.job?.state !== 'running' && plan.job?.state !== 'queued') {
      return plan;
    }
    if (Date.now() > deadline) {
      throw new Error(`plan ${planId} still computing after ${timeoutMs} ms`);
    }
    await page.waitForTimeout(250);
  }
}

/** The per-territory numbers the panel shows: {id: {accounts, workload, accountsText}}. */
function shownTerritories(page) {
  return page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#terr-territories tbody tr[data-territory-id]')].map((tr) => [
      tr.dataset.territoryId,
      {
        accounts: Number(tr.dataset.accounts),
        workload: Number(tr.dataset.workload),
        accountsText: tr.querySelector('.terr-accounts').textContent.trim(),
        name: tr.querySelector('.terr-name').textContent.trim(),
      },
    ]),
  ));
}

/** The id of the element that has the focus, or its tag when it has none. */
function focused(page) {
  return page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase());
}

describe('territory planner', () => {
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

  test('a manager drafts, moves accounts, sees the workload change, reviews, publishes and finds the outbox', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const publishedId = await page.locator('#terr').getAttribute('data-plan-id');
      await page.screenshot({ path: join(shots, 'territories.png') });

      // Keyboard only: open "New plan", name the draft, keep the method "current", create it.
      await page.locator('#terr-plan').focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'SUMMARY', 'Tab should reach "New plan"');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, 'none', 'the keyboard focus should be visible');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'terr-new-name');
      const draftName = `Browser test draft ${Date.now()}`;
      await page.keyboard.type(draftName);
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'terr-new-method');
      assert.equal(await page.locator('#terr-new-method').inputValue(), 'current');
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'terr-new-centres');
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'terr-new-tolerance');
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'terr-new-create');
      await page.keyboard.press('Enter');
      await page.locator('#terr[data-plan-status="draft"]').waitFor({ timeout: 60_000 });
      const draftId = await page.locator('#terr').getAttribute('data-plan-id');
      assert.notEqual(draftId, publishedId);
      await waitForPlan(page, draftId, 'draft');
      assert.match(await page.locator('#terr-plan option:checked').textContent(), new RegExp(draftName));

      // The largest territory gives two accounts to another one.
      const before = await shownTerritories(page);
      const [fromId, toId] = Object.entries(before)
        .sort(([, a], [, b]) => b.accounts - a.accounts)
        .map(([id]) => id);
      assert.ok(fromId && toId, 'the team should have at least two territories');
      const planAccounts = (await pageJson(page, `/api/plans/${draftId}/accounts`)).features;
      const movable = planAccounts.filter((f) => f.properties.territory_id === fromId && !f.properties.locked);
      const byListing = movable.find((f) => f.properties.name);
      assert.ok(byListing, 'the largest territory should have an unlocked account');
      const first = byListing.properties;

      // First account: found in the accessible list, checked with the Space key.
      await page.fill('#terr-search', first.name);
      const box = page.locator(`#terr-list input[data-account-id="${first.id}"]`);
      await box.waitFor();
      await box.focus();
      await page.keyboard.press('Space');
      assert.equal(await box.isChecked(), true);
      await page.locator('#terr[data-selected="1"]').waitFor();
      assert.match(await page.locator('#terr-details').textContent(), new RegExp(first.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

      // Second account: shift-clicked on the map, added to the selection.
      const onMap = await clickableAccount(page, { territoryId: fromId, exclude: [first.id] });
      assert.ok(onMap, 'some account of the largest territory should be clickable on the map');
      await page.keyboard.down('Shift');
      await page.mouse.click(onMap.x, onMap.y);
      await page.keyboard.up('Shift');
      await page.locator('#terr[data-selected="2"]').waitFor();
      const selectedOnMap = await page.evaluate((id) => window.terraneTerritoryMap
        .getFeatureState({ source: 'plan-accounts', id }).selected === true, onMap.id);
      assert.ok(selectedOnMap, 'the clicked account should be drawn as selected');
      const second = planAccounts.find((f) => String(f.properties.id) === onMap.id).properties;

      await page.selectOption('#terr-move-to', toId);
      await page.click('#terr-move');
      await page.locator(`#terr-territories tr[data-territory-id="${fromId}"][data-accounts="${before[fromId].accounts - 2}"]`)
        .waitFor({ timeout: 30_000 });
      const afterMove = await shownTerritories(page);
      await page.screenshot({ path: join(shots, 'territories-moved.png') });

      assert.equal(afterMove[fromId].accounts, before[fromId].accounts - 2);
      assert.equal(afterMove[toId].accounts, before[toId].accounts + 2);
      assert.equal(afterMove[fromId].accountsText, integer.format(before[fromId].accounts - 2));
      assert.equal(afterMove[toId].accountsText, integer.format(before[toId].accounts + 2));
      const movedWorkload = first.workload + second.workload;
      assert.ok(
        Math.abs(before[fromId].workload - afterMove[fromId].workload - movedWorkload) <= 1,
        `the giving territory's workload should drop by ${movedWorkload}: ${before[fromId].workload} -> ${afterMove[fromId].workload}`,
      );
      assert.ok(
        Math.abs(afterMove[toId].workload - before[toId].workload - movedWorkload) <= 1,
        `the receiving territory's workload should grow by ${movedWorkload}: ${before[toId].workload} -> ${afterMove[toId].workload}`,
      );
      assert.match(await page.locator('#terr-metrics-live').textContent(), /Workload updated/);
      assert.equal(await page.locator('#terr[data-selected="0"]').count(), 1, 'the selection empties after a move');
      const moved = await page.locator('#terr-metrics dd[data-metric="moved_accounts"]').textContent();
      assert.equal(moved, '2', 'the plan metrics should count the two moved accounts');

      // Side by side with the published plan.
      await page.click('#terr-compare');
      await page.locator('#terr-compare-result table').waitFor({ timeout: 30_000 });
      assert.match(await page.locator('#terr-compare-result').textContent(), /Between them 2 accounts/);

      // The diff against the published plan lists both accounts, from -> to.
      await page.click('#terr-diff');
      const diffRow = page.locator(`#terr-diff-table tbody tr[data-account-id="${first.id}"]`);
      await diffRow.waitFor({ timeout: 30_000 });
      const diffText = await diffRow.textContent();
      assert.ok(diffText.includes(before[fromId].name), `diff row should name the old territory: ${diffText}`);
      assert.ok(diffText.includes(before[toId].name), `diff row should name the new territory: ${diffText}`);
      assert.equal(await page.locator('#terr-diff-table tbody tr').count(), 2);
      const diff = await pageJson(page, `/api/plans/${draftId}/diff`);
      const ownerChanges = diff.owner_changes.filter((c) => [first.id, second.id].includes(String(c.account_id)));

      // The CRM calls publishing would make: one per owner change's connection at least.
      await page.click('#terr-preview');
      await page.locator('#terr-preview-result p').first().waitFor({ timeout: 30_000 });
      const calls = await pageJson(page, `/api/plans/${draftId}/writeback-preview`);
      // Write-back needs the accounts' CRM connections (scripts/demo.sh adds demo-hubspot and
      // demo-salesforce); without them publishing skips the owner changes, and says so.
      const writesBack = ownerChanges.length > 0 && (calls.length > 0 || expectWriteBack());
      if (!writesBack && ownerChanges.length > 0) {
        t.diagnostic(`no CRM calls for ${[...new Set(ownerChanges.map((c) => c.crm_source))].join(', ')}: `
          + 'the server has no such connections, so the outbox step checks the skipped count only '
          + '(set TERRANE_EXPECT_WRITEBACK=1 to require write-back)');
        assert.match(await page.locator('#terr-preview-result').textContent(), /no CRM calls/);
      }
      if (writesBack) {
        assert.ok(calls.length > 0, `owner changes ${JSON.stringify(ownerChanges)} should preview CRM calls`);
        assert.equal(await page.locator('#terr-preview-result .terr-calls li').count(), calls.length);
        const heads = await page.locator('#terr-preview-result .terr-calls__head').allTextContents();
        assert.ok(heads.some((h) => /^(PATCH|POST|PUT) \S+/.test(h)), `some call should write: ${heads.join(' | ')}`);
        const shown = await page.locator('#terr-preview-result').textContent();
        for (const change of ownerChanges) {
          assert.ok(shown.includes(change.crm_id), `the preview should show the call for CRM record ${change.crm_id}`);
        }
      }
      await page.screenshot({ path: join(shots, 'territories-diff.png') });

      // Publish, confirming with the keyboard.
      await page.click('#terr-publish');
      await page.locator('#terr-confirm').waitFor({ state: 'visible' });
      assert.equal(await focused(page), 'terr-confirm-yes', 'the confirm button should take the focus');
      await page.keyboard.press('Enter');
      await page.locator(`#terr[data-published="${draftId}"][data-plan-status="published"]`).waitFor({ timeout: 60_000 });
      const said = await page.locator('#terr-published').textContent();
      const [, queued, skipped] = said.match(/(\d+) CRM owner changes queued, (\d+) skipped/) ?? [];
      if (writesBack) {
        assert.ok(Number(queued) >= ownerChanges.length, `publishing should queue the owner changes: ${said}`);
      } else {
        assert.ok(Number(skipped) >= ownerChanges.length, `publishing should say it skipped them: ${said}`);
      }
      const plans = await pageJson(page, `/api/teams/${await page.locator('#terr-team').inputValue()}/plans`);
      assert.equal(plans.find((p) => p.id === draftId)?.status, 'published');
      assert.equal(plans.find((p) => p.id === publishedId)?.status, 'superseded');
      const accounts = await accountsById(page);
      assert.equal(accounts.get(String(first.id))?.properties.territory_id, toId, 'the account should be in its new territory');
      await page.screenshot({ path: join(shots, 'territories-published.png') });

      // The outbox lists the owner change for the moved account.
      const link = page.locator('#terr-published a.terr-outbox-link');
      await Promise.all([page.waitForURL(/\/territories\/outbox/), link.click()]);
      assert.match(page.url(), new RegExp(`plan=${draftId}`), 'the link should open the outbox on this plan');
      await page.screenshot({ path: join(shots, 'territories-outbox.png'), fullPage: true });
      const rows = await page.locator('#outbox tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent));
      for (const change of writesBack ? ownerChanges : []) {
        const name = String(change.account_id) === String(first.id) ? first.name : second.name;
        assert.ok(
          rows.some((row) => row.includes(change.crm_id) && row.includes(name) && row.includes(change.to_owner)),
          `the outbox should have a row for ${name} (${change.crm_source} ${change.crm_id} -> ${change.to_owner}): ${rows.join(' | ')}`,
        );
      }
      assert.deepEqual(problems, [], 'the pages should report no errors');
    } finally {
      await context.close();
    }
  });

  test('rebalancing a draft brings the workloads closer to the mean; the draft can be deleted', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const spread = () => page.evaluate(() => Math.max(...[...document.querySelectorAll('#terr-territories tbody tr')]
        .map((tr) => Math.abs(Number(tr.dataset.deviation)))));

      const draftId = await createDraft(page, { name: 'Rebalance test', method: 'copy' });
      await waitForPlan(page, draftId, 'draft');
      const before = await spread();

      await page.fill('#terr-tolerance', '10');
      const renders = Number(await page.locator('#terr').getAttribute('data-renders'));
      // The demo's rebalance is quicker than a poll, so the first answer after it is made to
      // say "running": the page must show the progress and poll until the job is done.
      let runningAnswers = 1;
      await page.route(`**/api/plans/${draftId}`, async (route) => {
        if (route.request().method() !== 'GET' || runningAnswers <= 0) {
          await route.fallback();
          return;
        }
        runningAnswers -= 1;
        const response = await route.fetch();
        const plan = await response.json();
        plan.job = { state: 'running', progress: 0.4, message: 'Balancing workloads' };
        await route.fulfill({ response, json: plan });
      });
      await page.click('#terr-rebalance');
      await page.locator('#terr-job').waitFor({ state: 'visible', timeout: 30_000 });
      assert.equal(await page.locator('#terr-job-bar').evaluate((bar) => bar.value), 0.4);
      assert.match(await page.locator('#terr-job-label').textContent(), /Balancing workloads \(40%\)/);
      assert.equal(await page.locator('#terr-rebalance').isDisabled(), true, 'no second rebalance while one runs');
      await page.waitForFunction((n) => {
        const el = document.getElementById('terr');
        return Number(el.dataset.renders) > n && el.dataset.state === 'ready' && el.dataset.jobState === 'idle';
      }, renders, { timeout: 120_000 });
      assert.equal(await page.locator('#terr-job').isVisible(), false, 'the progress bar goes when the job is done');
      const afterRebalance = await spread();
      await page.screenshot({ path: join(shots, 'territories-rebalanced.png') });
      assert.ok(afterRebalance < before, `the largest deviation should shrink: ${before} -> ${afterRebalance}`);
      const moved = Number((await page.locator('#terr-metrics dd[data-metric="moved_accounts"]').textContent()).replace(/\D/g, ''));
      assert.ok(moved > 0, 'a rebalance of an unbalanced plan should move some accounts');

      // Delete asks for a second press, then the published plan is shown again.
      await deleteDraft(page);
      assert.equal(await page.locator(`#terr-plan option[value="${draftId}"]`).count(), 0);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('a balanced plan centred on the reps\' home bases by road asks OSRM and stays within the tolerance', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const draftId = await createDraft(page, {
        name: 'By road',
        method: 'balanced',
        before: async () => {
          await page.selectOption('#terr-new-centres', 'homes_drive');
          await page.fill('#terr-new-tolerance', '5');
        },
        state: '',
      });
      const plan = await waitForJob(page, draftId);
      assert.equal(plan.job?.state, 'idle', `the plan failed: ${plan.job?.message}`);
      assert.equal(plan.params.travel, 'drive_time');
      assert.equal(plan.params.use_home_bases, true);
      await waitForPlan(page, draftId, 'draft');
      const deviations = await page.evaluate(() => [...document.querySelectorAll('#terr-territories tbody tr')]
        .map((tr) => Math.abs(Number(tr.dataset.deviation))));
      assert.ok(deviations.length >= 2, 'the team should have territories');
      assert.ok(Math.max(...deviations) <= 0.05 + 1e-9, `every territory within ±5%: ${deviations}`);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('a named-account rule made from the selection sends the account to its territory in a "rules" plan', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const publishedId = await page.locator('#terr').getAttribute('data-plan-id');
      const territories = await shownTerritories(page);
      const [fromId, toId] = Object.entries(territories).sort(([, a], [, b]) => b.accounts - a.accounts).map(([id]) => id);
      const account = (await pageJson(page, `/api/plans/${publishedId}/accounts`)).features
        .map((f) => f.properties)
        .find((p) => p.territory_id === fromId && !p.locked && p.name);

      await page.fill('#terr-search', account.name);
      await page.locator(`#terr-list input[data-account-id="${account.id}"]`).check();
      await page.locator('#terr[data-selected="1"]').waitFor();
      await page.click('#terr-rule-new summary');
      await page.selectOption('#terr-rule-kind', 'named');
      await page.selectOption('#terr-rule-territory', toId);
      const ruleName = `Named rule ${Date.now()}`;
      await page.fill('#terr-rule-name', ruleName);
      await page.click('#terr-rule-add');
      const rule = page.locator('#terr-rules li[data-rule-id]', { hasText: ruleName });
      await rule.waitFor({ timeout: 30_000 });
      assert.match(await rule.textContent(), /1 named account\b/);

      // A plan made from the rules follows it, and says so.
      const draftId = await createDraft(page, { name: 'Rules plan', method: 'rules' });
      await waitForPlan(page, draftId, 'draft');
      const inDraft = (await pageJson(page, `/api/plans/${draftId}/accounts`)).features
        .find((f) => String(f.properties.id) === String(account.id)).properties;
      assert.equal(inDraft.territory_id, toId, 'the named account should be in the rule\'s territory');
      assert.equal(inDraft.source, 'rule');
      await page.fill('#terr-search', account.name);
      await page.click(`#terr-list button[data-show="${account.id}"]`);
      const details = await page.locator('#terr-details').textContent();
      assert.match(details, /Assigned by\s*rule/);
      await page.screenshot({ path: join(shots, 'territories-rule.png') });

      // Clean up: the rule, then the draft.
      await rule.getByRole('button', { name: /Delete rule/ }).click();
      await rule.waitFor({ state: 'detached', timeout: 30_000 });
      await deleteDraft(page);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('rolling back to a superseded plan publishes a copy of it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const teamId = await page.locator('#terr-team').inputValue();
      const csrf = await page.locator('#terr').getAttribute('data-csrf');
      const oldId = await page.locator('#terr').getAttribute('data-plan-id');
      const oldCounts = Object.fromEntries(Object.entries(await shownTerritories(page)).map(([id, t]) => [id, t.accounts]));

      // Supersede today's plan with a fresh copy published through the API.
      const { id: copyId } = await pageJson(page, `/api/teams/${teamId}/plans`, {
        method: 'POST', csrf, body: { name: `Rollback base ${Date.now()}`, method: 'copy', from_plan_id: oldId },
      });
      await waitForJob(page, copyId);
      await pageJson(page, `/api/plans/${copyId}/publish`, { method: 'POST', csrf });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.locator(`#terr[data-state="ready"][data-plan-id="${copyId}"]`).waitFor({ timeout: 60_000 });

      await page.selectOption('#terr-plan', oldId);
      await waitForPlan(page, oldId, 'superseded');
      const roll = page.locator('#terr-rollback');
      assert.equal(await roll.isVisible(), true, 'a superseded plan offers a rollback');
      await roll.focus();
      await page.keyboard.press('Enter');
      assert.match(await roll.textContent(), /Confirm/);
      await page.keyboard.press('Enter');
      await page.waitForFunction((ids) => {
        const el = document.getElementById('terr');
        return el.dataset.state === 'ready' && el.dataset.planStatus === 'published' && !ids.includes(el.dataset.planId);
      }, [oldId, copyId], { timeout: 60_000 });
      const newCounts = Object.fromEntries(Object.entries(await shownTerritories(page)).map(([id, t]) => [id, t.accounts]));
      assert.deepEqual(newCounts, oldCounts, 'the new published plan should have the old plan\'s territories');
      assert.match(await page.locator('#terr-published').textContent(), /Published/);
      const plans = await pageJson(page, `/api/teams/${teamId}/plans`);
      assert.equal(plans.find((p) => p.id === copyId)?.status, 'superseded');
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('the workload model changes the workload of plans made afterwards', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const card = page.locator('#terr-workload-card');
      await card.waitFor({ state: 'visible', timeout: 10_000 });
      const teamId = await page.locator('#terr-team').inputValue();
      const publishedId = await page.locator('#terr').getAttribute('data-plan-id');
      const tierC = (await pageJson(page, `/api/plans/${publishedId}/accounts`)).features
        .map((f) => f.properties)
        .find((p) => p.tier === 'C' && p.workload > 0);
      assert.ok(tierC, 'the team should have a tier C account');

      // Tier C visits take 90 minutes of service instead of the default 30.
      const serviceC = page.locator('#terr-workload-rows tr[data-tier="C"] input[name="service_minutes"]');
      await serviceC.fill('90');
      await page.click('#terr-workload-save');
      await page.waitForFunction(() => /Workload model saved/.test(document.getElementById('terr-status').textContent));
      const saved = await pageJson(page, `/api/teams/${teamId}/workload`);
      assert.equal(saved.find((s) => s.tier === 'C')?.service_minutes, 90);
      assert.equal(await serviceC.inputValue(), '90');

      const draftId = await createDraft(page, { name: 'Workload test', method: 'current' });
      await waitForPlan(page, draftId, 'draft');
      const inDraft = (await pageJson(page, `/api/plans/${draftId}/accounts`)).features
        .find((f) => String(f.properties.id) === String(tierC.id)).properties;
      assert.ok(inDraft.workload > tierC.workload, `longer visits should weigh more: ${tierC.workload} -> ${inDraft.workload}`);

      // Back to the defaults, and the draft goes.
      await serviceC.fill('');
      await page.click('#terr-workload-save');
      await page.waitForFunction(() => /Workload model saved/.test(document.getElementById('terr-status').textContent));
      const reset = await pageJson(page, `/api/teams/${teamId}/workload`);
      assert.equal(reset.find((s) => s.tier === 'C')?.service_minutes ?? null, null);
      await deleteDraft(page);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('the lasso selects the accounts inside the drawn shape', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);

      // A square around the account nearest the middle of the map, kept clear of overlays.
      const square = await page.evaluate(() => {
        const map = window.terraneTerritoryMap;
        const canvas = map.getCanvas().getBoundingClientRect();
        const centre = [canvas.width / 2, canvas.height / 2];
        const points = map.queryRenderedFeatures({ layers: ['plan-accounts'] })
          .map((f) => map.project(f.geometry.coordinates));
        points.sort((a, b) => Math.hypot(a.x - centre[0], a.y - centre[1]) - Math.hypot(b.x - centre[0], b.y - centre[1]));
        const half = 40;
        return { left: canvas.left + points[0].x - half, top: canvas.top + points[0].y - half, size: 2 * half, canvasLeft: canvas.left, canvasTop: canvas.top };
      });
      const expected = await page.evaluate((sq) => {
        const map = window.terraneTerritoryMap;
        const source = map.getSource('plan-accounts');
        return source.getData().then((data) => data.features.filter((f) => {
          const at = map.project(f.geometry.coordinates);
          const x = sq.canvasLeft + at.x;
          const y = sq.canvasTop + at.y;
          return x > sq.left && x < sq.left + sq.size && y > sq.top && y < sq.top + sq.size;
        }).map((f) => String(f.properties.id)).sort());
      }, square);
      assert.ok(expected.length > 0, 'the square should hold some accounts');

      await page.click('#terr-lasso');
      assert.equal(await page.locator('#terr-lasso').getAttribute('aria-pressed'), 'true');
      const corners = [
        [square.left, square.top],
        [square.left + square.size, square.top],
        [square.left + square.size, square.top + square.size],
        [square.left, square.top + square.size],
        [square.left, square.top + 1],
      ];
      const centreBefore = await page.evaluate(() => window.terraneTerritoryMap.getCenter().toArray());
      await page.mouse.move(...corners[0]);
      await page.mouse.down();
      for (const corner of corners.slice(1)) {
        await page.mouse.move(...corner, { steps: 8 });
      }
      await page.mouse.up();
      await page.locator(`#terr[data-selected="${expected.length}"]`).waitFor({ timeout: 10_000 });
      const selected = await page.evaluate(() => [...document.querySelectorAll('#terr-list input[data-account-id]:checked')]
        .map((b) => b.dataset.accountId).sort());
      await page.screenshot({ path: join(shots, 'territories-lasso.png') });

      assert.deepEqual(selected, expected, 'the list should check exactly the accounts inside the lasso');
      assert.deepEqual(
        await page.evaluate(() => window.terraneTerritoryMap.getCenter().toArray()),
        centreBefore,
        'drawing a lasso should not pan the map',
      );
      await page.locator('#terr-lasso[aria-pressed="false"]').waitFor({ timeout: 5_000 });

      // The list selects a whole territory: search for it, then "select every listed account".
      const [, territory] = Object.entries(await shownTerritories(page))[0];
      const territoryName = territory.name;
      await page.click('#terr-clear');
      await page.fill('#terr-search', territoryName);
      await page.waitForFunction((n) => document.getElementById('terr-list-count').textContent.startsWith(`${n} of`),
        integer.format(territory.accounts));
      await page.locator('#terr-list-all').check();
      await page.locator(`#terr[data-selected="${territory.accounts}"]`).waitFor({ timeout: 10_000 });
      const checkedTerritories = await page.evaluate(() => [...document.querySelectorAll('#terr-list tbody tr')]
        .filter((tr) => tr.querySelector('input').checked).map((tr) => tr.cells[3].textContent.trim()));
      assert.ok(checkedTerritories.every((name) => name === territoryName), 'only that territory\'s accounts are checked');
      await page.click('#terr-clear');
      assert.equal(await page.locator('#terr-list-all').isChecked(), false);

      // The lasso becomes an area rule, drawn on the map; then it is removed again.
      await page.click('#terr-rule-new summary');
      await page.selectOption('#terr-rule-kind', 'polygon');
      assert.match(await page.locator('#terr-rule-area-note').textContent(), /last lasso/);
      const ruleName = `Area rule ${Date.now()}`;
      await page.fill('#terr-rule-name', ruleName);
      await page.click('#terr-rule-add');
      const rule = page.locator('#terr-rules li[data-rule-id]', { hasText: ruleName });
      await rule.waitFor({ timeout: 30_000 });
      assert.match(await rule.textContent(), /drawn area/);
      const areas = await page.evaluate(() => window.terraneTerritoryMap.getSource('rule-areas').getData()
        .then((data) => data.features.length));
      assert.ok(areas >= 1, 'the area rule should be drawn on the map');
      await rule.getByRole('button', { name: /Delete rule/ }).click();
      await rule.waitFor({ state: 'detached', timeout: 30_000 });
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });

  test('an admin switches between teams; a rep may not open the planner', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await signInAsDemoUser(page, baseUrl, DEMO_ADMIN);
      await page.goto(`${baseUrl}/territories`, { waitUntil: 'domcontentloaded' });
      await page.locator('#terr[data-state="ready"][data-plan-status="published"]').waitFor({ timeout: 60_000 });
      const teams = await page.locator('#terr-team option').evaluateAll((options) => options.map((o) => o.value));
      assert.ok(teams.length >= 2, `the admin should be offered every team: ${teams.length}`);
      const firstPlan = await page.locator('#terr').getAttribute('data-plan-id');
      await page.selectOption('#terr-team', teams[1]);
      await page.waitForFunction((id) => {
        const el = document.getElementById('terr');
        return el.dataset.planId !== id && el.dataset.state === 'ready';
      }, firstPlan, { timeout: 60_000 });
      assert.equal(await page.locator('#terr').getAttribute('data-plan-status'), 'published');
      assert.ok(await page.locator('#terr-territories tbody tr').count() >= 1);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
    const repContext = await browser.newContext();
    try {
      const page = await repContext.newPage();
      await signInAsDemoUser(page, baseUrl, DEMO_REP);
      const response = await page.goto(`${baseUrl}/territories`, { waitUntil: 'domcontentloaded' });
      assert.equal(response?.status(), 403, 'a rep should be refused the planner');
      const teams = await page.evaluate(() => fetch('/api/teams').then((r) => r.status));
      assert.equal(teams, 403, 'a rep should be refused the planning API');
    } finally {
      await repContext.close();
    }
  });

  test('on a phone the panel stacks under the map and nothing scrolls sideways', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await openPlanner(page, baseUrl);
      const layout = await page.evaluate(() => {
        const map = document.getElementById('terr-map').getBoundingClientRect();
        const panel = document.querySelector('.terr__panel').getBoundingClientRect();
        return {
          mapWidth: map.width,
          mapHeight: map.height,
          mapBottom: map.bottom,
          panelTop: panel.top,
          panelWidth: panel.width,
          pageWidth: document.documentElement.scrollWidth,
        };
      });
      await page.screenshot({ path: join(shots, 'territories-phone.png') });
      assert.ok(Math.abs(layout.mapWidth - 390) < 1, `the map should be as wide as the screen: ${layout.mapWidth}`);
      assert.ok(layout.mapHeight > 300, `the map should keep a usable height: ${layout.mapHeight}`);
      assert.ok(layout.panelTop >= layout.mapBottom - 1, `the panel should start under the map: ${layout.panelTop} < ${layout.mapBottom}`);
      assert.ok(layout.pageWidth <= 390, `the page should not scroll sideways: ${layout.pageWidth}`);
      // The panel can be scrolled into view and used.
      await page.locator('#terr-territories').scrollIntoViewIfNeeded();
      assert.ok(await page.locator('#terr-territories tbody tr').count() >= 2);
      assert.deepEqual(problems, [], 'the page should report no errors');
    } finally {
      await context.close();
    }
  });
});
