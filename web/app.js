// The dashboard's shell: sign-in or the signed-in views, one at a time, chosen by
// the address's hash (router.js). Each view is a module that renders itself into
// the page and owns its state and its calls; the shell only gives it the API
// client and the page's banner, and unmounts it when another view is chosen.

import { createAccount, isUnauthorized } from "./account.js";
import { errorText } from "./api.js";
import { byId, h, replaceChildren } from "./dom.js";
import { NAV, parseRoute } from "./router.js";

const NOTICE_MS = 8000;
const TITLE = "WhatsApp campaigns";

const shell = {
  view: null, // { route, handle } of the mounted view
  signin: null, // the sign-in view's handle while it shows
  seq: 0, // bumped on every navigation: a view module that loads late is not mounted
  errorSource: null,
  noticeTimer: null,
};

const account = createAccount({
  onExpired: (error) => {
    if (!byId("dashboard").hidden) endSession(`Your session ended: ${errorText(error)} Sign in again.`);
  },
});

// ---------------------------------------------------------------- messages

function showError(message, source = "general") {
  shell.errorSource = source;
  byId("error-message").textContent = message;
  byId("error-banner").hidden = false;
}

/** Clear the banner; with a source, only when the banner still shows that source's error. */
function clearError(source) {
  if (source && shell.errorSource !== source) return;
  shell.errorSource = null;
  byId("error-banner").hidden = true;
  byId("error-message").textContent = "";
}

function notify(message) {
  const notice = byId("notice");
  notice.textContent = message;
  clearTimeout(shell.noticeTimer);
  shell.noticeTimer = setTimeout(() => {
    notice.textContent = "";
  }, NOTICE_MS);
}

/** A 401 on any call: the session is gone, so back to the sign-in. True when it was that. */
function onUnauthorized(error) {
  if (!isUnauthorized(error) || !account.signedIn()) return false;
  endSession(`Your session ended: ${errorText(error)} Sign in again.`);
  return true;
}

// ---------------------------------------------------------------- views

function context(route) {
  return { api: account.api, navigate, notify, showError, clearError, onUnauthorized, params: route.params };
}

function unmountView() {
  const mounted = shell.view;
  shell.view = null;
  try {
    mounted?.handle?.unmount();
  } catch (error) {
    console.warn("A view failed to unmount", error);
  }
  replaceChildren(byId("view"));
}

function markNav(route) {
  for (const link of byId("nav").querySelectorAll("a[data-nav]")) {
    if (link.dataset.nav === route.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${route.title} · ${TITLE}`;
}

function notFound(container, path) {
  replaceChildren(
    container,
    h(
      "section",
      { class: "card", "data-testid": "notfound-view", "aria-labelledby": "notfound-heading" },
      h("h2", { id: "notfound-heading", tabindex: "-1" }, "No such page"),
      h("p", {}, `There is nothing at “${path}”. `, h("a", { href: "#/campaigns" }, "See your campaigns"), "."),
    ),
  );
}

async function showRoute(route, { focus = true } = {}) {
  const seq = ++shell.seq;
  unmountView();
  clearError();
  markNav(route);
  const container = byId("view");
  if (!route.module) {
    notFound(container, route.params.path);
  } else {
    let module;
    try {
      module = await import(route.module);
    } catch (error) {
      if (seq !== shell.seq) return;
      showError(`The ${route.title} page could not be loaded: ${errorText(error)}`, "route");
      return;
    }
    if (seq !== shell.seq || !account.signedIn()) return;
    shell.view = { route, handle: module.mount(container, context(route)) };
  }
  if (focus) (container.querySelector("h2[tabindex]") ?? byId("main")).focus();
}

/** Go to a view: `navigate("#/campaigns/<id>")`. The same address again shows it afresh. */
function navigate(hash) {
  if (window.location.hash === hash) {
    const route = parseRoute(hash);
    if (route) showRoute(route);
  } else {
    window.location.hash = hash;
  }
}

function onHashChange() {
  const route = parseRoute(window.location.hash);
  if (route && account.signedIn() && !byId("dashboard").hidden) showRoute(route);
}

// ---------------------------------------------------------------- signed in or not

async function showSignIn() {
  shell.seq += 1;
  unmountView();
  byId("dashboard").hidden = true;
  byId("account").hidden = true;
  byId("nav").hidden = true;
  document.title = `Sign in · ${TITLE}`;
  shell.signin?.unmount();
  const { mount } = await import("./views/signin.js");
  shell.signin = mount(byId("signin-root"), {
    account,
    notify,
    showError,
    clearError,
    onSignedIn: () => enterDashboard(),
  });
  return shell.signin;
}

function enterDashboard() {
  shell.signin?.unmount();
  shell.signin = null;
  replaceChildren(byId("signin-root"));
  byId("dashboard").hidden = false;
  byId("account").hidden = false;
  byId("nav").hidden = false;
  byId("signed-in-as").textContent = account.who();
  byId("api-base-label").textContent = account.baseUrl() || `${window.location.origin} (this page)`;
  showRoute(parseRoute(window.location.hash) ?? parseRoute(""));
}

/** Signed out by the page (session over, or the user): back to the sign-in with a message. */
async function endSession(error) {
  account.signOut();
  const signin = await showSignIn();
  notify(error ? "Please sign in again." : "Signed out.");
  if (error) showError(error, "signin");
  signin.focus();
}

function signOutEverywhere() {
  // Through the provider's logout page, which comes back here; otherwise signed out in place.
  if (account.signOut({ atProvider: true })) {
    notify("Signing out…");
    return;
  }
  endSession();
}

// ---------------------------------------------------------------- start

function wire() {
  replaceChildren(
    byId("nav-list"),
    NAV.map((item) => h("li", {}, h("a", { href: item.href, "data-nav": item.nav, "data-testid": `nav-${item.nav}` }, item.label))),
  );
  byId("skip-link").addEventListener("click", (event) => {
    event.preventDefault(); // focus the content without changing the route
    (byId("view").querySelector("h2[tabindex]") ?? byId("main")).focus();
  });
  byId("signout-button").addEventListener("click", signOutEverywhere);
  byId("error-dismiss").addEventListener("click", () => clearError());
  window.addEventListener("hashchange", onHashChange);
}

async function start() {
  wire();
  let signedIn = false;
  try {
    signedIn = await account.start();
  } catch (error) {
    showError(errorText(error), "signin");
  }
  if (signedIn) enterDashboard();
  else await showSignIn();
}

start();
