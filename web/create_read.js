// Reading the create form: its values as the API takes them, each problem next
// to its field, and the live preview of the message.

import { localInputToUtcIso } from "./dom.js";
import { OPT_OUT_FOOTER, renderMessage } from "./personalise.js";
import { DAYS, readSendWindow } from "./sendwindow.js";

const MIME_BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif",
  mp4: "video/mp4", "3gp": "video/3gpp", ogg: "audio/ogg", opus: "audio/ogg", mp3: "audio/mpeg",
  m4a: "audio/mp4", pdf: "application/pdf",
};

export function guessMimeType(url) {
  try {
    const path = new URL(url).pathname.toLowerCase();
    const extension = path.includes(".") ? path.split(".").pop() : "";
    return MIME_BY_EXTENSION[extension] ?? "";
  } catch {
    return "";
  }
}

export function mediaNameFrom(url) {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop() || "");
  } catch {
    return "";
  }
}

/** Seconds typed in a field as milliseconds: `{ ms }` (undefined when empty) or `{ error }`. */
export function readSeconds(raw) {
  const text = String(raw ?? "").trim();
  if (text === "") return { ms: undefined };
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) return { error: "Enter a number of seconds, 0 or more." };
  return { ms: Math.round(seconds * 1000) };
}

const chosen = (radios) => Object.entries(radios.inputs).find(([, input]) => input.checked)?.[0] ?? "";

/** The message's text as chosen: the saved template's, or the one being written. */
export function messageText(el, data) {
  if (chosen(el.templateSource) === "saved") return data.templates.find((item) => item.id === el.template.value)?.textContent ?? "";
  return el.text.value;
}

/**
 * The form's values and its problems (control -> message).
 * @param {object} el the controls (create_form.js)
 * @param {{ sessions: object[] | null, templates: object[], csv: object }} data
 */
export function readCreateForm(el, data) {
  const problems = new Map();
  const values = {
    name: el.name.value.trim(),
    sessionId: el.session.value,
    defaultName: el.defaultName.value.trim(),
    optOutFooter: el.footer.input.checked,
  };
  if (!values.name) problems.set(el.name, "Give the campaign a name.");
  if (data.sessions && data.sessions.length === 0) problems.set(el.session, "Connect a WhatsApp number first (Numbers).");

  if (chosen(el.listSource) === "saved") {
    values.list = { kind: "saved", id: el.list.value };
    if (!el.list.value) problems.set(el.list, "Choose a saved list, or upload a CSV file.");
  } else {
    const { contacts, fileKey, fileName } = data.csv;
    values.list = { kind: "upload", contacts, fileKey, fileName, defaultCountry: el.country.value.trim().toUpperCase() };
    if (!fileKey) problems.set(el.csv, "Choose a CSV file of contacts.");
    else if (contacts.length === 0) problems.set(el.csv, "The file has no usable contacts.");
    if (values.list.defaultCountry && !/^[A-Z]{2}$/.test(values.list.defaultCountry)) {
      problems.set(el.country, "Two letters, e.g. GB.");
    }
  }

  if (chosen(el.templateSource) === "saved") {
    values.template = { kind: "saved", id: el.template.value };
    if (!el.template.value) problems.set(el.template, "Choose a saved message, or write one.");
  } else {
    values.template = { kind: "write", text: el.text.value };
    if (!el.text.value.trim()) problems.set(el.text, "Write the message.");
  }
  if (!values.defaultName) problems.set(el.defaultName, "Give a name to use when a contact has none.");

  values.media = null;
  if (el.media.value === "url") {
    const url = el.mediaUrl.value.trim();
    const mime = el.mediaMime.value || guessMimeType(url);
    let parsed = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (!parsed || parsed.protocol !== "https:") problems.set(el.mediaUrl, "Enter an https:// address.");
    else if (!mime) problems.set(el.mediaMime, "Choose the media type; it cannot be told from the address.");
    values.media = { kind: "url", url, mime };
  } else if (el.media.value) {
    values.media = { kind: "saved", id: el.media.value };
  }

  const min = readSeconds(el.minDelay.value);
  const max = readSeconds(el.maxDelay.value);
  if (min.error) problems.set(el.minDelay, min.error);
  if (max.error) problems.set(el.maxDelay, max.error);
  if (!min.error && !max.error && min.ms !== undefined && max.ms !== undefined && min.ms > max.ms) {
    problems.set(el.maxDelay, "The longest pause must be at least the shortest.");
  }
  values.minDelayMs = min.ms;
  values.maxDelayMs = max.ms;

  const window = readSendWindow({
    enabled: el.window.input.checked,
    start: el.windowStart.value,
    end: el.windowEnd.value,
    timeZone: el.windowZone.value,
    days: DAYS.filter((day) => el.days[day].input.checked),
  });
  const windowControls = { start: el.windowStart, end: el.windowEnd, timeZone: el.windowZone, days: el.windowPart.querySelector("#window-days") };
  for (const [key, message] of Object.entries(window.problems ?? {})) problems.set(windowControls[key], message);
  values.sendWindow = window.window ?? null;

  values.scheduledAt = null;
  if (el.scheduledAt.value) {
    values.scheduledAt = localInputToUtcIso(el.scheduledAt.value);
    if (!values.scheduledAt) problems.set(el.scheduledAt, "Enter a valid date and time.");
  }
  return { values, problems, controls: [el.name, el.session, el.list, el.csv, el.country, el.template, el.text, el.defaultName,
    el.mediaUrl, el.mediaMime, el.minDelay, el.maxDelay, ...Object.values(windowControls), el.scheduledAt] };
}

/** The preview: the message as the first uploaded contact (or a contact without a name) gets it. */
export function renderPreview(el, data) {
  const text = messageText(el, data);
  const first = chosen(el.listSource) === "upload" ? data.csv.contacts[0] : null;
  if (first) {
    el.previewFor.textContent = `Preview for the first contact, ${first.phoneNumber}${first.firstName ? ` (${first.firstName})` : " (no first name)"}:`;
  } else if (chosen(el.listSource) === "upload") {
    el.previewFor.textContent = "Preview (no contacts loaded yet, so the name for contacts without one is used):";
  } else {
    el.previewFor.textContent = "Preview for a contact without a first name:";
  }
  el.preview.classList.toggle("preview-empty", !text);
  el.preview.textContent = text
    ? renderMessage(text, first?.firstName, el.defaultName.value, el.footer.input.checked ? OPT_OUT_FOOTER : "")
    : "Write or choose the message to see it here.";
}
