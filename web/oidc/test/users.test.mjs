// The users file: parsed strictly, looked up by email (any case) or sub.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Users } from '../lib/users.mjs';

const DEFAULT_USERS = fileURLToPath(new URL('../users.json', import.meta.url));
const DEMO_CRM = fileURLToPath(new URL('../../../seed-data/demo-crm.json', import.meta.url));

const camille = {
  sub: 'u-camille', email: 'Camille.Martin@example.com', email_verified: true, name: 'Camille Martin',
};

test('an account is found by email in any case, or by sub', () => {
  const users = new Users([camille]);
  assert.equal(users.byLogin('camille.martin@EXAMPLE.com').sub, 'u-camille');
  assert.equal(users.byLogin('  camille.martin@example.com ').sub, 'u-camille');
  assert.equal(users.byLogin('u-camille').email, camille.email);
  assert.equal(users.byLogin('nobody@example.com'), undefined);
  assert.equal(users.byLogin(undefined), undefined);
});

test('a users file with a missing email_verified is refused with its index', () => {
  const { email_verified: _, ...incomplete } = camille;
  assert.throws(() => new Users([incomplete]), /users\[0\]\.email_verified/);
});

test('duplicate emails are refused, whatever their case', () => {
  const other = { ...camille, sub: 'u-other', email: 'camille.martin@example.com' };
  assert.throws(() => new Users([camille, other]), /duplicate email/);
});

test('an empty or non-array users file is refused', () => {
  assert.throws(() => new Users([]), /non-empty JSON array/);
  assert.throws(() => new Users({}), /non-empty JSON array/);
});

test('the default users cover every demo rep, a manager, an admin, an unverified and a stranger', () => {
  const users = Users.fromFile(DEFAULT_USERS);
  const demo = JSON.parse(readFileSync(DEMO_CRM, 'utf8'));
  const repEmails = JSON.stringify(demo).match(/[a-z.]+@example\.com/g) ?? [];
  assert.ok(repEmails.length > 0);
  for (const email of repEmails) {
    assert.equal(users.byLogin(email)?.email_verified, true, email);
  }
  for (const email of ['manager@example.com', 'admin@example.com', 'stranger@example.com']) {
    assert.equal(users.byLogin(email)?.email_verified, true, email);
  }
  assert.equal(users.byLogin('unverified@example.com')?.email_verified, false);
});
