// JSON calls to Terrane's API from a page: the CSRF header, and errors as messages users read.

/** A caller of the API with this page's CSRF token. */
export function apiClient(csrf) {
  return async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body ? { 'Content-Type': 'application/json' } : {}),
        'x-csrf-token': csrf,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(json?.error?.message ?? `the server answered ${response.status}`);
    }
    return json;
  };
}
