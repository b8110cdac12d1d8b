// Browser tests of live location (issue 17): a rep on a phone turns on location sharing on
// Today, reads what is shared, gets an alert near an account worth a stop and adds it to the
// route; the admin's live map of the rep's team shows the rep and the alert.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/live.test.mjs
//
// The rep, their team and the account come from web/tests/fixtures/live-rep.sql.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { DEMO_ADMIN, collectPageProblems, sharedBrowser, signInAsDemoUser } from './lib/browser.mjs';

const LIVE_REP = 'lea.live@example.com';
/** About 60 m north of the fixture's account. */
const NEAR = { latitude: 43.735_71, longitude: 7.421_31, accuracy: 8 };

describe('Live location', () => {
  const suite = sharedBrowser();

  test('a rep shares their location, gets an alert and adds the stop to the route', async () => {
    const context = await suite.browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      geolocation: NEAR,
      permissions: ['geolocation'],
    });
    const page = await context.newPage();
    const problems = collectPageProblems(page);
    await signInAsDemoUser(page, suite.baseUrl, LIVE_REP);
    await page.goto(`${suite.baseUrl}/today`);
    // The page says what is shared, with whom, for how long, before anything is sent.
    const what = await page.textContent('#share-what');
    assert.match(what, /only during your shift/);
    assert.match(what, /about 150/);
    assert.match(what, /deleted after \d+ days/);
    await page.waitForFunction(() => /\d{2}:\d{2}–\d{2}:\d{2}/.test(document.getElementById('share-shift').textContent));

    await page.click('#share-toggle');
    await page.waitForFunction(() => /stored/.test(document.getElementById('share-status').textContent), null, { timeout: 30_000 });
    assert.equal(await page.getAttribute('#share', 'data-state'), 'on');
    // Still there at the next fix (a few metres on: real fixes are never identical), the
    // second position near the account raises the alert.
    await context.setGeolocation({ ...NEAR, latitude: NEAR.latitude + 0.000_02 });
    const alert = page.locator('#alerts li.alert').first();
    await alert.waitFor({ timeout: 30_000 });
    assert.match(await alert.textContent(), /away/);
    assert.match(await alert.locator('.alert__nav').getAttribute('href'), /^(geo:|https:\/\/maps\.apple\.com)/);
    await page.screenshot({ path: join(suite.shots, 'live-share-390.png'), fullPage: true });

    await alert.locator('.alert__add').click();
    await page.waitForFunction(() => document.querySelector('#alerts li.alert')?.dataset.state === 'added_to_route', null, { timeout: 30_000 });
    assert.match(await alert.textContent(), /Added to your route/);
    await page.click('#share-toggle');
    assert.equal(await page.getAttribute('#share', 'data-state'), 'off');
    assert.deepEqual(problems.filter((p) => !/WebGL|webgl/.test(p)), []);
    await context.close();
  });

  test("the live map shows the team's rep and the alert", async () => {
    const page = await suite.browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = collectPageProblems(page);
    await signInAsDemoUser(page, suite.baseUrl, DEMO_ADMIN);
    await page.goto(`${suite.baseUrl}/live`);
    await page.selectOption('#team', { label: 'Zeta live team' });
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'ready'
      && document.querySelectorAll('#reps tr').length > 0, null, { timeout: 30_000 });
    const row = await page.textContent('#reps tr');
    assert.match(row, /Lea Live/);
    assert.doesNotMatch(row, /not sharing/);
    assert.match(await page.textContent('#alerts'), /Lea Live near/);
    // An admin sees precise positions, and is told the look is recorded.
    assert.match(await page.textContent('#precision'), /audit log/);
    assert.match(page.url(), /[?&]team=/);
    await page.screenshot({ path: join(suite.shots, 'live-map.png'), fullPage: true });
    assert.deepEqual(problems.filter((p) => !/WebGL|webgl/.test(p)), []);
    await page.close();
  });
});
