// The node's HTTP APIs, read from the page's own origin. A token, when the
// user gave one, is kept in sessionStorage (this tab only) and sent as a
// Bearer token on every request, so the dashboard also works on a node that
// refuses anonymous reads.

const TOKEN_KEY = "commons.token";

export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

export class ApiError extends Error {
  constructor(status, message, path) {
    super(`${path}: ${message} (HTTP ${status})`);
    this.status = status;
    this.path = path;
  }
}

/** Throws an ApiError carrying the API's own `error` message. */
export async function check(response, path) {
  if (response.ok) return response;
  let message = response.statusText;
  try {
    const body = await response.json();
    message = (body.error && (body.error.message || body.error)) || message;
  } catch {
    // Not JSON: keep the status text.
  }
  throw new ApiError(response.status, String(message), path);
}

export async function getJson(path, { signal } = {}) {
  const response = await fetch(path, { headers: headers(), signal });
  await check(response, path);
  return response.json();
}

/** `{ value }` or `{ error }`: one optional section of a page fails alone. */
export async function settle(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

/** A model reference in a path: each segment escaped, the slashes of `org/name` kept. */
export function pathName(ref) {
  return ref.split("/").map(encodeURIComponent).join("/");
}

export const api = {
  models: () => getJson("/commons/v1/models"),
  model: (ref) => getJson(`/commons/v1/models/${pathName(ref)}`),
  provenance: (ref) => getJson(`/commons/v1/provenance/${pathName(ref)}`),
  evaluations: (ref) => getJson(`/commons/v1/evaluations/${pathName(ref)}`),
  health: () => getJson("/commons/v1/health"),
  audit: () => getJson("/commons/v1/audit"),
  quarantine: () => getJson("/commons/v1/quarantine"),
  proposals: () => getJson("/commons/v1/proposals"),
  policy: () => getJson("/commons/v1/policy"),
  tags: () => getJson("/api/tags"),
  status: () => getJson("/commons/v1/status"),
  version: () => getJson("/api/version"),
};
