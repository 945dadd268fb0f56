// The campaign list: newest first, a page at a time, each row's status, progress,
// wait or pause reason and the actions its status allows; read again every few
// seconds while something runs. A row opens the campaign's own page.

import { errorText } from "../api.js";
import { actionButtons, none, progressBar, statusBadge, waitNote } from "../campaign_display.js";
import { confirmAction } from "../confirm.js";
import { h, replaceChildren, timeElement } from "../dom.js";
import { itemsOf, setBusy } from "../forms.js";
import { campaignHref } from "../router.js";

const PAGE_SIZE = 20;
const POLL_MS = 2500;
// After run/resume the runner takes the campaign asynchronously, so it can
// still read Scheduled for a moment: keep polling this long even if none is Running.
const SETTLE_MS = 20000;
const COLUMNS = ["Name", "Status", "Progress", "Started", "Completed", "Pause or wait", "Actions"];

export function mount(container, ctx) {
  const state = {
    campaigns: [],
    pageTokens: [null], // the nextToken that opens each page visited; page 1 needs none
    pageIndex: 0,
    nextToken: null,
    seq: 0,
    loadedOnce: false,
    pending: new Map(), // campaign id -> action name while its request is in flight
    pollTimer: null,
    settleUntil: 0,
    gone: false,
  };

  const el = {
    polling: h("span", { class: "polling", "data-testid": "polling-indicator", hidden: true },
      h("span", { class: "polling-dot", "aria-hidden": "true" }), " Updating every few seconds"),
    refresh: h("button", { type: "button", class: "button", "data-testid": "refresh-button" }, "Refresh"),
    updated: h("p", { class: "muted small", "data-testid": "campaigns-updated" }),
    body: h("tbody", { role: "rowgroup", id: "campaigns-body", "data-testid": "campaigns-body" }),
    empty: h("p", { class: "empty", "data-testid": "campaigns-empty", hidden: true }),
    loading: h("p", { class: "muted", "data-testid": "campaigns-loading", hidden: true }, "Loading campaigns…"),
    prev: h("button", { type: "button", class: "button", "data-testid": "page-prev", "aria-label": "Previous page", disabled: true }, "Previous"),
    next: h("button", { type: "button", class: "button", "data-testid": "page-next", "aria-label": "Next page", disabled: true }, "Next"),
    page: h("span", { "data-testid": "page-number", "aria-live": "polite" }, "Page 1"),
  };

  container.replaceChildren(
    h(
      "section",
      { class: "card", "data-testid": "campaigns-view", "aria-labelledby": "campaigns-heading" },
      h(
        "div",
        { class: "section-head" },
        h("h2", { id: "campaigns-heading", tabindex: "-1" }, "Campaigns"),
        h("div", { class: "section-tools" }, el.polling, el.refresh,
          h("a", { class: "button button-primary", href: "#/create", "data-testid": "new-campaign-link" }, "New campaign")),
      ),
      el.updated,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { role: "table", class: "table campaigns", "data-testid": "campaigns-table", "aria-describedby": "campaigns-hint" },
          h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, COLUMNS.map((name) => h("th", { role: "columnheader", scope: "col" }, name)))),
          el.body,
        ),
      ),
      h("p", { class: "muted small", id: "campaigns-hint" }, "Select a campaign's name to see its progress, deliveries and actions."),
      el.empty,
      el.loading,
      h("nav", { class: "pager", "aria-label": "Campaign pages" }, el.prev, el.page, el.next),
    ),
  );

  // One row per campaign, its cells and name link kept across re-renders: polling updates their
  // contents in place and never detaches the link, so a press that begins on a name before a
  // refresh and ends after it is still a click on that name.
  const rows = new Map(); // campaign id -> { tr, link, subline, cells }
  const LABELS = ["Status", "Progress", "Started", "Completed", "Pause or wait", "Actions"];
  const CELL_ATTRS = {
    Progress: { class: "cell-progress" },
    "Pause or wait": { class: "cell-reason" },
    Actions: { class: "cell-actions" },
  };

  function kept(id) {
    let entry = rows.get(id);
    if (entry) return entry;
    const link = h("a", { href: campaignHref(id), class: "campaign-link", "data-testid": `open-campaign-${id}`, "data-campaign-id": id });
    const subline = h("span", { class: "subline" });
    const cells = Object.fromEntries(LABELS.map((label) => [label, h("td", { role: "cell", "data-label": label, ...CELL_ATTRS[label] })]));
    cells.Started.dataset.testid = `started-${id}`;
    cells.Completed.dataset.testid = `completed-${id}`;
    const tr = h(
      "tr",
      {
        role: "row",
        "data-testid": `campaign-row-${id}`,
        "data-campaign-id": id,
        onclick: (event) => {
          if (event.target.closest("button, a, input, select, textarea")) return;
          ctx.navigate(campaignHref(id));
        },
      },
      h("td", { role: "cell", "data-label": "Name", class: "cell-name" }, link, subline),
      LABELS.map((label) => cells[label]),
    );
    entry = { tr, link, subline, cells };
    rows.set(id, entry);
    return entry;
  }

  function row(campaign) {
    const id = campaign.id;
    const name = campaign.name || "(no name)";
    const { tr, link, subline, cells } = kept(id);
    if (link.textContent !== name) link.textContent = name;
    tr.dataset.status = campaign.status ?? "";
    if (campaign.status === "Scheduled" && campaign.scheduledAt) replaceChildren(subline, "Starts ", timeElement(campaign.scheduledAt));
    else if (campaign.createdAt) replaceChildren(subline, "Created ", timeElement(campaign.createdAt));
    else replaceChildren(subline);
    subline.hidden = !subline.hasChildNodes();
    const reason = campaign.status === "Paused" && campaign.pauseReason
      ? h("span", { "data-testid": `pause-reason-${id}` }, campaign.pauseReason)
      : h("span", { class: "muted", "aria-label": "none", "data-testid": `pause-reason-${id}` }, "—");
    replaceChildren(cells.Status, statusBadge(campaign.status, `status-${id}`));
    replaceChildren(cells.Progress, progressBar(campaign));
    replaceChildren(cells.Started, timeElement(campaign.startedAt));
    replaceChildren(cells.Completed, timeElement(campaign.completedAt));
    replaceChildren(cells["Pause or wait"], waitNote(campaign) ?? reason);
    replaceChildren(cells.Actions,
      h("div", { class: "actions" }, actionButtons(campaign, { pending: state.pending.get(id), onAction: (action) => runAction(campaign, action) })));
    return tr;
  }

  /** The rows in the list's order, moving only those out of place and removing those gone. */
  function placeRows() {
    const wanted = state.campaigns.map(row);
    const keep = new Set(wanted);
    for (const [id, entry] of rows) {
      if (keep.has(entry.tr)) continue;
      entry.tr.remove();
      rows.delete(id);
    }
    for (const other of [...el.body.children]) if (!keep.has(other)) other.remove();
    wanted.forEach((tr, i) => {
      if (el.body.children[i] !== tr) el.body.insertBefore(tr, el.body.children[i] ?? null);
    });
  }

  function render() {
    // Keep keyboard focus across the re-render that polling does every few seconds.
    const focused = el.body.contains(document.activeElement) ? document.activeElement : null;
    const focusedTestid = focused?.dataset.testid;
    const focusedCampaign = focused?.dataset.campaignId;
    placeRows();
    if (focusedTestid) {
      const again = el.body.querySelector(`[data-testid="${CSS.escape(focusedTestid)}"]`);
      const fallback = focusedCampaign ? el.body.querySelector(`[data-testid="${CSS.escape(`open-campaign-${focusedCampaign}`)}"]`) : null;
      (again && !again.disabled ? again : fallback)?.focus();
    }
    el.empty.hidden = state.campaigns.length > 0 || !state.loadedOnce;
    el.empty.replaceChildren(
      state.pageIndex > 0 ? "No more campaigns on this page." : ["No campaigns yet. ", h("a", { href: "#/create" }, "Create one"), "."],
    );
    el.prev.disabled = state.pageIndex === 0;
    el.next.disabled = !state.nextToken;
    el.page.textContent = `Page ${state.pageIndex + 1}`;
  }

  function apply(page) {
    const items = itemsOf(page).filter((item) => item && item.id != null);
    // Newest first, as the API promises; sorting again keeps a page in order whatever arrives.
    items.sort((a, b) => String(b.createdAt ?? "").localeCompare(String(a.createdAt ?? "")));
    state.campaigns = items;
    state.nextToken = (Array.isArray(page) ? null : page?.nextToken) || null;
    state.loadedOnce = true;
    el.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    render();
  }

  async function load({ quiet = false } = {}) {
    const seq = ++state.seq;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    el.loading.hidden = quiet || state.loadedOnce;
    try {
      const nextToken = state.pageTokens[state.pageIndex] ?? undefined;
      const page = await ctx.api.request("GET", "/campaigns", { query: { limit: PAGE_SIZE, nextToken } });
      if (state.gone || seq !== state.seq) return;
      apply(page);
      ctx.clearError("load");
    } catch (error) {
      if (state.gone || seq !== state.seq || ctx.onUnauthorized(error)) return;
      ctx.showError(`Could not load campaigns: ${errorText(error)}`, "load");
    } finally {
      if (!state.gone && seq === state.seq) {
        el.loading.hidden = true;
        schedulePoll();
      }
    }
  }

  /** One timer at a time: poll again only while something is Running (or just started) and the tab is visible. */
  function schedulePoll() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    const running = state.campaigns.some((campaign) => campaign.status === "Running");
    const wanted = !state.gone && !document.hidden && (running || Date.now() < state.settleUntil);
    el.polling.hidden = !wanted;
    if (wanted) state.pollTimer = setTimeout(() => load({ quiet: true }), POLL_MS);
  }

  async function runAction(campaign, action) {
    if (state.pending.has(campaign.id)) return;
    const name = campaign.name || campaign.id;
    if (action.confirm) {
      const sure = await confirmAction({
        title: `${action.label} "${name}"?`,
        text: action.confirm,
        confirmLabel: `${action.label} the campaign`,
        cancelLabel: "Keep it",
        danger: true,
      });
      if (!sure || state.gone) return;
    }
    state.pending.set(campaign.id, action.name);
    render();
    try {
      await ctx.api.request("POST", `/campaigns/${encodeURIComponent(campaign.id)}/${action.name}`);
      ctx.notify(`${action.done}: "${name}".`);
      if (action.name === "run" || action.name === "resume") state.settleUntil = Date.now() + SETTLE_MS;
      ctx.clearError("action");
    } catch (error) {
      if (ctx.onUnauthorized(error)) return;
      ctx.showError(`Could not ${action.label.toLowerCase()} "${name}": ${errorText(error)}`, "action");
    } finally {
      // Fetch the list again (success or not: a 409 means our copy is stale), then release the buttons.
      if (!state.gone) {
        await load({ quiet: true });
        state.pending.delete(campaign.id);
        render();
      }
    }
  }

  el.refresh.addEventListener("click", async () => {
    setBusy(el.refresh, true, "Refreshing…");
    await load();
    setBusy(el.refresh, false);
  });
  el.next.addEventListener("click", () => {
    if (!state.nextToken) return;
    state.pageTokens[state.pageIndex + 1] = state.nextToken;
    state.pageIndex += 1;
    load();
  });
  el.prev.addEventListener("click", () => {
    if (state.pageIndex === 0) return;
    state.pageIndex -= 1;
    load();
  });
  const onVisibility = () => (document.hidden ? schedulePoll() : load({ quiet: true }));
  document.addEventListener("visibilitychange", onVisibility);

  load();

  return {
    unmount() {
      state.gone = true;
      clearTimeout(state.pollTimer);
      document.removeEventListener("visibilitychange", onVisibility);
    },
  };
}
