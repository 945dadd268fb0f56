// The Opt-outs view's rules: numbers typed in a box or read from a CSV file, the
// API's per-number errors put back on the line they came from, and how an entry of
// the list is described. Pure functions, tested in Node (tests/optouts.test.mjs).

import { parseCsv } from "./csv.js";

/** POST /opt-outs takes at most this many numbers a request. */
export const NUMBERS_PER_REQUEST = 1000;
export const MAX_NUMBER_LENGTH = 64;

const HEADER_NAMES = new Set(["phonenumber", "phone", "number", "mobile", "whatsapp"]);
const headerName = (cell) => cell.trim().toLowerCase().replace(/[\s_-]/g, "");

/**
 * The numbers of the "add" box: one per line, or separated by commas or semicolons.
 * @returns {{ value: string, position: number }[]} as written (trimmed), blanks left out
 */
export function splitNumbers(text) {
  return String(text ?? "")
    .split(/[\n\r,;]+/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((value, position) => ({ value, position }));
}

/**
 * The numbers of a CSV file: the `phoneNumber` column of a file with a header row (any
 * case; `phone` or `number` too; other columns ignored), or one number per line.
 * @returns {{ numbers: { line: number, value: string }[], errors: { line: number, message: string }[] }}
 */
export function numbersFromCsv(text) {
  const { records, errors } = parseCsv(text);
  const rows = records.filter((record) => record.fields.some((cell) => cell.trim()));
  const numbers = [];
  if (rows.length === 0) {
    return { numbers, errors: [...errors, { line: 1, message: "the file has no numbers: one per line, or a phoneNumber column" }] };
  }
  const column = rows[0].fields.findIndex((cell) => HEADER_NAMES.has(headerName(cell)));
  for (const { line, fields } of column === -1 ? rows : rows.slice(1)) {
    const cells = fields.map((cell) => cell.trim());
    if (column === -1 && cells.filter(Boolean).length > 1) {
      errors.push({ line, message: `has ${cells.filter(Boolean).length} values: one number per line, or a header row with a phoneNumber column` });
      continue;
    }
    const value = column === -1 ? cells.find(Boolean) : cells[column] ?? "";
    if (!value) errors.push({ line, message: "no phone number" });
    else if (value.length > MAX_NUMBER_LENGTH) errors.push({ line, message: `longer than ${MAX_NUMBER_LENGTH} characters` });
    else numbers.push({ line, value });
  }
  errors.sort((a, b) => a.line - b.line);
  return { numbers, errors };
}

/**
 * The API's 422 for POST /opt-outs, per number: position in the request -> reason.
 * Details carry `position`, or a field such as `phoneNumbers[3]`.
 * @returns {Map<number, string>}
 */
export function refusedPositions(details) {
  const refused = new Map();
  for (const detail of Array.isArray(details) ? details : []) {
    if (!detail || typeof detail !== "object") continue;
    let position = Number.isInteger(detail.position) ? detail.position : null;
    const indexed = /phoneNumbers\W*(\d+)/.exec(String(detail.field ?? ""));
    if (position === null && indexed) position = Number(indexed[1]);
    if (position === null) continue;
    refused.set(position, String(detail.message ?? detail.msg ?? "refused"));
  }
  return refused;
}

/** How a number came onto the list, in the user's words. */
export function sourceText(entry) {
  if (entry?.source === "keyword") return entry.keyword ? `Replied "${entry.keyword}"` : "Replied with an opt-out word";
  if (entry?.source === "import") return "Imported from a file";
  if (entry?.source === "manual") return "Added by you";
  return String(entry?.source ?? "—");
}

const count = (n, one, many) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

/** One sentence on what a POST (or several) did. */
export function addedSummary({ added = 0, already = 0, refused = 0 } = {}) {
  const parts = [`${count(added, "number", "numbers")} added to the opt-out list`];
  if (already) parts.push(`${count(already, "was", "were")} on it already`);
  if (refused) parts.push(`${count(refused, "line was", "lines were")} left out (see below)`);
  return `${parts.join("; ")}.`;
}

/** The error line for one number the API refused, where the user can find it. */
export function refusedText(where, value, message) {
  return value ? `${where} ("${value}"): ${message}` : `${where}: ${message}`;
}

/** Does a 422 refuse the country (the query's `defaultCountry`) rather than a number? */
export function refusesCountry(details) {
  return (Array.isArray(details) ? details : []).some((detail) => detail?.field === "defaultCountry");
}
