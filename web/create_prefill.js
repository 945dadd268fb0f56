// Duplicate: the create form filled from an existing campaign (#/create?from=<id>),
// with the same list, message, media, number, pacing and send window. What no
// longer exists (a deleted list or message) is said, and left for the user to choose.

import { errorText } from "./api.js";
import { DAYS } from "./sendwindow.js";

const seconds = (ms) => (ms === null || ms === undefined ? "" : String(Number(ms) / 1000));

function pick(radios, select, items, id) {
  if (id && items.some((item) => item.id === id)) {
    radios.inputs.saved.checked = true;
    select.value = id;
    return true;
  }
  return false;
}

/**
 * Fill the form `el` (create_form.js) from campaign `ctx.params.from`; `data` holds the
 * user's saved sessions, lists, templates and media, already in the form's choices.
 */
export async function fillFrom(ctx, el, data) {
  let campaign;
  try {
    campaign = await ctx.api.request("GET", `/campaigns/${encodeURIComponent(ctx.params.from)}`);
  } catch (error) {
    if (!ctx.onUnauthorized(error)) ctx.showError(`The campaign to copy could not be read: ${errorText(error)}`, "create-load");
    return;
  }
  const gone = [];
  el.name.value = `${campaign.name ?? "Campaign"} (copy)`.slice(0, 200);
  if ((data.sessions ?? []).some((session) => session.id === campaign.whatsappSessionId)) el.session.value = campaign.whatsappSessionId;
  else gone.push("its WhatsApp number");
  if (!pick(el.listSource, el.list, data.lists, campaign.contactListId)) {
    el.listSource.inputs.upload.checked = true;
    gone.push("its contact list");
  }
  if (!pick(el.templateSource, el.template, data.templates, campaign.messageTemplateId)) {
    el.templateSource.inputs.write.checked = true;
    gone.push("its message");
  }
  if (campaign.mediaLibraryItemId) {
    if (data.media.some((item) => item.id === campaign.mediaLibraryItemId)) el.media.value = campaign.mediaLibraryItemId;
    else gone.push("its media");
  }
  el.defaultName.value = campaign.defaultNameValue ?? "";
  el.minDelay.value = seconds(campaign.minDelayMs);
  el.maxDelay.value = seconds(campaign.maxDelayMs);
  el.footer.input.checked = Boolean(campaign.optOutFooter);
  const window = campaign.sendWindow;
  el.window.input.checked = Boolean(window);
  if (window) {
    el.windowStart.value = window.start;
    el.windowEnd.value = window.end;
    if ([...el.windowZone.options].some((option) => option.value === window.timeZone)) el.windowZone.value = window.timeZone;
    const days = Array.isArray(window.days) && window.days.length ? window.days : DAYS;
    for (const day of DAYS) el.days[day].input.checked = days.includes(day);
  }
  const missing = gone.length ? ` No longer there: ${gone.join(", ")}; choose again.` : "";
  ctx.notify(`Copied from "${campaign.name}": check it, then create.${missing}`);
}
