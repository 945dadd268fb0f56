// What the page offers for each campaign status. The server enforces the
// transitions (CONTRACT.md, "Statuses"); this only decides which buttons to show.

export const CAMPAIGN_STATUSES = ["Scheduled", "Running", "Paused", "Completed", "Failed", "Cancelled"];
export const DELIVERY_STATUSES = ["Sent", "Failed", "Unknown", "Skipped"];
export const FINAL_STATUSES = ["Completed", "Failed", "Cancelled"];

// In the order the buttons appear in a row. Run is offered for Scheduled only:
// a Paused campaign is continued with Resume. Cancel is asked about first: it
// cannot be undone.
export const ACTIONS = [
  { name: "run", label: "Run", busy: "Starting…", done: "Run requested", when: ["Scheduled"] },
  { name: "resume", label: "Resume", busy: "Resuming…", done: "Resume requested", when: ["Paused"] },
  { name: "pause", label: "Pause", busy: "Pausing…", done: "Paused", when: ["Scheduled", "Running"] },
  {
    name: "cancel",
    label: "Cancel",
    busy: "Cancelling…",
    done: "Cancelled",
    when: ["Scheduled", "Running", "Paused"],
    confirm: "Contacts not sent yet will not get the message, and a cancelled campaign cannot be resumed.",
  },
];

export function actionsFor(status) {
  return ACTIONS.filter((action) => action.when.includes(status));
}

/** Can it be deleted? A final campaign, or one that never started (the API answers 409 otherwise). */
export function deletable(campaign) {
  if (FINAL_STATUSES.includes(campaign?.status)) return true;
  return ["Scheduled", "Paused"].includes(campaign?.status) && !campaign.startedAt;
}
