// Browser tests of day plans (issue 16): a rep opens Today on a phone-sized screen, marks a stop
// visited, books an appointment and sees the day planned again; a manager plans the team's day
// and moves a stop from one rep to another; a rep changes their shift in My day.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/today.test.mjs

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { collectPageProblems, sharedBrowser, signInAsDemoUser } from './lib/browser.mjs';
import { DEMO_MANAGER, DEMO_REP } from './lib/api.mjs';

/** The next Monday-to-Friday after today (UTC), as YYYY-MM-DD: a working day in the future. */
function nextWorkday() {
  const d = new Date();
  do {
    d.setUTCDate(d.getUTCDate() + 1);
  } while (d.getUTCDay() === 0 || d.getUTCDay() === 6);
  return d.toISOString().slice(0, 10);
}

async function settled(page, selector) {
  await page.waitForFunction(
    (sel) => ['ready', 'error'].includes(document.querySelector(sel)?.dataset.state),
    selector,
    { timeout: 60_000 },
  );
  return page.evaluate((sel) => document.querySelector(sel).dataset.state, selector);
}

/** Resolves once the day has been planned again (the status line is rewritten). */
async function replanned(page, action) {
  await page.evaluate(() => { document.getElementById('today').dataset.state = 'loading'; });
  await action();
  assert.equal(await settled(page, '#today'), 'ready', await page.textContent('#status'));
}

describe('Today and Team day', () => {
  const suite = sharedBrowser();
  const day = nextWorkday();

  test('a rep opens Today on a phone, marks a stop visited and books an appointment', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const problems = collectPageProblems(page);
    await signInAsDemoUser(page, suite.baseUrl, DEMO_REP);
    await page.goto(`${suite.baseUrl}/today?day=${day}`);
    assert.equal(await settled(page, '#today'), 'ready', await page.textContent('#status'));

    const names = () => page.$$eval('#stops .stop[data-account-id]', (els) => els.map((e) => e.dataset.accountId));
    const before = await names();
    assert.ok(before.length >= 3, `a day holds several stops, got ${before.length}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling at 390 px (page is ${width} px wide)`);
    assert.match(await page.textContent('#totals'), /Driving/);
    const nav = await page.getAttribute('#stops .stop[data-account-id] .stop__nav', 'href');
    assert.match(nav, /^(geo:|https:\/\/maps\.apple\.com)/);
    await page.screenshot({ path: join(suite.shots, 'today-390.png'), fullPage: true });

    // Visited: the account is no longer due, so the day is planned without it.
    const first = before[0];
    await replanned(page, () => page.click(`#stops .stop[data-account-id="${first}"] .stop__visited`));
    assert.ok(!(await names()).includes(first), 'the visited account left the plan');

    // An appointment at 15:00 for an account that is not planned yet.
    const planned = new Set(await names());
    const account = await page.$$eval('#book-account option', (opts, skip) => opts.map((o) => o.value).find((v) => !skip.includes(v)), [...planned]);
    assert.ok(account, 'an account to book');
    await page.selectOption('#book-account', account);
    await page.fill('#book-start', '15:00');
    await page.fill('#book-minutes', '30');
    await replanned(page, () => page.click('#book button[type="submit"]'));
    const appointment = page.locator(`#stops .stop--appointment[data-account-id="${account}"]`);
    assert.equal(await appointment.count(), 1, await page.textContent('#book-error'));
    assert.match(await appointment.textContent(), /visit 15:00–15:30/);
    await page.screenshot({ path: join(suite.shots, 'today-booked-390.png'), fullPage: true });
    assert.deepEqual(problems.filter((p) => !/WebGL|webgl/.test(p)), []);
    await context.close();
  });

  test('a rep moves the start of their shift in My day and the day starts later', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const problems = collectPageProblems(page);
    await signInAsDemoUser(page, suite.baseUrl, DEMO_REP);
    await page.goto(`${suite.baseUrl}/today?day=${day}`);
    assert.equal(await settled(page, '#today'), 'ready', await page.textContent('#status'));
    await page.click('#settings-section summary');
    await page.waitForFunction(() => document.getElementById('settings-work-start').value !== '');
    const original = await page.inputValue('#settings-work-start');
    const firstArrival = async () => {
      const text = await page.textContent('#stops .stop[data-account-id] .stop__times');
      const [, hh, mm] = /Arrive (\d{2}):(\d{2})/.exec(text) ?? [];
      assert.ok(hh, `an arrival time in "${text}"`);
      return Number(hh) * 60 + Number(mm);
    };
    assert.ok(await firstArrival() < 11 * 60, 'the first stop is reached before 11:00 on the usual shift');

    // A break longer than its window is refused, with the reason on the page.
    await page.fill('#settings-break-minutes', '200');
    await page.click('#settings button[type="submit"]');
    await page.waitForSelector('#settings-error:not([hidden])');
    assert.match(await page.textContent('#settings-error'), /break/i);

    await page.fill('#settings-break-minutes', '30');
    await page.fill('#settings-work-start', '11:00');
    await replanned(page, () => page.click('#settings button[type="submit"]'));
    assert.ok(await page.isHidden('#settings-error'), await page.textContent('#settings-error'));
    assert.ok(await firstArrival() >= 11 * 60, 'the day now starts at 11:00');
    await page.screenshot({ path: join(suite.shots, 'today-my-day-390.png'), fullPage: true });

    await page.fill('#settings-work-start', original);
    await replanned(page, () => page.click('#settings button[type="submit"]'));
    // The refused break above is the one 400 the browser may log.
    assert.deepEqual(problems.filter((p) => !/WebGL|webgl|status of 400/.test(p)), []);
    await context.close();
  });

  test('a manager plans the team day and moves a stop between two reps', async () => {
    const page = await suite.browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signInAsDemoUser(page, suite.baseUrl, DEMO_MANAGER);
    await page.goto(`${suite.baseUrl}/team-day`);
    await page.fill('#day', day);
    await page.click('#team-form button[type="submit"]');
    assert.equal(await settled(page, '#team-day'), 'ready', await page.textContent('#status'));
    const rows = await page.$$eval('#days tr', (trs) => trs.map((tr) => ({
      rep: tr.dataset.repId, stops: Number(tr.children[1].textContent),
    })));
    assert.ok(rows.length >= 2, 'several reps');
    const [from, to] = rows;
    assert.ok(from.stops > 0, 'the first rep has stops');

    const stop = await page.$eval('#move-stop', (s) => s.options[0].value);
    const label = await page.$eval('#move-stop', (s) => s.options[0].textContent);
    await page.selectOption('#move-stop', stop);
    await page.selectOption('#move-rep', to.rep);
    await page.evaluate(() => { document.getElementById('team-day').dataset.state = 'loading'; });
    await page.click('#move button[type="submit"]');
    assert.equal(await settled(page, '#team-day'), 'ready', await page.textContent('#status'));
    const toName = await page.$eval(`#days tr[data-rep-id="${to.rep}"] th`, (th) => th.textContent);
    const moved = await page.$eval('#move-stop', (s, id) => [...s.options].find((o) => o.value === id)?.textContent, stop);
    assert.ok(moved?.endsWith(`(${toName})`), `"${label}" now belongs to ${toName}: ${moved}`);
    await page.screenshot({ path: join(suite.shots, 'team-day.png'), fullPage: true });
    await page.close();
  });
});
