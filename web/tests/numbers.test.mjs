import assert from "node:assert/strict";
import { test } from "node:test";

import {
  SUGGESTED_DAILY_LIMIT,
  changesOf,
  disconnectQuestion,
  needsPolling,
  numberTitle,
  pairedText,
  pairingPhone,
  parseDailyLimit,
  parseLabel,
  sessionsOf,
  statusHint,
  statusTone,
} from "../numbers-format.js";

const paired = { id: "s1", label: "Shop", status: "WORKING", phoneNumber: "+15550001111", pushName: "Ana's shop", dailyLimit: 200 };

test("a number is known by its label, else its paired number", () => {
  assert.equal(numberTitle(paired), "Shop");
  assert.equal(numberTitle({ ...paired, label: null }), "+15550001111");
  assert.equal(numberTitle({ id: "s2", status: "SCAN_QR_CODE" }), "WhatsApp number");
});

test("the paired number goes with its WhatsApp name once there is one", () => {
  assert.equal(pairedText(paired), "+15550001111 (Ana's shop)");
  assert.equal(pairedText({ ...paired, pushName: null }), "+15550001111");
  assert.equal(pairedText({ status: "SCAN_QR_CODE" }), "");
});

test("the list is read again while any number is not WORKING, and only then", () => {
  assert.equal(needsPolling([paired, { ...paired, id: "s2" }]), false);
  assert.equal(needsPolling([paired, { id: "s2", status: "SCAN_QR_CODE" }]), true);
  assert.equal(needsPolling([{ id: "s3", status: "STARTING" }]), true);
  assert.equal(needsPolling([{ id: "s4", status: "FAILED" }]), true);
  assert.equal(needsPolling([]), false);
  assert.equal(needsPolling(null), false);
});

test("each status gets a badge of its own tone and a sentence saying what it means", () => {
  assert.equal(statusTone("WORKING"), "badge-working");
  assert.equal(statusTone("FAILED"), "badge-failed");
  assert.equal(statusTone("SCAN_QR_CODE"), "badge-scheduled");
  assert.equal(statusTone("STARTING"), "badge-scheduled");
  assert.equal(statusTone("STOPPED"), "badge-other");
  assert.match(statusHint("SCAN_QR_CODE"), /scan its QR code/);
  assert.match(statusHint("FAILED"), /connect the number again/);
  assert.match(statusHint("SOMETHING_NEW"), /reports SOMETHING_NEW/);
});

test("sessions are read from a page answer or an array, and entries without an id are left out", () => {
  assert.deepEqual(sessionsOf({ items: [paired, { status: "WORKING" }, null], nextToken: null }), [paired]);
  assert.deepEqual(sessionsOf([paired]), [paired]);
  assert.deepEqual(sessionsOf({ message: "nope" }), []);
});

test("a daily limit is a whole number of messages from 1 to 100,000", () => {
  assert.deepEqual(parseDailyLimit(" 200 "), { value: 200 });
  assert.deepEqual(parseDailyLimit("1,000"), { value: 1000 });
  assert.deepEqual(parseDailyLimit("100000"), { value: 100000 });
  assert.deepEqual(parseDailyLimit(String(SUGGESTED_DAILY_LIMIT)), { value: SUGGESTED_DAILY_LIMIT });
  for (const bad of ["", "  ", "0", "100001", "12.5", "-3", "lots", "2e3"]) {
    assert.ok(parseDailyLimit(bad).error, `${JSON.stringify(bad)} should be refused`);
  }
  assert.match(parseDailyLimit("0").error, /between 1 and 100,000/);
});

test("a label is trimmed, may be empty, and stays within 100 characters", () => {
  assert.deepEqual(parseLabel("  Shop  "), { value: "Shop" });
  assert.deepEqual(parseLabel(""), { value: "" });
  assert.deepEqual(parseLabel("x".repeat(100)), { value: "x".repeat(100) });
  assert.match(parseLabel("x".repeat(101)).error, /under 101 characters/);
});

test("a change sends only what changed, and never an empty label", () => {
  assert.deepEqual(changesOf(paired, "Shop", 200), {});
  assert.deepEqual(changesOf(paired, "Shop", 150), { dailyLimit: 150 });
  assert.deepEqual(changesOf(paired, "Store", 200), { label: "Store" });
  assert.deepEqual(changesOf(paired, "", 300), { dailyLimit: 300 });
  assert.deepEqual(changesOf({ ...paired, label: null }, "New", 200), { label: "New" });
});

test("a pairing code's phone number loses its punctuation; the API judges the rest", () => {
  assert.deepEqual(pairingPhone(" +34 612-345 (678) "), { value: "+34612345678" });
  assert.deepEqual(pairingPhone("0034612345678"), { value: "0034612345678" });
  assert.match(pairingPhone("").error, /Type the phone number/);
  assert.match(pairingPhone("+34 abc").error, /international format/);
  assert.match(pairingPhone("+1 234").error, /international format/);
});

test("the confirmation before disconnecting names the number and says what is lost", () => {
  const question = disconnectQuestion(paired);
  assert.match(question, /^This logs Shop \(\+15550001111 \(Ana's shop\)\) out of WhatsApp's gateway/);
  assert.match(question, /scheduled campaigns on it are paused/);
  assert.match(disconnectQuestion({ id: "s2", status: "SCAN_QR_CODE" }), /^This logs WhatsApp number out/);
});
