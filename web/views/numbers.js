// The Numbers view (#/numbers): the user's WhatsApp numbers with their status,
// paired number and daily limit; connecting a new one (then pairing it with its QR
// code or a pairing code); editing and disconnecting. While any number is not
// WORKING the list is read again every few seconds (GET /whatsapp-sessions answers
// from what WAHA's webhooks reported, so this costs WAHA nothing).

import { errorText } from "../api.js";
import { h } from "../dom.js";
import { allPages, field, sectionMessage, setBusy, setFieldError } from "../forms.js";
import {
  MAX_DAILY_LIMIT,
  MAX_LABEL_LENGTH,
  POLL_MS,
  SUGGESTED_DAILY_LIMIT,
  needsPolling,
  numberTitle,
  parseDailyLimit,
  parseLabel,
  sessionsOf,
} from "../numbers-format.js";
import { createNumberRow } from "../numbers-row.js";

const MAX_PAGES = 5; // the API allows a user 10 numbers; a page holds up to 100

export function mount(container, ctx) {
  const { api } = ctx;
  let sessions = null; // null until the first answer
  let pollTimer = null;
  let alive = true;
  let loadSeq = 0;
  // `#/numbers?pair=<id>` (e.g. from a campaign paused because its number dropped) opens that number's pairing.
  let pairWanted = ctx.params?.pair ?? null;
  const rows = new Map(); // session id -> row

  // A 401 ends the sign-in (the shell says so); after unmounting, nothing is shown at all.
  const fail = (error) => {
    if (!alive) return true;
    if (!ctx.onUnauthorized(error)) return false;
    stopPolling();
    return true;
  };

  // ------------------------------------------------------------------ the page

  const heading = h("h2", { id: "numbers-heading", tabindex: "-1" }, "WhatsApp numbers");
  const polling = h("span", { class: "polling", "data-testid": "numbers-polling", hidden: true }, h("span", { class: "polling-dot", "aria-hidden": "true" }), "Watching for changes");
  const refreshButton = h("button", { type: "button", class: "button", "data-testid": "numbers-refresh-button", onclick: () => load() }, "Refresh");
  const status = h("p", { class: "muted", "data-testid": "numbers-status", role: "status", "aria-live": "polite" });
  const listError = sectionMessage("numbers-error");
  const list = h("ul", { class: "number-list", "data-testid": "number-list", "aria-labelledby": "numbers-heading" });

  const labelInput = h("input", { type: "text", maxlength: MAX_LABEL_LENGTH, autocomplete: "off", placeholder: "e.g. Shop", "data-testid": "number-label-input" });
  const limitInput = h("input", {
    type: "number",
    min: 1,
    max: MAX_DAILY_LIMIT,
    step: 1,
    inputmode: "numeric",
    value: String(SUGGESTED_DAILY_LIMIT),
    "data-testid": "number-daily-limit-input",
  });
  const labelField = field({ id: "number-label-input", label: "Name", control: labelInput, hint: "Your name for this number; only you see it.", optional: true });
  const limitField = field({
    id: "number-daily-limit-input",
    label: "Daily limit (messages in any 24 hours)",
    control: limitInput,
    hint:
      `Start low, about ${SUGGESTED_DAILY_LIMIT}: WhatsApp bans newly linked numbers that suddenly send many messages. ` +
      "Raise it after a few weeks without reports. Campaigns on the number wait when they reach it.",
  });
  const connectButton = h("button", { type: "submit", class: "button button-primary", "data-testid": "connect-number-button" }, "Connect a number");
  const connectError = sectionMessage("connect-error");
  const connectForm = h(
    "form",
    { class: "connect-number", novalidate: true, onsubmit: connect, "aria-labelledby": "connect-heading" },
    h("h3", { id: "connect-heading" }, "Connect a number"),
    h("p", { class: "hint" }, "The server creates the connection; you then pair it from the phone with a QR code or a pairing code."),
    h("div", { class: "field-row" }, labelField, limitField),
    h("div", { class: "form-actions" }, connectError.node, connectButton),
  );

  const root = h(
    "section",
    { class: "card numbers-view", "data-testid": "numbers-view", "aria-labelledby": "numbers-heading" },
    h("div", { class: "section-head" }, heading, h("div", { class: "section-tools" }, polling, refreshButton)),
    status,
    listError.node,
    list,
    connectForm,
  );
  container.append(root);

  // ------------------------------------------------------------------ the list

  const rowDeps = {
    api,
    fail,
    notify: (text) => ctx.notify(text),
    changed: (session) => upsert(session),
    removed: (id) => remove(id),
    refreshSession: (id) => refreshSession(id),
    openPairing: (id) => openPairing(id),
    closePairing: () => openPairing(null),
  };

  async function load({ quiet = false } = {}) {
    const seq = ++loadSeq;
    if (!quiet && sessions === null) status.textContent = "Loading your numbers…";
    try {
      const { items } = await allPages(api, "/whatsapp-sessions", { maxPages: MAX_PAGES });
      if (seq !== loadSeq || !alive) return;
      sessions = sessionsOf(items);
      listError.clear();
      render();
      if (pairWanted !== null && rows.has(pairWanted)) openPairing(pairWanted);
      pairWanted = null;
    } catch (error) {
      if (seq !== loadSeq || fail(error)) return;
      if (sessions === null) status.textContent = "";
      listError.show(`Could not load your numbers: ${errorText(error)}`, { error: true });
    }
    schedulePoll();
  }

  async function refreshSession(id) {
    try {
      const session = await api.request("GET", `/whatsapp-sessions/${encodeURIComponent(id)}`);
      if (alive) upsert(session);
    } catch (error) {
      if (fail(error)) return;
      if (error?.status === 404) remove(id);
      else load({ quiet: true });
    }
  }

  // A change the page made itself outdates any list read still in flight (it may not have it yet).
  function upsert(session) {
    if (!alive || !session?.id) return;
    loadSeq += 1;
    const known = sessions ?? [];
    const at = known.findIndex((item) => item.id === session.id);
    sessions = at === -1 ? [...known, session] : known.map((item, i) => (i === at ? session : item));
    render();
    schedulePoll();
  }

  function remove(id) {
    if (!alive) return;
    loadSeq += 1;
    sessions = (sessions ?? []).filter((item) => item.id !== id);
    const hadFocus = rows.get(id)?.element.contains(document.activeElement);
    render();
    schedulePoll();
    if (hadFocus) heading.focus();
  }

  function render() {
    const items = sessions ?? [];
    items.forEach((session, index) => {
      let row = rows.get(session.id);
      if (!row) {
        row = createNumberRow(session, rowDeps);
        rows.set(session.id, row);
      } else row.update(session);
      // Move a row only when it is out of place: moving a node takes the focus off what it holds.
      if (list.children[index] !== row.element) list.insertBefore(row.element, list.children[index] ?? null);
    });
    for (const [id, row] of rows) {
      if (!items.some((session) => session.id === id)) {
        row.destroy();
        rows.delete(id);
      }
    }
    if (sessions === null) return;
    status.textContent =
      items.length === 0
        ? "You have no WhatsApp number connected yet. Connect one below to send campaigns."
        : items.length === 1
          ? "Your number:"
          : `Your ${items.length} numbers:`;
  }

  function openPairing(id) {
    for (const [rowId, row] of rows) if (rowId !== id) row.closePairing();
    if (id !== null) rows.get(id)?.openPairing();
  }

  // ------------------------------------------------------------------ polling

  function schedulePoll() {
    clearTimeout(pollTimer);
    pollTimer = null;
    const watching = alive && needsPolling(sessions);
    polling.hidden = !watching;
    if (watching) pollTimer = setTimeout(() => (document.hidden ? schedulePoll() : load({ quiet: true })), POLL_MS);
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = null;
    polling.hidden = true;
  }

  // ------------------------------------------------------------------ connect

  async function connect(event) {
    event.preventDefault();
    connectError.clear();
    const label = parseLabel(labelInput.value);
    const daily = parseDailyLimit(limitInput.value);
    setFieldError(labelInput, label.error ?? "");
    setFieldError(limitInput, daily.error ?? "");
    if (label.error || daily.error) return (label.error ? labelInput : limitInput).focus();
    const body = { dailyLimit: daily.value, ...(label.value ? { label: label.value } : {}) };
    setBusy(connectButton, true, "Connecting…");
    try {
      const session = await api.request("POST", "/whatsapp-sessions", { body });
      if (!alive) return;
      labelInput.value = "";
      limitInput.value = String(SUGGESTED_DAILY_LIMIT);
      ctx.notify(`Number "${numberTitle(session)}" created: now pair it with the phone.`);
      upsert(session);
      openPairing(session.id);
    } catch (error) {
      if (fail(error)) return;
      connectError.show(`Could not connect a number: ${errorText(error)}`, { error: true });
    } finally {
      setBusy(connectButton, false);
    }
  }

  load();

  return {
    unmount() {
      alive = false;
      loadSeq += 1;
      stopPolling();
      for (const row of rows.values()) row.destroy();
      rows.clear();
      root.remove();
    },
  };
}
