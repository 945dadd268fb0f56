import assert from "node:assert/strict";
import { test } from "node:test";

import { ACTIONS, actionsFor, deletable } from "../statuses.js";

const names = (status) => actionsFor(status).map((action) => action.name);

test("each status offers only the actions the contract allows", () => {
  assert.deepEqual(names("Scheduled"), ["run", "pause", "cancel"]);
  assert.deepEqual(names("Running"), ["pause", "cancel"]);
  assert.deepEqual(names("Paused"), ["resume", "cancel"]);
  for (const final of ["Completed", "Failed", "Cancelled", "Whatever"]) assert.deepEqual(names(final), []);
});

test("final campaigns and ones that never started may be deleted", () => {
  for (const status of ["Completed", "Failed", "Cancelled"]) assert.ok(deletable({ status, startedAt: "2026-01-01T00:00:00Z" }));
  assert.ok(deletable({ status: "Scheduled" }));
  assert.ok(deletable({ status: "Paused", startedAt: null }));
  assert.ok(!deletable({ status: "Paused", startedAt: "2026-01-01T00:00:00Z" }));
  assert.ok(!deletable({ status: "Running", startedAt: "2026-01-01T00:00:00Z" }));
  assert.ok(!deletable(null));
});

test("only Cancel, which cannot be undone, asks first", () => {
  assert.deepEqual(ACTIONS.filter((action) => action.confirm).map((action) => action.name), ["cancel"]);
});
