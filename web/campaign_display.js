// How a campaign looks wherever it is shown: its status badge, its progress bar,
// why it waits and until when, why it paused, and the buttons its status allows.

import { h, timeElement } from "./dom.js";
import { progressOf } from "./figures.js";
import { CAMPAIGN_STATUSES, DELIVERY_STATUSES, actionsFor } from "./statuses.js";

export function statusBadge(status, testid) {
  const known = [...CAMPAIGN_STATUSES, ...DELIVERY_STATUSES];
  const tone = known.includes(status) ? status.toLowerCase() : status === "WORKING" ? "working" : "other";
  return h("span", { class: `badge badge-${tone}`, "data-testid": testid }, status ?? "—");
}

export const none = () => h("span", { class: "muted", "aria-label": "none" }, "—");

const SEGMENTS = ["sent", "failed", "unknown", "skipped"];

/** One bar, sent / failed / unknown / skipped side by side, with a legend and a spoken summary. */
export function progressBar(campaign, testid = `progress-${campaign.id}`) {
  const figures = progressOf(campaign);
  const { total, done } = figures;
  const scale = Math.max(total, 1);
  const summary = `${done} of ${total} handled: ${SEGMENTS.map((kind) => `${figures[kind]} ${kind}`).join(", ")}`;
  const bar = h("div", {
    class: "progress",
    role: "progressbar",
    "aria-label": `Progress of ${campaign.name ?? "campaign"}`,
    "aria-valuemin": 0,
    "aria-valuemax": total,
    "aria-valuenow": Math.min(done, total),
    "aria-valuetext": summary,
    "data-testid": testid,
    "data-total": total,
    ...Object.fromEntries(SEGMENTS.map((kind) => [`data-${kind}`, figures[kind]])),
  });
  for (const kind of SEGMENTS) {
    if (!figures[kind]) continue;
    const segment = h("span", { class: `progress-segment progress-${kind}` });
    segment.style.width = `${(figures[kind] / scale) * 100}%`;
    bar.append(segment);
  }
  const legend = h(
    "p",
    { class: "progress-legend", "aria-hidden": "true" },
    h("span", { class: "legend-total" }, `${done} / ${total}`),
    SEGMENTS.map((kind) => (figures[kind] ? h("span", { class: `legend legend-${kind}` }, `${figures[kind]} ${kind}`) : null)),
  );
  return h("div", { class: "progress-wrap" }, bar, legend);
}

/** A Running campaign's wait: its reason and when it goes on (local time), or null. */
export function waitNote(campaign, testid = `waiting-${campaign.id}`) {
  if (campaign.status !== "Running" || !(campaign.waitReason || campaign.waitingUntil)) return null;
  return h(
    "span",
    { class: "wait-note", "data-testid": testid },
    h("span", { class: "wait-label" }, "Waiting: "),
    campaign.waitReason || "paced",
    campaign.waitingUntil ? [h("span", { class: "wait-until" }, " Resumes "), timeElement(campaign.waitingUntil)] : null,
  );
}

/** Run / Resume / Pause / Cancel as the status allows; `pending` is the action whose request is in flight. */
export function actionButtons(campaign, { pending, onAction, prefix = "action" }) {
  return actionsFor(campaign.status).map((action) => {
    const busy = pending === action.name;
    return h(
      "button",
      {
        type: "button",
        class: `button button-small action-${action.name}`,
        "data-testid": `${prefix}-${action.name}-${campaign.id}`,
        "data-campaign-id": campaign.id,
        "aria-label": `${busy ? action.busy : action.label} ${campaign.name ?? ""}`.trim(),
        disabled: Boolean(pending),
        "aria-busy": busy ? "true" : null,
        onclick: (event) => {
          event.stopPropagation();
          onAction(action);
        },
      },
      busy ? action.busy : action.label,
    );
  });
}
