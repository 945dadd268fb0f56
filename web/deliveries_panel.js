// A campaign's per-contact log on its page: filtered by status, a page at a time,
// and exported whole as CSV (the API's file, fetched with the bearer token).

import { errorText } from "./api.js";
import { none, statusBadge } from "./campaign_display.js";
import { h, replaceChildren, timeElement } from "./dom.js";
import { itemsOf, sectionMessage, setBusy } from "./forms.js";
import { DELIVERY_STATUSES } from "./statuses.js";

const PAGE_SIZE = 50;
const COLUMNS = ["#", "Phone number", "Status", "WhatsApp", "Message id", "Error", "At"];

function row(delivery) {
  const index = delivery.contactIndex;
  const cell = (label, attrs, content) => h("td", { role: "cell", "data-label": label, ...attrs }, content ?? none());
  return h(
    "tr",
    { role: "row", "data-testid": `delivery-row-${index}`, "data-status": delivery.status },
    cell("#", {}, index),
    cell("Phone number", { class: "mono" }, delivery.phoneNumber),
    cell("Status", {}, statusBadge(delivery.status, `delivery-status-${index}`)),
    cell("WhatsApp", { "data-testid": `delivery-ack-${index}` }, delivery.ack || null),
    cell("Message id", { class: "mono wrap" }, delivery.messageId || null),
    cell("Error", { class: "wrap" }, delivery.error || null),
    cell("At", {}, timeElement(delivery.at)),
  );
}

/** Save a file the API answered: a Blob through an object URL, or the API's own link. */
function save(result, fallbackName) {
  const link = result.url
    ? h("a", { href: result.url, rel: "noopener" })
    : h("a", { href: URL.createObjectURL(result.blob), download: result.filename || fallbackName });
  document.body.append(link);
  link.click();
  link.remove();
  if (!result.url) setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

/**
 * @param {{ api: object, campaignId: string, onUnauthorized: (error: unknown) => boolean }} options
 * @returns {{ node: HTMLElement, reload: (options?: { quiet?: boolean }) => Promise<void>, pageIndex: () => number, dispose: () => void }}
 */
export function createDeliveriesPanel({ api, campaignId, onUnauthorized }) {
  const state = { status: "", tokens: [null], index: 0, nextToken: null, seq: 0, gone: false };
  const path = `/campaigns/${encodeURIComponent(campaignId)}`;
  const filter = h(
    "select",
    { id: "deliveries-filter", "data-testid": "deliveries-filter" },
    h("option", { value: "" }, "All"),
    DELIVERY_STATUSES.map((status) => h("option", { value: status }, status)),
  );
  const exportButton = h("button", { type: "button", class: "button", "data-testid": "export-csv" }, "Export CSV");
  const body = h("tbody", { role: "rowgroup", "data-testid": "deliveries-body" });
  const empty = h("p", { class: "empty", "data-testid": "deliveries-empty", hidden: true });
  const prev = h("button", { type: "button", class: "button", "data-testid": "deliveries-prev", disabled: true }, "Previous");
  const next = h("button", { type: "button", class: "button", "data-testid": "deliveries-next", disabled: true }, "Next");
  const pageLabel = h("span", { "data-testid": "deliveries-page", "aria-live": "polite" }, "Page 1");
  const message = sectionMessage("deliveries-message");

  const node = h(
    "section",
    { class: "card", "data-testid": "deliveries-panel", "aria-labelledby": "deliveries-heading" },
    h(
      "div",
      { class: "section-head" },
      h("h2", { id: "deliveries-heading" }, "Deliveries"),
      h("div", { class: "section-tools" }, h("label", { class: "inline-label", for: "deliveries-filter" }, "Status"), filter, exportButton),
    ),
    message.node,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { role: "table", class: "table deliveries", "data-testid": "deliveries-table" },
        h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, COLUMNS.map((name) => h("th", { role: "columnheader", scope: "col" }, name)))),
        body,
      ),
    ),
    empty,
    h("nav", { class: "pager", "aria-label": "Delivery pages" }, prev, pageLabel, next),
  );

  async function reload({ quiet = false } = {}) {
    const seq = ++state.seq;
    if (!quiet) message.show("Loading deliveries…");
    try {
      const page = await api.request("GET", `${path}/deliveries`, {
        query: { status: state.status || undefined, limit: PAGE_SIZE, nextToken: state.tokens[state.index] ?? undefined },
      });
      if (state.gone || seq !== state.seq) return;
      const items = itemsOf(page);
      state.nextToken = page?.nextToken || null;
      replaceChildren(body, items.map(row));
      empty.hidden = items.length > 0;
      empty.textContent = state.status
        ? `No deliveries with status ${state.status}${state.index ? " on this page" : " yet"}.`
        : "No deliveries yet: nothing has been sent for this campaign.";
      prev.disabled = state.index === 0;
      next.disabled = !state.nextToken;
      pageLabel.textContent = `Page ${state.index + 1}`;
      message.clear();
    } catch (error) {
      if (state.gone || seq !== state.seq || onUnauthorized(error)) return;
      message.show(`Could not load the deliveries: ${errorText(error)}`, { error: true });
    }
  }

  filter.addEventListener("change", () => {
    state.status = filter.value;
    state.tokens = [null];
    state.index = 0;
    reload();
  });
  next.addEventListener("click", () => {
    if (!state.nextToken) return;
    state.tokens[state.index + 1] = state.nextToken;
    state.index += 1;
    reload();
  });
  prev.addEventListener("click", () => {
    if (state.index === 0) return;
    state.index -= 1;
    reload();
  });
  exportButton.addEventListener("click", async () => {
    setBusy(exportButton, true, "Exporting…");
    message.clear();
    try {
      save(await api.download(`${path}/deliveries.csv`), `${campaignId}-deliveries.csv`);
      message.show("The CSV of every delivery is downloading.");
    } catch (error) {
      if (!onUnauthorized(error)) message.show(`Could not export the deliveries: ${errorText(error)}`, { error: true });
    } finally {
      setBusy(exportButton, false);
    }
  });

  return {
    node,
    reload,
    /** The page shown (0 = the first): a running campaign's first page is worth reading again. */
    pageIndex: () => state.index,
    dispose() {
      state.gone = true;
    },
  };
}
