// The campaign dashboard: sign-in, the campaign table with its actions and
// polling, a campaign's deliveries, and the form that creates a campaign.

import { ApiError, createApi, errorText, isValidBaseUrl, normaliseBaseUrl } from "./api.js";
import { createAuth, hasProvider, loadConfig, withFreshTokens } from "./auth.js";
import { chunk, parseContactsCsv } from "./csv.js";
import { byId, formatDateTime, h, jwtClaims, localInputToUtcIso, replaceChildren, timeElement } from "./dom.js";
import { renderMessage } from "./personalise.js";
import { CAMPAIGN_STATUSES, DELIVERY_STATUSES, actionsFor } from "./statuses.js";

const PAGE_SIZE = 20;
const POLL_MS = 2500;
// After run/resume the runner takes the campaign asynchronously, so it can
// still read Scheduled for a moment: keep polling this long even if none is Running.
const SETTLE_MS = 20000;
const CONTACTS_PER_REQUEST = 1000;
const STORAGE = { token: "campaignRunner.token", baseUrl: "campaignRunner.apiBaseUrl" };

const MIME_BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif",
  mp4: "video/mp4", "3gp": "video/3gpp", ogg: "audio/ogg", opus: "audio/ogg", mp3: "audio/mpeg",
  m4a: "audio/mp4", pdf: "application/pdf",
};

const state = {
  token: "",
  baseUrl: "",
  campaigns: [],
  pageTokens: [null], // the nextToken that opens each page we have visited; page 1 needs none
  pageIndex: 0,
  nextToken: null,
  loadSeq: 0,
  loadedOnce: false,
  pending: new Map(), // campaign id -> action name while its request is in flight
  pollTimer: null,
  settleUntil: 0,
  errorSource: null,
  deliveries: null, // { campaignId, name, status, items, nextToken, pages, seq }
  sessions: null, // null until loaded; then an array of { name, status }
  csv: { contacts: [], errors: [], fileKey: "" },
  // What a failed creation already saved, so that trying again does not upload it twice.
  saved: { lists: new Map(), templates: new Map(), media: new Map() },
};

// config.json (API address, identity provider) and the signed-in session, once loaded.
let appConfig = null;
let auth = null;

// Every call carries the current access token, renewed before it expires (auth.js).
const api = withFreshTokens(
  createApi({ getBaseUrl: () => state.baseUrl, getToken: () => auth?.accessToken() || state.token }),
  {
    signedIn: () => Boolean(auth?.signedIn()),
    ensureFresh: () => auth.ensureFresh(),
    refresh: () => auth.refresh(),
  },
  (error) => error instanceof ApiError && error.status === 401,
);

// ---------------------------------------------------------------- storage

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

function defaultBaseUrl() {
  const configured = normaliseBaseUrl(appConfig?.apiUrl ?? "");
  return configured || normaliseBaseUrl(document.querySelector('meta[name="api-base-url"]')?.content ?? "");
}

// ---------------------------------------------------------------- messages

function showError(message, source = "general") {
  state.errorSource = source;
  byId("error-message").textContent = message;
  byId("error-banner").hidden = false;
}

function clearError(source) {
  if (source && state.errorSource !== source) return;
  state.errorSource = null;
  byId("error-banner").hidden = true;
  byId("error-message").textContent = "";
}

let noticeTimer = null;
function notify(message) {
  const notice = byId("notice");
  notice.textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    notice.textContent = "";
  }, 8000);
}

function setFieldError(input, message) {
  const error = byId(`${input.id}-error`);
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  if (error) {
    error.textContent = message ?? "";
    error.hidden = !message;
  }
}

function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label ??= button.textContent;
    if (busyLabel) button.textContent = busyLabel;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  } else {
    if (button.dataset.label !== undefined) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------- sign-in

function showSignIn() {
  stopPolling();
  byId("dashboard").hidden = true;
  byId("account").hidden = true;
  byId("signin-view").hidden = false;
  byId("api-base-input").value = state.baseUrl === defaultBaseUrl() ? "" : state.baseUrl;
}

function showDashboard() {
  byId("signin-view").hidden = true;
  byId("dashboard").hidden = false;
  byId("account").hidden = false;
  const claims = (auth?.signedIn() && auth.claims()) || jwtClaims(state.token);
  byId("signed-in-as").textContent = claims?.email || claims?.username || claims?.sub || "token user";
  byId("api-base-label").textContent = state.baseUrl || `${window.location.origin} (this page)`;
}

async function signIn(event) {
  event.preventDefault();
  const tokenInput = byId("token-input");
  const baseInput = byId("api-base-input");
  const token = tokenInput.value.trim().replace(/^bearer\s+/i, "");
  const baseUrl = normaliseBaseUrl(baseInput.value) || defaultBaseUrl();

  setFieldError(tokenInput, token ? "" : "Paste a token to sign in.");
  setFieldError(baseInput, isValidBaseUrl(baseUrl) ? "" : "Enter an http(s) address, e.g. https://api.example.com.");
  if (!token) return tokenInput.focus();
  if (!isValidBaseUrl(baseUrl)) return baseInput.focus();

  const exp = Number(jwtClaims(token)?.exp);
  if (Number.isFinite(exp) && exp * 1000 < Date.now()) {
    setFieldError(tokenInput, `This token expired on ${formatDateTime(new Date(exp * 1000).toISOString())}. Get a new one.`);
    return tokenInput.focus();
  }

  const button = byId("signin-button");
  setBusy(button, true, "Signing in…");
  clearError();
  state.token = token;
  state.baseUrl = baseUrl;
  try {
    // The first page doubles as the check that the token and the address work.
    const page = await api.listCampaigns({ limit: PAGE_SIZE });
    // The token stays in memory: a reload asks for it again.
    writeStorage(STORAGE.baseUrl, normaliseBaseUrl(baseInput.value));
    tokenInput.value = "";
    resetPaging();
    showDashboard();
    applyCampaignPage(page);
    schedulePoll();
    loadSessions();
    byId("campaigns-heading").focus();
  } catch (error) {
    state.token = "";
    const status = error instanceof ApiError ? error.status : -1;
    const hint =
      status === 401
        ? " Check that the token is current and meant for this API."
        : status === 404 || status === 0
          ? " Is the API base URL right, and is the API running?"
          : "";
    showError(`Sign-in failed: ${errorText(error)}${hint}`, "signin");
  } finally {
    setBusy(button, false);
  }
}

/** Leave the provider's session too (Cognito's logout page comes back here). */
function signOutEverywhere() {
  if (auth?.signedIn()) {
    signOut("Signing out…", { keepSession: true });
    auth.signOut();
    return;
  }
  signOut();
}

function signOut(message = "Signed out.", { keepSession = false } = {}) {
  if (!keepSession) auth?.signOut({ redirect: false });
  writeStorage(STORAGE.baseUrl, "");
  state.token = "";
  state.baseUrl = defaultBaseUrl();
  state.campaigns = [];
  state.pending.clear();
  clearTimeout(state.pairingTimer);
  state.sessions = null;
  state.saved = { lists: new Map(), templates: new Map(), media: new Map() };
  state.loadSeq += 1; // answers still on their way are now stale
  closeDeliveries();
  resetPaging();
  replaceChildren(byId("campaigns-body"));
  showSignIn();
  notify(message);
  (byId("signin-form").hidden ? byId("oauth-signin-button") : byId("token-input")).focus();
}

/** A 401 on any call: the token is gone or expired, so go back to the sign-in. */
function handleUnauthorized(error) {
  if (!(error instanceof ApiError) || error.status !== 401 || !(state.token || auth?.signedIn())) return false;
  signOut("Please sign in again.");
  showError(`Your session ended: ${errorText(error)} Sign in again.`, "signin");
  return true;
}

// ---------------------------------------------------------------- campaigns

function resetPaging() {
  state.pageTokens = [null];
  state.pageIndex = 0;
  state.nextToken = null;
}

function itemsOf(page) {
  if (Array.isArray(page)) return page;
  return Array.isArray(page?.items) ? page.items : [];
}

function applyCampaignPage(page) {
  const items = itemsOf(page).filter((item) => item && item.id != null);
  // Newest first, as the API promises; sorting again keeps a page in order whatever arrives.
  items.sort((a, b) => String(b.createdAt ?? "").localeCompare(String(a.createdAt ?? "")));
  state.campaigns = items;
  state.nextToken = (Array.isArray(page) ? null : page?.nextToken) || null;
  state.loadedOnce = true;
  byId("campaigns-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  renderCampaigns();
  refreshOpenDeliveries();
}

async function loadCampaigns({ quiet = false } = {}) {
  const seq = ++state.loadSeq;
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  const loading = byId("campaigns-loading");
  loading.hidden = quiet || state.loadedOnce;
  try {
    const page = await api.listCampaigns({ limit: PAGE_SIZE, nextToken: state.pageTokens[state.pageIndex] ?? undefined });
    if (seq !== state.loadSeq) return;
    applyCampaignPage(page);
    clearError("load");
  } catch (error) {
    if (seq !== state.loadSeq) return;
    if (handleUnauthorized(error)) return;
    showError(`Could not load campaigns: ${errorText(error)}`, "load");
  } finally {
    if (seq === state.loadSeq) {
      loading.hidden = true;
      schedulePoll();
    }
  }
}

function anyRunning() {
  return state.campaigns.some((campaign) => campaign.status === "Running");
}

/** One timer at a time: poll again only while something is Running (or just started) and the tab is visible. */
function schedulePoll() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  const wanted = Boolean(state.token) && !document.hidden && (anyRunning() || Date.now() < state.settleUntil);
  byId("polling-indicator").hidden = !wanted;
  if (wanted) state.pollTimer = setTimeout(() => loadCampaigns({ quiet: true }), POLL_MS);
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  byId("polling-indicator").hidden = true;
}

function count(value) {
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? Math.floor(number) : 0;
}

function statusBadge(status, testid) {
  const known = [...CAMPAIGN_STATUSES, ...DELIVERY_STATUSES];
  const tone = known.includes(status) ? status.toLowerCase() : status === "WORKING" ? "working" : "other";
  return h("span", { class: `badge badge-${tone}`, "data-testid": testid }, status ?? "—");
}

function progressCell(campaign) {
  const total = count(campaign.totalContacts);
  const sent = count(campaign.sentCount);
  const failed = count(campaign.failedCount);
  const unknown = count(campaign.unknownCount);
  const done = sent + failed + unknown;
  const scale = Math.max(total, done, 1);
  const summary = `${done} of ${total} handled: ${sent} sent, ${failed} failed, ${unknown} unknown`;

  const bar = h("div", {
    class: "progress",
    role: "progressbar",
    "aria-label": `Progress of ${campaign.name ?? "campaign"}`,
    "aria-valuemin": 0,
    "aria-valuemax": total,
    "aria-valuenow": Math.min(done, total),
    "aria-valuetext": summary,
    "data-testid": `progress-${campaign.id}`,
    "data-sent": sent,
    "data-failed": failed,
    "data-unknown": unknown,
    "data-total": total,
  });
  for (const [kind, value] of [["sent", sent], ["failed", failed], ["unknown", unknown]]) {
    if (!value) continue;
    const segment = h("span", { class: `progress-segment progress-${kind}` });
    segment.style.width = `${(value / scale) * 100}%`;
    bar.append(segment);
  }

  const legend = h(
    "p",
    { class: "progress-legend", "aria-hidden": "true" },
    h("span", { class: "legend-total" }, `${done} / ${total}`),
    sent ? h("span", { class: "legend legend-sent" }, `${sent} sent`) : null,
    failed ? h("span", { class: "legend legend-failed" }, `${failed} failed`) : null,
    unknown ? h("span", { class: "legend legend-unknown" }, `${unknown} unknown`) : null,
  );
  return h("div", { class: "progress-wrap" }, bar, legend);
}

function actionButtons(campaign) {
  const pendingAction = state.pending.get(campaign.id);
  return actionsFor(campaign.status).map((action) => {
    const pending = pendingAction === action.name;
    return h(
      "button",
      {
        type: "button",
        class: `button button-small action-${action.name}`,
        "data-testid": `action-${action.name}-${campaign.id}`,
        "data-campaign-id": campaign.id,
        "aria-label": `${pending ? action.busy : action.label} ${campaign.name ?? ""}`.trim(),
        disabled: pending,
        "aria-busy": pending ? "true" : null,
        onclick: (event) => {
          event.stopPropagation();
          runAction(campaign, action);
        },
      },
      pending ? action.busy : action.label,
    );
  });
}

function campaignRow(campaign) {
  const id = campaign.id;
  const name = campaign.name || "(no name)";
  const selected = state.deliveries?.campaignId === id;
  let subline = null;
  if (campaign.status === "Scheduled" && campaign.scheduledAt) {
    subline = h("span", { class: "subline" }, "Starts ", timeElement(campaign.scheduledAt));
  } else if (campaign.createdAt) {
    subline = h("span", { class: "subline" }, "Created ", timeElement(campaign.createdAt));
  }

  const row = h(
    "tr",
    {
      role: "row",
      class: selected ? "row-selected" : "",
      "data-testid": `campaign-row-${id}`,
      "data-campaign-id": id,
      "data-status": campaign.status,
      onclick: (event) => {
        if (event.target.closest("button, a, input, select, textarea")) return;
        openDeliveries(campaign);
      },
    },
    h(
      "td",
      { role: "cell", "data-label": "Name", class: "cell-name" },
      h(
        "button",
        {
          type: "button",
          class: "link-button",
          "data-testid": `open-deliveries-${id}`,
          "data-campaign-id": id,
          "aria-expanded": selected ? "true" : "false",
          "aria-controls": "deliveries-panel",
          onclick: () => openDeliveries(campaign),
        },
        name,
      ),
      subline,
    ),
    h("td", { role: "cell", "data-label": "Status" }, statusBadge(campaign.status, `status-${id}`)),
    h("td", { role: "cell", "data-label": "Progress", class: "cell-progress" }, progressCell(campaign)),
    h("td", { role: "cell", "data-label": "Started", "data-testid": `started-${id}` }, timeElement(campaign.startedAt)),
    h("td", { role: "cell", "data-label": "Completed", "data-testid": `completed-${id}` }, timeElement(campaign.completedAt)),
    h(
      "td",
      { role: "cell", "data-label": "Pause reason", class: "cell-reason", "data-testid": `pause-reason-${id}` },
      campaign.pauseReason ? campaign.pauseReason : h("span", { class: "muted", "aria-label": "none" }, "—"),
    ),
    h("td", { role: "cell", "data-label": "Actions", class: "cell-actions" }, h("div", { class: "actions" }, actionButtons(campaign))),
  );
  return row;
}

function renderCampaigns() {
  const body = byId("campaigns-body");
  // Keep keyboard focus across the re-render that polling does every few seconds.
  const focused = body.contains(document.activeElement) ? document.activeElement : null;
  const focusedTestid = focused?.dataset.testid;
  const focusedCampaign = focused?.dataset.campaignId;

  replaceChildren(body, state.campaigns.map(campaignRow));

  if (focusedTestid) {
    const again = body.querySelector(`[data-testid="${CSS.escape(focusedTestid)}"]`);
    const fallback = focusedCampaign
      ? body.querySelector(`[data-testid="${CSS.escape(`open-deliveries-${focusedCampaign}`)}"]`)
      : null;
    (again && !again.disabled ? again : fallback)?.focus();
  }

  byId("campaigns-empty").hidden = state.campaigns.length > 0 || !state.loadedOnce;
  byId("campaigns-empty").textContent =
    state.pageIndex > 0 ? "No more campaigns on this page." : "No campaigns yet. Create one below.";
  byId("page-prev").disabled = state.pageIndex === 0;
  byId("page-next").disabled = !state.nextToken;
  byId("page-number").textContent = `Page ${state.pageIndex + 1}`;
}

async function runAction(campaign, action) {
  if (state.pending.has(campaign.id)) return;
  state.pending.set(campaign.id, action.name);
  renderCampaigns();
  const name = campaign.name || campaign.id;
  try {
    await api.campaignAction(campaign.id, action.name);
    notify(`${action.done}: "${name}".`);
    if (action.name === "run" || action.name === "resume") state.settleUntil = Date.now() + SETTLE_MS;
    clearError("action");
  } catch (error) {
    if (handleUnauthorized(error)) return;
    showError(`Could not ${action.label.toLowerCase()} "${name}": ${errorText(error)}`, "action");
  } finally {
    // Fetch the list again (success or not: a 409 means our copy is stale), then release the button.
    if (state.token) await loadCampaigns({ quiet: true });
    state.pending.delete(campaign.id);
    renderCampaigns();
  }
}

// ---------------------------------------------------------------- deliveries

function openDeliveries(campaign) {
  const panel = byId("deliveries-panel");
  const filter = byId("deliveries-filter");
  state.deliveries = {
    campaignId: campaign.id,
    name: campaign.name || campaign.id,
    campaignStatus: campaign.status,
    status: filter.value,
    items: [],
    nextToken: null,
    pages: 0,
    seq: 0,
  };
  byId("deliveries-campaign-name").textContent = state.deliveries.name;
  replaceChildren(byId("deliveries-body"));
  panel.hidden = false;
  renderCampaigns();
  loadDeliveries({ append: false });
  byId("deliveries-heading").focus();
  panel.scrollIntoView({ block: "start", behavior: "smooth" });
}

function closeDeliveries() {
  const hadPanel = state.deliveries;
  state.deliveries = null;
  byId("deliveries-panel").hidden = true;
  replaceChildren(byId("deliveries-body"));
  if (hadPanel) {
    renderCampaigns();
    byId(`campaigns-body`).querySelector(`[data-testid="${CSS.escape(`open-deliveries-${hadPanel.campaignId}`)}"]`)?.focus();
  }
}

async function loadDeliveries({ append, quiet = false }) {
  const view = state.deliveries;
  if (!view) return;
  const seq = ++view.seq;
  const more = byId("deliveries-more");
  const loading = byId("deliveries-loading");
  loading.hidden = quiet;
  if (append) setBusy(more, true, "Loading…");
  try {
    const page = await api.listDeliveries(view.campaignId, {
      status: view.status || undefined,
      nextToken: append ? view.nextToken : undefined,
    });
    if (state.deliveries !== view || seq !== view.seq) return;
    const items = itemsOf(page);
    view.items = append ? [...view.items, ...items] : items;
    view.nextToken = (Array.isArray(page) ? null : page?.nextToken) || null;
    view.pages = append ? view.pages + 1 : 1;
    renderDeliveries();
    clearError("deliveries");
  } catch (error) {
    if (handleUnauthorized(error)) return;
    if (state.deliveries === view) showError(`Could not load deliveries of "${view.name}": ${errorText(error)}`, "deliveries");
  } finally {
    loading.hidden = true;
    if (append) setBusy(more, false);
  }
}

function deliveryRow(delivery) {
  const index = delivery.contactIndex;
  return h(
    "tr",
    { role: "row", "data-testid": `delivery-row-${index}`, "data-status": delivery.status },
    h("td", { role: "cell", "data-label": "#" }, index ?? "—"),
    h("td", { role: "cell", "data-label": "Phone number", class: "mono" }, delivery.phoneNumber ?? "—"),
    h("td", { role: "cell", "data-label": "Status" }, statusBadge(delivery.status, `delivery-status-${index}`)),
    h("td", { role: "cell", "data-label": "Message id", class: "mono wrap" }, delivery.messageId || h("span", { class: "muted" }, "—")),
    h("td", { role: "cell", "data-label": "Error", class: "wrap" }, delivery.error || h("span", { class: "muted" }, "—")),
    h("td", { role: "cell", "data-label": "At" }, timeElement(delivery.at)),
  );
}

function renderDeliveries() {
  const view = state.deliveries;
  if (!view) return;
  replaceChildren(byId("deliveries-body"), view.items.map(deliveryRow));
  const empty = byId("deliveries-empty");
  empty.hidden = view.items.length > 0;
  empty.textContent = view.status
    ? `No deliveries with status ${view.status} yet.`
    : "No deliveries yet: nothing has been sent for this campaign.";
  byId("deliveries-more").hidden = !view.nextToken;
}

/** While the open campaign is moving, keep its first page of deliveries current too. */
function refreshOpenDeliveries() {
  const view = state.deliveries;
  if (!view) return;
  const campaign = state.campaigns.find((item) => item.id === view.campaignId);
  if (!campaign) return;
  const changed = campaign.status !== view.campaignStatus;
  view.campaignStatus = campaign.status;
  if ((campaign.status === "Running" || changed) && view.pages <= 1) loadDeliveries({ append: false, quiet: true });
}

// ---------------------------------------------------------------- sessions

function sessionsOf(answer) {
  return itemsOf(answer).filter((session) => session && session.id);
}

function sessionName(session) {
  return session.label || session.phoneNumber || "WhatsApp number";
}

async function loadSessions() {
  const status = byId("sessions-status");
  status.textContent = "Loading your numbers…";
  try {
    state.sessions = sessionsOf(await api.listSessions());
  } catch (error) {
    if (handleUnauthorized(error)) return;
    state.sessions = null;
    status.textContent = "";
    showError(`Could not load your WhatsApp numbers: ${errorText(error)}`, "sessions");
    renderSessions();
    return;
  }
  clearError("sessions");
  renderSessions();
  watchPairing();
}

/** While a number waits to be paired, its status is read again every few seconds. */
function watchPairing() {
  clearTimeout(state.pairingTimer);
  const waiting = (state.sessions ?? []).some((session) => session.status !== "WORKING");
  if (waiting && !byId("dashboard").hidden) state.pairingTimer = setTimeout(loadSessions, 2000);
}

function renderSessions(selectId) {
  const select = byId("session-select");
  const previous = selectId ?? select.value;
  const sessions = state.sessions ?? [];
  const status = byId("sessions-status");

  replaceChildren(
    byId("session-list"),
    sessions.map((session) =>
      h(
        "li",
        { "data-testid": `session-${session.id}` },
        h("span", {}, sessionName(session)),
        session.phoneNumber ? h("span", { class: "mono" }, ` ${session.phoneNumber} `) : " ",
        statusBadge(session.status || "unknown", `session-status-${session.id}`),
        session.status === "SCAN_QR_CODE"
          ? h(
              "button",
              { type: "button", class: "button secondary", "data-testid": `session-qr-button-${session.id}`, onclick: () => showQr(session) },
              "Show the QR code",
            )
          : null,
        h("div", { id: `session-qr-${session.id}`, "data-testid": `session-qr-${session.id}` }),
      ),
    ),
  );

  if (state.sessions === null) {
    status.textContent = "Numbers could not be loaded; the API will use your first one.";
    replaceChildren(select, h("option", { value: "" }, "Your first number"));
  } else if (sessions.length === 0) {
    status.textContent = "You have no WhatsApp number connected yet. Connect one before creating a campaign.";
    replaceChildren(select, h("option", { value: "" }, "No number connected"));
  } else {
    status.textContent = sessions.length === 1 ? "Your number:" : `Your ${sessions.length} numbers:`;
    replaceChildren(
      select,
      sessions.map((session) =>
        h("option", { value: session.id }, `${sessionName(session)} (${session.status || "unknown"})`),
      ),
    );
    if (sessions.some((session) => session.id === previous)) select.value = previous;
  }
  select.disabled = state.sessions !== null && sessions.length === 0;
  updateSessionHint();
}

async function showQr(session) {
  const place = byId(`session-qr-${session.id}`);
  try {
    const url = await api.sessionQrImage(session.id);
    replaceChildren(
      place,
      h("p", { class: "hint" }, "On the phone: WhatsApp > Linked devices > Link a device, then scan:"),
      h("img", { src: url, alt: `QR code to pair ${sessionName(session)}`, width: 240, height: 240 }),
    );
  } catch (error) {
    if (handleUnauthorized(error)) return;
    showError(`Could not show the QR code: ${errorText(error)}`, "sessions");
  }
}

function updateSessionHint() {
  const select = byId("session-select");
  const session = (state.sessions ?? []).find((item) => item.id === select.value);
  const hint = byId("session-select-hint");
  hint.textContent =
    session && session.status && session.status !== "WORKING"
      ? `This number is ${session.status}: a campaign waits until it is paired and WORKING.`
      : "";
}

async function registerSession(event) {
  event.preventDefault();
  const input = byId("session-name-input");
  const label = input.value.trim();
  const button = byId("session-register-button");
  setBusy(button, true, "Connecting…");
  try {
    const session = await api.connectNumber(label);
    notify(`Number "${sessionName(session)}" created: pair it with the QR code.`);
    clearError("sessions");
    input.value = "";
    state.sessions = sessionsOf(await api.listSessions());
    renderSessions(session.id);
    watchPairing();
  } catch (error) {
    if (handleUnauthorized(error)) return;
    showError(`Could not connect a number: ${errorText(error)}`, "sessions");
  } finally {
    setBusy(button, false);
  }
}

// ---------------------------------------------------------------- new campaign

async function readCsvFile() {
  const input = byId("csv-input");
  const file = input.files?.[0];
  setFieldError(input, "");
  if (!file) {
    state.csv = { contacts: [], errors: [], fileKey: "" };
    renderCsv();
    return;
  }
  try {
    const text = await file.text();
    const { contacts, errors } = parseContactsCsv(text);
    state.csv = { contacts, errors, fileKey: `${file.name}:${file.size}:${file.lastModified}`, fileName: file.name };
  } catch (error) {
    state.csv = { contacts: [], errors: [], fileKey: "" };
    setFieldError(input, `Could not read ${file.name}: ${errorText(error)}`);
  }
  renderCsv();
}

function renderCsv() {
  const { contacts, errors, fileKey, fileName } = state.csv;
  const summary = byId("csv-summary");
  const list = byId("csv-errors");
  if (!fileKey) {
    summary.textContent = "";
    list.hidden = true;
    replaceChildren(list);
  } else {
    const people = contacts.length === 1 ? "1 contact" : `${contacts.length} contacts`;
    summary.textContent = errors.length
      ? `${fileName}: ${people} ready; ${errors.length} ${errors.length === 1 ? "row has a problem and is" : "rows have problems and are"} left out:`
      : `${fileName}: ${people} ready.`;
    const shown = errors.slice(0, 50);
    replaceChildren(
      list,
      shown.map((error) => h("li", {}, `Line ${error.line}: ${error.message}`)),
      errors.length > shown.length ? h("li", {}, `…and ${errors.length - shown.length} more.`) : null,
    );
    list.hidden = errors.length === 0;
  }
  renderPreview();
}

function renderPreview() {
  const template = byId("template-input").value;
  const defaultName = byId("default-name-input").value;
  const first = state.csv.contacts[0];
  const label = byId("template-preview-for");
  const preview = byId("template-preview");
  if (first) {
    label.textContent = `Preview for the first contact, ${first.phoneNumber}${first.firstName ? ` (${first.firstName})` : " (no first name)"}:`;
  } else {
    label.textContent = "Preview (no contacts loaded yet, so the name for contacts without one is used):";
  }
  preview.classList.toggle("preview-empty", !template);
  preview.textContent = template
    ? renderMessage(template, first?.firstName, defaultName)
    : "Write the message to see it here.";
}

function guessMimeType(url) {
  try {
    const path = new URL(url).pathname.toLowerCase();
    const extension = path.includes(".") ? path.split(".").pop() : "";
    return MIME_BY_EXTENSION[extension] ?? "";
  } catch {
    return "";
  }
}

function mediaNameFrom(url) {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop() || "");
  } catch {
    return "";
  }
}

function readSeconds(input) {
  const raw = input.value.trim();
  if (raw === "") return { ms: undefined };
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) return { error: "Enter a number of seconds, 0 or more." };
  return { ms: Math.round(seconds * 1000) };
}

/** Read and check the form; returns the values or marks the fields at fault. */
function readCreateForm() {
  const fields = {
    name: byId("campaign-name-input"),
    session: byId("session-select"),
    csv: byId("csv-input"),
    template: byId("template-input"),
    defaultName: byId("default-name-input"),
    mediaUrl: byId("media-url-input"),
    mediaMime: byId("media-mime-input"),
    minDelay: byId("min-delay-input"),
    maxDelay: byId("max-delay-input"),
    scheduledAt: byId("scheduled-at-input"),
  };
  const problems = new Map();
  const values = {
    name: fields.name.value.trim(),
    template: fields.template.value,
    defaultName: fields.defaultName.value.trim(),
    mediaUrl: fields.mediaUrl.value.trim(),
    session: fields.session.value,
  };

  if (!values.name) problems.set(fields.name, "Give the campaign a name.");
  if (state.sessions && state.sessions.length === 0) problems.set(fields.session, "Connect a WhatsApp number first (above).");
  if (!state.csv.fileKey) problems.set(fields.csv, "Choose a CSV file of contacts.");
  else if (state.csv.contacts.length === 0) problems.set(fields.csv, "The file has no usable contacts.");
  if (!values.template.trim()) problems.set(fields.template, "Write the message.");
  if (!values.defaultName) problems.set(fields.defaultName, "Give a name to use when a contact has none.");

  values.mediaMime = fields.mediaMime.value || (values.mediaUrl ? guessMimeType(values.mediaUrl) : "");
  if (values.mediaUrl) {
    let url = null;
    try {
      url = new URL(values.mediaUrl);
    } catch {
      url = null;
    }
    if (!url || url.protocol !== "https:") problems.set(fields.mediaUrl, "Enter an https:// address.");
    else if (!values.mediaMime) problems.set(fields.mediaMime, "Choose the media type; it cannot be told from the address.");
  }

  const min = readSeconds(fields.minDelay);
  const max = readSeconds(fields.maxDelay);
  if (min.error) problems.set(fields.minDelay, min.error);
  if (max.error) problems.set(fields.maxDelay, max.error);
  if (!min.error && !max.error && min.ms !== undefined && max.ms !== undefined && min.ms > max.ms) {
    problems.set(fields.maxDelay, "The longest pause must be at least the shortest.");
  }
  values.minDelayMs = min.ms;
  values.maxDelayMs = max.ms;

  values.scheduledAt = null;
  if (fields.scheduledAt.value) {
    values.scheduledAt = localInputToUtcIso(fields.scheduledAt.value);
    if (!values.scheduledAt) problems.set(fields.scheduledAt, "Enter a valid date and time.");
  }

  for (const input of Object.values(fields)) setFieldError(input, problems.get(input) ?? "");
  return { values, problems };
}

function setProgress(text) {
  byId("create-progress").textContent = text;
}

async function saveContactList(name) {
  const { contacts, fileKey } = state.csv;
  const key = `${fileKey}:${contacts.length}`;
  const batches = chunk(contacts, CONTACTS_PER_REQUEST);
  // After a failed upload, `saved` remembers the list and how many batches it already holds.
  let saved = state.saved.lists.get(key);
  for (let i = saved?.batches ?? 0; i < batches.length; i += 1) {
    const from = i * CONTACTS_PER_REQUEST;
    setProgress(`Uploading contacts ${from + 1}–${from + batches[i].length} of ${contacts.length}…`);
    if (!saved) {
      const list = await api.createContactList(`${name} contacts`, batches[i]);
      const id = list?.id ?? list?.contactListId;
      if (!id) throw new Error("the API created the contact list but did not return its id.");
      saved = { id, batches: 0 };
      state.saved.lists.set(key, saved);
    } else {
      await api.appendContacts(saved.id, batches[i]);
    }
    saved.batches = i + 1;
  }
  return saved.id;
}

async function saveOnce(cache, key, create) {
  if (cache.has(key)) return cache.get(key);
  const item = await create();
  const id = item?.id;
  if (!id) throw new Error("the API saved the item but did not return its id.");
  cache.set(key, id);
  return id;
}

async function createCampaign(event) {
  event.preventDefault();
  const { values, problems } = readCreateForm();
  if (problems.size) {
    showError(`The campaign was not created: ${[...problems.values()].join(" ")}`, "create");
    const first = problems.keys().next().value;
    // The session picker is disabled when there is none: send the user to the register form instead.
    (first.disabled ? byId("session-name-input") : first).focus();
    return;
  }

  const button = byId("create-submit");
  setBusy(button, true, "Creating…");
  clearError("create");
  let step = "uploading contacts";
  try {
    const contactListId = await saveContactList(values.name);

    step = "saving the message";
    setProgress("Saving the message…");
    const messageTemplateId = await saveOnce(state.saved.templates, `${values.name}\u0000${values.template}`, () =>
      api.createTemplate(`${values.name} message`, values.template),
    );

    let mediaLibraryItemId;
    if (values.mediaUrl) {
      step = "saving the media";
      setProgress("Saving the media…");
      const mediaName = mediaNameFrom(values.mediaUrl) || `${values.name} media`;
      mediaLibraryItemId = await saveOnce(state.saved.media, `${values.mediaUrl}\u0000${values.mediaMime}`, () =>
        api.createMediaItem(mediaName, values.mediaUrl, values.mediaMime),
      );
    }

    step = "creating the campaign";
    setProgress("Creating the campaign…");
    const body = { name: values.name, contactListId, messageTemplateId, defaultNameValue: values.defaultName };
    if (mediaLibraryItemId) body.mediaLibraryItemId = mediaLibraryItemId;
    if (values.scheduledAt) body.scheduledAt = values.scheduledAt;
    if (values.session) body.whatsappSessionId = values.session;
    if (values.minDelayMs !== undefined) body.minDelayMs = values.minDelayMs;
    if (values.maxDelayMs !== undefined) body.maxDelayMs = values.maxDelayMs;
    const campaign = await api.createCampaign(body);

    notify(`Campaign "${campaign?.name ?? values.name}" created${campaign?.status ? ` (${campaign.status})` : ""}.`);
    resetCreateForm();
    resetPaging();
    await loadCampaigns();
    byId("campaigns-heading").focus();
  } catch (error) {
    if (handleUnauthorized(error)) return;
    const kept = step === "uploading contacts" ? "" : " What was already saved is reused when you try again.";
    showError(`Could not create the campaign while ${step}: ${errorText(error)}${kept}`, "create");
  } finally {
    setBusy(button, false);
    setProgress("");
  }
}

function resetCreateForm() {
  const form = byId("create-form");
  const session = byId("session-select").value;
  form.reset();
  byId("session-select").value = session;
  state.csv = { contacts: [], errors: [], fileKey: "" };
  state.saved = { lists: new Map(), templates: new Map(), media: new Map() };
  for (const input of form.querySelectorAll("[aria-invalid]")) setFieldError(input, "");
  renderCsv();
}

// ---------------------------------------------------------------- start

function wire() {
  byId("page-origin").textContent = window.location.origin;
  byId("time-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

  byId("signin-form").addEventListener("submit", signIn);
  byId("token-show").addEventListener("change", (event) => {
    byId("token-input").type = event.target.checked ? "text" : "password";
  });
  byId("signout-button").addEventListener("click", signOutEverywhere);
  byId("oauth-signin-button").addEventListener("click", async (event) => {
    setBusy(event.currentTarget, true, "Redirecting…");
    clearError();
    await auth.signIn();
  });
  byId("error-dismiss").addEventListener("click", () => clearError());

  byId("refresh-button").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    setBusy(button, true, "Refreshing…");
    await loadCampaigns();
    setBusy(button, false);
  });
  byId("page-next").addEventListener("click", () => {
    if (!state.nextToken) return;
    state.pageTokens[state.pageIndex + 1] = state.nextToken;
    state.pageIndex += 1;
    loadCampaigns();
  });
  byId("page-prev").addEventListener("click", () => {
    if (state.pageIndex === 0) return;
    state.pageIndex -= 1;
    loadCampaigns();
  });

  byId("deliveries-filter").addEventListener("change", (event) => {
    if (!state.deliveries) return;
    state.deliveries.status = event.target.value;
    state.deliveries.items = [];
    loadDeliveries({ append: false });
  });
  byId("deliveries-refresh").addEventListener("click", () => loadDeliveries({ append: false }));
  byId("deliveries-more").addEventListener("click", () => loadDeliveries({ append: true }));
  byId("deliveries-close").addEventListener("click", closeDeliveries);
  byId("deliveries-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDeliveries();
  });

  byId("session-form").addEventListener("submit", registerSession);
  byId("session-select").addEventListener("change", updateSessionHint);
  byId("create-form").addEventListener("submit", createCampaign);
  byId("csv-input").addEventListener("change", readCsvFile);
  byId("template-input").addEventListener("input", renderPreview);
  byId("default-name-input").addEventListener("input", renderPreview);
  byId("media-url-input").addEventListener("change", (event) => {
    const mime = byId("media-mime-input");
    const guess = guessMimeType(event.target.value.trim());
    if (guess && [...mime.options].some((option) => option.value === guess)) mime.value = guess;
  });

  document.addEventListener("visibilitychange", () => {
    if (!state.token) return;
    if (document.hidden) stopPolling();
    else loadCampaigns({ quiet: true });
  });
}

/** Signed in through the provider: into the dashboard. */
function enterDashboard() {
  state.token = auth.accessToken();
  resetPaging();
  showDashboard();
  loadCampaigns();
  loadSessions();
}

async function start() {
  wire();
  writeStorage(STORAGE.token, ""); // earlier versions kept a pasted token here
  appConfig = await loadConfig();
  const provider = hasProvider(appConfig);
  // A typed API address only counts where the token field (and its address field) is offered.
  const typedBaseUrl = provider && !appConfig.tokenPaste ? "" : readStorage(STORAGE.baseUrl);
  state.baseUrl = normaliseBaseUrl(typedBaseUrl) || defaultBaseUrl();
  renderPreview();
  renderSessions();
  byId("oauth-signin").hidden = !provider;
  // Pasting a token is for developers (make token): only without a provider, or when config.json allows it.
  byId("signin-form").hidden = provider && !appConfig.tokenPaste;
  byId("token-paste-note").hidden = !(provider && appConfig.tokenPaste);
  if (!provider) {
    showSignIn();
    return;
  }
  auth = createAuth({
    config: appConfig,
    onChange: (event) => {
      if (event.type === "tokens") state.token = auth.accessToken();
      if (event.type === "expired" && !auth.signedIn() && !byId("dashboard").hidden) {
        signOut("Please sign in again.");
        showError(`Your session ended: ${errorText(event.error)} Sign in again.`, "signin");
      }
    },
  });
  try {
    if ((await auth.completeSignIn()) || (await auth.resume())) {
      enterDashboard();
      byId("campaigns-heading").focus();
      return;
    }
  } catch (error) {
    showError(errorText(error), "signin");
  }
  showSignIn();
}

start();
