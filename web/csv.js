// Reading a contacts CSV in the browser: a `phoneNumber,firstName` header,
// quoted fields (commas, doubled quotes and line breaks inside), CRLF/LF/CR
// line ends, a UTF-8 byte order mark and blank lines.

/**
 * Split CSV text into records. Each record keeps the 1-based line it starts on
 * so that errors can point at the line a person sees in their editor.
 * @returns {{ records: { line: number, fields: string[] }[], errors: { line: number, message: string }[] }}
 */
export function parseCsv(text) {
  const input = String(text ?? "").replace(/^\uFEFF/, "");
  const records = [];
  const errors = [];

  let fields = [];
  let field = "";
  let inQuotes = false;
  let quotedField = false; // the current field started with a quote
  let afterQuote = false; // a quoted field just closed; only a separator may follow
  let line = 1;
  let recordLine = 1;
  let badRecord = false;

  const endField = () => {
    fields.push(field);
    field = "";
    quotedField = false;
    afterQuote = false;
  };
  const endRecord = () => {
    endField();
    const blank = fields.length === 1 && fields[0] === "";
    if (!blank && !badRecord) records.push({ line: recordLine, fields });
    fields = [];
    badRecord = false;
  };

  for (let i = 0; i < input.length; i += 1) {
    const ch = input[i];
    if (inQuotes) {
      if (ch === '"') {
        if (input[i + 1] === '"') {
          field += '"';
          i += 1;
        } else {
          inQuotes = false;
          afterQuote = true;
        }
      } else {
        if (ch === "\n" || (ch === "\r" && input[i + 1] !== "\n")) line += 1;
        field += ch;
      }
      continue;
    }
    if (ch === ",") {
      endField();
    } else if (ch === "\r" || ch === "\n") {
      if (ch === "\r" && input[i + 1] === "\n") i += 1;
      endRecord();
      line += 1;
      recordLine = line;
    } else if (ch === '"' && field.trim() === "" && !quotedField) {
      // Opening quote (spaces before it are ignored).
      field = "";
      inQuotes = true;
      quotedField = true;
    } else if (afterQuote) {
      if (ch !== " " && ch !== "\t" && !badRecord) {
        errors.push({ line: recordLine, message: "unexpected text after a closing quote" });
        badRecord = true;
      }
    } else {
      field += ch;
    }
  }

  if (inQuotes) {
    errors.push({ line: recordLine, message: "a quoted field is never closed" });
    badRecord = true;
  }
  endRecord();
  return { records, errors };
}

const PHONE_PUNCTUATION = /[\s().\-\u00a0]/g;

/** Clean a phone number for sending: digits with an optional leading +, or null if it is not one. */
export function cleanPhoneNumber(raw) {
  const compact = String(raw ?? "").trim().replace(PHONE_PUNCTUATION, "");
  return /^\+?\d{6,15}$/.test(compact) ? compact : null;
}

const header = (name) => name.trim().toLowerCase().replace(/[\s_-]/g, "");

/**
 * Turn CSV text into contacts. Rows with a problem are reported and left out;
 * the rest keep their order (the order the campaign sends in). Without a
 * `defaultCountry`, a number must be international (`+` or `00`), as the API
 * requires; with one, national numbers are the API's to read in that country.
 * @returns {{ contacts: { phoneNumber: string, firstName?: string }[], errors: { line: number, message: string }[] }}
 */
export function parseContactsCsv(text, { defaultCountry = "" } = {}) {
  const { records, errors } = parseCsv(text);
  if (records.length === 0) {
    return { contacts: [], errors: [...errors, { line: 1, message: "the file has no header row" }] };
  }

  const [head, ...rows] = records;
  const columns = head.fields.map(header);
  const phoneAt = columns.indexOf("phonenumber");
  const nameAt = columns.indexOf("firstname");
  if (phoneAt === -1) {
    return {
      contacts: [],
      errors: [...errors, { line: head.line, message: 'the header needs a "phoneNumber" column (and optionally "firstName")' }],
    };
  }

  const contacts = [];
  const seen = new Map();
  for (const { line, fields } of rows) {
    const rawPhone = fields[phoneAt] ?? "";
    if (!rawPhone.trim()) {
      errors.push({ line, message: "phoneNumber is empty" });
      continue;
    }
    const phoneNumber = cleanPhoneNumber(rawPhone);
    if (!phoneNumber) {
      errors.push({ line, message: `"${rawPhone.trim()}" is not a phone number (6 to 15 digits, optional leading +)` });
      continue;
    }
    if (!defaultCountry && !/^(\+|00)/.test(phoneNumber)) {
      errors.push({ line, message: `"${rawPhone.trim()}" has no country code: start it with +, or choose the country of national numbers` });
      continue;
    }
    const key = phoneNumber.replace(/^(\+|00)/, "");
    if (seen.has(key)) {
      errors.push({ line, message: `${phoneNumber} already appears on line ${seen.get(key)}` });
      continue;
    }
    seen.set(key, line);
    const firstName = nameAt === -1 ? "" : (fields[nameAt] ?? "").trim();
    contacts.push(firstName ? { phoneNumber, firstName } : { phoneNumber });
  }
  errors.sort((a, b) => a.line - b.line);
  return { contacts, errors };
}

/** Split a list into chunks of at most `size` items. */
export function chunk(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
