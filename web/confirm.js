// Confirmations before anything is lost: a modal <dialog> (focus kept inside,
// Escape cancels), the safe choice focused first, focus given back afterwards.

import { h } from "./dom.js";

let counter = 0;

/**
 * Ask, and resolve true when the user confirms.
 * @param {{ title: string, text?: string, confirmLabel: string, cancelLabel?: string,
 *           danger?: boolean, content?: Node[], check?: () => string }} options
 *   `content`: more nodes under the text (e.g. checkboxes); `check`: a problem that keeps the
 *   dialog open (shown in it), or "" to go ahead.
 */
export function confirmAction({ title, text, confirmLabel, cancelLabel = "Cancel", danger = false, content = [], check }) {
  counter += 1;
  const titleId = `dialog-title-${counter}`;
  const textId = `dialog-text-${counter}`;
  const previous = document.activeElement;
  const problem = h("p", { class: "field-error", role: "alert", "data-testid": "confirm-problem", hidden: true });
  const cancel = h("button", { type: "button", class: "button", "data-testid": "confirm-no" }, cancelLabel);
  const confirm = h(
    "button",
    { type: "button", class: `button ${danger ? "button-danger" : "button-primary"}`, "data-testid": "confirm-yes" },
    confirmLabel,
  );
  const dialog = h(
    "dialog",
    { class: "dialog", "data-testid": "confirm-dialog", "aria-labelledby": titleId, "aria-describedby": text ? textId : null },
    h("h2", { id: titleId, class: "dialog-title" }, title),
    text ? h("p", { id: textId }, text) : null,
    content,
    problem,
    h("div", { class: "dialog-actions" }, cancel, confirm),
  );

  return new Promise((resolve) => {
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (previous instanceof HTMLElement && previous.isConnected) previous.focus();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    confirm.addEventListener("click", () => {
      const why = check ? check() : "";
      problem.textContent = why;
      problem.hidden = !why;
      if (!why) finish(true);
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.addEventListener("close", () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
