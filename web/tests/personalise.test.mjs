import assert from "node:assert/strict";
import { test } from "node:test";

import { OPT_OUT_FOOTER, renderMessage, withFooter } from "../personalise.js";

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

test("the opt-out footer ends the message on a line of its own, as the runner adds it", () => {
  assert.equal(renderMessage("Hi {Name}  \n", "Ana", "friend", OPT_OUT_FOOTER), `Hi Ana\n\n${OPT_OUT_FOOTER}`);
  assert.equal(renderMessage("Hi {Name}", "Ana", "friend", "  "), "Hi Ana");
  assert.equal(withFooter("Hi {Name}", " Stop? Reply STOP "), "Hi {Name}\n\nStop? Reply STOP");
  assert.equal(withFooter("Hi", undefined), "Hi");
});
