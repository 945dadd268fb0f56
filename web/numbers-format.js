// What the Numbers view says about a WhatsApp number, and the rules of its inputs:
// pure functions, tested in Node (tests/numbers.test.mjs).

/** How often the list is read again while a number is not WORKING (the list costs no WAHA call). */
export const POLL_MS = 3000;
/** WAHA rotates the pairing QR code about every 20 s; fetch it again before the shown one expires. */
export const QR_REFRESH_MS = 15000;
/** A newly paired number that sends a lot at once is the kind WhatsApp bans: start low. */
export const SUGGESTED_DAILY_LIMIT = 200;
export const MAX_DAILY_LIMIT = 100000;
export const MAX_LABEL_LENGTH = 100;

export const WORKING = "WORKING";
export const SCAN_QR_CODE = "SCAN_QR_CODE";

const HINTS = {
  WORKING: "Connected: campaigns can send through it.",
  SCAN_QR_CODE: "Waiting to be paired: scan its QR code with the phone, or use a pairing code.",
  STARTING: "Starting: the QR code to pair it follows in a few seconds.",
  FAILED: "WhatsApp's gateway could not start it. Disconnect it and connect the number again.",
  STOPPED: "Stopped: campaigns on it wait until it is connected again.",
};

/** The name a person knows the number by. */
export function numberTitle(session) {
  return String(session?.label || session?.phoneNumber || "WhatsApp number");
}

/** The paired number and its WhatsApp name, or "" before it is paired. */
export function pairedText(session) {
  const phone = session?.phoneNumber ? String(session.phoneNumber) : "";
  const name = session?.pushName ? String(session.pushName) : "";
  if (phone && name) return `${phone} (${name})`;
  return phone || name;
}

/** One sentence on what a status means for the user. */
export function statusHint(status) {
  return HINTS[status] ?? `WhatsApp's gateway reports ${status || "no status"}: campaigns on it wait until it is WORKING.`;
}

/** The badge class (styles.css) for a session status. */
export function statusTone(status) {
  if (status === WORKING) return "badge-working";
  if (status === "FAILED") return "badge-failed";
  if (status === SCAN_QR_CODE || status === "STARTING") return "badge-scheduled";
  return "badge-other";
}

/** Is any number still on its way to WORKING (so the list is worth reading again)? */
export function needsPolling(sessions) {
  return (sessions ?? []).some((session) => session && session.status !== WORKING);
}

/** The sessions of a list answer (`{items}` or an array), those with an id. */
export function sessionsOf(answer) {
  const items = Array.isArray(answer) ? answer : Array.isArray(answer?.items) ? answer.items : [];
  return items.filter((session) => session && typeof session.id === "string" && session.id);
}

/**
 * A daily limit as typed: a whole number from 1 to 100,000.
 * @returns {{ value: number } | { error: string }}
 */
export function parseDailyLimit(text) {
  const written = String(text ?? "").trim().replace(/[\s,_]/g, "");
  if (!written) return { error: "Give a daily limit: the most messages a day through this number." };
  if (!/^\d+$/.test(written)) return { error: "The daily limit is a whole number of messages, e.g. 200." };
  const value = Number(written);
  if (value < 1 || value > MAX_DAILY_LIMIT) {
    return { error: `The daily limit is between 1 and ${MAX_DAILY_LIMIT.toLocaleString("en-US")} messages.` };
  }
  return { value };
}

/**
 * The label as typed: trimmed, at most 100 characters; "" means none.
 * @returns {{ value: string } | { error: string }}
 */
export function parseLabel(text) {
  const value = String(text ?? "").trim();
  if (value.length > MAX_LABEL_LENGTH) return { error: `Keep the name under ${MAX_LABEL_LENGTH + 1} characters.` };
  return { value };
}

/** The body of a PATCH: only what changed (the API cannot clear a label, so an emptied one is kept). */
export function changesOf(session, label, dailyLimit) {
  const body = {};
  if (label && label !== (session?.label ?? "")) body.label = label;
  if (dailyLimit !== Number(session?.dailyLimit)) body.dailyLimit = dailyLimit;
  return body;
}

/** A phone number for a pairing code as typed: punctuation dropped; the API judges the rest. */
export function pairingPhone(text) {
  const compact = String(text ?? "").trim().replace(/[\s().\-\u00a0]/g, "");
  if (!compact) return { error: "Type the phone number of the WhatsApp account to pair, e.g. +34 612 345 678." };
  if (!/^\+?\d{6,15}$/.test(compact)) {
    return { error: "Type the number in international format: + and the country code, then the number." };
  }
  return { value: compact };
}

/** What disconnecting a number does, for the confirmation before it. */
export function disconnectQuestion(session) {
  const paired = pairedText(session);
  const which = paired && session?.label ? `${session.label} (${paired})` : numberTitle(session);
  return (
    `This logs ${which} out of WhatsApp's gateway and deletes its connection; scheduled campaigns on it are paused. ` +
    "To send from it again, you connect and pair it anew."
  );
}
