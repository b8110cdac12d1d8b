// Calls to the server's JSON API from inside a signed-in page, so they carry its session
// cookie, and the demo identities the browser tests sign in as.

/** A demo manager (Team A): may move pins and plan Team A's territories. */
export const DEMO_MANAGER = 'manager.a@example.com';

/** A demo rep (Team A's first rep): sees their own accounts only. */
export const DEMO_REP = 'camille.martin@example.com';

/**
 * `fetch(path)` inside the page; returns `{status, body}` with the body parsed as JSON (null if
 * it is not JSON). `options.csrf` adds the x-csrf-token header the server wants on changes.
 */
export function pageFetch(page, path, options = {}) {
  return page.evaluate(async ({ path: p, method, body, csrf }) => {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    if (csrf) {
      headers['x-csrf-token'] = csrf;
    }
    const response = await fetch(p, {
      method: method ?? 'GET',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed };
  }, { path, method: options.method, body: options.body, csrf: options.csrf });
}

/** `pageFetch` that insists on a 2xx answer and returns the parsed body. */
export async function pageJson(page, path, options = {}) {
  const { status, body } = await pageFetch(page, path, options);
  if (status < 200 || status > 299) {
    const method = options.method ?? 'GET';
    throw new Error(`${method} ${path} answered ${status}: ${JSON.stringify(body)}`);
  }
  return body;
}

/** Every account the signed-in user may see, keyed by id (GeoJSON features). */
export async function accountsById(page) {
  const collection = await pageJson(page, '/api/accounts?limit=50000');
  return new Map(collection.features.map((f) => [String(f.properties.id), f]));
}
