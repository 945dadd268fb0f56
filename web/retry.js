// Retrying a finished campaign's failures as a new campaign. Failed contacts are
// offered at once; Unknown ones only with an explicit confirmation, because
// their message may have reached them already.

import { confirmAction } from "./confirm.js";
import { h } from "./dom.js";
import { checkbox } from "./forms.js";
import { count } from "./figures.js";

/** The request body for POST /campaigns/{id}/retry from the choices, or the problem with them. */
export function retryBody({ failed, unknown, unknownConfirmed }) {
  if (!failed && !unknown) return { problem: "Choose what to retry." };
  if (unknown && !unknownConfirmed) return { problem: "Confirm that Unknown contacts may get the message twice, or leave them out." };
  const statuses = [];
  if (failed) statuses.push("Failed");
  if (unknown) statuses.push("Unknown");
  return unknown ? { body: { statuses, confirmUnknown: true } } : { body: { statuses } };
}

/** Ask which deliveries to retry; the body for the API, or null when the user keeps it. */
export async function askRetry(campaign) {
  const failedCount = count(campaign.failedCount);
  const unknownCount = count(campaign.unknownCount);
  const failed = checkbox({ id: "retry-failed", label: `Failed (${failedCount})`, checked: failedCount > 0 });
  const unknown = checkbox({ id: "retry-unknown", label: `Unknown (${unknownCount})` });
  const confirmUnknown = checkbox({
    id: "retry-unknown-confirm",
    label: "I understand that Unknown messages may already have been delivered, so these contacts may get it twice.",
  });
  failed.input.disabled = failedCount === 0;
  unknown.input.disabled = unknownCount === 0;
  const confirmRow = h("div", { class: "retry-confirm", hidden: true }, confirmUnknown.node);
  unknown.input.addEventListener("change", () => {
    confirmRow.hidden = !unknown.input.checked;
    if (!unknown.input.checked) confirmUnknown.input.checked = false;
  });
  const read = () =>
    retryBody({ failed: failed.input.checked, unknown: unknown.input.checked, unknownConfirmed: confirmUnknown.input.checked });

  const sure = await confirmAction({
    title: `Retry "${campaign.name ?? campaign.id}"`,
    text: "A new campaign is created over the chosen contacts, in their order, with the same message, media, number and pacing. It waits for Run.",
    confirmLabel: "Create the retry campaign",
    content: [h("fieldset", { class: "retry-choices" }, h("legend", {}, "Retry the contacts whose message"), failed.node, unknown.node, confirmRow)],
    check: () => read().problem ?? "",
  });
  return sure ? read().body : null;
}
