#!/usr/bin/env node
// A real OpenID provider on loopback for Terrane's tests: oidc-provider + one static client.
//
// Prints one JSON line on stdout once listening ({"issuer":...,"port":...}); logs go to stderr.
// See README.md in this folder for flags and the headless login.

import { announce, log } from './lib/stdout.mjs'; // first: claims stdout before oidc-provider loads

import { randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Provider } from 'oidc-provider';

import { OIDC_SCOPES, providerConfiguration } from './lib/configuration.mjs';
import { interactionHandler } from './lib/interactions.mjs';
import { SUPPORTED_ALGS, signingKey } from './lib/keys.mjs';
import { Users } from './lib/users.mjs';

const HOST = '127.0.0.1';
const DEFAULT_USERS = fileURLToPath(new URL('./users.json', import.meta.url));
const SHUTDOWN_GRACE_MS = 2000;

const USAGE = `usage: node provider.mjs --client-id ID --client-secret SECRET --redirect-uri URI [options]

  --port N                      port on ${HOST} (default 0: any free port)
  --client-id ID                the static confidential client's id (required)
  --client-secret SECRET        its secret, for client_secret_basic or client_secret_post (required)
  --redirect-uri URI            a registered redirect URI (required, repeatable)
  --post-logout-redirect-uri U  a registered post-logout redirect URI (repeatable)
  --users FILE                  accounts JSON (default: users.json beside this script)
  --alg RS256|ES256             ID token signing algorithm (default RS256)
  --key-seed N                  derive the signing key from N (decimal); same N, same key.
                                Without it the key is random on every start.
  --auto-login                  finish sign-in at once when login_hint names a known account
  --no-stdin-watch              keep running when stdin closes (by default, if stdin is a
                                pipe or socket, its end means the parent died: exit)
  --help                        this text`;

class UsageError extends Error {}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string', default: '0' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      users: { type: 'string', default: DEFAULT_USERS },
      alg: { type: 'string', default: 'RS256' },
      'key-seed': { type: 'string' },
      'auto-login': { type: 'boolean', default: false },
      'no-stdin-watch': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return { help: true };

  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    throw new UsageError(`--port must be an integer 0..65535, got ${values.port}`);
  }
  for (const required of ['client-id', 'client-secret']) {
    if (!values[required]) throw new UsageError(`--${required} is required`);
  }
  const redirectUris = values['redirect-uri'] ?? [];
  if (redirectUris.length === 0) throw new UsageError('at least one --redirect-uri is required');
  const postLogoutRedirectUris = values['post-logout-redirect-uri'] ?? [];
  for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
    if (!URL.canParse(uri)) throw new UsageError(`not an absolute URL: ${uri}`);
  }
  if (!SUPPORTED_ALGS.includes(values.alg)) {
    throw new UsageError(`--alg must be one of ${SUPPORTED_ALGS.join(', ')}`);
  }
  const keySeed = values['key-seed'];
  if (keySeed !== undefined && !/^\d+$/.test(keySeed)) {
    throw new UsageError(`--key-seed must be a non-negative decimal integer, got ${keySeed}`);
  }

  return {
    port,
    client: {
      id: values['client-id'],
      secret: values['client-secret'],
      redirectUris,
      postLogoutRedirectUris,
    },
    usersFile: values.users,
    alg: values.alg,
    keySeed,
    autoLogin: values['auto-login'],
    watchStdin: !values['no-stdin-watch'],
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/** Request log without query strings: they carry codes, states and challenges. */
function logRequests(req, res) {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const path = (req.url ?? '').split('?')[0];
    log(`${req.method} ${path} -> ${res.statusCode} (${ms.toFixed(1)} ms)`);
  });
}

function logProviderEvents(provider) {
  provider.on('server_error', (_ctx, err) => log(`server_error: ${err.stack ?? err}`));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
    provider.on(event, (_ctx, err) => log(`${event}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`));
  }
}

// A pipe or socket on stdin comes from a parent process; its end means the parent is gone.
// A terminal or /dev/null never signals that, so it is not watched.
function stdinIsFromParent() {
  try {
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

function installShutdown(server, watchStdin) {
  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (watchStdin && stdinIsFromParent()) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume(); // discard input; only its end matters
  }
}

async function main() {
  let options;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }

  const users = Users.fromFile(options.usersFile);
  const signingJwk = signingKey(options.alg, options.keySeed);

  // The issuer names the port, so bind first; nothing is announced until the provider exists.
  let dispatch = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => dispatch(req, res));
  const port = await listen(server, options.port);
  const issuer = `http://${HOST}:${port}`;

  const provider = new Provider(issuer, providerConfiguration({
    client: options.client,
    users,
    signingJwk,
    alg: options.alg,
    cookieKeys: [randomBytes(32).toString('base64url')],
  }));
  logProviderEvents(provider);
  // Static clients are checked on first use; check now so bad flags fail at start-up.
  if (!await provider.Client.find(options.client.id)) {
    throw new Error(`client ${options.client.id} was not registered`);
  }
  const oidcCallback = provider.callback();
  const interactions = interactionHandler({
    provider, users, autoLogin: options.autoLogin, oidcScopes: OIDC_SCOPES, log,
  });

  dispatch = async (req, res) => {
    logRequests(req, res);
    try {
      const pathname = new URL(req.url ?? '/', issuer).pathname;
      if (await interactions(req, res, pathname)) return;
      oidcCallback(req, res);
    } catch (err) {
      log(`unhandled error for ${req.method} ${(req.url ?? '').split('?')[0]}: ${err.stack ?? err}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
    }
  };

  installShutdown(server, options.watchStdin);
  log(`issuer ${issuer}; client ${options.client.id}; ${users.size} users from ${options.usersFile}; `
    + `${options.alg} key ${signingJwk.kid} (${options.keySeed === undefined ? 'random' : `seed ${options.keySeed}`})`
    + `${options.autoLogin ? '; auto-login on' : ''}`);
  announce({ issuer, port });
}

main().catch((err) => {
  const detail = err.error_description ? ` (${err.error_description})` : '';
  log(`failed to start${detail}: ${err.stack ?? err}`);
  process.exit(1);
});
