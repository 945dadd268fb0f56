// The OAuth 2.0 pieces of sign-in that need no state: config.json, PKCE (S256),
// the provider's addresses, token lifetimes and claims, and the provider's answer
// on this page's address. auth.js keeps the session that uses them.

const EARLY_REFRESH_MAX_MS = 60 * 1000;
const MIN_REFRESH_DELAY_MS = 1000;

/** config.json beside the page, or null when there is none (any static host, no sign-in set up). */
export async function loadConfig(fetchImpl = fetch, url = "config.json") {
  let response;
  try {
    response = await fetchImpl(url, { cache: "no-store", credentials: "omit" });
  } catch {
    return null;
  }
  if (!response.ok) return null;
  try {
    const config = await response.json();
    return config && typeof config === "object" ? config : null;
  } catch {
    return null;
  }
}

/** Does the config describe a provider to sign in with? */
export function hasProvider(config) {
  return Boolean(config?.clientId && config?.authorizeUrl && config?.tokenUrl);
}

export function base64UrlEncode(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random URL-safe string (32 bytes: a 43-character PKCE verifier). */
export function randomString(byteCount = 32) {
  return base64UrlEncode(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/** The S256 code challenge of a verifier. */
export async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64UrlEncode(new Uint8Array(digest));
}

export function absolute(url, base) {
  return new URL(url, base).href;
}

export function authorizeUrl(config, { redirectUri, state, challenge, loginHint, base }) {
  const url = new URL(absolute(config.authorizeUrl, base ?? redirectUri));
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("scope", config.scope || "openid email profile");
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", challenge);
  url.searchParams.set("code_challenge_method", "S256");
  if (loginHint) url.searchParams.set("login_hint", loginHint);
  return url.href;
}

/** The provider's sign-out address (Cognito's shape: client_id and logout_uri), or "" when it has none. */
export function logoutUrl(config, { redirectUri, base }) {
  if (!config?.logoutUrl) return "";
  const url = new URL(absolute(config.logoutUrl, base ?? redirectUri));
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("logout_uri", redirectUri);
  return url.href;
}

/** When to renew a token that lives `expiresInSeconds`: a minute early, or at 80 % of a short life. */
export function refreshDelayMs(expiresInSeconds) {
  const lifetime = Math.max(0, Number(expiresInSeconds) || 0) * 1000;
  const early = Math.min(EARLY_REFRESH_MAX_MS, lifetime / 5);
  return Math.max(MIN_REFRESH_DELAY_MS, lifetime - early);
}

/** The payload of a JWT, unverified (the API verifies; the page only shows who is signed in). */
export function tokenClaims(token) {
  try {
    const payload = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      [...atob(payload)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The code and state the provider sent back on this page's address, if any. */
export function parseCallback(href) {
  const url = new URL(href);
  const params = url.searchParams;
  if (!params.has("state") || !(params.has("code") || params.has("error"))) return null;
  return {
    code: params.get("code"),
    state: params.get("state"),
    error: params.get("error"),
    errorDescription: params.get("error_description"),
  };
}

/** This page's address without the provider's parameters, for history.replaceState. */
export function withoutCallbackParams(href) {
  const url = new URL(href);
  for (const name of ["code", "state", "error", "error_description", "session_state", "iss"]) {
    url.searchParams.delete(name);
  }
  return url.pathname + (url.search || "") + url.hash;
}

/** The redirect URI of a page: its directory (https://dashboard.example/ for /index.html too). */
export function redirectUriFor(href) {
  const url = new URL("./", href);
  return url.origin + url.pathname;
}
