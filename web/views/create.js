// The create form (#/create; #/create?from=<id> starts from a copy of a campaign):
// reuse a saved list and message or upload and write new ones, choose the number,
// media, pacing, send window and start time, try the message on one's own phone,
// then create the campaign and go to its page.

import { errorText } from "../api.js";
import { sessionTitle } from "../campaign_facts.js";
import { buildCreateForm } from "../create_form.js";
import { fillFrom } from "../create_prefill.js";
import { guessMimeType, readCreateForm, renderPreview } from "../create_read.js";
import { createSaver } from "../create_save.js";
import { parseContactsCsv } from "../csv.js";
import { h, replaceChildren } from "../dom.js";
import { allPages, setBusy, setFieldError } from "../forms.js";
import { campaignHref } from "../router.js";
import { wireSavedDelete } from "../saved_delete.js";
import { createTestSend } from "../test_send.js";

export function mount(container, ctx) {
  const el = buildCreateForm();
  const data = { sessions: null, lists: [], templates: [], media: [], csv: { contacts: [], errors: [], fileKey: "", text: "" } };
  const state = { gone: false };
  const saver = createSaver({ api: ctx.api, onProgress: (text) => (el.progress.textContent = text) });
  const note = (text) => ctx.notify(text);

  const test = createTestSend({
    idPrefix: "create",
    onUnauthorized: ctx.onUnauthorized,
    hint: "The campaign is saved first, waiting for Run, so nothing else is sent; then the test goes to this number.",
    send: async (phoneNumber) => {
      const values = checked("No test sent");
      if (!values) return null;
      try {
        const id = await saver.draftFor(values, note);
        return await ctx.api.request("POST", `/campaigns/${encodeURIComponent(id)}/test`, { body: { phoneNumber } });
      } finally {
        el.progress.textContent = "";
      }
    },
  });
  el.testSlot.append(test.node);

  container.replaceChildren(
    h(
      "section",
      { class: "card", "data-testid": "create-view", "aria-labelledby": "create-heading" },
      h("h2", { id: "create-heading", tabindex: "-1" }, "New campaign"),
      h("p", { class: "muted small", "data-testid": "create-loading" }, "Loading your numbers, lists, messages and media…"),
      el.form,
    ),
  );
  const loadingNote = container.querySelector('[data-testid="create-loading"]');

  // ------------------------------------------------------------ the form's parts

  const choice = (radios) => Object.entries(radios.inputs).find(([, input]) => input.checked)?.[0];

  function showParts() {
    el.savedListPart.hidden = choice(el.listSource) !== "saved";
    el.uploadPart.hidden = choice(el.listSource) !== "upload";
    el.savedTemplatePart.hidden = choice(el.templateSource) !== "saved";
    el.writePart.hidden = choice(el.templateSource) !== "write";
    el.mediaUrlPart.hidden = el.media.value !== "url";
    el.deleteList.hidden = !data.lists.length;
    el.deleteTemplate.hidden = !data.templates.length;
    el.deleteMedia.hidden = !data.media.some((item) => item.id === el.media.value);
    el.windowPart.hidden = !el.window.input.checked;
    const session = (data.sessions ?? []).find((item) => item.id === el.session.value);
    replaceChildren(
      el.sessionHint,
      data.sessions && data.sessions.length === 0
        ? ["You have no WhatsApp number connected yet. ", h("a", { href: "#/numbers", "data-testid": "connect-number-link" }, "Connect one"), " first."]
        : session && session.status !== "WORKING"
          ? `This number is ${session.status}: a campaign waits until it is paired and WORKING.`
          : "",
    );
    renderPreview(el, data);
  }

  function fillChoices() {
    const sessions = data.sessions ?? [];
    replaceChildren(
      el.session,
      sessions.length
        ? sessions.map((s) => h("option", { value: s.id }, `${sessionTitle(s)}${s.status === "WORKING" ? "" : ` (${s.status})`}`))
        : h("option", { value: "" }, data.sessions ? "No number connected" : "Your first number"),
    );
    el.session.disabled = data.sessions !== null && sessions.length === 0;
    const options = (items, label, empty) =>
      items.length ? items.map((item) => h("option", { value: item.id }, label(item))) : h("option", { value: "" }, empty);
    replaceChildren(el.list, options(data.lists, (l) => `${l.name} (${l.contactCount} ${l.contactCount === 1 ? "contact" : "contacts"})`, "No saved lists yet"));
    replaceChildren(el.template, options(data.templates, (t) => t.name, "No saved messages yet"));
    replaceChildren(
      el.media,
      h("option", { value: "" }, "No media"),
      data.media.map((item) => h("option", { value: item.id }, `${item.name} (${item.mimeType})`)),
      h("option", { value: "url" }, "An address (URL)…"),
    );
    // Saved items first when there are any; a choice the user made stays while it can.
    if (!choice(el.listSource) || !data.lists.length) el.listSource.inputs[data.lists.length ? "saved" : "upload"].checked = true;
    if (!choice(el.templateSource) || !data.templates.length) el.templateSource.inputs[data.templates.length ? "saved" : "write"].checked = true;
    el.list.disabled = el.listSource.inputs.saved.disabled = data.lists.length === 0;
    el.template.disabled = el.templateSource.inputs.saved.disabled = data.templates.length === 0;
  }

  function readCsv(file) {
    const { contacts, errors } = parseContactsCsv(data.csv.text, { defaultCountry: el.country.value.trim() });
    data.csv = { ...data.csv, contacts, errors };
    if (!data.csv.fileKey) {
      el.csvSummary.textContent = "";
      el.csvErrors.hidden = true;
      replaceChildren(el.csvErrors);
    } else {
      const people = contacts.length === 1 ? "1 contact" : `${contacts.length} contacts`;
      el.csvSummary.textContent = errors.length
        ? `${data.csv.fileName}: ${people} ready; ${errors.length} ${errors.length === 1 ? "row has a problem and is" : "rows have problems and are"} left out:`
        : `${data.csv.fileName}: ${people} ready.`;
      const shown = errors.slice(0, 50);
      replaceChildren(el.csvErrors, shown.map((error) => h("li", {}, `Line ${error.line}: ${error.message}`)),
        errors.length > shown.length ? h("li", {}, `…and ${errors.length - shown.length} more.`) : null);
      el.csvErrors.hidden = errors.length === 0;
    }
    if (file !== undefined) setFieldError(el.csv, "");
    renderPreview(el, data);
  }

  async function chooseFile() {
    const file = el.csv.files?.[0];
    data.csv = { contacts: [], errors: [], fileKey: "", text: "" };
    try {
      if (file) data.csv = { ...data.csv, text: await file.text(), fileKey: `${file.name}:${file.size}:${file.lastModified}`, fileName: file.name };
      readCsv(file);
    } catch (error) {
      readCsv(file);
      setFieldError(el.csv, `Could not read ${file.name}: ${errorText(error)}`);
    }
  }

  /** The values when the form is right; otherwise null, with each problem at its field and in the banner. */
  function checked(what) {
    const { values, problems, controls } = readCreateForm(el, data);
    for (const control of controls) setFieldError(control, problems.get(control) ?? "");
    if (!problems.size) return values;
    ctx.showError(`${what}: ${[...problems.values()].join(" ")}`, "create");
    const first = problems.keys().next().value;
    (first.disabled ? el.name : first.matches("fieldset") ? first.querySelector("input") : first).focus();
    return null;
  }

  // ------------------------------------------------------------ loading and creating

  async function load() {
    const [sessions, lists, templates, media] = await Promise.allSettled(
      ["/whatsapp-sessions", "/contact-lists", "/message-templates", "/media-items"].map((path) => allPages(ctx.api, path)),
    );
    if (state.gone) return;
    const failed = [sessions, lists, templates, media].find((answer) => answer.status === "rejected");
    if (failed && ctx.onUnauthorized(failed.reason)) return;
    data.sessions = sessions.status === "fulfilled" ? sessions.value.items : null;
    data.lists = lists.value?.items ?? [];
    data.templates = templates.value?.items ?? [];
    data.media = media.value?.items ?? [];
    fillChoices();
    loadingNote.hidden = true;
    if (failed) ctx.showError(`Some of your saved items could not be loaded: ${errorText(failed.reason)}`, "create-load");
    if (ctx.params.from) await fillFrom(ctx, el, data);
    showParts();
  }

  async function submit(event) {
    event.preventDefault();
    const values = checked("The campaign was not created");
    if (!values) return;
    setBusy(el.submit, true, "Creating…");
    ctx.clearError("create");
    try {
      const campaign = await saver.create(values, note);
      if (state.gone) return;
      const waits = campaign.scheduledAt ? "" : " It waits for Run.";
      ctx.notify(`Campaign "${campaign.name ?? values.name}" created (${campaign.status ?? "Scheduled"}).${waits}`);
      ctx.navigate(campaignHref(campaign.id));
    } catch (error) {
      if (ctx.onUnauthorized(error)) return;
      ctx.showError(`Could not create the campaign: ${errorText(error)} What was already saved is reused when you try again.`, "create");
    } finally {
      if (!state.gone) {
        setBusy(el.submit, false);
        el.progress.textContent = "";
      }
    }
  }

  for (const radios of [el.listSource, el.templateSource]) {
    for (const input of Object.values(radios.inputs)) input.addEventListener("change", showParts);
  }
  for (const control of [el.session, el.template, el.media, el.window.input, el.footer.input]) control.addEventListener("change", showParts);
  for (const control of [el.text, el.defaultName]) control.addEventListener("input", () => renderPreview(el, data));
  el.csv.addEventListener("change", chooseFile);
  el.country.addEventListener("change", () => readCsv());
  el.mediaUrl.addEventListener("change", () => {
    const guess = guessMimeType(el.mediaUrl.value.trim());
    if (guess && [...el.mediaMime.options].some((option) => option.value === guess)) el.mediaMime.value = guess;
  });
  el.form.addEventListener("submit", submit);
  for (const [kind, button, select, key] of [["list", el.deleteList, el.list, "lists"], ["template", el.deleteTemplate, el.template, "templates"], ["media", el.deleteMedia, el.media, "media"]]) {
    wireSavedDelete({
      kind, button, select, ctx,
      items: () => data[key],
      onDeleted: (item) => {
        data[key] = data[key].filter((candidate) => candidate.id !== item.id);
        const chosen = { list: el.list.value, template: el.template.value, media: el.media.value };
        fillChoices();
        for (const [name, control] of [["list", el.list], ["template", el.template], ["media", el.media]]) {
          if ([...control.options].some((option) => option.value === chosen[name])) control.value = chosen[name];
        }
        showParts();
      },
    });
  }
  showParts();
  load().catch((error) => !state.gone && ctx.showError(`The form could not be prepared: ${errorText(error)}`, "create-load"));

  return {
    unmount() {
      state.gone = true;
    },
  };
}
