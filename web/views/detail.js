// One campaign's page (#/campaigns/<id>): what it is made of, its progress and
// rates, when it should finish or why it waits, a chart of sends and reads, its
// deliveries with their export, and what can be done with it. Read again every
// few seconds while it runs.

import { errorText } from "../api.js";
import { createFacts } from "../campaign_facts.js";
import { statusBadge } from "../campaign_display.js";
import { createDeliveriesPanel } from "../deliveries_panel.js";
import { createDetailActions } from "../detail_actions.js";
import { h, replaceChildren } from "../dom.js";
import { createFiguresPanel } from "../figures_panel.js";
import { setBusy } from "../forms.js";
import { hrefFor } from "../router.js";
import { createTestSend } from "../test_send.js";

const POLL_MS = 2500;
// Not running, it is read again now and then: WhatsApp's acks keep coming for hours.
const SLOW_POLL_MS = 15000;
// After Run or Resume the runner takes the campaign asynchronously: keep reading this long.
const SETTLE_MS = 20000;
const TESTABLE = ["Scheduled", "Paused"];
// A change in any of these is worth reading the deliveries again.
const COUNTERS = ["sentCount", "failedCount", "unknownCount", "skippedCount", "deliveredCount", "readCount"];

export function mount(container, ctx) {
  const id = ctx.params.id;
  const path = `/campaigns/${encodeURIComponent(id)}`;
  const state = { campaign: null, seq: 0, pollTimer: null, settleUntil: 0, lastStatus: "", counters: "", gone: false, held: false };
  const onUnauthorized = (error) => ctx.onUnauthorized(error);

  const heading = h("h2", { id: "detail-heading", tabindex: "-1", "data-testid": "detail-name" }, "Campaign");
  const badge = h("span", { "data-testid": "detail-status-wrap" });
  const updated = h("p", { class: "muted small", "data-testid": "detail-updated" });
  const polling = h("span", { class: "polling", "data-testid": "detail-polling", hidden: true },
    h("span", { class: "polling-dot", "aria-hidden": "true" }), " Updating every few seconds");
  const refresh = h("button", { type: "button", class: "button", "data-testid": "detail-refresh" }, "Refresh");
  const loading = h("p", { class: "muted", "data-testid": "detail-loading" }, "Loading the campaign…");
  const facts = createFacts({ api: ctx.api });
  const figures = createFiguresPanel({ api: ctx.api, campaignId: id, onUnauthorized });
  const deliveries = createDeliveriesPanel({ api: ctx.api, campaignId: id, onUnauthorized });
  const actions = createDetailActions({
    ctx,
    reload: () => load({ quiet: true }),
    onStarted: () => {
      state.settleUntil = Date.now() + SETTLE_MS;
    },
    holdReads: (held) => {
      state.held = held;
      clearTimeout(state.pollTimer);
      if (!held) schedulePoll();
    },
  });
  const test = createTestSend({
    idPrefix: "detail",
    onUnauthorized,
    send: (phoneNumber) => ctx.api.request("POST", `${path}/test`, { body: { phoneNumber } }),
  });
  const testCard = h(
    "section",
    { class: "card", "data-testid": "detail-test", "aria-labelledby": "detail-test-heading", hidden: true },
    h("h2", { id: "detail-test-heading" }, "Send a test to your phone"),
    test.node,
  );
  const body = h("div", { "data-testid": "detail-body", hidden: true },
    figures.node, testCard, deliveries.node);

  container.replaceChildren(
    h(
      "div",
      { class: "detail", "data-testid": "detail-view" },
      h("p", { class: "breadcrumb" }, h("a", { href: "#/campaigns", "data-testid": "back-to-campaigns" }, "← All campaigns")),
      h(
        "section",
        { class: "card", "aria-labelledby": "detail-heading" },
        h("div", { class: "section-head" }, h("div", { class: "detail-title" }, heading, badge), h("div", { class: "section-tools" }, polling, refresh)),
        updated,
        loading,
        actions.node,
        facts.node,
      ),
      body,
    ),
  );

  function render() {
    const campaign = state.campaign;
    heading.textContent = campaign.name || "(no name)";
    document.title = `${campaign.name || "Campaign"} · WhatsApp campaigns`;
    replaceChildren(badge, statusBadge(campaign.status, "detail-status"));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    loading.hidden = true;
    body.hidden = false;
    testCard.hidden = !TESTABLE.includes(campaign.status);
    actions.render(campaign);
    facts.render(campaign);
    const session = facts.names().session;
    const unpaired = campaign.status === "Paused" && session && session.status !== "WORKING";
    figures.update(campaign, { repairHref: unpaired ? hrefFor("numbers", { pair: session.id }) : "" });
  }

  async function load({ quiet = false, fresh = false } = {}) {
    const seq = ++state.seq;
    clearTimeout(state.pollTimer);
    try {
      const campaign = await ctx.api.request("GET", path);
      if (state.gone || seq !== state.seq) return;
      const moved = campaign.status !== state.lastStatus;
      const counters = COUNTERS.map((name) => campaign[name] ?? 0).join("/");
      const changed = counters !== state.counters;
      state.campaign = campaign;
      state.lastStatus = campaign.status;
      state.counters = counters;
      render();
      ctx.clearError("detail");
      if (moved) {
        // Read again when the status moves: a pause may come from the number dropping.
        facts.loadNames(campaign).catch((error) => {
          if (!state.gone && !onUnauthorized(error)) actions.message.show(`Some of the campaign's details could not be read: ${errorText(error)}`, { error: true });
        }).finally(() => !state.gone && render());
      }
      // The first page of deliveries follows the campaign (sends, acks); later pages stay where the user is.
      if ((changed || moved || fresh) && deliveries.pageIndex() === 0) deliveries.reload({ quiet });
    } catch (error) {
      if (state.gone || seq !== state.seq || onUnauthorized(error)) return;
      loading.hidden = false;
      loading.textContent = error?.status === 404 ? "This campaign does not exist, or it was deleted." : "The campaign could not be loaded.";
      ctx.showError(`Could not load the campaign: ${errorText(error)}`, "detail");
    } finally {
      if (!state.gone && seq === state.seq) schedulePoll();
    }
  }

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    if (state.gone || state.held || document.hidden || !state.campaign) return;
    const fast = state.campaign.status === "Running" || Date.now() < state.settleUntil;
    polling.hidden = !fast;
    state.pollTimer = setTimeout(() => load({ quiet: true }), fast ? POLL_MS : SLOW_POLL_MS);
  }

  refresh.addEventListener("click", async () => {
    setBusy(refresh, true, "Refreshing…");
    await load({ quiet: true, fresh: true });
    if (!state.gone) setBusy(refresh, false);
  });
  const onVisibility = () => (document.hidden ? schedulePoll() : load({ quiet: true }));
  document.addEventListener("visibilitychange", onVisibility);
  load();

  return {
    unmount() {
      state.gone = true;
      clearTimeout(state.pollTimer);
      document.removeEventListener("visibilitychange", onVisibility);
      figures.dispose();
      deliveries.dispose();
    },
  };
}
