// Browser test of the admin's users page (issue 14): every row's selects show the user's
// current role and rep record, so saving a row untouched keeps the access it gives; a change
// that removes access asks first, and cancelling keeps it.
//
//   TERRANE_URL=http://127.0.0.1:8080 node --test tests/users.test.mjs

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import {
  DEMO_ADMIN,
  collectPageProblems,
  sharedBrowser,
  signInAsDemoUser,
} from './lib/browser.mjs';
import { DEMO_REP } from './lib/api.mjs';

/** What each row shows as text and what its selects hold, keyed by email. */
function rowsOf(page) {
  return page.$$eval('tr[data-user]', (rows) => rows.map((row) => {
    const cells = row.querySelectorAll('td');
    const role = row.querySelector('select[name="role"]');
    const rep = row.querySelector('select[name="rep_id"]');
    return {
      email: row.dataset.user,
      roleText: cells[1].textContent.trim(),
      repText: cells[2].textContent.trim(),
      roleSelected: role.options[role.selectedIndex].text,
      repSelected: rep.selectedIndex > 0 ? rep.options[rep.selectedIndex].text : '',
    };
  }));
}

describe('the users page', () => {
  const suite = sharedBrowser();

  test('rows show current values; saving untouched keeps the role; removal asks first', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      const problems = collectPageProblems(page);
      await signInAsDemoUser(page, suite.baseUrl, DEMO_ADMIN);
      await page.goto(`${suite.baseUrl}/admin/users`, { waitUntil: 'domcontentloaded' });

      const rows = await rowsOf(page);
      assert.ok(rows.filter((r) => r.roleText === 'rep').length >= 2, 'the demo has reps');
      for (const r of rows) {
        const expected = r.roleText === 'waiting' ? 'no access' : r.roleText;
        assert.equal(r.roleSelected, expected, `${r.email}: the role select shows the role`);
        assert.equal(r.repSelected, r.repText, `${r.email}: the rep select shows the rep record`);
      }

      // A rep other than the one the other browser tests sign in as.
      const rep = rows.find((r) => r.roleText === 'rep' && r.email !== DEMO_REP);
      const row = page.locator(`tr[data-user="${rep.email}"]`);
      await Promise.all([
        page.waitForURL(`${suite.baseUrl}/admin/users`, { waitUntil: 'domcontentloaded' }),
        row.getByRole('button', { name: 'Save' }).click(),
      ]);
      const saved = (await rowsOf(page)).find((r) => r.email === rep.email);
      assert.equal(saved.roleText, 'rep', 'saving an untouched row keeps the role');
      assert.equal(saved.repText, rep.repText, 'and the rep record');

      await row.locator('select[name="role"]').selectOption({ label: 'no access' });
      await Promise.all([
        page.waitForURL(/\/admin\/users\/[0-9a-f-]+\/role$/, { waitUntil: 'domcontentloaded' }),
        row.getByRole('button', { name: 'Save' }).click(),
      ]);
      const question = page.getByRole('alertdialog');
      await question.waitFor();
      assert.match(await question.textContent(), /no longer be able to see anything/);
      await page.screenshot({ path: join(suite.shots, 'users-confirm-removal.png') });
      await Promise.all([
        page.waitForURL(`${suite.baseUrl}/admin/users`, { waitUntil: 'domcontentloaded' }),
        question.getByRole('link', { name: /Cancel/ }).click(),
      ]);
      const kept = (await rowsOf(page)).find((r) => r.email === rep.email);
      assert.equal(kept.roleText, 'rep', 'cancelling keeps the access');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
