import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { createAuth, withFreshTokens } from "../auth.js";
import {
  authorizeUrl,
  base64UrlEncode,
  hasProvider,
  logoutUrl,
  parseCallback,
  pkceChallenge,
  randomString,
  redirectUriFor,
  refreshDelayMs,
  tokenClaims,
  withoutCallbackParams,
} from "../oauth.js";

const CONFIG = {
  apiUrl: "https://api.example.com",
  clientId: "client-1",
  authorizeUrl: "https://auth.example.com/oauth2/authorize",
  tokenUrl: "https://auth.example.com/oauth2/token",
  logoutUrl: "https://auth.example.com/logout",
};

function memoryStorage() {
  const data = new Map();
  return {
    getItem: (key) => (data.has(key) ? data.get(key) : null),
    setItem: (key, value) => data.set(key, String(value)),
    removeItem: (key) => data.delete(key),
    data,
  };
}

function fakeLocation(href) {
  const location = { href, assigned: [], assign: (url) => location.assigned.push(url) };
  return location;
}

function fakeHistory(location) {
  return { replaceState: (_state, _title, url) => (location.href = new URL(url, location.href).href) };
}

function jwtWith(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.sig`;
}

function tokenEndpoint(answers) {
  const calls = [];
  const fetchImpl = async (url, options) => {
    calls.push({ url, form: Object.fromEntries(new URLSearchParams(options.body)) });
    const [status, body] = answers.shift();
    return { ok: status === 200, status, json: async () => body };
  };
  return { calls, fetchImpl };
}

test("PKCE challenge is base64url(sha256(verifier)) without padding", async () => {
  for (const verifier of ["abc", randomString(32), randomString(96)]) {
    assert.equal(await pkceChallenge(verifier), createHash("sha256").update(verifier).digest("base64url"));
  }
  assert.match(randomString(32), /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(randomString(), randomString());
  assert.equal(base64UrlEncode(new Uint8Array([251, 255])), "-_8");
});

test("authorize and logout addresses carry what Cognito expects", () => {
  const url = new URL(
    authorizeUrl(CONFIG, { redirectUri: "https://d.example/", state: "s1", challenge: "c1", loginHint: "ana" }),
  );
  assert.equal(url.origin + url.pathname, CONFIG.authorizeUrl);
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    response_type: "code",
    client_id: "client-1",
    redirect_uri: "https://d.example/",
    scope: "openid email profile",
    state: "s1",
    code_challenge: "c1",
    code_challenge_method: "S256",
    login_hint: "ana",
  });
  const out = new URL(logoutUrl(CONFIG, { redirectUri: "https://d.example/" }));
  assert.equal(out.searchParams.get("logout_uri"), "https://d.example/");
  assert.equal(out.searchParams.get("client_id"), "client-1");
  assert.equal(logoutUrl({ ...CONFIG, logoutUrl: "" }, { redirectUri: "https://d.example/" }), "");
  // Relative endpoints (the local stack's) resolve against the page.
  const local = { ...CONFIG, authorizeUrl: "/local-auth/authorize" };
  assert.ok(authorizeUrl(local, { redirectUri: "http://127.0.0.1:3000/", state: "s", challenge: "c" })
    .startsWith("http://127.0.0.1:3000/local-auth/authorize?"));
});

test("callback parsing, cleaning and the page's redirect URI", () => {
  assert.deepEqual(parseCallback("https://d.example/?code=abc&state=xyz"), {
    code: "abc", state: "xyz", error: null, errorDescription: null,
  });
  assert.equal(parseCallback("https://d.example/?state=xyz&error=access_denied").error, "access_denied");
  assert.equal(parseCallback("https://d.example/"), null);
  assert.equal(parseCallback("https://d.example/?code=abc"), null);
  assert.equal(withoutCallbackParams("https://d.example/?view=1&code=a&state=b#top"), "/?view=1#top");
  assert.equal(redirectUriFor("https://d.example/index.html?x=1"), "https://d.example/");
  assert.equal(redirectUriFor("http://127.0.0.1:3000/"), "http://127.0.0.1:3000/");
});

test("tokens are renewed a minute early, or at 80 % of a short life", () => {
  assert.equal(refreshDelayMs(3600), 3540000);
  assert.equal(refreshDelayMs(5), 4000);
  assert.equal(refreshDelayMs(0), 1000);
  assert.ok(hasProvider(CONFIG));
  assert.ok(!hasProvider({ apiUrl: "x" }));
  assert.ok(!hasProvider(null));
  assert.equal(tokenClaims(jwtWith({ sub: "ana", email: "ana@example.com" })).email, "ana@example.com");
  assert.equal(tokenClaims("garbage"), null);
});

test("sign-in sends a PKCE challenge and a state, and the callback exchanges the code with the verifier", async () => {
  const storage = memoryStorage();
  const location = fakeLocation("https://d.example/");
  const { calls, fetchImpl } = tokenEndpoint([
    [200, { access_token: jwtWith({ sub: "ana" }), id_token: jwtWith({ sub: "ana", email: "a@x" }), refresh_token: "r1", expires_in: 3600 }],
  ]);
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });
  await auth.signIn();
  const sent = new URL(location.assigned[0]);
  const pending = JSON.parse(storage.getItem("campaignRunner.pendingSignIn"));
  assert.equal(sent.searchParams.get("state"), pending.state);
  assert.equal(sent.searchParams.get("code_challenge"), await pkceChallenge(pending.verifier));

  location.href = `https://d.example/?code=the-code&state=${pending.state}`;
  assert.equal(await auth.completeSignIn(), true);

  assert.deepEqual(calls[0].form, {
    client_id: "client-1",
    grant_type: "authorization_code",
    code: "the-code",
    redirect_uri: "https://d.example/",
    code_verifier: pending.verifier,
  });
  assert.equal(location.href, "https://d.example/");
  assert.ok(auth.signedIn());
  assert.equal(auth.claims().email, "a@x");
  // Only the refresh token is stored, and only in sessionStorage; the verifier is gone.
  assert.deepEqual([...storage.data.keys()], ["campaignRunner.refreshToken"]);
  auth.signOut({ redirect: false });
});

test("a callback whose state this tab did not send is refused without a token request", async () => {
  const storage = memoryStorage();
  const location = fakeLocation("https://d.example/");
  const { calls, fetchImpl } = tokenEndpoint([]);
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });
  await auth.signIn();
  location.href = "https://d.example/?code=stolen&state=forged";

  await assert.rejects(auth.completeSignIn(), /does not match/);
  assert.equal(calls.length, 0);
  assert.ok(!auth.signedIn());
  assert.equal(location.href, "https://d.example/");
});

test("a 401 renews the token once and retries; concurrent calls share one refresh", async () => {
  const storage = memoryStorage();
  storage.setItem("campaignRunner.refreshToken", "r0");
  const location = fakeLocation("https://d.example/");
  const { calls, fetchImpl } = tokenEndpoint([
    [200, { access_token: "a1", refresh_token: "r1", expires_in: 3600 }],
    [200, { access_token: "a2", expires_in: 3600 }],
  ]);
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });
  assert.equal(await auth.resume(), true);
  assert.equal(auth.accessToken(), "a1");

  const seen = [];
  const unauthorized = Object.assign(new Error("401"), { status: 401 });
  const api = withFreshTokens(
    {
      get: async () => {
        seen.push(auth.accessToken());
        if (auth.accessToken() === "a1") throw unauthorized;
        return "ok";
      },
    },
    auth,
    (error) => error.status === 401,
  );
  assert.deepEqual(await Promise.all([api.get(), api.get()]), ["ok", "ok"]);
  assert.equal(calls.length, 2);
  assert.equal(calls[1].form.refresh_token, "r1");
  // Cognito sends no new refresh token on refresh: the old one is kept.
  assert.equal(storage.getItem("campaignRunner.refreshToken"), "r1");
  assert.deepEqual(seen.slice(-2), ["a2", "a2"]);
  auth.signOut({ redirect: false });
  assert.equal(storage.getItem("campaignRunner.refreshToken"), null);
});

test("a refused refresh signs out and the original 401 reaches the page", async () => {
  const storage = memoryStorage();
  storage.setItem("campaignRunner.refreshToken", "r0");
  const location = fakeLocation("https://d.example/");
  const { fetchImpl } = tokenEndpoint([
    [200, { access_token: "a1", expires_in: 3600 }],
    [400, { error: "invalid_grant" }],
  ]);
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });
  await auth.resume();
  const unauthorized = Object.assign(new Error("401"), { status: 401 });
  const api = withFreshTokens({ get: async () => { throw unauthorized; } }, auth, (e) => e.status === 401);

  await assert.rejects(api.get(), (error) => error === unauthorized);
  assert.ok(!auth.signedIn());
  assert.equal(storage.getItem("campaignRunner.refreshToken"), null);
  assert.equal(auth.signOut(), "https://auth.example.com/logout?client_id=client-1&logout_uri=https%3A%2F%2Fd.example%2F");
  assert.equal(location.assigned.at(-1), auth.signOut({ redirect: false }));
});

test("a refresh that fails on the network keeps the refresh token for the next try", async () => {
  const storage = memoryStorage();
  storage.setItem("campaignRunner.refreshToken", "r0");
  const location = fakeLocation("https://d.example/");
  let calls = 0;
  const fetchImpl = async () => {
    calls += 1;
    if (calls === 1) throw new TypeError("Failed to fetch");
    return { ok: true, status: 200, json: async () => ({ access_token: "a1", expires_in: 3600 }) };
  };
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });

  await assert.rejects(auth.refresh(), (error) => error.name === "AuthError" && !error.refused);
  assert.equal(storage.getItem("campaignRunner.refreshToken"), "r0");
  assert.equal(await auth.resume(), true);
  assert.equal(auth.accessToken(), "a1");
  auth.signOut({ redirect: false });
});

test("a 401 while the sign-in service cannot be reached keeps the session", async () => {
  const storage = memoryStorage();
  storage.setItem("campaignRunner.refreshToken", "r0");
  const location = fakeLocation("https://d.example/");
  let calls = 0;
  const fetchImpl = async () => {
    calls += 1;
    if (calls === 1) return { ok: true, status: 200, json: async () => ({ access_token: "a1", expires_in: 3600 }) };
    throw new TypeError("Failed to fetch");
  };
  const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });
  await auth.resume();
  const unauthorized = Object.assign(new Error("401"), { status: 401 });
  const api = withFreshTokens({ get: async () => { throw unauthorized; } }, auth, (e) => e.status === 401);

  await assert.rejects(api.get(), (error) => error.name === "AuthError" && error.refused === false);
  assert.equal(storage.getItem("campaignRunner.refreshToken"), "r0");
  assert.ok(auth.signedIn());
  auth.signOut({ redirect: false });
});

test("only a 4xx answer counts as a refused grant", async () => {
  for (const [status, body, refused] of [
    [400, { error: "invalid_grant" }, true],
    [503, null, false],
    [200, null, false],
  ]) {
    const storage = memoryStorage();
    storage.setItem("campaignRunner.refreshToken", "r0");
    const location = fakeLocation("https://d.example/");
    const fetchImpl = async () => ({
      ok: status === 200,
      status,
      json: async () => {
        if (body === null) throw new SyntaxError("Unexpected end of JSON input");
        return body;
      },
    });
    const auth = createAuth({ config: CONFIG, storage, location, history: fakeHistory(location), fetchImpl });

    await assert.rejects(auth.refresh(), (error) => error.refused === refused);
    assert.equal(storage.getItem("campaignRunner.refreshToken"), refused ? null : "r0", `status ${status}`);
  }
});
