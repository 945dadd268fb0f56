// Adding numbers to the opt-out list through POST /opt-outs, 1,000 a request. The API
// takes a request whole or not at all: a 422 names the refused numbers by position,
// and those are put back on the line or item they came from.

import { chunk } from "./csv.js";
import { NUMBERS_PER_REQUEST, refusedPositions } from "./optouts-format.js";

/**
 * @param {object} api the dashboard's API client
 * @param {{ value: string, where: string }[]} entries numbers as written, each with where it came from
 * @param {{ country?: string, leaveOutRefused?: boolean }} options with `leaveOutRefused`, a request
 *   the API refuses for some numbers is sent again without them (a file); otherwise nothing of it is saved
 * @returns {Promise<{ added: number, already: number, refused: { where: string, value: string, message: string }[], error: unknown }>}
 *   `error`: what stopped the upload (a 401, the network, a refusal without positions), or null
 */
export async function addOptOuts(api, entries, { country = "", leaveOutRefused = false } = {}) {
  const result = { added: 0, already: 0, refused: [], error: null };
  const query = country ? { defaultCountry: country } : undefined;
  for (const part of chunk(entries, NUMBERS_PER_REQUEST)) {
    let pending = part;
    while (pending.length > 0) {
      try {
        const numbers = pending.map((entry) => entry.value);
        // A file's numbers go as CSV, so the list records them as imported; typed ones as JSON.
        const payload = leaveOutRefused
          ? { text: csvOfNumbers(numbers), contentType: "text/csv" }
          : { body: { phoneNumbers: numbers } };
        const answer = await api.request("POST", "/opt-outs", { query, ...payload });
        result.added += Array.isArray(answer?.added) ? answer.added.length : 0;
        result.already += Array.isArray(answer?.alreadyOptedOut) ? answer.alreadyOptedOut.length : 0;
        break;
      } catch (error) {
        const refused = error?.status === 422 ? refusedPositions(error.details) : new Map();
        if (refused.size === 0) return { ...result, error };
        for (const [position, message] of refused) {
          const entry = pending[position];
          if (entry) result.refused.push({ where: entry.where, value: entry.value, message });
        }
        if (!leaveOutRefused) return result;
        const rest = pending.filter((_, position) => !refused.has(position));
        if (rest.length === pending.length) return { ...result, error }; // refused, but not for these numbers
        pending = rest;
      }
    }
  }
  return result;
}

/** Numbers as a CSV with a `phoneNumber` header, each cell quoted (row i is number i). */
export function csvOfNumbers(numbers) {
  const cell = (value) => `"${String(value).replaceAll('"', '""')}"`;
  return ["phoneNumber", ...numbers.map(cell)].join("\r\n") + "\r\n";
}
