import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addedSummary,
  numbersFromCsv,
  refusedPositions,
  refusedText,
  refusesCountry,
  sourceText,
  splitNumbers,
} from "../optouts-format.js";

const values = (entries) => entries.map((entry) => entry.value);

test("typed numbers are split on lines, commas and semicolons, blanks dropped, positions kept", () => {
  const typed = splitNumbers(" +34 612 345 678 ,+1 415 555 0100\r\n\n;  +44 20 7946 0958 ;\n");
  assert.deepEqual(typed, [
    { value: "+34 612 345 678", position: 0 },
    { value: "+1 415 555 0100", position: 1 },
    { value: "+44 20 7946 0958", position: 2 },
  ]);
  assert.deepEqual(splitNumbers(""), []);
  assert.deepEqual(splitNumbers(" ,\n; "), []);
});

test("a CSV without a header is one number per line, each with its line", () => {
  const { numbers, errors } = numbersFromCsv("\uFEFF+15550100001\r\n\r\n+1 (555) 010-0002\n\"+15550100003\"\n");
  assert.deepEqual(numbers, [
    { line: 1, value: "+15550100001" },
    { line: 3, value: "+1 (555) 010-0002" },
    { line: 4, value: "+15550100003" },
  ]);
  assert.deepEqual(errors, []);
});

test("a CSV with a phoneNumber column (any case) reads that column and ignores the others", () => {
  const text = "First Name,PhoneNumber,notes\nAna,+15550100001,\"likes, commas\"\nBruno,,\nChloé,+15550100003\n";
  const { numbers, errors } = numbersFromCsv(text);
  assert.deepEqual(numbers, [
    { line: 2, value: "+15550100001" },
    { line: 4, value: "+15550100003" },
  ]);
  assert.deepEqual(errors, [{ line: 3, message: "no phone number" }]);
  assert.deepEqual(values(numbersFromCsv("phone_number\n+15550100009\n").numbers), ["+15550100009"]);
  assert.deepEqual(values(numbersFromCsv("Phone\n+15550100008\n").numbers), ["+15550100008"]);
});

test("without a header, a line of several values is reported by its line and left out", () => {
  const { numbers, errors } = numbersFromCsv("+15550100001\n+15550100002,+15550100003\n+15550100004,\n");
  assert.deepEqual(values(numbers), ["+15550100001", "+15550100004"]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].line, 2);
  assert.match(errors[0].message, /has 2 values/);
});

test("an empty file, an over-long value and a broken quote are reported by line", () => {
  assert.deepEqual(numbersFromCsv("\n\n").numbers, []);
  assert.match(numbersFromCsv("\n\n").errors[0].message, /no numbers/);
  const long = numbersFromCsv(`+1555\n${"9".repeat(65)}\n`);
  assert.deepEqual(values(long.numbers), ["+1555"]);
  assert.deepEqual(long.errors.map((e) => e.line), [2]);
  const broken = numbersFromCsv('+15550100001\n"+15550100002\n');
  assert.ok(broken.errors.length >= 1, JSON.stringify(broken));
});

test("the API's refusals are read back by position, from `position` or from the field", () => {
  const refused = refusedPositions([
    { in: "body", field: "phoneNumbers[0]", message: "not a phone number", position: 0 },
    { in: "body", field: "phoneNumbers[3]", message: "too short for a number in Spain" },
    { in: "body", field: "phoneNumbers.5", msg: "String should have at most 64 characters" },
    { in: "query", field: "defaultCountry", message: "unknown country" },
    null,
    "text",
  ]);
  assert.deepEqual([...refused], [
    [0, "not a phone number"],
    [3, "too short for a number in Spain"],
    [5, "String should have at most 64 characters"],
  ]);
  assert.equal(refusedPositions(undefined).size, 0);
});

test("a refused country is told apart from refused numbers", () => {
  assert.equal(refusesCountry([{ in: "query", field: "defaultCountry", message: "unknown" }]), true);
  assert.equal(refusesCountry([{ in: "body", field: "phoneNumbers[0]", message: "bad" }]), false);
  assert.equal(refusesCountry(null), false);
});

test("each entry says how it came onto the list", () => {
  assert.equal(sourceText({ source: "keyword", keyword: "STOP" }), 'Replied "STOP"');
  assert.equal(sourceText({ source: "keyword" }), "Replied with an opt-out word");
  assert.equal(sourceText({ source: "manual" }), "Added by you");
  assert.equal(sourceText({ source: "import" }), "Imported from a file");
  assert.equal(sourceText({ source: "later" }), "later");
});

test("the summary counts what was added, what was there already and what was left out", () => {
  assert.equal(addedSummary({ added: 3 }), "3 numbers added to the opt-out list.");
  assert.equal(addedSummary({ added: 1, already: 1 }), "1 number added to the opt-out list; 1 was on it already.");
  assert.equal(
    addedSummary({ added: 0, already: 2, refused: 1 }),
    "0 numbers added to the opt-out list; 2 were on it already; 1 line was left out (see below).",
  );
  assert.equal(addedSummary({ added: 1200 }), "1,200 numbers added to the opt-out list.");
});

test("a refused number is shown with where it came from and what was written", () => {
  assert.equal(refusedText("Line 4", "12ab", "not a phone number"), 'Line 4 ("12ab"): not a phone number');
  assert.equal(refusedText("Line 2", "", "has 2 values"), "Line 2: has 2 values");
});

test("a file's numbers are sent as a CSV whose row i is number i, quotes escaped", async () => {
  const { csvOfNumbers, addOptOuts } = await import("../optouts-upload.js");
  assert.equal(csvOfNumbers(["+34 600", 'a"b']), 'phoneNumber\r\n"+34 600"\r\n"a""b"\r\n');

  const calls = [];
  const api = { request: async (method, path, options) => { calls.push(options); return { added: ["x"] }; } };
  await addOptOuts(api, [{ value: "+34600000001", where: "line 1" }], { leaveOutRefused: true });
  await addOptOuts(api, [{ value: "+34600000002", where: "1" }]);
  assert.equal(calls[0].contentType, "text/csv");
  assert.equal(calls[0].text, 'phoneNumber\r\n"+34600000001"\r\n');
  assert.deepEqual(calls[1].body, { phoneNumbers: ["+34600000002"] });
});
