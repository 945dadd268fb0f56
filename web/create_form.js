// The create form's fields, built once: the number, the contacts (a saved list or a
// CSV), the message (a saved template or a new one, with its live preview), the
// media, the pacing, the send window, the start time and the test to one's phone.

import { h } from "./dom.js";
import { checkbox, field } from "./forms.js";
import { OPT_OUT_FOOTER } from "./personalise.js";
import { DAYS, browserTimeZone, timeZones } from "./sendwindow.js";

export const MIME_TYPES = [
  ["image/jpeg", "JPEG image"], ["image/png", "PNG image"], ["image/webp", "WebP image"], ["video/mp4", "MP4 video"],
  ["audio/ogg", "OGG audio"], ["audio/mpeg", "MP3 audio"], ["application/pdf", "PDF document"],
];

function radios(name, legend, choices) {
  const inputs = {};
  const labels = choices.map(([value, text]) => {
    const input = h("input", { type: "radio", name, value, id: `${name}-${value}`, "data-testid": `${name}-${value}` });
    inputs[value] = input;
    return h("label", { class: "check", for: input.id }, input, ` ${text}`);
  });
  return { inputs, node: h("fieldset", { class: "choice" }, h("legend", {}, legend), labels) };
}

const select = (attrs = {}, ...options) => h("select", attrs, ...options);

const input = (attrs) => h("input", { autocomplete: "off", ...attrs });

/** The form and every control of it, by name. */
export function buildCreateForm() {
  const el = {
    name: input({ type: "text", maxlength: 200, required: true }),
    session: select(),
    sessionHint: h("p", { class: "hint", "data-testid": "session-select-hint" }),
    listSource: radios("list-source", "Contacts from", [["saved", "A saved list"], ["upload", "A CSV file"]]),
    list: select(),
    csv: h("input", { type: "file", accept: ".csv,text/csv" }),
    country: input({ type: "text", maxlength: 2, autocapitalize: "characters", spellcheck: "false", placeholder: "e.g. GB" }),
    csvSummary: h("p", { class: "csv-summary", id: "csv-summary", "data-testid": "csv-summary" }),
    csvErrors: h("ul", { class: "csv-errors", "data-testid": "csv-errors", hidden: true }),
    templateSource: radios("template-source", "Message from", [["saved", "A saved message"], ["write", "Write a new one"]]),
    template: select(),
    text: h("textarea", { rows: 5, required: true }),
    defaultName: input({ type: "text", required: true, placeholder: "e.g. there", maxlength: 100 }),
    footer: checkbox({ id: "optout-footer-input", label: `Append “${OPT_OUT_FOOTER}”` }),
    previewFor: h("p", { class: "preview-label", id: "template-preview-for", "data-testid": "template-preview-for" }, "Preview"),
    preview: h("p", { class: "preview-text", "data-testid": "template-preview" }),
    media: select(),
    mediaUrl: input({ type: "url", inputmode: "url", spellcheck: "false", placeholder: "https://example.com/picture.jpg" }),
    mediaMime: select({}, h("option", { value: "" }, "From the address"), MIME_TYPES.map(([value, text]) => h("option", { value }, text))),
    minDelay: input({ type: "number", min: 0, step: "any", inputmode: "decimal" }),
    maxDelay: input({ type: "number", min: 0, step: "any", inputmode: "decimal" }),
    window: checkbox({ id: "window-enabled-input", label: "Only send during these hours" }),
    windowStart: input({ type: "time", value: "09:00" }),
    windowEnd: input({ type: "time", value: "20:00" }),
    windowZone: select({}, timeZones().map((zone) => h("option", { value: zone }, zone))),
    days: Object.fromEntries(DAYS.map((day) => [day, checkbox({ id: `window-day-${day}`, label: day, checked: true })])),
    scheduledAt: input({ type: "datetime-local" }),
    submit: h("button", { type: "submit", class: "button button-primary", "data-testid": "create-submit" }, "Create campaign"),
    progress: h("p", { class: "muted", "data-testid": "create-progress", role: "status", "aria-live": "polite" }),
  };
  el.windowZone.value = browserTimeZone();
  const remove = (testid, what) => h("button", { type: "button", class: "button button-small action-cancel", "data-testid": testid }, `Delete this ${what}…`);
  el.deleteList = remove("delete-list-button", "list");
  el.deleteTemplate = remove("delete-template-button", "message");
  el.deleteMedia = remove("delete-media-button", "media");

  el.savedListPart = h("div", { class: "saved-row", "data-testid": "saved-list-part" },
    field({ id: "list-select", label: "Saved list", control: el.list, hint: "Its contacts are sent in their saved order." }), el.deleteList);
  el.uploadPart = h(
    "div",
    { "data-testid": "upload-part" },
    field({ id: "csv-input", label: "Contacts CSV file", control: el.csv,
      hint: ["A header row ", h("code", {}, "phoneNumber,firstName"), ", then one contact per line. Contacts are sent in file order; the list is saved for next time."] }),
    field({ id: "default-country-input", label: "Country of numbers written without +", optional: true, control: el.country,
      hint: "Two letters (GB, ES, US…); numbers like 07911 123456 are read as that country's." }),
    el.csvSummary,
    el.csvErrors,
  );
  el.savedTemplatePart = h("div", { class: "saved-row" }, field({ id: "template-select", label: "Saved message", control: el.template }), el.deleteTemplate);
  el.writePart = h("div", {}, field({ id: "template-input", label: "Message text", control: el.text,
    hint: [h("code", {}, "{Name}"), " (any letter case) becomes the contact's first name. The message is saved for next time."] }));
  el.mediaUrlPart = h(
    "div",
    { class: "field-row", hidden: true },
    field({ id: "media-url-input", label: "Media address", control: el.mediaUrl, className: "grow",
      hint: "An https address WhatsApp's gateway can download; sent with the message." }),
    field({ id: "media-mime-input", label: "Media type", control: el.mediaMime }),
  );
  el.windowPart = h(
    "div",
    { class: "window-part", "data-testid": "window-part", hidden: true },
    h("div", { class: "field-row" },
      field({ id: "window-start-input", label: "From", control: el.windowStart }),
      field({ id: "window-end-input", label: "Until", control: el.windowEnd, hint: "Before From means through midnight (22:00 until 06:00)." }),
      field({ id: "window-zone-select", label: "In the time zone", control: el.windowZone, className: "grow",
        hint: "The recipients' time; your browser's zone is chosen to start with." })),
    h("fieldset", { class: "choice days", id: "window-days", "aria-describedby": "window-days-error" }, h("legend", {}, "On"),
      Object.values(el.days).map((day) => day.node),
      h("p", { class: "field-error", id: "window-days-error", "data-testid": "window-days-error", hidden: true })),
  );

  el.form = h(
    "form",
    { id: "create-form", "data-testid": "create-form", novalidate: true },
    h("fieldset", {}, h("legend", {}, "Campaign"),
      field({ id: "campaign-name-input", label: "Name", control: el.name }),
      field({ id: "session-select", label: "Send from", control: el.session }),
      el.sessionHint),
    h("fieldset", {}, h("legend", {}, "Contacts"), el.listSource.node, el.savedListPart, el.uploadPart),
    h(
      "fieldset",
      {},
      h("legend", {}, "Message"),
      el.templateSource.node,
      el.savedTemplatePart,
      el.writePart,
      field({ id: "default-name-input", label: "Name for contacts without one", control: el.defaultName }),
      h("div", { class: "field" }, el.footer.node),
      h("div", { class: "preview", role: "group", "aria-labelledby": "template-preview-for" }, el.previewFor, el.preview),
      h("div", { class: "saved-row" }, field({ id: "media-select", label: "Media", optional: true, control: el.media }), el.deleteMedia),
      el.mediaUrlPart,
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Timing"),
      h("div", { class: "field-row" },
        field({ id: "min-delay-input", label: "Shortest pause between messages (seconds)", control: el.minDelay }),
        field({ id: "max-delay-input", label: "Longest pause between messages (seconds)", control: el.maxDelay })),
      h("p", { class: "hint" }, "Optional. Each pause is picked at random between the two; leave empty for the server's defaults (30–60 s)."),
      h("div", { class: "field" }, el.window.node),
      el.windowPart,
      field({ id: "scheduled-at-input", label: "Start at", optional: true, control: el.scheduledAt,
        hint: `Your local time (${browserTimeZone()}). Without one, the campaign waits for Run.` }),
    ),
    h("fieldset", { "data-testid": "test-fieldset" }, h("legend", {}, "Test before launching")),
    h("div", { class: "form-actions" }, el.submit, el.progress),
  );
  el.testSlot = el.form.querySelector('[data-testid="test-fieldset"]');
  return el;
}
