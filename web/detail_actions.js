// What can be done with a campaign from its page: Run, Resume, Pause, Cancel as
// its status allows, Retry its failures as a new campaign, Duplicate it into the
// create form, Delete it. Whatever loses something asks first.

import { errorText } from "./api.js";
import { actionButtons } from "./campaign_display.js";
import { confirmAction } from "./confirm.js";
import { h, replaceChildren } from "./dom.js";
import { count } from "./figures.js";
import { sectionMessage, setBusy } from "./forms.js";
import { askRetry } from "./retry.js";
import { campaignHref, hrefFor } from "./router.js";
import { FINAL_STATUSES, deletable } from "./statuses.js";

// A DELETE of a large campaign may answer 202 (not finished): repeated up to this many times.
const DELETE_ROUNDS = 20;

/** DELETE until the API says it is all gone (204), or give up after `rounds`. */
export async function deleteWholly(api, path, rounds = DELETE_ROUNDS) {
  for (let round = 0; round < rounds; round += 1) {
    const answer = await api.request("DELETE", path);
    if (!answer) return true; // 204: gone
  }
  return false;
}

/**
 * @param {{ ctx: object, reload: () => Promise<void>, onStarted: () => void, holdReads?: (held: boolean) => void }} options
 *   `reload` reads the campaign again; `onStarted` after Run or Resume (polling settles);
 *   `holdReads(true)` stops the page's reads while the campaign is being deleted.
 */
export function createDetailActions({ ctx, reload, onStarted, holdReads = () => {} }) {
  const state = { campaign: null, pending: null };
  const bar = h("div", { class: "actions detail-actions", "data-testid": "detail-actions" });
  const message = sectionMessage("actions-message");
  const node = h("div", { class: "detail-actions-wrap" }, bar, message.node);
  const path = () => `/campaigns/${encodeURIComponent(state.campaign.id)}`;
  const label = () => state.campaign.name || state.campaign.id;

  async function command(action) {
    if (state.pending) return;
    if (action.confirm) {
      const sure = await confirmAction({
        title: `${action.label} "${label()}"?`,
        text: action.confirm,
        confirmLabel: `${action.label} the campaign`,
        cancelLabel: "Keep it",
        danger: true,
      });
      if (!sure) return;
    }
    state.pending = action.name;
    render(state.campaign);
    message.clear();
    try {
      await ctx.api.request("POST", `${path()}/${action.name}`);
      ctx.notify(`${action.done}: "${label()}".`);
      if (action.name === "run" || action.name === "resume") onStarted();
    } catch (error) {
      if (ctx.onUnauthorized(error)) return;
      message.show(`Could not ${action.label.toLowerCase()} "${label()}": ${errorText(error)}`, { error: true });
    } finally {
      state.pending = null;
      await reload(); // success or not: a 409 means this copy is stale
    }
  }

  async function retry(button) {
    const body = await askRetry(state.campaign);
    if (!body) return;
    setBusy(button, true, "Creating the retry…");
    message.clear();
    try {
      const created = await ctx.api.request("POST", `${path()}/retry`, { body });
      ctx.notify(`Retry campaign "${created?.name ?? ""}" created over ${created?.totalContacts ?? "the"} contacts. It waits for Run.`);
      ctx.navigate(campaignHref(created.id));
    } catch (error) {
      if (ctx.onUnauthorized(error)) return;
      message.show(`Could not retry: ${errorText(error)}`, { error: true });
      setBusy(button, false);
    }
  }

  async function remove(button) {
    const sure = await confirmAction({
      title: `Delete "${label()}"?`,
      text: "The campaign and its log of who got the message are deleted for good. Its contact list and message stay.",
      confirmLabel: "Delete the campaign",
      cancelLabel: "Keep it",
      danger: true,
    });
    if (!sure) return;
    setBusy(button, true, "Deleting…");
    message.clear();
    holdReads(true);
    try {
      const done = await deleteWholly(ctx.api, path());
      ctx.notify(done ? `Campaign "${label()}" deleted.` : `Campaign "${label()}" is being deleted; it no longer shows anywhere.`);
      ctx.navigate(hrefFor("campaigns"));
    } catch (error) {
      if (ctx.onUnauthorized(error)) return;
      message.show(`Could not delete "${label()}": ${errorText(error)}`, { error: true });
      setBusy(button, false);
      holdReads(false);
    }
  }

  function render(campaign) {
    state.campaign = campaign;
    const button = (testid, text, onclick, extra = "") =>
      h("button", { type: "button", class: `button button-small ${extra}`.trim(), "data-testid": testid, disabled: Boolean(state.pending), onclick }, text);
    const retryable = FINAL_STATUSES.includes(campaign.status) && count(campaign.failedCount) + count(campaign.unknownCount) > 0;
    replaceChildren(
      bar,
      actionButtons(campaign, { pending: state.pending, onAction: command }),
      retryable ? button("retry-button", "Retry failed…", (event) => retry(event.currentTarget)) : null,
      button("duplicate-button", "Duplicate", () => ctx.navigate(hrefFor("create", { from: campaign.id }))),
      deletable(campaign) ? button("delete-button", "Delete…", (event) => remove(event.currentTarget), "action-cancel") : null,
    );
  }

  return { node, render, message };
}
