// Form pieces every view builds the same way: a labelled field with its hint and
// its error, busy buttons, errors shown next to what they are about.

import { h } from "./dom.js";

/**
 * A labelled field: `<div class="field">` with the label, the control (its id set here), a hint
 * and an error line the control is described by. The error's test id is `<id>-error`.
 */
export function field({ id, label, control, hint, optional = false, className = "" }) {
  control.id = id;
  if (!control.dataset.testid) control.dataset.testid = id;
  const described = [];
  let hintNode = null;
  if (hint) {
    hintNode = h("p", { class: "hint", id: `${id}-hint` }, hint);
    described.push(hintNode.id);
  }
  const error = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `${id}-error`, hidden: true });
  described.push(error.id);
  control.setAttribute("aria-describedby", described.join(" "));
  return h(
    "div",
    { class: `field ${className}`.trim() },
    h("label", { for: id }, label, optional ? h("span", { class: "optional" }, " (optional)") : null),
    control,
    hintNode,
    error,
  );
}

/** A checkbox with its label after it. */
export function checkbox({ id, label, checked = false, testid }) {
  const input = h("input", { type: "checkbox", id, "data-testid": testid ?? id, checked });
  return { input, node: h("label", { class: "check", for: id }, input, ` ${label}`) };
}

/** Mark a control as wrong (or right again) and show the message under it. */
export function setFieldError(control, message) {
  const error = control.id ? document.getElementById(`${control.id}-error`) : null;
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  if (error) {
    error.textContent = message ?? "";
    error.hidden = !message;
  }
}

/** A button busy with its request: disabled, labelled with what it does meanwhile. */
export function setBusy(button, busy, busyLabel) {
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

/**
 * A message line for one section (`role="alert"` when it is an error): where a failure
 * happened, instead of only in the banner at the top. `show(text, { error })`, `clear()`.
 */
export function sectionMessage(testid) {
  const node = h("p", { class: "section-message", "data-testid": testid, role: "status", "aria-live": "polite", hidden: true });
  return {
    node,
    show(text, { error = false } = {}) {
      node.textContent = text;
      node.classList.toggle("section-error", error);
      node.setAttribute("role", error ? "alert" : "status");
      node.hidden = !text;
    },
    clear() {
      node.textContent = "";
      node.hidden = true;
    },
  };
}

/** The items of a page answer, whatever its shape (`{items}` or a bare array). */
export function itemsOf(page) {
  if (Array.isArray(page)) return page;
  return Array.isArray(page?.items) ? page.items : [];
}

/** Every item of a paged listing (`{items, nextToken}`), up to `maxPages` pages. */
export async function allPages(api, path, { maxPages = 10, limit = 100 } = {}) {
  const items = [];
  let nextToken;
  for (let page = 0; page < maxPages; page += 1) {
    const answer = await api.request("GET", path, { query: { limit, nextToken } });
    items.push(...itemsOf(answer));
    nextToken = Array.isArray(answer) ? null : answer?.nextToken;
    if (!nextToken) return { items, complete: true };
  }
  return { items, complete: false };
}
