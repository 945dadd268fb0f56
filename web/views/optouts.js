// The Opt-outs view (#/opt-outs): the numbers the user's campaigns never send to
// (people who replied STOP to one of their numbers, and numbers added here), adding
// some by hand or from a CSV file, and taking one off the list.

import { errorText } from "../api.js";
import { confirmAction } from "../confirm.js";
import { h, replaceChildren, timeElement } from "../dom.js";
import { field, sectionMessage, setBusy, setFieldError } from "../forms.js";
import { addedSummary, numbersFromCsv, refusedText, refusesCountry, sourceText, splitNumbers } from "../optouts-format.js";
import { addOptOuts } from "../optouts-upload.js";

const PAGE_SIZE = 50;

export function mount(container, ctx) {
  const { api } = ctx;
  let alive = true;
  let loadSeq = 0;
  let nextToken = null;

  // A 401 ends the sign-in (the shell says so); after unmounting, nothing is shown at all.
  const fail = (error) => !alive || ctx.onUnauthorized(error);

  // ------------------------------------------------------------------ the page

  const countryInput = h("input", { type: "text", maxlength: 8, autocomplete: "off", autocapitalize: "characters", spellcheck: "false", placeholder: "e.g. ES", "data-testid": "optout-country-input" });
  const countryField = field({
    id: "optout-country-input",
    label: "Country of numbers written without a country code",
    control: countryInput,
    hint: "Two letters (ES, MX, US…). Leave empty when every number starts with + and its country code.",
    optional: true,
  });

  const addInput = h("textarea", { rows: 4, spellcheck: "false", "data-testid": "optout-add-input" });
  const addField = field({ id: "optout-add-input", label: "Numbers to add", control: addInput, hint: "One per line, or separated by commas: +34 612 345 678, +1 415 555 0100" });
  const addErrors = h("ul", { class: "optout-errors", "data-testid": "optout-add-errors", hidden: true });
  const addButton = h("button", { type: "submit", class: "button button-primary", "data-testid": "optout-add-button" }, "Add to the list");
  const addForm = h("form", { novalidate: true, onsubmit: addTyped }, addField, addErrors, h("div", { class: "form-actions" }, addButton));

  const importInput = h("input", { type: "file", accept: ".csv,.txt,text/csv,text/plain", "data-testid": "optout-import-input", onchange: importFile });
  const importField = field({
    id: "optout-import-input",
    label: "Import a CSV file",
    control: importInput,
    hint: "One number per line, or a header row with a phoneNumber column (other columns are ignored). Lines with a problem are listed and left out.",
  });
  const importSummary = sectionMessage("optout-import-summary");
  const importErrors = h("ul", { class: "optout-errors", "data-testid": "optout-import-errors", hidden: true });

  const listStatus = h("p", { class: "muted", "data-testid": "optouts-status", role: "status", "aria-live": "polite" });
  const listError = sectionMessage("optouts-error");
  const body = h("tbody", { "data-testid": "optouts-body" });
  const table = h(
    "table",
    { class: "table optouts-table", "aria-labelledby": "optouts-list-heading" },
    h("thead", {}, h("tr", {}, ...["Phone number", "How it got here", "Since", "Actions"].map((name) => h("th", { scope: "col" }, name)))),
    body,
  );
  const moreButton = h("button", { type: "button", class: "button", "data-testid": "optouts-more-button", hidden: true, onclick: () => load({ more: true }) }, "Load more");

  const root = h(
    "section",
    { class: "card optouts-view", "data-testid": "optouts-view", "aria-labelledby": "optouts-heading" },
    h("h2", { id: "optouts-heading", tabindex: "-1" }, "Opt-outs"),
    h(
      "p",
      { class: "hint" },
      "Your campaigns never send to these numbers. A contact who replies STOP (or PARAR, BAJA, SAIR…) to one of your numbers is added; one who replies START is taken off.",
    ),
    h("div", { class: "optout-forms" }, countryField, addForm, h("div", { class: "optout-import" }, importField, importSummary.node, importErrors)),
    h("h3", { id: "optouts-list-heading" }, "On the list"),
    listStatus,
    listError.node,
    h("div", { class: "table-wrap" }, table),
    h("div", { class: "pager" }, moreButton),
  );
  container.append(root);

  // ------------------------------------------------------------------ the list

  async function load({ more = false } = {}) {
    const seq = ++loadSeq;
    setBusy(moreButton, more, "Loading…");
    if (!more) listStatus.textContent = "Loading the list…";
    try {
      const answer = await api.request("GET", "/opt-outs", { query: { limit: PAGE_SIZE, nextToken: more ? nextToken : undefined } });
      if (seq !== loadSeq || !alive) return;
      const items = (Array.isArray(answer?.items) ? answer.items : []).filter((item) => item?.phoneNumber);
      if (more) body.append(...items.map(row));
      else replaceChildren(body, items.map(row));
      nextToken = answer?.nextToken || null;
      listError.clear();
      showCount();
    } catch (error) {
      if (seq !== loadSeq || fail(error)) return;
      listStatus.textContent = "";
      listError.show(`Could not load the opt-out list: ${errorText(error)}`, { error: true });
    } finally {
      if (seq === loadSeq) setBusy(moreButton, false);
    }
  }

  function showCount() {
    const shown = body.children.length;
    moreButton.hidden = !nextToken;
    listStatus.textContent =
      shown === 0 ? "Nobody is on your opt-out list." : `${shown.toLocaleString("en-US")}${nextToken ? " shown, more below" : " on the list"}, in number order.`;
  }

  function row(entry) {
    const phone = String(entry.phoneNumber);
    const error = sectionMessage("optout-row-error");
    const remove = h("button", {
      type: "button",
      class: "button button-small action-cancel",
      "data-testid": "optout-remove-button",
      "aria-label": `Remove ${phone} from the opt-out list`,
    }, "Remove");
    const tr = h(
      "tr",
      { "data-testid": "optout-row", "data-phone-number": phone },
      h("td", { class: "mono", "data-label": "Phone number" }, phone),
      h("td", { "data-label": "How" }, sourceText(entry)),
      h("td", { "data-label": "Since" }, timeElement(entry.optedOutAt)),
      h("td", { "data-label": "Actions" }, h("div", { class: "actions" }, remove), error.node),
    );
    remove.addEventListener("click", () => removeEntry(tr, phone, remove, error));
    return tr;
  }

  async function removeEntry(tr, phone, button, error) {
    error.clear();
    const sure = await confirmAction({
      title: `Take ${phone} off the opt-out list?`,
      text: "Your campaigns will send to this number again. Only do this when the person asked for it.",
      confirmLabel: "Take it off the list",
      cancelLabel: "Keep it on",
      danger: true,
    });
    if (!sure || !alive) return;
    setBusy(button, true, "Removing…");
    try {
      await api.request("DELETE", `/opt-outs/${encodeURIComponent(phone)}`);
      if (!alive) return;
      focusAfterRemoving(tr);
      tr.remove();
      showCount();
      ctx.notify(`${phone} is off the opt-out list.`);
    } catch (problem) {
      if (fail(problem)) return;
      setBusy(button, false);
      error.show(`Not removed: ${errorText(problem)}`, { error: true });
      button.focus();
    }
  }

  /** Keep the keyboard where it was: on the next row's button, or the one before. */
  function focusAfterRemoving(tr) {
    const neighbour = tr.nextElementSibling ?? tr.previousElementSibling;
    const target = neighbour?.querySelector('[data-testid="optout-remove-button"]');
    if (target) target.focus();
    else root.querySelector("#optouts-heading").focus();
  }

  // ------------------------------------------------------------------ adding

  function showRefused(list, refused) {
    replaceChildren(list, refused.map((item) => h("li", {}, refusedText(item.where, item.value, item.message))));
    list.hidden = refused.length === 0;
  }

  async function addTyped(event) {
    event.preventDefault();
    showRefused(addErrors, []);
    const typed = splitNumbers(addInput.value);
    if (typed.length === 0) {
      setFieldError(addInput, "Type at least one phone number.");
      return addInput.focus();
    }
    setFieldError(addInput, "");
    setFieldError(countryInput, "");
    const entries = typed.map(({ value, position }) => ({ value, where: `Number ${position + 1}` }));
    setBusy(addButton, true, "Adding…");
    const result = await addOptOuts(api, entries, { country: countryInput.value.trim() });
    if (!alive) return;
    setBusy(addButton, false);
    if (result.error && fail(result.error)) return;
    if (result.error) return reportFailure(result.error, addInput);
    if (result.refused.length > 0) {
      setFieldError(addInput, `Nothing was added: ${result.refused.length === 1 ? "one number is" : `${result.refused.length} numbers are`} not right. Correct ${result.refused.length === 1 ? "it" : "them"} and add again.`);
      showRefused(addErrors, result.refused);
      return addInput.focus();
    }
    addInput.value = "";
    ctx.notify(addedSummary({ added: result.added, already: result.already }));
    load();
  }

  async function importFile() {
    const file = importInput.files?.[0];
    setFieldError(importInput, "");
    setFieldError(countryInput, "");
    importSummary.clear();
    showRefused(importErrors, []);
    if (!file) return;
    let parsed;
    try {
      parsed = numbersFromCsv(await file.text());
    } catch (error) {
      return setFieldError(importInput, `The file could not be read: ${errorText(error)}`);
    }
    const lineErrors = parsed.errors.map((item) => ({ where: `Line ${item.line}`, value: "", message: item.message }));
    const entries = parsed.numbers.map(({ line, value }) => ({ value, where: `Line ${line}` }));
    if (entries.length === 0) {
      setFieldError(importInput, `${file.name} has no numbers to add.`);
      return showRefused(importErrors, lineErrors);
    }
    importInput.disabled = true;
    importSummary.show(`Adding ${entries.length.toLocaleString("en-US")} numbers from ${file.name}…`);
    const result = await addOptOuts(api, entries, { country: countryInput.value.trim(), leaveOutRefused: true });
    if (!alive) return;
    importInput.disabled = false;
    importInput.value = "";
    if (result.error && fail(result.error)) return;
    const refused = [...lineErrors, ...result.refused];
    const summary = addedSummary({ added: result.added, already: result.already, refused: refused.length });
    importSummary.show(`${file.name}: ${summary}`);
    showRefused(importErrors, refused.sort((a, b) => lineOf(a) - lineOf(b)));
    if (result.error) reportFailure(result.error, importInput);
    if (result.added || result.already) load();
  }

  function reportFailure(error, control) {
    const target = error?.status === 422 && refusesCountry(error.details) ? countryInput : control;
    setFieldError(target, `Not added: ${errorText(error)}`);
    target.focus();
  }

  load();

  return {
    unmount() {
      alive = false;
      loadSeq += 1;
      root.remove();
    },
  };
}

const lineOf = (item) => Number(/\d+/.exec(item.where)?.[0] ?? 0);
