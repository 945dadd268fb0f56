// One WhatsApp number in the Numbers view: what it is (label, paired number and
// name, status, daily limit), and what can be done to it (pair, edit, disconnect).
// Its editing form and its pairing panel survive the list being read again.

import { errorText } from "./api.js";
import { confirmAction } from "./confirm.js";
import { h } from "./dom.js";
import { field, sectionMessage, setBusy, setFieldError } from "./forms.js";
import { createPairingPanel } from "./numbers-pairing.js";
import {
  MAX_DAILY_LIMIT,
  MAX_LABEL_LENGTH,
  SCAN_QR_CODE,
  changesOf,
  disconnectQuestion,
  numberTitle,
  parseDailyLimit,
  parseLabel,
  statusHint,
  statusTone,
} from "./numbers-format.js";

let rowCount = 0;
const messages = (n) => `${n.toLocaleString("en-US")} ${n === 1 ? "message" : "messages"}`;

/**
 * @param {object} session
 * @param {{ api: object, fail: (error: unknown) => boolean, notify: (text: string) => void,
 *   changed: (session: object) => void, removed: (id: string) => void, refreshSession: (id: string) => void,
 *   openPairing: (id: string) => void, closePairing: () => void }} deps
 */
export function createNumberRow(session, deps) {
  let current = session;
  let pairing = null;
  const n = ++rowCount;
  const path = () => `/whatsapp-sessions/${encodeURIComponent(current.id)}`;

  const title = h("h3", { class: "number-title", id: `number-title-${n}`, "data-testid": "number-label" });
  const badge = h("span", { class: "badge", "data-testid": "number-status" });
  const phone = h("dd", { class: "mono", "data-testid": "number-phone" });
  const pushName = h("dd", { "data-testid": "number-push-name" });
  const limit = h("dd", { "data-testid": "number-daily-limit" });
  const hint = h("p", { class: "hint", "data-testid": "number-status-hint" });
  const rowError = sectionMessage("number-error");

  const pairButton = h("button", { type: "button", class: "button", "data-testid": "pair-number-button", onclick: () => deps.openPairing(current.id) }, "Show the QR code");
  const editButton = h("button", { type: "button", class: "button", "data-testid": "edit-number-button", "aria-expanded": "false", "aria-controls": `number-edit-${n}`, onclick: toggleEdit }, "Edit");
  const disconnectButton = h("button", { type: "button", class: "button action-cancel", "data-testid": "disconnect-button", onclick: disconnect }, "Disconnect");

  const labelInput = h("input", { type: "text", maxlength: MAX_LABEL_LENGTH, autocomplete: "off", "data-testid": "edit-label-input" });
  const limitInput = h("input", { type: "number", min: 1, max: MAX_DAILY_LIMIT, step: 1, inputmode: "numeric", "data-testid": "edit-daily-limit-input" });
  const saveButton = h("button", { type: "submit", class: "button button-primary", "data-testid": "save-number-button" }, "Save");
  const form = h(
    "form",
    { class: "number-edit", id: `number-edit-${n}`, novalidate: true, hidden: true, "aria-labelledby": `number-title-${n}`, onsubmit: save, onkeydown: escapeToClose },
    h(
      "div",
      { class: "field-row" },
      field({ id: `edit-label-${n}`, label: "Name", control: labelInput }),
      field({
        id: `edit-daily-limit-${n}`,
        label: "Daily limit (messages in any 24 hours)",
        control: limitInput,
        hint: "Campaigns on this number wait when they reach it.",
      }),
    ),
    h(
      "div",
      { class: "number-edit-actions" },
      saveButton,
      h("button", { type: "button", class: "button button-quiet", "data-testid": "cancel-edit-button", onclick: () => closeEdit(true) }, "Cancel"),
    ),
  );

  const pairingSlot = h("div", { class: "pairing-slot" });
  const element = h(
    "li",
    { class: "number-row", "data-testid": "number-row", "data-session-id": session.id, "aria-labelledby": `number-title-${n}` },
    h("div", { class: "number-head" }, title, badge),
    h(
      "dl",
      { class: "number-facts" },
      h("div", {}, h("dt", {}, "Phone number"), phone),
      h("div", {}, h("dt", {}, "WhatsApp name"), pushName),
      h("div", {}, h("dt", {}, "Daily limit"), limit),
    ),
    hint,
    rowError.node,
    h("div", { class: "number-actions" }, pairButton, editButton, disconnectButton),
    form,
    pairingSlot,
  );

  function update(next) {
    current = next;
    const name = numberTitle(next);
    title.textContent = name;
    badge.textContent = next.status || "UNKNOWN";
    badge.className = `badge ${statusTone(next.status)}`;
    phone.textContent = next.phoneNumber || "Not paired yet";
    phone.classList.toggle("muted", !next.phoneNumber);
    pushName.textContent = next.pushName || "—";
    const daily = Number(next.dailyLimit);
    limit.textContent = Number.isFinite(daily) ? `${messages(daily)} a day` : "—";
    hint.textContent = statusHint(next.status);
    pairButton.hidden = pairing !== null || !(next.status === SCAN_QR_CODE || next.status === "STARTING");
    pairButton.setAttribute("aria-label", `Show the QR code to pair ${name}`);
    editButton.setAttribute("aria-label", `Edit ${name}`);
    disconnectButton.setAttribute("aria-label", `Disconnect ${name}`);
    pairing?.update(next);
  }

  function openPairing() {
    if (pairing === null) {
      pairing = createPairingPanel(current, { ...deps, close: deps.closePairing });
      pairingSlot.append(pairing.element);
    }
    update(current);
    pairing.focus();
  }

  function closePairing() {
    if (pairing === null) return;
    const hadFocus = pairing.element.contains(document.activeElement);
    pairing.destroy();
    pairing = null;
    update(current);
    if (hadFocus) (pairButton.hidden ? editButton : pairButton).focus();
  }

  function toggleEdit() {
    if (!form.hidden) return closeEdit(true);
    labelInput.value = current.label ?? "";
    limitInput.value = String(current.dailyLimit ?? "");
    setFieldError(labelInput, "");
    setFieldError(limitInput, "");
    form.hidden = false;
    editButton.setAttribute("aria-expanded", "true");
    labelInput.focus();
  }

  function closeEdit(refocus) {
    form.hidden = true;
    editButton.setAttribute("aria-expanded", "false");
    if (refocus) editButton.focus();
  }

  function escapeToClose(event) {
    if (event.key === "Escape") closeEdit(true);
  }

  async function save(event) {
    event.preventDefault();
    const label = parseLabel(labelInput.value);
    const daily = parseDailyLimit(limitInput.value);
    setFieldError(labelInput, label.error ?? "");
    setFieldError(limitInput, daily.error ?? "");
    if (label.error || daily.error) return (label.error ? labelInput : limitInput).focus();
    const body = changesOf(current, label.value, daily.value);
    if (Object.keys(body).length === 0) return closeEdit(true);
    setBusy(saveButton, true, "Saving…");
    try {
      const saved = await deps.api.request("PATCH", path(), { body });
      closeEdit(true);
      deps.changed(saved);
      deps.notify(`Saved ${numberTitle(saved)}: at most ${messages(Number(saved.dailyLimit))} a day.`);
    } catch (problem) {
      if (deps.fail(problem)) return;
      const target = /label/i.test(errorText(problem)) ? labelInput : limitInput;
      setFieldError(target, `Not saved: ${errorText(problem)}`);
      target.focus();
    } finally {
      setBusy(saveButton, false);
    }
  }

  async function disconnect() {
    rowError.clear();
    const sure = await confirmAction({
      title: `Disconnect ${numberTitle(current)}?`,
      text: disconnectQuestion(current),
      confirmLabel: "Disconnect the number",
      cancelLabel: "Keep it",
      danger: true,
    });
    if (!sure || !element.isConnected) return;
    setBusy(disconnectButton, true, "Disconnecting…");
    try {
      await deps.api.request("DELETE", path());
      deps.notify(`Disconnected ${numberTitle(current)}.`);
      deps.removed(current.id);
    } catch (problem) {
      if (deps.fail(problem)) return;
      if (problem?.status === 404) return deps.removed(current.id); // already gone
      setBusy(disconnectButton, false);
      rowError.show(`Not disconnected: ${errorText(problem)}`, { error: true });
      disconnectButton.focus();
    }
  }

  function destroy() {
    pairing?.destroy();
    pairing = null;
    element.remove();
  }

  update(session);
  return { element, update, destroy, openPairing, closePairing };
}
