// Who is signed in, against which API: config.json, the provider's session
// (auth.js) or a developer's pasted token, and the one API client every view uses.

import { ApiError, createApi, normaliseBaseUrl } from "./api.js";
import { createAuth, withFreshTokens } from "./auth.js";
import { hasProvider, loadConfig } from "./oauth.js";
import { jwtClaims } from "./dom.js";

const STORAGE = { token: "campaignRunner.token", baseUrl: "campaignRunner.apiBaseUrl" };

function readStorage(key) {
  try {
    return localStorage.getItem(key) ?? "";
  } catch {
    return "";
  }
}

function writeStorage(key, value) {
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // Storage can be unavailable (private mode); the page still works for this visit.
  }
}

export const isUnauthorized = (error) => error instanceof ApiError && error.status === 401;

/** @param {{ onExpired: (error: Error) => void }} options */
export function createAccount({ onExpired }) {
  const state = { config: null, auth: null, token: "", baseUrl: "" };

  // Every call carries the current access token, renewed before it expires (auth.js).
  const api = withFreshTokens(
    createApi({ getBaseUrl: () => state.baseUrl, getToken: () => state.auth?.accessToken() || state.token }),
    {
      signedIn: () => Boolean(state.auth?.signedIn()),
      ensureFresh: () => state.auth.ensureFresh(),
      refresh: () => state.auth.refresh(),
    },
    isUnauthorized,
  );

  const provider = () => hasProvider(state.config);

  function defaultBaseUrl() {
    const configured = normaliseBaseUrl(state.config?.apiUrl ?? "");
    return configured || normaliseBaseUrl(document.querySelector('meta[name="api-base-url"]')?.content ?? "");
  }

  /** config.json, then the provider's answer on this address or this tab's refresh token. True when signed in. */
  async function start() {
    writeStorage(STORAGE.token, ""); // earlier versions kept a pasted token here
    state.config = await loadConfig();
    // A typed API address only counts where the token field (and its address field) is offered.
    const typed = provider() && !state.config.tokenPaste ? "" : readStorage(STORAGE.baseUrl);
    state.baseUrl = normaliseBaseUrl(typed) || defaultBaseUrl();
    if (!provider()) return false;
    state.auth = createAuth({
      config: state.config,
      onChange: (event) => {
        if (event.type === "tokens") state.token = state.auth.accessToken();
        if (event.type === "expired" && !state.auth.signedIn()) onExpired(event.error);
      },
    });
    if ((await state.auth.completeSignIn()) || (await state.auth.resume())) {
      state.token = state.auth.accessToken();
      return true;
    }
    return false;
  }

  /** A pasted token and API address: tried with one call before it counts. */
  async function useToken(token, typedBaseUrl) {
    state.token = token;
    state.baseUrl = normaliseBaseUrl(typedBaseUrl) || defaultBaseUrl();
    try {
      await api.request("GET", "/campaigns", { query: { limit: 1 } });
    } catch (error) {
      state.token = "";
      throw error;
    }
    // The token stays in memory: a reload asks for it again.
    writeStorage(STORAGE.baseUrl, normaliseBaseUrl(typedBaseUrl));
  }

  /** Forget the tokens; with `atProvider`, leave through the provider's logout page too. */
  function signOut({ atProvider = false } = {}) {
    const throughProvider = atProvider && Boolean(state.auth?.signedIn());
    if (state.auth) state.auth.signOut({ redirect: throughProvider });
    writeStorage(STORAGE.baseUrl, "");
    state.token = "";
    state.baseUrl = defaultBaseUrl();
    return throughProvider;
  }

  return {
    api,
    start,
    useToken,
    signOut,
    defaultBaseUrl,
    provider,
    /** Pasting a token is for developers (make token): only without a provider, or when config.json allows it. */
    tokenPaste: () => !provider() || Boolean(state.config?.tokenPaste),
    signInWithProvider: () => state.auth.signIn(),
    signedIn: () => Boolean(state.token || state.auth?.signedIn()),
    baseUrl: () => state.baseUrl,
    typedBaseUrl: () => (state.baseUrl === defaultBaseUrl() ? "" : state.baseUrl),
    who() {
      const claims = (state.auth?.signedIn() && state.auth.claims()) || jwtClaims(state.token);
      return claims?.email || claims?.username || claims?.sub || "token user";
    },
  };
}
