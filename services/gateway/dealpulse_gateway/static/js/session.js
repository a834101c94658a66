// Who is signed in: the token (from #token=… once, then this tab's sessionStorage), its claims, and the REST calls
// made with it. A 401 from any call signs the page out.

const TOKEN_KEY = "dealpulse.token";
const WHOLE_TENANT_ROLES = new Set(["manager", "admin"]);

const listeners = { signedOut: [] };

export const session = { token: null, claims: null };

export const hashParams = () => new URLSearchParams(location.hash.slice(1));

export function readToken() {
  const params = hashParams();
  const fromUrl = params.get("token");
  if (fromUrl) {
    // Kept for reloads of this tab, but out of the address bar (and out of anything the URL is pasted into);
    // a deal it was opened on (#token=…&deal=ID) stays.
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signInWith(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  session.token = token;
  session.claims = tokenClaims(token);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.claims = null;
  for (const listener of listeners.signedOut) listener();
}

export const onSignedOut = (listener) => listeners.signedOut.push(listener);

// Managers and admins may override verdicts; the server checks again, this only decides what the page offers.
export const canOverride = () => WHOLE_TENANT_ROLES.has(session.claims?.role);

function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// A JSON call with the bearer token; a problem answer (RFC 9457) becomes an ApiError carrying its detail.
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) signOut();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return response.status === 204 ? null : response.json();
}
