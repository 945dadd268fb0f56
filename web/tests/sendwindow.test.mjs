import assert from "node:assert/strict";
import { test } from "node:test";

import { DAYS, browserTimeZone, describeSendWindow, readSendWindow, timeZones } from "../sendwindow.js";

test("the time zones are the browser's, sorted, with its own zone and UTC", () => {
  const zones = timeZones();
  assert.ok(zones.length > 100, `only ${zones.length} zones`);
  assert.ok(zones.includes("Europe/Madrid") && zones.includes("UTC") && zones.includes(browserTimeZone()));
  assert.deepEqual(zones, [...zones].sort((a, b) => a.localeCompare(b)));
  assert.equal(new Set(zones).size, zones.length);
});

test("without Intl.supportedValuesOf a short list still offers the browser's zone", () => {
  const fakeIntl = { DateTimeFormat: () => ({ resolvedOptions: () => ({ timeZone: "Pacific/Chatham" }) }) };
  const zones = timeZones(fakeIntl);
  assert.ok(zones.includes("Pacific/Chatham") && zones.includes("UTC") && zones.includes("Europe/London"));
  assert.equal(browserTimeZone({ DateTimeFormat: () => ({ resolvedOptions: () => ({}) }) }), "UTC");
});

test("a window becomes the API's sendWindow; all seven days means every day", () => {
  const every = readSendWindow({ enabled: true, start: "09:00", end: "20:00", timeZone: "Europe/Madrid", days: DAYS });
  assert.deepEqual(every, { window: { start: "09:00", end: "20:00", timeZone: "Europe/Madrid" } });
  const weekdays = readSendWindow({ enabled: true, start: "22:00", end: "06:00", timeZone: "UTC", days: ["Fri", "Mon"] });
  assert.deepEqual(weekdays.window.days, ["Mon", "Fri"]);
  assert.deepEqual(readSendWindow({ enabled: false, start: "" }), { window: null });
});

test("a window the API would refuse is refused here, field by field", () => {
  const { problems } = readSendWindow({ enabled: true, start: "9", end: "09:00", timeZone: "", days: [] });
  assert.deepEqual(Object.keys(problems).sort(), ["days", "start", "timeZone"]);
  assert.match(readSendWindow({ enabled: true, start: "09:00", end: "09:00", timeZone: "UTC", days: DAYS }).problems.end, /another time/);
  assert.ok(readSendWindow({ enabled: true, start: "24:00", end: "09:00", timeZone: "UTC", days: DAYS }).problems.start);
});

test("a window is described in words", () => {
  assert.equal(describeSendWindow({ start: "09:00", end: "20:00", timeZone: "Europe/Madrid" }), "09:00–20:00 (Europe/Madrid), every day");
  assert.equal(
    describeSendWindow({ start: "22:00", end: "06:00", timeZone: "UTC", days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sun"] }),
    "22:00–06:00 (through midnight) (UTC), Mon–Fri, Sun",
  );
  assert.equal(describeSendWindow({ start: "08:00", end: "12:00", timeZone: "UTC", days: ["Sat", "Sun"] }), "08:00–12:00 (UTC), Sat, Sun");
  assert.equal(describeSendWindow(null), "");
});
