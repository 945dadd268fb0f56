// What a campaign is made of, on its page: the number it sends from, its list,
// its message, its pacing, its send window and its times. The names of the list,
// template and number are read once (the campaign only holds their ids).

import { h, replaceChildren, timeElement } from "./dom.js";
import { allPages } from "./forms.js";
import { describeSendWindow } from "./sendwindow.js";

export function sessionTitle(session) {
  if (!session) return "";
  const label = session.label || session.pushName || "WhatsApp number";
  return session.phoneNumber ? `${label} (${session.phoneNumber})` : label;
}

/** "30–60 s between messages" from milliseconds. */
export function describePacing(minMs, maxMs) {
  const seconds = (ms) => {
    const value = Number(ms) / 1000;
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  };
  if (minMs === undefined || minMs === null) return "";
  return minMs === maxMs ? `${seconds(minMs)} s between messages` : `${seconds(minMs)}–${seconds(maxMs)} s between messages`;
}

/** @param {{ api: object }} options */
export function createFacts({ api }) {
  const names = { loaded: false, session: null, list: null, template: null };
  const list = h("dl", { class: "facts", "data-testid": "campaign-facts" });

  function fact(label, testid, ...value) {
    return h("div", { class: "fact" }, h("dt", {}, label), h("dd", { "data-testid": testid }, ...value));
  }

  function render(campaign) {
    const unknown = (what) => h("span", { class: "muted" }, what);
    replaceChildren(
      list,
      fact("Sends from", "fact-number", names.session ? sessionTitle(names.session) : unknown(names.loaded ? "a number no longer connected" : "…")),
      fact("Contacts", "fact-list", names.list ? `${names.list.name} (${names.list.contactCount ?? "?"} contacts)` : unknown(names.loaded ? "a deleted list" : "…")),
      fact("Message", "fact-message", names.template ? h("span", { class: "message-text" }, names.template.textContent) : unknown(names.loaded ? "a deleted template" : "…")),
      fact("Name for contacts without one", "fact-default-name", campaign.defaultNameValue ?? ""),
      fact("Pacing", "fact-pacing", describePacing(campaign.minDelayMs, campaign.maxDelayMs)),
      fact("Send window", "fact-window", campaign.sendWindow ? describeSendWindow(campaign.sendWindow) : unknown("any time")),
      campaign.startedAt
        ? fact("Started", "fact-started", timeElement(campaign.startedAt))
        : fact("Starts", "fact-scheduled", campaign.scheduledAt ? timeElement(campaign.scheduledAt) : unknown("when you press Run")),
      fact("Created", "fact-created", timeElement(campaign.createdAt)),
    );
  }

  /** Read the names the campaign points at; a missing one is shown as gone, never as an error. */
  async function loadNames(campaign) {
    const encode = encodeURIComponent;
    const [sessions, contactList, templates] = await Promise.allSettled([
      allPages(api, "/whatsapp-sessions", { maxPages: 2 }),
      api.request("GET", `/contact-lists/${encode(campaign.contactListId)}`),
      allPages(api, "/message-templates", { maxPages: 10 }),
    ]);
    names.session = sessions.value?.items.find((item) => item.id === campaign.whatsappSessionId) ?? null;
    names.list = contactList.value ?? null;
    names.template = templates.value?.items.find((item) => item.id === campaign.messageTemplateId) ?? null;
    names.loaded = true;
    const refused = [sessions, contactList, templates].find((answer) => answer.status === "rejected" && answer.reason?.status !== 404);
    if (refused) throw refused.reason;
  }

  return {
    node: list,
    render,
    loadNames,
    names: () => names,
  };
}
