import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../api.js";
import { describePacing, sessionTitle } from "../campaign_facts.js";
import { guessMimeType, mediaNameFrom, readSeconds } from "../create_read.js";
import { retryBody } from "../retry.js";
import { testRefusal, testSentText } from "../test_send.js";

test("pauses are typed in seconds and sent in milliseconds", () => {
  assert.deepEqual(readSeconds(""), { ms: undefined });
  assert.deepEqual(readSeconds(" 1.5 "), { ms: 1500 });
  assert.deepEqual(readSeconds("0"), { ms: 0 });
  assert.ok(readSeconds("-1").error);
  assert.ok(readSeconds("soon").error);
  assert.equal(describePacing(30000, 60000), "30–60 s between messages");
  assert.equal(describePacing(1500, 1500), "1.5 s between messages");
  assert.equal(describePacing(null, null), "");
});

test("a media address gives its type and a name", () => {
  assert.equal(guessMimeType("https://cdn.example.com/a/b/Photo.JPG?x=1"), "image/jpeg");
  assert.equal(guessMimeType("https://cdn.example.com/file"), "");
  assert.equal(guessMimeType("not a url"), "");
  assert.equal(mediaNameFrom("https://cdn.example.com/a/spring%20sale.png"), "spring sale.png");
});

test("a number is shown by its label and paired phone", () => {
  assert.equal(sessionTitle({ label: "Shop", phoneNumber: "+34600000001" }), "Shop (+34600000001)");
  assert.equal(sessionTitle({ pushName: "Tienda" }), "Tienda");
  assert.equal(sessionTitle({}), "WhatsApp number");
  assert.equal(sessionTitle(null), "");
});

test("Unknown deliveries are retried only with the confirmation the API asks for", () => {
  assert.deepEqual(retryBody({ failed: true, unknown: false }), { body: { statuses: ["Failed"] } });
  assert.match(retryBody({ failed: true, unknown: true, unknownConfirmed: false }).problem, /twice/);
  assert.deepEqual(retryBody({ failed: true, unknown: true, unknownConfirmed: true }), {
    body: { statuses: ["Failed", "Unknown"], confirmUnknown: true },
  });
  assert.deepEqual(retryBody({ failed: false, unknown: true, unknownConfirmed: true }).body.statuses, ["Unknown"]);
  assert.match(retryBody({ failed: false, unknown: false }).problem, /Choose/);
});

test("a test send's answer and refusals are said plainly", () => {
  assert.match(testSentText({ phoneNumber: "+34600000999", leftToday: 9 }, "+34 600"), /^Test sent to \+34600000999 \(9 more tests today\)\./);
  assert.match(testSentText({ leftToday: 1 }, "+1555"), /^Test sent to \+1555 \(1 more test today\)\./);
  assert.match(testRefusal(new ApiError(429, "At most 10 test sends a day")), /^No test sent: today's tests of this campaign are used up\. At most 10/);
  assert.equal(testRefusal(new ApiError(409, "The campaign is sending")), "No test sent now: The campaign is sending.");
  assert.match(testRefusal(new ApiError(422, "phoneNumber: not a number")), /^No test sent: phoneNumber/);
  assert.match(testRefusal(new ApiError(0, "Could not reach the API")), /^The test could not be sent/);
});
