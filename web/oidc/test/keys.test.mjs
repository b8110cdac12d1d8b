// Signing keys: seeded keys repeat, differ by seed and alg, and are valid keys.

import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { test } from 'node:test';

import { jwkThumbprint, signingKey } from '../lib/keys.mjs';

test('a seed gives the same RSA key every time and another seed another key', () => {
  const first = signingKey('RS256', '11');
  assert.deepEqual(signingKey('RS256', '11'), first);
  assert.notEqual(signingKey('RS256', '12').n, first.n);
});

test('a seeded RSA key has a 2048-bit modulus and imports as a private key', () => {
  const { kid, alg, use, ...jwk } = signingKey('RS256', '3');
  assert.equal(Buffer.from(jwk.n, 'base64url').length, 256);
  assert.equal(jwk.e, 'AQAB');
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  assert.equal(key.asymmetricKeyDetails.modulusLength, 2048);
  assert.equal(kid, jwkThumbprint(jwk));
  assert.equal(alg, 'RS256');
  assert.equal(use, 'sig');
});

test('a seeded ES256 key repeats, differs by seed and is on P-256', () => {
  const first = signingKey('ES256', '5');
  assert.deepEqual(signingKey('ES256', '5'), first);
  assert.notEqual(signingKey('ES256', '6').d, first.d);
  assert.equal(first.crv, 'P-256');
  assert.equal(first.alg, 'ES256');
});

test('without a seed every key is new', () => {
  assert.notEqual(signingKey('ES256').kid, signingKey('ES256').kid);
});

test('an unsupported alg is refused', () => {
  assert.throws(() => signingKey('HS256', '1'), /unsupported signing alg/);
});

test('the thumbprint matches the RFC 7638 example', () => {
  // RFC 7638, section 3.1.
  const jwk = {
    kty: 'RSA',
    e: 'AQAB',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  };
  assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
});
