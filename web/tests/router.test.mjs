import assert from "node:assert/strict";
import { test } from "node:test";

import { campaignHref, hrefFor, parseRoute } from "../router.js";

const route = (hash) => {
  const found = parseRoute(hash);
  return found && { name: found.name, params: found.params };
};

test("an empty hash, and the root, show the campaigns", () => {
  for (const hash of ["", "#", "#/", "#/campaigns", "#/campaigns/"]) {
    assert.deepEqual(route(hash), { name: "campaigns", params: {} }, hash);
  }
});

test("a campaign's id is a route parameter, decoded", () => {
  assert.deepEqual(route("#/campaigns/c-123"), { name: "detail", params: { id: "c-123" } });
  assert.deepEqual(route("#/campaigns/a%2Fb%20c"), { name: "detail", params: { id: "a/b c" } });
  assert.equal(route("#/campaigns/%E0%A4%A").name, "notfound"); // a broken escape is no id
});

test("each view has its route, and query parameters are passed on", () => {
  assert.equal(route("#/create").name, "create");
  assert.deepEqual(route("#/create?from=c-9").params, { from: "c-9" });
  assert.equal(route("#/numbers").name, "numbers");
  assert.equal(parseRoute("#/numbers").module, "./views/numbers.js");
  assert.equal(route("#/opt-outs").name, "optouts");
  assert.equal(parseRoute("#/opt-outs").module, "./views/optouts.js");
});

test("an unknown #/ path is not found; a hash that is no route is not navigation", () => {
  assert.deepEqual(route("#/campaigns/1/2"), { name: "notfound", params: { path: "campaigns/1/2" } });
  assert.equal(route("#/nowhere").name, "notfound");
  assert.equal(parseRoute("#main"), null);
  assert.equal(parseRoute("#create-heading"), null);
});

test("hrefs round-trip through the parser", () => {
  assert.equal(campaignHref("c 1/2"), "#/campaigns/c%201%2F2");
  assert.deepEqual(route(campaignHref("c 1/2")).params, { id: "c 1/2" });
  assert.equal(hrefFor("create", { from: "abc" }), "#/create?from=abc");
  assert.equal(hrefFor("create", { from: "" }), "#/create");
  assert.equal(hrefFor("optouts"), "#/opt-outs");
  for (const name of ["campaigns", "create", "numbers", "optouts"]) assert.equal(route(hrefFor(name)).name, name);
});
