// Headless login + consent: the provider's interaction pages, usable with plain HTTP, no script.
//
// GET  /interaction/:uid  shows a form (or, with auto-login and a known login_hint, finishes at once)
// POST /interaction/:uid  login=<email or sub>  signs in AND consents in one step
// POST /interaction/:uid  action=cancel         ends the request with error=access_denied
// Finishing answers 303 to the provider's /auth/:uid, which answers 303 to the client's
// redirect_uri with code and state. Signing in as another account than the provider session's
// ends that session first, so switching users in one cookie jar stays plain HTTP too.

import { escapeHtml, page } from './html.mjs';

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)$/;
const MAX_FORM_BYTES = 16 * 1024;

export function interactionPath(uid) {
  return `/interaction/${uid}`;
}

/**
 * Returns `handle(req, res, pathname)`, which answers and returns true for interaction
 * paths and returns false (without answering) for anything else.
 * `oidcScopes` is the set of scopes the provider recognises; only those are granted.
 */
export function interactionHandler({
  provider, users, autoLogin, oidcScopes, log,
}) {
  async function finish(req, res, details, account) {
    await endSessionOfOtherAccount(details, account);
    const grantId = await grantFor(details, account);
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.sub }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    log(`interaction ${details.uid}: signed in ${account.email} (sub ${account.sub})`);
  }

  // Signing in as someone else than the session's account makes oidc-provider end the old
  // session through a page that submits itself with JavaScript. End it here instead, so the
  // interaction resumes in a fresh session and plain HTTP clients only ever see 303s.
  async function endSessionOfOtherAccount(details, account) {
    const previous = details.session;
    if (!previous?.accountId || previous.accountId === account.sub) return;
    const session = previous.cookie ? await provider.Session.find(previous.cookie) : undefined;
    await session?.destroy();
    delete details.session;
    await details.persist();
    log(`interaction ${details.uid}: ended the session of ${previous.accountId}`);
  }

  // Consent is implied: grant exactly what was asked for, so the consent prompt is satisfied.
  async function grantFor(details, account) {
    const clientId = details.params.client_id;
    let grant;
    if (details.grantId) {
      const existing = await provider.Grant.find(details.grantId);
      if (existing?.accountId === account.sub && existing.clientId === clientId) grant = existing;
    }
    grant ??= new provider.Grant({ accountId: account.sub, clientId });

    const requestedScopes = String(details.params.scope ?? '').split(' ')
      .filter((scope) => oidcScopes.has(scope));
    if (requestedScopes.length) grant.addOIDCScope(requestedScopes.join(' '));

    return grant.save();
  }

  async function onGet(req, res, details) {
    const hinted = users.byLogin(details.params.login_hint);
    if (autoLogin && hinted) {
      await finish(req, res, details, hinted);
      return;
    }
    const error = autoLogin && details.params.login_hint !== undefined
      ? 'login_hint names no account; sign in below'
      : undefined;
    sendForm(res, 200, details, { login: details.params.login_hint, error });
  }

  async function onPost(req, res, details) {
    const form = new URLSearchParams(await readBody(req));
    if (form.get('action') === 'cancel') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
      log(`interaction ${details.uid}: cancelled`);
      return;
    }
    const login = form.get('login') ?? '';
    const account = users.byLogin(login);
    if (!account) {
      log(`interaction ${details.uid}: unknown login refused`);
      sendForm(res, 422, details, { login, error: 'No account with that email' });
      return;
    }
    await finish(req, res, details, account);
  }

  return async function handle(req, res, pathname) {
    const match = INTERACTION_PATH.exec(pathname);
    if (!match) return false;

    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      sendHtml(res, 405, page('Method not allowed', ''));
      return true;
    }

    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      // Missing, expired or foreign interaction cookie: nothing to resume.
      log(`interaction ${match[1]}: no interaction session (${err.message})`);
      sendHtml(res, 400, page('Sign-in expired', '<p>This sign-in request has expired or its cookie is missing. Start again from the application.</p>'));
      return true;
    }
    if (details.uid !== match[1]) {
      sendHtml(res, 400, page('Sign-in mismatch', '<p>This page does not belong to the current sign-in request.</p>'));
      return true;
    }

    try {
      if (req.method === 'GET') await onGet(req, res, details);
      else await onPost(req, res, details);
    } catch (err) {
      if (err instanceof FormTooLarge) {
        sendHtml(res, 413, page('Form too large', ''));
        return true;
      }
      throw err;
    }
    return true;
  };
}

class FormTooLarge extends Error {}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new FormTooLarge('form body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendForm(res, status, details, { login, error }) {
  const scopes = String(details.params.scope ?? '');
  const body = `
<p>Client <code>${escapeHtml(details.params.client_id)}</code> asks for <code>${escapeHtml(scopes)}</code>.</p>
${error ? `<p role="alert" class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(interactionPath(details.uid))}">
  <label>Email <input type="email" name="login" value="${escapeHtml(login ?? '')}" autofocus required></label>
  <button type="submit" name="action" value="login">Sign in and allow</button>
  <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>`;
  sendHtml(res, status, page('Sign in', body));
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}
