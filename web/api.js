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
  async function request(method, path, { query, body } = {}) {
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

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
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

  const id = (value) => encodeURIComponent(value);

  /** A PNG the API answers (a pairing QR code), as a data: URL for an <img>. */
  async function image(path) {
    const headers = { Accept: "image/png" };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(`${normaliseBaseUrl(getBaseUrl())}${path}`, {
        headers,
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "Could not reach the API for the QR code.");
    }
    if (!response.ok) {
      const data = await readBody(response);
      const message = data && typeof data.message === "string" ? data.message : fallbackMessage(response);
      throw new ApiError(response.status, message);
    }
    // A data: URL, which the dashboard's Content-Security-Policy allows for images.
    const blob = await response.blob();
    return await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new ApiError(0, "The QR code could not be read."));
      reader.readAsDataURL(blob);
    });
  }

  return {
    request,
    listCampaigns: ({ limit, nextToken } = {}) => request("GET", "/campaigns", { query: { limit, nextToken } }),
    getCampaign: (campaignId) => request("GET", `/campaigns/${id(campaignId)}`),
    campaignAction: (campaignId, action) => request("POST", `/campaigns/${id(campaignId)}/${action}`),
    listDeliveries: (campaignId, { status, nextToken, limit } = {}) =>
      request("GET", `/campaigns/${id(campaignId)}/deliveries`, { query: { status, nextToken, limit } }),
    createContactList: (name, contacts) => request("POST", "/contact-lists", { body: { name, contacts } }),
    appendContacts: (listId, contacts) =>
      request("POST", `/contact-lists/${id(listId)}/contacts`, { body: { contacts } }),
    createTemplate: (name, textContent) => request("POST", "/message-templates", { body: { name, textContent } }),
    createMediaItem: (name, storagePath, mimeType) =>
      request("POST", "/media-items", { body: { name, storagePath, mimeType } }),
    listSessions: () => request("GET", "/whatsapp-sessions"),
    connectNumber: (label) => request("POST", "/whatsapp-sessions", { body: label ? { label } : {} }),
    sessionQrImage: (sessionId) => image(`/whatsapp-sessions/${id(sessionId)}/qr`),
    createCampaign: (body) => request("POST", "/campaigns", { body }),
  };
}
