// The same `{Name}` rule the runner applies (CONTRACT.md, "Personalisation"),
// and the same opt-out footer, so the preview shows exactly what the first
// contact will receive.

const NAME_PLACEHOLDER = /\{name\}/gi;
// The API's default OPT_OUT_FOOTER; an operator may configure another text.
export const OPT_OUT_FOOTER = "Reply STOP to stop receiving these messages";
const FOOTER_SEPARATOR = "\n\n";

/** The contact's trimmed first name, or the default when it is missing or blank. */
export function displayName(firstName, defaultName) {
  const name = String(firstName ?? "").trim();
  return name || String(defaultName ?? "");
}

/** `text` ending with `footer` on a line of its own; `text` itself without a footer. */
export function withFooter(text, footer) {
  const trimmed = String(footer ?? "").trim();
  return trimmed ? `${String(text).trimEnd()}${FOOTER_SEPARATOR}${trimmed}` : String(text);
}

/** Replace every `{Name}` (any letter case) in one pass; the name is inserted literally. Then the footer, if any. */
export function renderMessage(template, firstName, defaultName, footer) {
  const name = displayName(firstName, defaultName);
  return withFooter(String(template ?? "").replace(NAME_PLACEHOLDER, () => name), footer);
}
