// What the page offers for each campaign status. The server enforces the
// transitions (CONTRACT.md, "Statuses"); this only decides which buttons to show.

export const CAMPAIGN_STATUSES = ["Scheduled", "Running", "Paused", "Completed", "Failed", "Cancelled"];
export const DELIVERY_STATUSES = ["Sent", "Failed", "Unknown"];

// In the order the buttons appear in a row. Run is offered for Scheduled only:
// a Paused campaign is continued with Resume.
export const ACTIONS = [
  { name: "run", label: "Run", busy: "Starting…", done: "Run requested", when: ["Scheduled"] },
  { name: "resume", label: "Resume", busy: "Resuming…", done: "Resume requested", when: ["Paused"] },
  { name: "pause", label: "Pause", busy: "Pausing…", done: "Paused", when: ["Scheduled", "Running"] },
  { name: "cancel", label: "Cancel", busy: "Cancelling…", done: "Cancelled", when: ["Scheduled", "Running", "Paused"] },
];

export function actionsFor(status) {
  return ACTIONS.filter((action) => action.when.includes(status));
}
