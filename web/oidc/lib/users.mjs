// The provider's accounts: parsed from a JSON file at start-up, looked up by email or sub.

import { readFileSync } from 'node:fs';

/** Claims an account may carry; `sub` and `email` are required, the rest optional. */
const STRING_CLAIMS = ['sub', 'email', 'name', 'given_name', 'family_name', 'preferred_username'];

export class Users {
  #bySub = new Map();

  #byEmail = new Map();

  /** `accounts` is the parsed JSON array; throws with the offending index on bad input. */
  constructor(accounts) {
    if (!Array.isArray(accounts) || accounts.length === 0) {
      throw new Error('users file must hold a non-empty JSON array of accounts');
    }
    accounts.forEach((raw, index) => {
      const account = parseAccount(raw, index);
      const emailKey = account.email.toLowerCase();
      if (this.#bySub.has(account.sub)) {
        throw new Error(`users[${index}]: duplicate sub ${account.sub}`);
      }
      if (this.#byEmail.has(emailKey)) {
        throw new Error(`users[${index}]: duplicate email ${account.email}`);
      }
      this.#bySub.set(account.sub, account);
      this.#byEmail.set(emailKey, account);
    });
  }

  static fromFile(path) {
    let parsed;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (cause) {
      throw new Error(`cannot read users file ${path}: ${cause.message}`, { cause });
    }
    return new Users(parsed);
  }

  get size() {
    return this.#bySub.size;
  }

  bySub(sub) {
    return this.#bySub.get(sub);
  }

  /** What a login form or `login_hint` names: an email (any case) or, failing that, a sub. */
  byLogin(login) {
    if (typeof login !== 'string') return undefined;
    const trimmed = login.trim();
    return this.#byEmail.get(trimmed.toLowerCase()) ?? this.#bySub.get(trimmed);
  }
}

function parseAccount(raw, index) {
  const where = `users[${index}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${where}: must be an object`);
  }
  const account = {};
  for (const claim of STRING_CLAIMS) {
    if (raw[claim] === undefined) continue;
    if (typeof raw[claim] !== 'string' || raw[claim].trim() === '') {
      throw new Error(`${where}.${claim}: must be a non-empty string`);
    }
    account[claim] = raw[claim];
  }
  if (account.sub === undefined) throw new Error(`${where}.sub: is required`);
  if (account.email === undefined || !/^[^@\s]+@[^@\s]+$/.test(account.email)) {
    throw new Error(`${where}.email: must be an email address`);
  }
  if (typeof raw.email_verified !== 'boolean') {
    throw new Error(`${where}.email_verified: must be true or false`);
  }
  account.email_verified = raw.email_verified;
  return Object.freeze(account);
}
