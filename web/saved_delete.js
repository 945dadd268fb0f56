// Deleting what the create form offers to reuse: a saved contact list (the way to
// erase customers' numbers), message or media item. Asked first; refused while a
// campaign that is not finished uses it (409), said next to the choice.

import { errorText } from "./api.js";
import { confirmAction } from "./confirm.js";
import { deleteWholly } from "./detail_actions.js";
import { setBusy, setFieldError } from "./forms.js";

export const SAVED_KINDS = {
  list: {
    path: "/contact-lists",
    what: "contact list",
    lost: (item) =>
      `Its ${item.contactCount ?? ""} contacts are erased for good. Finished campaigns that used it keep their delivery logs.`,
  },
  template: { path: "/message-templates", what: "message", lost: () => "Finished campaigns that used it keep their delivery logs." },
  media: { path: "/media-items", what: "media item", lost: () => "The file itself stays where it is; only this entry goes." },
};

/**
 * Wire `button` to delete the item chosen in `select` (its id), from `items()`.
 * @param {{ kind: keyof SAVED_KINDS, button: HTMLButtonElement, select: HTMLSelectElement, items: () => object[],
 *           ctx: object, onDeleted: (item: object) => void }} options
 */
export function wireSavedDelete({ kind, button, select, items, ctx, onDeleted }) {
  const { path, what, lost } = SAVED_KINDS[kind];
  button.addEventListener("click", async () => {
    const item = items().find((candidate) => candidate.id === select.value);
    if (!item) return;
    const sure = await confirmAction({
      title: `Delete the ${what} "${item.name}"?`,
      text: lost(item),
      confirmLabel: `Delete the ${what}`,
      cancelLabel: "Keep it",
      danger: true,
    });
    if (!sure) return;
    setBusy(button, true, "Deleting…");
    setFieldError(select, "");
    try {
      const done = await deleteWholly(ctx.api, `${path}/${encodeURIComponent(item.id)}`);
      ctx.notify(done ? `The ${what} "${item.name}" is deleted.` : `The ${what} "${item.name}" is being deleted; it no longer shows anywhere.`);
      onDeleted(item);
    } catch (error) {
      if (!ctx.onUnauthorized(error)) setFieldError(select, `Could not delete it: ${errorText(error)}`);
    } finally {
      if (button.isConnected) setBusy(button, false);
    }
  });
}
