// A campaign's send window on the form: the hours, the time zone (the
// browser's own preselected) and the days; checked here as the API checks it.

export const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
// When the browser cannot list its time zones: a few, and UTC.
const FALLBACK_ZONES = [
  "UTC", "Europe/London", "Europe/Madrid", "Europe/Berlin", "America/New_York", "America/Chicago",
  "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "America/Mexico_City", "Asia/Kolkata",
  "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "Africa/Johannesburg",
];

/** The browser's IANA time zone, or "UTC" when it does not say. */
export function browserTimeZone(intl = Intl) {
  try {
    return intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** Every IANA zone the browser knows, sorted, with UTC and the browser's own zone always in. */
export function timeZones(intl = Intl) {
  let zones = [];
  try {
    zones = typeof intl.supportedValuesOf === "function" ? intl.supportedValuesOf("timeZone") : [];
  } catch {
    zones = [];
  }
  const all = new Set(zones.length ? zones : FALLBACK_ZONES);
  all.add("UTC");
  all.add(browserTimeZone(intl));
  return [...all].sort((a, b) => a.localeCompare(b));
}

/**
 * The API's `sendWindow` from the form's values, or the problems per field:
 * `{ window }` (null when the window is off) or `{ problems: { start?, end?, days? } }`.
 * All seven days selected means every day, so `days` is left out.
 */
export function readSendWindow({ enabled, start, end, timeZone, days }) {
  if (!enabled) return { window: null };
  const problems = {};
  if (!CLOCK.test(start ?? "")) problems.start = "Enter a time as HH:MM, e.g. 09:00.";
  if (!CLOCK.test(end ?? "")) problems.end = "Enter a time as HH:MM, e.g. 20:00.";
  if (!problems.start && !problems.end && start === end) problems.end = "The window must end at another time than it starts.";
  const chosen = DAYS.filter((day) => (days ?? []).includes(day));
  if (chosen.length === 0) problems.days = "Choose at least one day.";
  if (!timeZone) problems.timeZone = "Choose a time zone.";
  if (Object.keys(problems).length) return { problems };
  const window = { start, end, timeZone };
  if (chosen.length < DAYS.length) window.days = chosen;
  return { window };
}

function dayRanges(days) {
  const indexes = days.map((day) => DAYS.indexOf(day)).filter((i) => i >= 0).sort((a, b) => a - b);
  const ranges = [];
  for (const i of indexes) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else ranges.push([i, i]);
  }
  return ranges
    .map(([from, to]) => (to - from >= 2 ? `${DAYS[from]}–${DAYS[to]}` : from === to ? DAYS[from] : `${DAYS[from]}, ${DAYS[to]}`))
    .join(", ");
}

/** "09:00–20:00 (Europe/Madrid), Mon–Fri"; "" for no window. A window past midnight says so. */
export function describeSendWindow(window) {
  if (!window?.start || !window?.end) return "";
  const overnight = window.end < window.start ? " (through midnight)" : "";
  const days = Array.isArray(window.days) && window.days.length && window.days.length < 7 ? `, ${dayRanges(window.days)}` : ", every day";
  return `${window.start}–${window.end}${overnight} (${window.timeZone || "UTC"})${days}`;
}
