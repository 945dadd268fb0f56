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
import { createTestSend } from "../test_send.js";

const POLL_MS = 2500;
// After Run or Resume the runner takes the campaign asynchronously: keep reading this long.
const SETTLE_MS = 20000;
const TESTABLE = ["Scheduled", "Paused"];

export function mount(container, ctx) {
  const id = ctx.params.id;
  const path = `/campaigns/${encodeURIComponent(id)}`;
  const state = { campaign: null, seq: 0, pollTimer: null, settleUntil: 0, namesFor: "", lastStatus: "", gone: false };
  const onUnauthorized = (error) => ctx.onUnauthorized(error);

  const heading = h("h2", { id: "detail-heading", tabindex: "-1", "data-testid": "detail-name" }, "Campaign");
  const badge = h("span", { "data-testid": "detail-status-wrap" });
  const updated = h("p", { class: "muted small", "data-testid": "detail-updated" });
  const polling = h("span", { class: "polling", "data-testid": "detail-polling", hidden: true },
    h("span", { class: "polling-dot", "aria-hidden": "true" }), " Updating every few seconds");
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
  });
  const test = createTestSend({
    idPrefix: "detail",
    onUnauthorized,
    send: (phoneNumber) => ctx.api.request("POST", `${path}/test`, { body: { phoneNumber } }),
  });
  const testCard = h(
    "section",
    { class: "card", "data-testid": "detail-test", "aria-labelledby": "detail-test-heading", hidden: true },
    h("h2", { id: "detail-test-heading" }, "Try it on your phone first"),
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
        h("div", { class: "section-head" }, h("div", { class: "detail-title" }, heading, badge), h("div", { class: "section-tools" }, polling)),
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
    figures.update(campaign);
  }

  async function load({ quiet = false } = {}) {
    const seq = ++state.seq;
    clearTimeout(state.pollTimer);
    try {
      const campaign = await ctx.api.request("GET", path);
      if (state.gone || seq !== state.seq) return;
      const moved = campaign.status !== state.lastStatus;
      state.campaign = campaign;
      state.lastStatus = campaign.status;
      render();
      ctx.clearError("detail");
      if (state.namesFor !== id) {
        state.namesFor = id;
        facts.loadNames(campaign).catch((error) => {
          if (!state.gone && !onUnauthorized(error)) actions.message.show(`Some of the campaign's details could not be read: ${errorText(error)}`, { error: true });
        }).finally(() => !state.gone && facts.render(state.campaign));
      }
      // The first page of deliveries follows a running campaign; later pages stay where the user is.
      if ((campaign.status === "Running" || moved) && deliveries.pageIndex() === 0) deliveries.reload({ quiet });
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
    const wanted = !state.gone && !document.hidden && (state.campaign?.status === "Running" || Date.now() < state.settleUntil);
    polling.hidden = !wanted;
    if (wanted) state.pollTimer = setTimeout(() => load({ quiet: true }), POLL_MS);
  }

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
