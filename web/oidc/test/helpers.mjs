// Test helpers: start provider.mjs as a child, and drive it like a relying party with fetch.

import { spawn } from 'node:child_process';
import {
  createHash, createPublicKey, randomBytes, verify,
} from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const PROVIDER = fileURLToPath(new URL('../provider.mjs', import.meta.url));
const START_TIMEOUT_MS = 15000;

export const CLIENT_ID = 'terrane';
export const CLIENT_SECRET = 's3cret';
export const REDIRECT_URI = 'http://127.0.0.1:8080/auth/callback';

/**
 * Starts the provider and resolves once it has printed its JSON line.
 * Returns { issuer, port, child, stdoutLines, stderr(), stop() }.
 *
 * A start that prints nothing in time is killed (a live child would keep the test run from
 * ever ending) and tried once more, saying so on stderr: one CI run saw a provider sit idle,
 * not yet listening, for minutes, and 40 starts in a row here could not reproduce it. A
 * provider that exits before starting is not retried.
 */
export async function startProvider(extraArgs = [], options = {}) {
  try {
    return await startOnce(extraArgs, options);
  } catch (err) {
    if (!err.timedOut) throw err;
    process.stderr.write(`startProvider: ${err.message}\nstartProvider: trying once more\n`);
    return startOnce(extraArgs, options);
  }
}

async function startOnce(extraArgs, { clientArgs = true } = {}) {
  const args = clientArgs
    ? ['--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET, '--redirect-uri', REDIRECT_URI]
    : [];
  const child = spawn(process.execPath, [PROVIDER, '--port', '0', ...args, ...extraArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });

  const stdoutLines = [];
  let buffered = '';
  child.stdout.setEncoding('utf8');
  const firstLine = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(Object.assign(
        new Error(`provider did not start in ${START_TIMEOUT_MS} ms; stderr:\n${stderr}`),
        { timedOut: true },
      ));
    }, START_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        stdoutLines.push(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
      }
      if (stdoutLines.length > 0) {
        clearTimeout(timer);
        resolve(stdoutLines[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`provider exited with ${code} before starting; stderr:\n${stderr}`));
    });
  });

  const announced = JSON.parse(await firstLine);
  return {
    ...announced,
    child,
    stdoutLines,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Cookies by name, honouring Path and deletion; enough for one loopback host. */
export class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, attrValue = ''] = attribute.split('=');
        const lower = key.toLowerCase();
        if (lower === 'path') path = attrValue;
        if (lower === 'max-age' && Number(attrValue) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(attrValue) <= Date.now()) expired = true;
      }
      const key = `${path}\u0000${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  headerFor(url) {
    const { pathname } = new URL(url);
    const matching = [...this.#cookies.values()].filter(({ path }) => (
      pathname === path || pathname.startsWith(path.endsWith('/') ? path : `${path}/`)));
    return matching.map(({ name, value }) => `${name}=${value}`).join('; ');
  }
}

/** fetch without following redirects, sending and storing the jar's cookies. */
export async function send(jar, url, init = {}) {
  const headers = new Headers(init.headers);
  const cookie = jar.headerFor(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(response);
  return response;
}

/**
 * Follows 3xx Location headers (GET) until one points at REDIRECT_URI, which is returned as
 * a URL without being fetched. Returns { callback } or, if a non-redirect answers first,
 * { response }. `hops` records each status and location.
 */
export async function followToCallback(jar, url, hops = []) {
  let next = url;
  for (let i = 0; i < 10; i += 1) {
    if (next.startsWith(REDIRECT_URI)) return { callback: new URL(next), hops };
    const response = await send(jar, next);
    if (response.status < 300 || response.status >= 400) return { response, hops };
    await response.arrayBuffer();
    const location = new URL(response.headers.get('location'), next).href;
    hops.push({ status: response.status, location });
    next = location;
  }
  throw new Error(`too many redirects: ${JSON.stringify(hops)}`);
}

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** An authorization request URL with PKCE, state and nonce unless overridden (null drops). */
export function authorizationRequest(issuer, overrides = {}) {
  const { verifier, challenge } = pkcePair();
  const params = {
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  const url = new URL('/auth', issuer);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  return {
    url: url.href, verifier, state: params.state, nonce: params.nonce,
  };
}

/** POSTs the token request; `auth` is 'basic' or 'post'. Returns { status, body }. */
export async function exchangeCode(issuer, {
  code, verifier, auth = 'basic', secret = CLIENT_SECRET, redirectUri = REDIRECT_URI,
}) {
  const form = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: redirectUri,
  });
  if (verifier !== undefined) form.set('code_verifier', verifier);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    const credentials = `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(secret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    form.set('client_id', CLIENT_ID);
    form.set('client_secret', secret);
  }
  const response = await fetch(new URL('/token', issuer), { method: 'POST', headers, body: form });
  return { status: response.status, body: await response.json() };
}

/** Decodes a compact JWS and checks its signature against the issuer's JWKS. */
export async function verifiedJwt(issuer, jwt) {
  const [headerB64, payloadB64, signatureB64] = jwt.split('.');
  const header = JSON.parse(Buffer.from(headerB64, 'base64url'));
  const payload = JSON.parse(Buffer.from(payloadB64, 'base64url'));
  const { keys } = await (await fetch(new URL('/jwks', issuer))).json();
  const jwk = keys.find((key) => key.kid === header.kid);
  if (!jwk) return { header, payload, signatureValid: false };
  const dsaEncoding = header.alg === 'ES256' ? 'ieee-p1363' : undefined;
  const signatureValid = verify(
    'sha256',
    Buffer.from(`${headerB64}.${payloadB64}`),
    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding },
    Buffer.from(signatureB64, 'base64url'),
  );
  return { header, payload, signatureValid };
}

/** The form's action from the interaction page (the only form on it). */
export function formAction(html, base) {
  const match = /<form method="post" action="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no form in page:\n${html}`);
  return new URL(match[1].replaceAll('&amp;', '&'), base).href;
}
