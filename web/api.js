// The HTTP client for the campaign API: JSON in and out, a bearer token, and
// every failure turned into an ApiError carrying a message a person can read.

const REQUEST_TIMEOUT_MS = 20000;

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when no answer came back
   * @param {string} message the server's `message`, or our own description
   * @param {unknown} [details] the server's `details` (422), when present
   */
  constructor(status, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.details = details;
  }
}

/** Normalise a user-typed base URL: trimmed, no trailing slash; "" means same origin. */
export function normaliseBaseUrl(value) {
  const trimmed = String(value ?? "").trim();
  if (!trimmed) return "";
  return trimmed.replace(/\/+$/, "");
}

/** Is this base URL usable? "" (same origin), an absolute http(s) URL, or a path. */
export function isValidBaseUrl(value) {
  const base = normaliseBaseUrl(value);
  if (!base || base.startsWith("/")) return true;
  try {
    const url = new URL(base);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Readable text for a 422's `details`, whatever shape the server gives them. */
export function describeDetails(details) {
  if (details == null) return "";
  if (typeof details === "string") return details;
  if (Array.isArray(details)) {
    return details
      .map((item) => {
        if (item == null) return "";
        if (typeof item !== "object") return String(item);
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : item.field ?? "";
        const what = item.msg ?? item.message ?? JSON.stringify(item);
        return where ? `${where}: ${what}` : String(what);
      })
      .filter(Boolean)
      .join("; ");
  }
  if (typeof details === "object") {
    return Object.entries(details)
      .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join("; ");
  }
  return String(details);
}

/** The whole message to show for an error, details included. */
export function errorText(error) {
  let text = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError) {
    const extra = describeDetails(error.details);
    if (extra && !text.includes(extra)) text = `${text.replace(/[.\s]+$/, "")} (${extra})`;
  }
  text = text.trim();
  // Messages are joined into sentences on the page, so end each with a full stop.
  return /[.!?)]$/.test(text) ? text : `${text}.`;
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { rawText: text };
  }
}

function fallbackMessage(response) {
  const reason = response.statusText ? ` ${response.statusText}` : "";
  if (response.status === 401) return "Not signed in, or the token was rejected (401).";
  if (response.status === 404) return `Not found (404${reason ? `:${reason}` : ""}).`;
  return `The API answered ${response.status}${reason}.`;
}

/**
 * @param {{ getBaseUrl: () => string, getToken: () => string }} options
 */
export function createApi({ getBaseUrl, getToken }) {
  /** `body` is sent as JSON; `text` as it is, with `contentType` (e.g. a CSV). */
  async function request(method, path, { query, body, text, contentType = "text/plain" } = {}) {
    const base = normaliseBaseUrl(getBaseUrl());
    let url = `${base}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }

    const headers = { Accept: "application/json" };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (text !== undefined) headers["Content-Type"] = contentType;

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: text !== undefined ? text : body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        credentials: "omit",
        cache: "no-store",
      });
    } catch (cause) {
      const where = base || window.location.origin;
      const why = cause?.name === "AbortError" ? "the request timed out" : "network error, wrong URL or CORS";
      throw new ApiError(0, `Could not reach the API at ${where} (${why}).`);
    } finally {
      clearTimeout(timer);
    }

    const data = await readBody(response);
    if (!response.ok) {
      const serverMessage = data && typeof data.message === "string" && data.message.trim() ? data.message : "";
      throw new ApiError(response.status, serverMessage || fallbackMessage(response), data?.details);
    }
    if (data && typeof data === "object" && "rawText" in data) {
      throw new ApiError(response.status, `${method} ${path} did not answer JSON; is the API base URL right?`);
    }
    return data;
  }

  function authorised(accept) {
    const headers = { Accept: accept };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async function failure(response) {
    const data = await readBody(response);
    const message = data && typeof data.message === "string" && data.message.trim() ? data.message : fallbackMessage(response);
    return new ApiError(response.status, message, data?.details);
  }

  /** A PNG the API answers (a pairing QR code), as a data: URL for an <img>. */
  async function sessionQrImage(sessionId) {
    let response;
    try {
      response = await fetch(`${normaliseBaseUrl(getBaseUrl())}/whatsapp-sessions/${encodeURIComponent(sessionId)}/qr`, {
        headers: authorised("image/png"),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "Could not reach the API for the QR code.");
    }
    if (!response.ok) throw await failure(response);
    // A data: URL, which the dashboard's Content-Security-Policy allows for images.
    const blob = await response.blob();
    return await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new ApiError(0, "The QR code could not be read."));
      reader.readAsDataURL(blob);
    });
  }

  /**
   * A file the API answers (a CSV export): `{ blob, filename }`, or `{ url }` when the API
   * answers a link to it instead (`{url}` in JSON). A redirect is not followed: the page's
   * Content-Security-Policy would block the storage service it points at.
   */
  async function download(path, accept = "text/csv") {
    let response;
    try {
      response = await fetch(`${normaliseBaseUrl(getBaseUrl())}${path}`, {
        headers: authorised(`${accept}, application/json;q=0.5`),
        credentials: "omit",
        cache: "no-store",
        redirect: "manual",
      });
    } catch {
      throw new ApiError(0, "Could not reach the API for the download (network error, wrong URL or CORS).");
    }
    if (response.type === "opaqueredirect") {
      throw new ApiError(303, "The API answered the file with a redirect to a download link, which this page cannot follow");
    }
    if (!response.ok) throw await failure(response);
    if ((response.headers.get("Content-Type") ?? "").includes("application/json")) {
      const data = await readBody(response);
      if (typeof data?.url === "string" && /^https:\/\//.test(data.url)) return { url: data.url };
      throw new ApiError(response.status, "The API's answer is neither the file nor a link to it");
    }
    const disposition = response.headers.get("Content-Disposition") ?? "";
    const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1] ?? "";
    return { blob: await response.blob(), filename };
  }

  return { request, sessionQrImage, download };
}
