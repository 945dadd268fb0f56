// A campaign's figures on its page: progress of the total, delivered and read
// rates, messages per minute, when it should finish, why it waits or paused, and
// a chart of sends and reads over time from its deliveries.

import { errorText } from "./api.js";
import { chartSeries, sendsChart } from "./chart.js";
import { none, progressBar, waitNote } from "./campaign_display.js";
import { formatDateTime, h, replaceChildren, timeElement } from "./dom.js";
import { ackRates, formatRate, percent, perMinute, progressOf, timeFromNow } from "./figures.js";
import { itemsOf } from "./forms.js";

// The chart and the rate read at most this many deliveries (the first ones, in contact order).
export const SAMPLE_LIMIT = 2000;
const PAGE = 100;
const RESAMPLE_MS = 5000;

function figure(label, testid) {
  const value = h("dd", { "data-testid": testid });
  return { node: h("div", { class: "figure" }, h("dt", {}, label), value), value };
}

/** @param {{ api: object, campaignId: string, onUnauthorized: (error: unknown) => boolean }} options */
export function createFiguresPanel({ api, campaignId, onUnauthorized }) {
  const state = { campaign: null, repairHref: "", sample: [], complete: true, sampledKey: "", sampledAt: 0, loading: false, gone: false };
  const figures = {
    sent: figure("Sent", "figure-sent"),
    failed: figure("Failed", "figure-failed"),
    unknown: figure("Unknown", "figure-unknown"),
    skipped: figure("Skipped (opted out)", "figure-skipped"),
    delivered: figure("Delivered", "figure-delivered"),
    read: figure("Read", "figure-read"),
    rate: figure("Rate", "figure-rate"),
    eta: figure("Finishes", "figure-eta"),
  };
  const bar = h("div", { class: "detail-progress" });
  const notes = h("div", { class: "detail-notes" });
  const chart = h("div", { class: "chart-wrap", "data-testid": "chart-wrap" });
  const chartNote = h("p", { class: "muted small", "data-testid": "chart-note" });
  const node = h(
    "section",
    { class: "card", "data-testid": "figures-panel", "aria-labelledby": "figures-heading" },
    h("h2", { id: "figures-heading" }, "Progress"),
    bar,
    notes,
    h("dl", { class: "figures" }, Object.values(figures).map((item) => item.node)),
    h("h3", {}, "Sends and reads over time"),
    chart,
    chartNote,
  );

  function renderFigures() {
    const campaign = state.campaign;
    const progress = progressOf(campaign);
    const rates = ackRates(campaign);
    const of = (n) => `${n} of ${progress.total}`;
    replaceChildren(bar, progressBar(campaign, "detail-progress"));
    figures.sent.value.textContent = of(progress.sent);
    figures.failed.value.textContent = of(progress.failed);
    figures.unknown.value.textContent = of(progress.unknown);
    figures.skipped.value.textContent = of(progress.skipped);
    figures.delivered.value.textContent = `${percent(rates.delivered)} (${campaign.deliveredCount ?? 0} of ${progress.sent} sent)`;
    figures.read.value.textContent = `${percent(rates.read)} (${campaign.readCount ?? 0} of ${progress.sent} sent)`;
    const running = campaign.status === "Running";
    const times = state.sample.map((delivery) => Date.parse(delivery.at));
    figures.rate.value.textContent = formatRate(perMinute(times, { nowMs: Date.now(), running }));
    if (running && campaign.etaAt) {
      replaceChildren(figures.eta.value, timeElement(campaign.etaAt), ` (${timeFromNow(campaign.etaAt, Date.now())})`);
    } else if (campaign.completedAt) {
      replaceChildren(figures.eta.value, "Finished ", timeElement(campaign.completedAt));
    } else {
      replaceChildren(figures.eta.value, none());
    }
    const repair = state.repairHref
      ? [" ", h("a", { href: state.repairHref, "data-testid": "repair-number-link" }, "Pair the number again")]
      : null;
    const pause = campaign.status === "Paused" && campaign.pauseReason
      ? h("p", { class: "note note-paused", "data-testid": "detail-pause-reason" }, h("strong", {}, "Paused: "), campaign.pauseReason, repair)
      : null;
    const failure = campaign.status === "Failed" && campaign.failureReason
      ? h("p", { class: "note note-failed", "data-testid": "detail-failure-reason" }, h("strong", {}, "Failed: "), campaign.failureReason)
      : null;
    const wait = waitNote(campaign, "detail-wait");
    replaceChildren(notes, wait ? h("p", { class: "note" }, wait) : null, pause, failure);
  }

  function renderChart() {
    const points = chartSeries(state.sample);
    if (points.length < 2) {
      replaceChildren(chart, h("p", { class: "empty", "data-testid": "chart-empty" }, "Nothing sent yet."));
    } else {
      const last = points[points.length - 1];
      const summary = `${last.sent} sent and ${last.read} read between ${formatDateTime(new Date(points[0].t).toISOString())} and ${formatDateTime(new Date(last.t).toISOString())}`;
      replaceChildren(chart, sendsChart(points, { summary }), h("p", { class: "chart-legend", "aria-hidden": "true" },
        h("span", { class: "key key-sent" }, "Sent"), h("span", { class: "key key-read" }, "Read")));
    }
    chartNote.textContent = state.complete
      ? "Reads are counted at the time their message was sent."
      : `From the first ${SAMPLE_LIMIT.toLocaleString()} contacts; reads are counted at the time their message was sent.`;
  }

  /** The deliveries behind the chart and the rate, read again when the campaign's counters moved. */
  async function resample(key) {
    state.loading = true;
    const sample = [];
    let nextToken;
    try {
      do {
        const page = await api.request("GET", `/campaigns/${encodeURIComponent(campaignId)}/deliveries`, { query: { limit: PAGE, nextToken } });
        if (state.gone) return;
        sample.push(...itemsOf(page));
        nextToken = page?.nextToken;
      } while (nextToken && sample.length < SAMPLE_LIMIT);
      state.sample = sample;
      state.complete = !nextToken;
      state.sampledKey = key;
      state.sampledAt = Date.now();
      renderChart();
      renderFigures();
    } catch (error) {
      if (!state.gone && !onUnauthorized(error)) chartNote.textContent = `The chart could not be drawn: ${errorText(error)}`;
    } finally {
      state.loading = false;
    }
  }

  return {
    node,
    /** Show `campaign`; `repairHref`: where to pair its number again, when that is why it paused. */
    update(campaign, { repairHref = "" } = {}) {
      state.campaign = campaign;
      state.repairHref = repairHref;
      renderFigures();
      const key = ["sentCount", "failedCount", "unknownCount", "skippedCount", "readCount"].map((name) => campaign[name] ?? 0).join("/");
      const due = Date.now() - state.sampledAt >= RESAMPLE_MS || campaign.status !== "Running";
      if (key !== state.sampledKey && due && !state.loading) resample(key);
    },
    dispose() {
      state.gone = true;
    },
  };
}
