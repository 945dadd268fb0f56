import assert from "node:assert/strict";
import { test } from "node:test";

import { chunk, cleanPhoneNumber, parseContactsCsv, parseCsv } from "../csv.js";

test("quoted fields keep commas, doubled quotes and line breaks", () => {
  const { records, errors } = parseCsv('a,"b, c","say ""hi""","two\nlines"\n');
  assert.deepEqual(errors, []);
  assert.deepEqual(records, [{ line: 1, fields: ["a", "b, c", 'say "hi"', "two\nlines"] }]);
});

test("CRLF, CR, a byte order mark and blank lines", () => {
  const { records } = parseCsv("\uFEFFh1,h2\r\n\r\nx,1\ry,2\r\n\n");
  assert.deepEqual(
    records.map((r) => [r.line, r.fields]),
    [
      [1, ["h1", "h2"]],
      [3, ["x", "1"]],
      [4, ["y", "2"]],
    ],
  );
});

test("an unclosed quote and text after a closing quote are row errors", () => {
  assert.deepEqual(parseCsv('a,"b"x\nc,d\n').errors, [{ line: 1, message: "unexpected text after a closing quote" }]);
  assert.deepEqual(parseCsv('a,b\nc,"d\n').errors, [{ line: 2, message: "a quoted field is never closed" }]);
});

test("contacts: header in any order and case, row errors by line, order kept", () => {
  const text = [
    "\uFEFFFirstName , PHONENUMBER",
    '"Ana, Maria",+49 151 000-0001',
    "",
    "Bob,(030) 1234567",
    "Carl,notaphone",
    "Dora,",
    "Dup,+491510000001",
    "  ,4915100000099",
  ].join("\r\n");
  const { contacts, errors } = parseContactsCsv(text, { defaultCountry: "DE" });
  assert.deepEqual(contacts, [
    { phoneNumber: "+491510000001", firstName: "Ana, Maria" },
    { phoneNumber: "0301234567", firstName: "Bob" },
    { phoneNumber: "4915100000099" },
  ]);
  assert.deepEqual(
    errors.map((e) => e.line),
    [5, 6, 7],
  );
  assert.match(errors[2].message, /already appears on line 2/);
});

test("contacts: without a country, a national number is a row error, as the API would refuse it", () => {
  const text = "phoneNumber,firstName\n+491510000001,Ana\n(030) 1234567,Bob\n0049 151 0000002,Carl\n+491510000002,Dup\n";
  const { contacts, errors } = parseContactsCsv(text);
  assert.deepEqual(contacts.map((c) => c.phoneNumber), ["+491510000001", "00491510000002"]);
  assert.deepEqual(errors.map((e) => e.line), [3, 5]);
  assert.match(errors[0].message, /no country code/);
  assert.match(errors[1].message, /already appears on line 4/); // 00 and + are the same prefix
});

test("contacts: a file without a phoneNumber column or without rows", () => {
  assert.match(parseContactsCsv("name,phone\nA,123456\n").errors[0].message, /phoneNumber/);
  assert.deepEqual(parseContactsCsv("phoneNumber,firstName\n").contacts, []);
  assert.match(parseContactsCsv("").errors[0].message, /no header/);
});

test("phone numbers", () => {
  assert.equal(cleanPhoneNumber(" +49 (151) 234.567-89 "), "+4915123456789");
  assert.equal(cleanPhoneNumber("12345"), null);
  assert.equal(cleanPhoneNumber("+1234567890123456"), null);
  assert.equal(cleanPhoneNumber("49151x"), null);
});

test("chunks of at most n, in order", () => {
  assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.equal(chunk(Array.from({ length: 2500 }), 1000).length, 3);
});
