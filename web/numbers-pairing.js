// Pairing one WhatsApp number: its QR code shown large and fetched again while the
// number waits for a scan (WAHA rotates the code), a pairing code as the other way
// in, and the paired number and name once it is WORKING. One panel at a time.

import { errorText } from "./api.js";
import { h } from "./dom.js";
import { field, sectionMessage, setBusy, setFieldError } from "./forms.js";
import { QR_REFRESH_MS, SCAN_QR_CODE, WORKING, numberTitle, pairedText, pairingPhone, statusHint } from "./numbers-format.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/**
 * @param {object} session the number as the API last described it
 * @param {{ api: object, fail: (error: unknown) => boolean, refreshSession: (id: string) => void, close: () => void }} deps
 *   `fail` deals with a 401 (and anything after unmounting) and says whether it did;
 *   `refreshSession` reads the number's live status.
 */
export function createPairingPanel(session, deps) {
  let current = session;
  let qrTimer = null;
  let qrLoading = false;
  let closed = false;

  const heading = h("h4", { id: "pairing-heading", tabindex: "-1" });
  const state = h("p", { class: "hint", "data-testid": "pairing-state", "aria-live": "polite" });
  const image = h("img", { class: "qr-image", "data-testid": "qr-image", alt: "", width: 320, height: 320, hidden: true });
  const qrNote = h("p", { class: "muted small", "data-testid": "qr-refreshed" });
  const qrError = sectionMessage("qr-error");
  const qrPart = h(
    "div",
    { class: "pairing-qr" },
    h(
      "ol",
      { class: "pairing-steps" },
      h("li", {}, "On the phone, open WhatsApp, then Settings › Linked devices › Link a device."),
      h("li", {}, "Point the phone at this code. WhatsApp changes it every few seconds; this page keeps it current."),
    ),
    h("div", { class: "qr-frame" }, image),
    qrNote,
    qrError.node,
  );

  const phoneInput = h("input", {
    type: "tel",
    "data-testid": "pairing-phone-input",
    autocomplete: "tel",
    inputmode: "tel",
    spellcheck: "false",
    placeholder: "+34 612 345 678",
  });
  const codeButton = h("button", { type: "submit", class: "button", "data-testid": "pairing-code-button" }, "Get a pairing code");
  const code = h("p", { class: "pairing-code", "data-testid": "pairing-code", "aria-live": "polite", hidden: true });
  const codeHint = h(
    "p",
    { class: "hint", "data-testid": "pairing-code-hint", hidden: true },
    "On that phone: WhatsApp › Settings › Linked devices › Link a device › Link with phone number instead, then type this code.",
  );
  const codeForm = h(
    "form",
    { class: "pairing-code-form", novalidate: true, onsubmit: requestCode },
    field({
      id: "pairing-phone-input",
      label: "Or pair with a code: the phone number of the WhatsApp account",
      control: phoneInput,
      hint: "In international format (+ and the country code). The code is typed on that phone instead of scanning.",
    }),
    codeButton,
  );
  const codePart = h("div", { class: "pairing-alt" }, codeForm, code, codeHint);

  const done = h("p", { class: "pairing-done", "data-testid": "pairing-done", hidden: true });
  const closeButton = h("button", { type: "button", class: "button button-quiet", "data-testid": "pairing-close-button", onclick: () => deps.close() });

  const element = h(
    "div",
    { class: "pairing", "data-testid": "pairing-panel", role: "group", "aria-labelledby": "pairing-heading" },
    h("div", { class: "pairing-head" }, heading, closeButton),
    state,
    qrPart,
    codePart,
    done,
  );

  async function fetchQr() {
    if (closed || qrLoading || current.status !== SCAN_QR_CODE) return;
    qrLoading = true;
    try {
      const url = await deps.api.sessionQrImage(current.id);
      if (closed || current.status !== SCAN_QR_CODE) return;
      image.src = url;
      image.alt = `QR code to pair ${numberTitle(current)}: scan it with WhatsApp on the phone`;
      image.hidden = false;
      qrNote.textContent = `Code as of ${timeFormat.format(new Date())}; a fresh one comes every ${QR_REFRESH_MS / 1000} s.`;
      qrError.clear();
    } catch (error) {
      if (closed || deps.fail(error)) return;
      if (error?.status === 409) deps.refreshSession(current.id); // it moved on: paired, or dropped
      else qrError.show(`Could not show the QR code: ${errorText(error)}`, { error: true });
    } finally {
      qrLoading = false;
    }
  }

  function startQr() {
    if (qrTimer !== null) return;
    fetchQr();
    qrTimer = setInterval(fetchQr, QR_REFRESH_MS);
  }

  function stopQr() {
    clearInterval(qrTimer);
    qrTimer = null;
  }

  async function requestCode(event) {
    event.preventDefault();
    const phone = pairingPhone(phoneInput.value);
    setFieldError(phoneInput, phone.error ?? "");
    if (phone.error) return phoneInput.focus();
    setBusy(codeButton, true, "Asking…");
    try {
      const path = `/whatsapp-sessions/${encodeURIComponent(current.id)}/pairing-code`;
      const answer = await deps.api.request("POST", path, { body: { phoneNumber: phone.value } });
      if (closed) return;
      code.textContent = String(answer?.code ?? "");
      code.hidden = !code.textContent;
      codeHint.hidden = code.hidden;
    } catch (error) {
      if (closed || deps.fail(error)) return;
      setFieldError(phoneInput, `Could not get a pairing code: ${errorText(error)}`);
      phoneInput.focus();
      if (error?.status === 409) deps.refreshSession(current.id);
    } finally {
      setBusy(codeButton, false);
    }
  }

  function update(next) {
    current = next;
    const waiting = next.status === SCAN_QR_CODE;
    const paired = next.status === WORKING;
    heading.textContent = paired ? `${numberTitle(next)} is paired` : `Pair ${numberTitle(next)}`;
    // While it waits for a scan, the steps say it all; otherwise, why there is no code to scan.
    state.textContent = waiting || paired ? "" : statusHint(next.status);
    state.hidden = waiting || paired;
    qrPart.hidden = !waiting;
    codePart.hidden = paired;
    done.hidden = !paired;
    done.textContent = paired ? `Paired with ${pairedText(next) || "the phone"}. Campaigns can now send through it.` : "";
    closeButton.textContent = paired ? "Done" : "Hide";
    closeButton.setAttribute("aria-label", `${closeButton.textContent}: close the pairing of ${numberTitle(next)}`);
    if (waiting) return startQr();
    stopQr();
    image.hidden = true;
    image.removeAttribute("src");
    qrNote.textContent = "";
  }

  function destroy() {
    closed = true;
    stopQr();
    element.remove();
  }

  update(session);
  return { element, update, destroy, focus: () => heading.focus() };
}
