// Saving what the create form describes, in turn: the contact list (a CSV goes up
// 1,000 contacts a request), the message, the media, then the campaign. What was
// saved is remembered, so trying again after a failure does not save it twice.
//
// A test send needs a campaign. The form saves one with no start time (it waits
// for Run, so nothing is sent but the test) and keeps it as its draft: creating
// the campaign afterwards with the same settings is that draft; with a start time
// or changed settings, a new campaign is created and the unused draft deleted.

import { errorText } from "./api.js";
import { chunk } from "./csv.js";
import { mediaNameFrom } from "./create_read.js";

const CONTACTS_PER_REQUEST = 1000;

function listName(fileName, campaignName) {
  const base = String(fileName ?? "").replace(/\.csv$/i, "").trim();
  return (base || `${campaignName} contacts`).slice(0, 200);
}

/** @param {{ api: object, onProgress: (text: string) => void }} options */
export function createSaver({ api, onProgress }) {
  const saved = { lists: new Map(), templates: new Map(), media: new Map() };
  let draft = null; // { id, key }: a campaign this form saved for a test, never started

  async function once(cache, key, create) {
    if (cache.has(key)) return cache.get(key);
    const item = await create();
    if (!item?.id) throw new Error("the API saved the item but did not return its id.");
    cache.set(key, item.id);
    return item.id;
  }

  async function listId(list, campaignName) {
    if (list.kind === "saved") return list.id;
    const { contacts, fileKey, fileName, defaultCountry } = list;
    const key = `${fileKey}:${contacts.length}:${defaultCountry}`;
    const batches = chunk(contacts, CONTACTS_PER_REQUEST);
    // After a failed upload, `saved` remembers the list and how many batches it already holds.
    let entry = saved.lists.get(key);
    for (let i = entry?.batches ?? 0; i < batches.length; i += 1) {
      const from = i * CONTACTS_PER_REQUEST;
      onProgress(`Uploading contacts ${from + 1}–${from + batches[i].length} of ${contacts.length}…`);
      if (!entry) {
        const body = { name: listName(fileName, campaignName), contacts: batches[i] };
        if (defaultCountry) body.defaultCountry = defaultCountry;
        const created = await api.request("POST", "/contact-lists", { body });
        if (!created?.id) throw new Error("the API created the contact list but did not return its id.");
        entry = { id: created.id, batches: 0 };
        saved.lists.set(key, entry);
      } else {
        await api.request("POST", `/contact-lists/${encodeURIComponent(entry.id)}/contacts`, { body: { contacts: batches[i] } });
      }
      entry.batches = i + 1;
    }
    return entry.id;
  }

  /** The campaign's body for POST /campaigns, after saving what it needs (no start time). */
  async function campaignBody(values) {
    const body = { name: values.name, defaultNameValue: values.defaultName };
    body.contactListId = await listId(values.list, values.name);
    if (values.template.kind === "saved") {
      body.messageTemplateId = values.template.id;
    } else {
      onProgress("Saving the message…");
      body.messageTemplateId = await once(saved.templates, `${values.name}\u0000${values.template.text}`, () =>
        api.request("POST", "/message-templates", { body: { name: `${values.name} message`, textContent: values.template.text } }),
      );
    }
    if (values.media?.kind === "saved") body.mediaLibraryItemId = values.media.id;
    if (values.media?.kind === "url") {
      onProgress("Saving the media…");
      const { url, mime } = values.media;
      body.mediaLibraryItemId = await once(saved.media, `${url}\u0000${mime}`, () =>
        api.request("POST", "/media-items", { body: { name: mediaNameFrom(url) || `${values.name} media`, storagePath: url, mimeType: mime } }),
      );
    }
    if (values.sessionId) body.whatsappSessionId = values.sessionId;
    if (values.minDelayMs !== undefined) body.minDelayMs = values.minDelayMs;
    if (values.maxDelayMs !== undefined) body.maxDelayMs = values.maxDelayMs;
    if (values.sendWindow) body.sendWindow = values.sendWindow;
    if (values.optOutFooter) body.optOutFooter = true;
    return body;
  }

  /** Delete the draft when it is not wanted any more; a failure is only reported. */
  async function dropDraft(onNote) {
    const old = draft;
    draft = null;
    if (!old) return;
    try {
      await api.request("DELETE", `/campaigns/${encodeURIComponent(old.id)}`);
    } catch (error) {
      onNote?.(`The campaign saved for the earlier test was kept: ${errorText(error)}`);
    }
  }

  /** The campaign a test goes through: the draft for these settings, saved now if need be. */
  async function draftFor(values, onNote) {
    const body = await campaignBody(values);
    const key = JSON.stringify(body);
    if (draft?.key === key) return draft.id;
    await dropDraft(onNote);
    onProgress("Saving the campaign for the test (it waits for Run)…");
    const created = await api.request("POST", "/campaigns", { body });
    draft = { id: created.id, key };
    return created.id;
  }

  /** Create the campaign: the draft itself when it has these settings and no start time is asked for. */
  async function create(values, onNote) {
    const body = await campaignBody(values);
    const key = JSON.stringify(body);
    if (draft?.key === key && !values.scheduledAt) {
      const kept = draft;
      draft = null;
      return await api.request("GET", `/campaigns/${encodeURIComponent(kept.id)}`);
    }
    onProgress("Creating the campaign…");
    if (values.scheduledAt) body.scheduledAt = values.scheduledAt;
    const campaign = await api.request("POST", "/campaigns", { body });
    await dropDraft(onNote);
    return campaign;
  }

  return {
    draftFor,
    create,
    hasDraft: () => Boolean(draft),
    /** After the form is reset: nothing saved is reused for the next campaign. */
    forget() {
      draft = null;
      saved.lists.clear();
      saved.templates.clear();
      saved.media.clear();
    },
  };
}
