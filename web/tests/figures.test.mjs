import assert from "node:assert/strict";
import { test } from "node:test";

import {
  RATE_WINDOW_MS,
  ackRates,
  formatDuration,
  formatRate,
  percent,
  perMinute,
  progressOf,
  timeFromNow,
} from "../figures.js";

test("progress counts every status against the total", () => {
  const campaign = { totalContacts: 10, sentCount: 5, failedCount: 1, unknownCount: 1, skippedCount: 2 };
  assert.deepEqual(progressOf(campaign), { total: 10, sent: 5, failed: 1, unknown: 1, skipped: 2, done: 9, left: 1 });
  assert.deepEqual(progressOf({}), { total: 0, sent: 0, failed: 0, unknown: 0, skipped: 0, done: 0, left: 0 });
  // Counters the API never sends negative or fractional are read as whole, non-negative numbers
  assert.equal(progressOf({ totalContacts: 3, sentCount: -1, failedCount: 1.7 }).done, 1);
});

test("delivered and read rates are shares of the messages sent", () => {
  assert.deepEqual(ackRates({ sentCount: 8, deliveredCount: 6, readCount: 2 }), { delivered: 0.75, read: 0.25 });
  assert.deepEqual(ackRates({ sentCount: 0, deliveredCount: 0, readCount: 0 }), { delivered: null, read: null });
  assert.equal(ackRates({ sentCount: 2, deliveredCount: 5 }).delivered, 1); // never over 100 %
  assert.equal(percent(0.75), "75%");
  assert.equal(percent(0.034), "3.4%");
  assert.equal(percent(0), "0%");
  assert.equal(percent(1), "100%");
  assert.equal(percent(null), "—");
});

test("messages per minute: the last ten minutes while running, the whole span after", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  const everyTenSeconds = Array.from({ length: 121 }, (_, i) => now - 20 * 60_000 + i * 10_000);
  assert.equal(Math.round(perMinute(everyTenSeconds, { nowMs: now, running: true })), 6);
  // A run that started two minutes ago is measured over those two minutes
  const recent = [now - 120_000, now - 90_000, now - 60_000, now - 30_000];
  assert.equal(perMinute(recent, { nowMs: now, running: true }), 2);
  // Finished: first to last delivery, whatever the time is now
  const finished = [0, 30_000, 60_000, 90_000, 120_000];
  assert.equal(perMinute(finished, { nowMs: now, running: false }), 2.5);
  // Too little to tell
  assert.equal(perMinute([now - 5_000], { nowMs: now, running: true }), null);
  assert.equal(perMinute([1], { nowMs: now, running: false }), null);
  assert.equal(perMinute([], { nowMs: now, running: true }), null);
  assert.ok(RATE_WINDOW_MS === 600_000);
});

test("rates and durations read as a person says them", () => {
  assert.equal(formatRate(12.4), "12 a minute");
  assert.equal(formatRate(9.44), "9.4 a minute");
  assert.equal(formatRate(30), "30 a minute");
  assert.equal(formatRate(2), "2 a minute");
  assert.equal(formatRate(1.5), "1.5 a minute");
  assert.equal(formatRate(0.8), "1 every 75 s");
  assert.equal(formatRate(null), "—");
  assert.equal(formatDuration(20_000), "under a minute");
  assert.equal(formatDuration(12 * 60_000), "12 min");
  assert.equal(formatDuration(125 * 60_000), "2 h 5 min");
  assert.equal(formatDuration(120 * 60_000), "2 h");
  assert.equal(formatDuration((3 * 24 + 4) * 3_600_000), "3 d 4 h");
});

test("the ETA is said relative to now", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  assert.equal(timeFromNow("2026-03-01T12:12:00Z", now), "in 12 min");
  assert.equal(timeFromNow("2026-03-01T13:30:00Z", now), "in 1 h 30 min");
  assert.equal(timeFromNow("2026-03-01T12:00:10Z", now), "any moment now");
  assert.equal(timeFromNow("2026-03-01T11:00:00Z", now), "any moment now");
  assert.equal(timeFromNow(null, now), "");
  assert.equal(timeFromNow("not a date", now), "");
});
