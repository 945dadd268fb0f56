// Sign-in: the OAuth 2.0 authorization-code flow with PKCE (S256) against the
// identity provider named in config.json (Cognito's hosted UI in AWS, the local
// stack's development sign-in under `make dev`).
//
// Tokens live in memory only. The refresh token is kept in sessionStorage (this
// tab, until it closes) so a reload can get a new access token without signing in
// again; the PKCE verifier and state wait there during the redirect. The access
// token is renewed before it expires, and once more when the API answers 401.

import {
  absolute,
  authorizeUrl,
  logoutUrl,
  parseCallback,
  pkceChallenge,
  randomString,
  redirectUriFor,
  refreshDelayMs,
  tokenClaims,
  withoutCallbackParams,
} from "./oauth.js";

const KEYS = { refresh: "campaignRunner.refreshToken", pending: "campaignRunner.pendingSignIn" };
const PENDING_MAX_AGE_MS = 10 * 60 * 1000;

export class AuthError extends Error {
  /** @param {boolean} [refused] the provider answered and said no (not a network failure) */
  constructor(message, refused = false) {
    super(message);
    this.name = "AuthError";
    this.refused = refused;
  }
}

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function safely(action) {
  try {
    return action();
  } catch {
    return undefined; // storage can be unavailable (private mode): the sign-in lasts this page only
  }
}

/**
 * @param {{ config: object, storage?: Storage, location?: Location, history?: History,
 *           fetchImpl?: typeof fetch, now?: () => number, onChange?: (event: object) => void }} options
 */
export function createAuth({
  config,
  storage = globalThis.sessionStorage,
  location = globalThis.location,
  history = globalThis.history,
  fetchImpl = (...args) => fetch(...args),
  now = () => Date.now(),
  onChange = () => {},
}) {
  const session = { accessToken: "", idToken: "", expiresAt: 0, timer: null };
  let refreshing = null;
  const redirectUri = () => redirectUriFor(location.href);

  async function tokenRequest(fields) {
    const body = new URLSearchParams({ client_id: config.clientId, ...fields });
    let response;
    try {
      response = await fetchImpl(absolute(config.tokenUrl, location.href), {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: body.toString(),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new AuthError("Could not reach the sign-in service (network error).");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const reason = data?.error_description || data?.error || `status ${response.status}`;
      // 4xx: the grant itself was refused. 5xx: the service failed; the grant may be good.
      throw new AuthError(`The sign-in service refused: ${reason}.`, response.status < 500);
    }
    if (!data?.access_token) {
      // An answer cut off (the page unloading, the network) says nothing about the grant.
      throw new AuthError("The sign-in service's answer could not be read.");
    }
    return data;
  }

  function accept(tokens) {
    session.accessToken = tokens.access_token;
    if (tokens.id_token) session.idToken = tokens.id_token;
    const expiresIn = Number(tokens.expires_in) || 3600;
    session.expiresAt = now() + expiresIn * 1000;
    if (tokens.refresh_token) safely(() => storage.setItem(KEYS.refresh, tokens.refresh_token));
    clearTimeout(session.timer);
    session.timer = setTimeout(() => {
      refresh().catch((error) => onChange({ type: "expired", error }));
    }, refreshDelayMs(expiresIn));
    onChange({ type: "tokens" });
  }

  function forget() {
    clearTimeout(session.timer);
    session.timer = null;
    session.accessToken = "";
    session.idToken = "";
    session.expiresAt = 0;
    safely(() => storage.removeItem(KEYS.refresh));
  }

  /** Off to the provider's sign-in page. */
  async function signIn({ loginHint } = {}) {
    const verifier = randomString(32);
    const state = randomString(16);
    const pending = { verifier, state, redirectUri: redirectUri(), createdAt: now() };
    safely(() => storage.setItem(KEYS.pending, JSON.stringify(pending)));
    const challenge = await pkceChallenge(verifier);
    location.assign(authorizeUrl(config, { redirectUri: pending.redirectUri, state, challenge, loginHint }));
  }

  /**
   * Finish a sign-in when this page is the provider's redirect: the state must be the one
   * this tab sent, then the code is exchanged with the verifier. True when signed in;
   * false when the address carries no answer; AuthError otherwise.
   */
  async function completeSignIn() {
    const callback = parseCallback(location.href);
    if (!callback) return false;
    const pending = readJson(storage, KEYS.pending);
    safely(() => storage.removeItem(KEYS.pending));
    history.replaceState(null, "", withoutCallbackParams(location.href));
    if (!pending || !pending.state || pending.state !== callback.state) {
      throw new AuthError("The sign-in answer does not match the request this page made. Sign in again.");
    }
    if (now() - Number(pending.createdAt) > PENDING_MAX_AGE_MS) {
      throw new AuthError("The sign-in took too long. Sign in again.");
    }
    if (callback.error) {
      throw new AuthError(`Sign-in failed: ${callback.errorDescription || callback.error}.`);
    }
    accept(
      await tokenRequest({
        grant_type: "authorization_code",
        code: callback.code,
        redirect_uri: pending.redirectUri,
        code_verifier: pending.verifier,
      }),
    );
    return true;
  }

  /** A new access token from the refresh token; one request at a time. */
  function refresh() {
    if (!refreshing) {
      const token = safely(() => storage.getItem(KEYS.refresh));
      if (!token) return Promise.reject(new AuthError("Not signed in.", true));
      refreshing = tokenRequest({ grant_type: "refresh_token", refresh_token: token })
        .then(accept, (error) => {
          // A refused refresh token is gone; after a network failure (or a request the
          // page cut off by unloading) it is kept for the next try.
          if (error.refused) forget();
          throw error;
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  /** After a reload: signed in again from this tab's refresh token, if it has one. */
  async function resume() {
    if (!safely(() => storage.getItem(KEYS.refresh))) return false;
    try {
      await refresh();
      return true;
    } catch {
      return false;
    }
  }

  /** Renew now when the token is (nearly) expired: after a sleeping laptop or a hidden tab. */
  async function ensureFresh() {
    if (session.accessToken && now() < session.expiresAt - 5000) return;
    await refresh();
  }

  /** Forget the tokens and leave through the provider's logout, which comes back to this page. */
  function signOut({ redirect = true } = {}) {
    forget();
    safely(() => storage.removeItem(KEYS.pending));
    const target = logoutUrl(config, { redirectUri: redirectUri() });
    if (redirect && target) location.assign(target);
    return target;
  }

  return {
    signIn,
    completeSignIn,
    resume,
    refresh,
    ensureFresh,
    signOut,
    accessToken: () => session.accessToken,
    signedIn: () => Boolean(session.accessToken),
    /** The signed-in user's claims: the ID token's (email), else the access token's. */
    claims: () => tokenClaims(session.idToken) ?? tokenClaims(session.accessToken),
  };
}

/**
 * The API client's methods with a fresh token: renewed first when it is about to
 * expire, and once more (then the call retried) when the API still answers 401.
 */
export function withFreshTokens(api, auth, isUnauthorized) {
  const wrapped = {};
  for (const [name, method] of Object.entries(api)) {
    if (typeof method !== "function") {
      wrapped[name] = method;
      continue;
    }
    wrapped[name] = async (...args) => {
      if (!auth.signedIn()) return method(...args);
      await auth.ensureFresh().catch(() => {});
      try {
        return await method(...args);
      } catch (error) {
        if (!isUnauthorized(error) || !auth.signedIn()) throw error;
        try {
          await auth.refresh();
        } catch (refreshError) {
          // Refused: the 401 stands and the page signs out. Unreachable (offline, or the
          // page unloading): that error instead, and the session is kept for the next try.
          throw refreshError?.refused === false ? refreshError : error;
        }
        return method(...args);
      }
    };
  }
  return wrapped;
}
