// oidc-provider configuration for Terrane's test provider: one static confidential client.

import { interactionPolicy } from 'oidc-provider';

import { escapeHtml, page } from './html.mjs';
import { interactionPath } from './interactions.mjs';

/** Scopes with claims (email, profile) plus the provider's own (openid, offline_access). */
const CLAIMS_BY_SCOPE = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
};
const PLAIN_SCOPES = ['openid', 'offline_access'];

export const OIDC_SCOPES = new Set([...PLAIN_SCOPES, ...Object.keys(CLAIMS_BY_SCOPE)]);

/** Lifetimes in seconds: short, since a test run is short. */
const TTL_S = {
  AccessToken: 10 * 60,
  AuthorizationCode: 60,
  IdToken: 10 * 60,
  Interaction: 10 * 60,
  Session: 60 * 60,
  Grant: 60 * 60,
  RefreshToken: 24 * 60 * 60,
};

/**
 * `client`: { id, secret, redirectUris, postLogoutRedirectUris }; `users`: a Users;
 * `signingJwk`: private JWK; `alg`: its JWS alg; `cookieKeys`: secrets for signed cookies.
 */
export function providerConfiguration({
  client, users, signingJwk, alg, cookieKeys,
}) {
  return {
    clients: [{
      client_id: client.id,
      client_secret: client.secret,
      redirect_uris: client.redirectUris,
      post_logout_redirect_uris: client.postLogoutRedirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // The provider accepts client_secret_post as well for a client registered with _basic.
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    }],
    jwks: { keys: [signingJwk] },
    enabledJWA: { idTokenSigningAlgValues: [alg] },
    responseTypes: ['code'],
    pkce: { required: () => true }, // oidc-provider 9 knows only S256
    scopes: PLAIN_SCOPES,
    claims: CLAIMS_BY_SCOPE,
    // Put email and profile claims in the ID token even though an access token is issued too
    // (as Google and Entra ID do), so the relying party needs no userinfo call.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => {
      const account = users.bySub(sub);
      if (!account) return undefined;
      return { accountId: account.sub, claims: async () => ({ ...account }) };
    },
    interactions: {
      url: async (_ctx, interaction) => interactionPath(interaction.uid),
      policy: policyFor(users),
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    cookies: { keys: cookieKeys },
    ttl: TTL_S,
    clientBasedCORS: () => false,
    renderError,
  };
}

/**
 * The default login + consent prompts, plus one check: a login_hint naming another account
 * than the signed-in one asks for login again, so one cookie jar can switch users.
 */
function policyFor(users) {
  const { Check, base } = interactionPolicy;
  const policy = base();
  policy.get('login').checks.add(new Check(
    'login_hint_other_account',
    'login_hint names another End-User than the signed-in one',
    'login_required',
    (ctx) => {
      const signedIn = ctx.oidc.session.accountId;
      const hinted = users.byLogin(ctx.oidc.params.login_hint);
      if (signedIn && hinted && hinted.sub !== signedIn) return Check.REQUEST_PROMPT;
      return Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}

// `out` holds only error and error_description, never internals.
async function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(value)}</dd>`)
    .join('');
  ctx.body = page('Sign-in error', `<dl>${rows}</dl>`);
}

// `form` is the provider's hidden form (with its xsrf field); the button submits logout=yes.
async function logoutSource(ctx, form) {
  ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p>You are signed out.</p>');
}
