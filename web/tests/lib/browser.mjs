// Shared set-up for browser tests: headless system Chromium with software WebGL, the server
// under test, and a collector for anything the page reports as an error.

import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import { after, before } from 'node:test';

const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a headless Chromium in a container without a GPU. MapLibre needs WebGL, which
 * there comes from SwiftShader (a CPU implementation reached through ANGLE); newer Chromium
 * refuses it for WebGL unless told it is acceptable. The rest keep the browser from talking
 * to anything but the server under test.
 */
export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
]);

/** An environment variable that must be set, or an error that says how to set it. */
export function requireEnv(name, hint) {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`${name} is not set: ${hint}`);
  }
  return value.trim();
}

/** The base URL of the running server, from TERRANE_URL, without a trailing slash. */
export function serverUrl() {
  const raw = requireEnv(
    'TERRANE_URL',
    'start the server and run e.g. TERRANE_URL=http://127.0.0.1:8080 npm test',
  );
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`TERRANE_URL is not a URL: ${raw}`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Where screenshots go: TERRANE_SCREENSHOT_DIR, or web/screenshots. Created if missing. */
export async function screenshotDir() {
  const dir = process.env.TERRANE_SCREENSHOT_DIR
    ? resolve(process.env.TERRANE_SCREENSHOT_DIR)
    : resolve(WEB_DIR, 'screenshots');
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Launches Chromium (CHROMIUM_PATH overrides the executable). Close it when done. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout: 60_000,
  });
}

/**
 * Records console errors, uncaught exceptions and failed requests of a page. Check the
 * returned array after the page has done its work; it fills as events arrive.
 */
export function collectPageProblems(page) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
  return problems;
}

/**
 * Waits until the map element leaves its loading state and returns the state it reached
 * ('ready' or 'error'), together with the message shown to the user, if any.
 */
export async function waitForMapSettled(page, timeoutMs = 60_000) {
  const map = page.locator('#map[data-state="ready"], #map[data-state="error"]');
  await map.waitFor({ state: 'attached', timeout: timeoutMs });
  return page.evaluate(() => ({
    state: document.getElementById('map').dataset.state,
    error: document.getElementById('map-error')?.textContent ?? '',
  }));
}

/** The seeded demo admin: sees every account. */
export const DEMO_ADMIN = 'admin@example.com';

/**
 * Signs in through the demo sign-in page (the server runs with TERRANE_DEMO=1) by pressing
 * the button for `email`, and waits to land on the map.
 */
export async function signInAsDemoUser(page, baseUrl, email = DEMO_ADMIN) {
  await page.goto(`${baseUrl}/login`, { waitUntil: 'domcontentloaded' });
  await Promise.all([
    page.waitForURL(`${baseUrl}/`, { waitUntil: 'domcontentloaded' }),
    page.click(`[data-demo-user="${email}"]`),
  ]);
}

/**
 * One Chromium for a suite: registers `before`/`after` hooks in the calling `describe` and
 * returns `{ browser, baseUrl, shots }`, filled before the first test runs.
 */
export function sharedBrowser() {
  const suite = { browser: null, baseUrl: '', shots: '' };
  before(async () => {
    suite.baseUrl = serverUrl();
    suite.shots = await screenshotDir();
    suite.browser = await launchBrowser();
  });
  after(async () => {
    await suite.browser?.close();
  });
  return suite;
}
