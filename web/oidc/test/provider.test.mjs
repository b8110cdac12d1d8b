// provider.mjs as a child process, driven with plain HTTP the way Terrane's Rust tests will.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';

import {
  CLIENT_ID,
  CookieJar,
  REDIRECT_URI,
  authorizationRequest,
  exchangeCode,
  followToCallback,
  formAction,
  send,
  startProvider,
  verifiedJwt,
} from './helpers.mjs';

/** Form login: authorization request, the form, POST login=<email>, on to the callback. */
async function signInWithForm(issuer, email, overrides = {}) {
  const jar = new CookieJar();
  const request = authorizationRequest(issuer, overrides);
  const toForm = await followToCallback(jar, request.url);
  assert.equal(toForm.response?.status, 200, 'the interaction form is shown');
  const action = formAction(await toForm.response.text(), toForm.response.url || request.url);
  const submitted = await send(jar, action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: email }),
  });
  assert.equal(submitted.status, 303, 'a good login redirects on');
  const { callback } = await followToCallback(
    jar,
    new URL(submitted.headers.get('location'), action).href,
  );
  assert.ok(callback, 'the redirects end at the client callback');
  return { ...request, callback, jar };
}

describe('provider with form login', () => {
  let provider;
  before(async () => { provider = await startProvider(); });
  after(async () => { await provider.stop(); });

  test('prints exactly one JSON line with issuer and port', () => {
    assert.equal(provider.stdoutLines.length, 1);
    assert.equal(provider.issuer, `http://127.0.0.1:${provider.port}`);
    assert.ok(provider.port > 0);
  });

  test('discovery names the issuer and offers only S256 PKCE', async () => {
    const response = await fetch(new URL('/.well-known/openid-configuration', provider.issuer));
    assert.equal(response.status, 200);
    const discovery = await response.json();
    assert.equal(discovery.issuer, provider.issuer);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(discovery.response_types_supported, ['code']);
    assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['RS256']);
    for (const scope of ['openid', 'email', 'profile']) {
      assert.ok(discovery.scopes_supported.includes(scope), scope);
    }
    assert.equal(discovery.jwks_uri, `${provider.issuer}/jwks`);
  });

  test('authorization request without PKCE is refused', async () => {
    const request = authorizationRequest(provider.issuer, {
      code_challenge: null, code_challenge_method: null,
    });
    const response = await send(new CookieJar(), request.url);
    assert.equal(response.status, 303);
    const location = new URL(response.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description'), /PKCE/);
    assert.equal(location.searchParams.get('state'), request.state);
    assert.equal(location.searchParams.get('code'), null);
  });

  test('plain PKCE method is refused', async () => {
    const request = authorizationRequest(provider.issuer, { code_challenge_method: 'plain' });
    const response = await send(new CookieJar(), request.url);
    const location = new URL(response.headers.get('location'));
    assert.equal(location.searchParams.get('error'), 'invalid_request');
  });

  test('unregistered redirect_uri is refused without redirecting', async () => {
    const request = authorizationRequest(provider.issuer, {
      redirect_uri: 'http://127.0.0.1:9999/evil/callback',
    });
    const response = await send(new CookieJar(), request.url);
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('location'), null);
    assert.match(await response.text(), /redirect_uri/);
  });

  test('headless form login with PKCE yields a verified ID token for that user', async () => {
    const signIn = await signInWithForm(provider.issuer, 'camille.martin@example.com');
    assert.equal(signIn.callback.searchParams.get('state'), signIn.state);
    assert.equal(signIn.callback.searchParams.get('iss'), provider.issuer);
    const code = signIn.callback.searchParams.get('code');
    assert.ok(code);

    const { status, body } = await exchangeCode(provider.issuer, { code, verifier: signIn.verifier });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    const { header, payload, signatureValid } = await verifiedJwt(provider.issuer, body.id_token);
    assert.equal(signatureValid, true);
    assert.equal(header.alg, 'RS256');
    assert.equal(payload.iss, provider.issuer);
    assert.equal(payload.aud, CLIENT_ID);
    assert.equal(payload.nonce, signIn.nonce);
    assert.equal(payload.sub, 'u-camille-martin');
    assert.equal(payload.email, 'camille.martin@example.com');
    assert.equal(payload.email_verified, true);
    assert.equal(payload.name, 'Camille Martin');
    assert.ok(payload.exp > Date.now() / 1000);
  });

  test('the same code cannot be redeemed twice', async () => {
    const signIn = await signInWithForm(provider.issuer, 'manager@example.com');
    const code = signIn.callback.searchParams.get('code');
    const first = await exchangeCode(provider.issuer, { code, verifier: signIn.verifier });
    assert.equal(first.status, 200);
    const second = await exchangeCode(provider.issuer, { code, verifier: signIn.verifier });
    assert.equal(second.status, 400);
    assert.equal(second.body.error, 'invalid_grant');
  });

  test('a wrong code_verifier is refused', async () => {
    const signIn = await signInWithForm(provider.issuer, 'manager@example.com');
    const code = signIn.callback.searchParams.get('code');
    const { status, body } = await exchangeCode(provider.issuer, { code, verifier: 'x'.repeat(43) });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
  });

  test('a wrong client secret is refused', async () => {
    const signIn = await signInWithForm(provider.issuer, 'manager@example.com');
    const code = signIn.callback.searchParams.get('code');
    for (const auth of ['basic', 'post']) {
      const { status, body } = await exchangeCode(provider.issuer, {
        code, verifier: signIn.verifier, auth, secret: 'wrong',
      });
      assert.equal(status, 401, auth);
      assert.equal(body.error, 'invalid_client', auth);
    }
  });

  test('client_secret_post is accepted as well as basic', async () => {
    const signIn = await signInWithForm(provider.issuer, 'admin@example.com');
    const code = signIn.callback.searchParams.get('code');
    const { status, body } = await exchangeCode(provider.issuer, {
      code, verifier: signIn.verifier, auth: 'post',
    });
    assert.equal(status, 200, JSON.stringify(body));
    const { payload } = await verifiedJwt(provider.issuer, body.id_token);
    assert.equal(payload.email, 'admin@example.com');
  });

  test('the unverified account gets email_verified false', async () => {
    const signIn = await signInWithForm(provider.issuer, 'unverified@example.com');
    const code = signIn.callback.searchParams.get('code');
    const { body } = await exchangeCode(provider.issuer, { code, verifier: signIn.verifier });
    const { payload } = await verifiedJwt(provider.issuer, body.id_token);
    assert.equal(payload.email, 'unverified@example.com');
    assert.equal(payload.email_verified, false);
  });

  test('an unknown email re-renders the form with an error and signs nobody in', async () => {
    const jar = new CookieJar();
    const request = authorizationRequest(provider.issuer);
    const { response } = await followToCallback(jar, request.url);
    const action = formAction(await response.text(), request.url);
    const refused = await send(jar, action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: 'nobody@example.com' }),
    });
    assert.equal(refused.status, 422);
    assert.equal(refused.headers.get('location'), null);
    const page = await refused.text();
    assert.match(page, /No account with that email/);
    assert.match(page, /value="nobody@example.com"/);

    // The same interaction still accepts a real account afterwards.
    const accepted = await send(jar, action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: 'sofia.rossi@example.com' }),
    });
    assert.equal(accepted.status, 303);
  });

  test('cancel ends the request with access_denied at the callback', async () => {
    const jar = new CookieJar();
    const request = authorizationRequest(provider.issuer);
    const { response } = await followToCallback(jar, request.url);
    const action = formAction(await response.text(), request.url);
    const cancelled = await send(jar, action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ action: 'cancel' }),
    });
    const { callback } = await followToCallback(
      jar,
      new URL(cancelled.headers.get('location'), action).href,
    );
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), request.state);
  });

  test('login_hint does not sign in by itself without --auto-login', async () => {
    const request = authorizationRequest(provider.issuer, { login_hint: 'manager@example.com' });
    const { response } = await followToCallback(new CookieJar(), request.url);
    assert.equal(response?.status, 200);
    assert.match(await response.text(), /<form method="post"/);
  });

  test('the interaction page without its cookie is refused', async () => {
    const request = authorizationRequest(provider.issuer);
    const first = await send(new CookieJar(), request.url);
    const interaction = new URL(first.headers.get('location'), request.url).href;
    const response = await send(new CookieJar(), interaction);
    assert.equal(response.status, 400);
  });
});

describe('provider with --auto-login', () => {
  let provider;
  before(async () => { provider = await startProvider(['--auto-login']); });
  after(async () => { await provider.stop(); });

  test('login_hint completes sign-in through a chain of 303s to the callback', async () => {
    const jar = new CookieJar();
    const request = authorizationRequest(provider.issuer, { login_hint: 'luca.bianchi@example.com' });
    const { callback, hops } = await followToCallback(jar, request.url);
    assert.ok(callback, JSON.stringify(hops));
    assert.ok(hops.every(({ status }) => status === 303), JSON.stringify(hops));
    assert.equal(callback.searchParams.get('state'), request.state);

    const code = callback.searchParams.get('code');
    const { body } = await exchangeCode(provider.issuer, { code, verifier: request.verifier });
    const { payload, signatureValid } = await verifiedJwt(provider.issuer, body.id_token);
    assert.equal(signatureValid, true);
    assert.equal(payload.email, 'luca.bianchi@example.com');
    assert.equal(payload.nonce, request.nonce);
  });

  test('a second login_hint in the same cookie jar switches account', async () => {
    const jar = new CookieJar();
    const emails = ['marc.giraud@example.com', 'stranger@example.com', 'marc.giraud@example.com'];
    for (const email of emails) {
      const request = authorizationRequest(provider.issuer, { login_hint: email });
      const { callback } = await followToCallback(jar, request.url);
      const code = callback.searchParams.get('code');
      const { body } = await exchangeCode(provider.issuer, { code, verifier: request.verifier });
      const { payload } = await verifiedJwt(provider.issuer, body.id_token);
      assert.equal(payload.email, email);
    }
  });

  test('a signed-in provider session gets the next code without an interaction', async () => {
    const jar = new CookieJar();
    const first = authorizationRequest(provider.issuer, { login_hint: 'ines.garnier@example.com' });
    assert.ok((await followToCallback(jar, first.url)).callback);

    const again = authorizationRequest(provider.issuer);
    const { callback, hops } = await followToCallback(jar, again.url);
    assert.equal(hops.length, 1, JSON.stringify(hops));
    const code = callback.searchParams.get('code');
    const { body } = await exchangeCode(provider.issuer, { code, verifier: again.verifier });
    const { payload } = await verifiedJwt(provider.issuer, body.id_token);
    assert.equal(payload.email, 'ines.garnier@example.com');
    assert.equal(payload.nonce, again.nonce);
  });

  test('an unknown login_hint falls back to the form', async () => {
    const request = authorizationRequest(provider.issuer, { login_hint: 'nobody@example.com' });
    const { response } = await followToCallback(new CookieJar(), request.url);
    assert.equal(response?.status, 200);
    assert.match(await response.text(), /login_hint names no account/);
  });
});

describe('signing keys', () => {
  async function publishedKeys(args) {
    const provider = await startProvider(args);
    try {
      const { keys } = await (await fetch(new URL('/jwks', provider.issuer))).json();
      return keys;
    } finally {
      await provider.stop();
    }
  }

  test('different --key-seed values publish different keys; the same seed the same key', async () => {
    const [one, two, oneAgain] = await Promise.all([
      publishedKeys(['--key-seed', '1']),
      publishedKeys(['--key-seed', '2']),
      publishedKeys(['--key-seed', '1']),
    ]);
    assert.equal(one.length, 1);
    assert.notEqual(one[0].kid, two[0].kid);
    assert.notEqual(one[0].n, two[0].n);
    assert.deepEqual(one, oneAgain);
    for (const key of [...one, ...two]) {
      assert.equal(key.d, undefined, 'no private members are published');
    }
  });

  test('--alg ES256 signs ID tokens with a P-256 key', async () => {
    const provider = await startProvider(['--alg', 'ES256', '--auto-login']);
    try {
      const request = authorizationRequest(provider.issuer, { login_hint: 'admin@example.com' });
      const { callback } = await followToCallback(new CookieJar(), request.url);
      const code = callback.searchParams.get('code');
      const { body } = await exchangeCode(provider.issuer, { code, verifier: request.verifier });
      const { header, signatureValid } = await verifiedJwt(provider.issuer, body.id_token);
      assert.equal(header.alg, 'ES256');
      assert.equal(signatureValid, true);
    } finally {
      await provider.stop();
    }
  });
});

describe('process lifecycle', () => {
  test('exits cleanly on SIGTERM', async () => {
    const provider = await startProvider();
    const exited = once(provider.child, 'exit');
    provider.child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  });

  test('exits when its parent closes stdin', async () => {
    const provider = await startProvider();
    const exited = once(provider.child, 'exit');
    provider.child.stdin.end();
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(provider.stderr(), /stdin closed/);
  });

  test('--no-stdin-watch keeps running after stdin closes', async () => {
    const provider = await startProvider(['--no-stdin-watch']);
    try {
      provider.child.stdin.end();
      const response = await fetch(new URL('/.well-known/openid-configuration', provider.issuer));
      assert.equal(response.status, 200);
      assert.equal(provider.child.exitCode, null);
    } finally {
      await provider.stop();
    }
  });

  test('a redirect URI oidc-provider refuses fails start-up (exit 1)', async () => {
    await assert.rejects(
      startProvider(['--client-id', 'c', '--client-secret', 's', '--redirect-uri', 'https://x.test/cb#f'], { clientArgs: false }),
      /exited with 1[\s\S]*fragments/,
    );
  });

  test('missing client flags are a usage error (exit 2)', async () => {
    await assert.rejects(startProvider([], { clientArgs: false }), /exited with 2/);
  });
});
