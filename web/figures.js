// A campaign's figures as the page shows them: progress counts, delivered and
// read rates, messages per minute and the time left. Pure functions, no DOM.

const MINUTE_MS = 60_000;
// The rate of a running campaign is measured over its last ten minutes of sends.
export const RATE_WINDOW_MS = 10 * MINUTE_MS;
// Shorter than this, a rate says more about chance than about pacing.
const MIN_SPAN_MS = 30_000;

export function count(value) {
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? Math.floor(number) : 0;
}

/** Sent, failed, unknown and skipped contacts of the total, and how many are handled. */
export function progressOf(campaign) {
  const sent = count(campaign?.sentCount);
  const failed = count(campaign?.failedCount);
  const unknown = count(campaign?.unknownCount);
  const skipped = count(campaign?.skippedCount);
  const done = sent + failed + unknown + skipped;
  const total = Math.max(count(campaign?.totalContacts), done);
  return { total, sent, failed, unknown, skipped, done, left: total - done };
}

/** part / whole, or null when there is nothing to divide by. */
export function ratio(part, whole) {
  const denominator = count(whole);
  return denominator ? Math.min(count(part), denominator) / denominator : null;
}

/** "42%" (one decimal under 10 %), or "—" for no ratio. */
export function percent(fraction) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  const value = fraction * 100;
  if (value > 0 && value < 10 && !Number.isInteger(value)) return `${value.toFixed(1)}%`;
  return `${Math.round(value)}%`;
}

/** Delivered and read as fractions of the messages sent (WhatsApp acknowledges only those). */
export function ackRates(campaign) {
  const sent = count(campaign?.sentCount);
  return { delivered: ratio(campaign?.deliveredCount, sent), read: ratio(campaign?.readCount, sent) };
}

/**
 * Messages handled per minute, from the times (ms) of deliveries. While running: over the
 * last RATE_WINDOW_MS up to now (or since the first delivery, when that is later); else over
 * the span from the first to the last delivery. Null when the span is too short to tell.
 */
export function perMinute(times, { nowMs, running }) {
  const sorted = times.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length < 2 && !running) return null;
  if (sorted.length === 0) return null;
  const end = running ? nowMs : sorted[sorted.length - 1];
  const start = running ? Math.max(end - RATE_WINDOW_MS, sorted[0]) : sorted[0];
  const span = end - start;
  if (span < MIN_SPAN_MS) return null;
  const inWindow = sorted.filter((time) => time >= start && time <= end).length;
  return (inWindow / span) * MINUTE_MS;
}

/** "12.5 a minute", "1 every 45 s" for slow pacing, or "—". */
export function formatRate(perMinuteValue) {
  if (perMinuteValue === null || !Number.isFinite(perMinuteValue)) return "—";
  if (perMinuteValue < 1 && perMinuteValue > 0) return `1 every ${Math.round(60 / perMinuteValue)} s`;
  const shown = perMinuteValue < 10 ? perMinuteValue.toFixed(1).replace(/\.0$/, "") : Math.round(perMinuteValue);
  return `${shown} a minute`;
}

/** "under a minute", "12 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms) {
  const minutes = Math.round(Math.max(0, ms) / MINUTE_MS);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** How far away an ISO time is: "in 12 min", "any moment now" (or past), or "" when there is none. */
export function timeFromNow(iso, nowMs) {
  if (!iso) return "";
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return "";
  const left = at - nowMs;
  if (left < 30_000) return "any moment now";
  return `in ${formatDuration(left)}`;
}
