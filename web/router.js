// Hash routes: which view a page address shows, and the address of each view.
// `#/campaigns` is the default; a hash that is not a route (the skip link's
// `#main`) is not navigation at all.

export const ROUTES = [
  { name: "campaigns", path: /^campaigns$/, module: "./views/campaigns.js", nav: "campaigns", title: "Campaigns" },
  { name: "detail", path: /^campaigns\/([^/]+)$/, keys: ["id"], module: "./views/detail.js", nav: "campaigns", title: "Campaign" },
  { name: "create", path: /^create$/, module: "./views/create.js", nav: "create", title: "New campaign" },
  { name: "numbers", path: /^numbers$/, module: "./views/numbers.js", nav: "numbers", title: "WhatsApp numbers" },
  { name: "optouts", path: /^opt-outs$/, module: "./views/optouts.js", nav: "optouts", title: "Opt-outs" },
];

export const NAV = [
  { nav: "campaigns", href: "#/campaigns", label: "Campaigns" },
  { nav: "create", href: "#/create", label: "New campaign" },
  { nav: "numbers", href: "#/numbers", label: "Numbers" },
  { nav: "optouts", href: "#/opt-outs", label: "Opt-outs" },
];

const DEFAULT = "campaigns";

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/**
 * The route of a location hash: `{ name, module, nav, title, params }`; the default route for
 * an empty hash, `{ name: "notfound", params }` for an unknown `#/...`, and null for a hash
 * that is not a route.
 */
export function parseRoute(hash) {
  const raw = String(hash ?? "").replace(/^#/, "");
  if (raw !== "" && raw !== "/" && !raw.startsWith("/")) return null;
  const [pathPart, queryPart = ""] = raw.replace(/^\/+/, "").split("?", 2);
  const path = pathPart.replace(/\/+$/, "") || DEFAULT;
  const params = {};
  for (const [key, value] of new URLSearchParams(queryPart)) params[key] = value;
  for (const route of ROUTES) {
    const match = route.path.exec(path);
    if (!match) continue;
    const values = match.slice(1).map(decode);
    if (values.some((value) => value === null || value === "")) break;
    (route.keys ?? []).forEach((key, i) => {
      params[key] = values[i];
    });
    return { name: route.name, module: route.module, nav: route.nav, title: route.title, params };
  }
  return { name: "notfound", module: null, nav: null, title: "Not found", params: { path } };
}

/** The hash of a route: hrefFor("detail", { id }) is `#/campaigns/<id>`; other params go in the query. */
export function hrefFor(name, params = {}) {
  const rest = { ...params };
  let path;
  if (name === "detail") {
    path = `campaigns/${encodeURIComponent(String(rest.id ?? ""))}`;
    delete rest.id;
  } else {
    path = { campaigns: "campaigns", create: "create", numbers: "numbers", optouts: "opt-outs" }[name] ?? DEFAULT;
  }
  const query = new URLSearchParams(
    Object.entries(rest).filter(([, value]) => value !== undefined && value !== null && value !== ""),
  ).toString();
  return `#/${path}${query ? `?${query}` : ""}`;
}

export const campaignHref = (id) => hrefFor("detail", { id });
