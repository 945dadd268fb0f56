import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, describeDetails, errorText, isValidBaseUrl, normaliseBaseUrl } from "../api.js";

test("base URLs", () => {
  assert.equal(normaliseBaseUrl("  https://api.example.com/prod/ "), "https://api.example.com/prod");
  assert.equal(normaliseBaseUrl(""), "");
  assert.ok(isValidBaseUrl(""));
  assert.ok(isValidBaseUrl("/api"));
  assert.ok(isValidBaseUrl("http://127.0.0.1:3000"));
  assert.ok(!isValidBaseUrl("ftp://example.com"));
  assert.ok(!isValidBaseUrl("not a url"));
});

test("422 details of several shapes read as text", () => {
  assert.equal(describeDetails([{ loc: ["body", "scheduledAt"], msg: "bad date" }]), "scheduledAt: bad date");
  assert.equal(describeDetails({ name: "required" }), "name: required");
  assert.equal(describeDetails("plain"), "plain");
  assert.equal(describeDetails(null), "");
});

test("the server's message, with details, ends as a sentence", () => {
  assert.equal(errorText(new ApiError(409, "Campaign is Completed")), "Campaign is Completed.");
  assert.equal(
    errorText(new ApiError(422, "Validation failed.", [{ loc: ["body", "name"], msg: "required" }])),
    "Validation failed (name: required)",
  );
  assert.equal(errorText(new Error("boom!")), "boom!");
});
