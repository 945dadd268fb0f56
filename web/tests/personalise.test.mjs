import assert from "node:assert/strict";
import { test } from "node:test";

import { renderMessage } from "../personalise.js";

test("{Name} in any case becomes the trimmed first name", () => {
  assert.equal(renderMessage("Hi {Name}, {NAME}! {name}.", "  Ana ", "friend"), "Hi Ana, Ana! Ana.");
});

test("a missing or blank first name falls back to the default", () => {
  assert.equal(renderMessage("Hi {Name}", undefined, "friend"), "Hi friend");
  assert.equal(renderMessage("Hi {Name}", "   ", "friend"), "Hi friend");
});

test("the name is inserted literally, never expanded again", () => {
  assert.equal(renderMessage("Hi {Name}", "{Name} $& $1", "x"), "Hi {Name} $& $1");
});
