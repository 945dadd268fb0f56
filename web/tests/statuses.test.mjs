import assert from "node:assert/strict";
import { test } from "node:test";

import { actionsFor } from "../statuses.js";

const names = (status) => actionsFor(status).map((action) => action.name);

test("each status offers only the actions the contract allows", () => {
  assert.deepEqual(names("Scheduled"), ["run", "pause", "cancel"]);
  assert.deepEqual(names("Running"), ["pause", "cancel"]);
  assert.deepEqual(names("Paused"), ["resume", "cancel"]);
  for (const final of ["Completed", "Failed", "Cancelled", "Whatever"]) assert.deepEqual(names(final), []);
});
