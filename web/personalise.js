// The same `{Name}` rule the runner applies (CONTRACT.md, "Personalisation"),
// so the preview shows exactly what the first contact will receive.

const NAME_PLACEHOLDER = /\{name\}/gi;

/** The contact's trimmed first name, or the default when it is missing or blank. */
export function displayName(firstName, defaultName) {
  const name = String(firstName ?? "").trim();
  return name || String(defaultName ?? "");
}

/** Replace every `{Name}` (any letter case) in one pass; the name is inserted literally. */
export function renderMessage(template, firstName, defaultName) {
  const name = displayName(firstName, defaultName);
  return String(template ?? "").replace(NAME_PLACEHOLDER, () => name);
}
