// The provider's ID token signing key: fresh at random, or derived from a seed so runs repeat.
//
// A seeded key is a TEST fixture: anyone who knows the seed knows the private key. Its only
// purposes are that the same seed gives the same key on every run (a restarted provider keeps
// verifying old tokens) and that different seeds give different keys (a test can make an
// "ID token signed by the wrong key" by starting a second provider).

import {
  checkPrimeSync,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';

/** JWS algorithms this provider can sign ID tokens with. */
export const SUPPORTED_ALGS = ['RS256', 'ES256'];

const RSA_MODULUS_BITS = 2048;
const RSA_PUBLIC_EXPONENT = 65537n;

/**
 * Returns a private JWK (with `kid`, `alg`, `use`) for `alg`.
 * `seed` is a string of decimal digits, or undefined for a random key.
 */
export function signingKey(alg, seed) {
  if (!SUPPORTED_ALGS.includes(alg)) {
    throw new Error(`unsupported signing alg ${alg}; use one of ${SUPPORTED_ALGS.join(', ')}`);
  }
  let jwk;
  if (seed === undefined) {
    jwk = randomKey(alg);
  } else {
    const bytes = seededByteStream(`terrane-oidc-test-key/${alg}/${seed}`);
    jwk = alg === 'RS256' ? seededRsaKey(bytes) : seededP256Key(bytes);
  }
  assertSignsAndVerifies(jwk, alg);
  return { ...jwk, kid: jwkThumbprint(jwk), alg, use: 'sig' };
}

function randomKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'jwk' });
}

/** A deterministic byte source: HMAC-SHA-256 over a counter, keyed by `label`. */
function seededByteStream(label) {
  let counter = 0;
  return (length) => {
    const blocks = [];
    let have = 0;
    while (have < length) {
      const block = createHmac('sha256', label).update(String(counter)).digest();
      counter += 1;
      blocks.push(block);
      have += block.length;
    }
    return Buffer.concat(blocks).subarray(0, length);
  };
}

function seededP256Key(bytes) {
  // The P-256 group order; the private scalar must lie in [1, order - 1].
  const order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const scalar = (toBigInt(bytes(40)) % (order - 1n)) + 1n;
  const d = toFixedBytes(scalar, 32);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey(); // 0x04 || x || y
  return {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
    d: d.toString('base64url'),
  };
}

function seededRsaKey(bytes) {
  const primeBits = RSA_MODULUS_BITS / 2;
  const p = seededPrime(bytes, primeBits);
  let q = seededPrime(bytes, primeBits);
  while (q === p) q = seededPrime(bytes, primeBits);

  const n = p * q;
  const lambda = lcm(p - 1n, q - 1n);
  const d = modInverse(RSA_PUBLIC_EXPONENT, lambda);
  return {
    kty: 'RSA',
    n: base64urlOf(n),
    e: base64urlOf(RSA_PUBLIC_EXPONENT),
    d: base64urlOf(d),
    p: base64urlOf(p),
    q: base64urlOf(q),
    dp: base64urlOf(d % (p - 1n)),
    dq: base64urlOf(d % (q - 1n)),
    qi: base64urlOf(modInverse(q, p)),
  };
}

/**
 * A prime of exactly `bits` bits with its top two bits set (so p * q has 2 * bits bits)
 * and p - 1 coprime to the public exponent. Searches upwards from a seeded odd start.
 */
function seededPrime(bytes, bits) {
  const top = 3n << BigInt(bits - 2);
  let candidate = toBigInt(bytes(bits / 8)) | top | 1n;
  for (;;) {
    if ((candidate - 1n) % RSA_PUBLIC_EXPONENT !== 0n && checkPrimeSync(candidate)) {
      return candidate;
    }
    candidate += 2n;
    if (candidate >> BigInt(bits) !== 0n) {
      candidate = toBigInt(bytes(bits / 8)) | top | 1n;
    }
  }
}

function gcd(a, b) {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function lcm(a, b) {
  return (a / gcd(a, b)) * b;
}

/** The inverse of `a` modulo `m` (extended Euclid); throws when none exists. */
function modInverse(a, m) {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new Error('no modular inverse');
  return ((oldS % m) + m) % m;
}

function toBigInt(buffer) {
  return BigInt(`0x${buffer.toString('hex')}`);
}

function toFixedBytes(value, length) {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** Big-endian, minimal length, as JWK wants for RSA members. */
function base64urlOf(value) {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
}

/** RFC 7638 thumbprint of the public part, used as `kid`. */
export function jwkThumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Fails start-up rather than serving a JWKS whose key cannot verify its own signatures. */
function assertSignsAndVerifies(jwk, alg) {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const publicKey = createPublicKey(privateKey);
  const message = Buffer.from('terrane key self-check');
  const dsaEncoding = alg === 'ES256' ? 'ieee-p1363' : undefined;
  const signature = sign('sha256', message, { key: privateKey, dsaEncoding });
  if (!verify('sha256', message, { key: publicKey, dsaEncoding }, signature)) {
    throw new Error(`generated ${alg} key fails its own signature check`);
  }
}
