// What can be done to the selected jobs at once: shown while a selection
// exists, above the job list.

import { h, setText } from "../lib/dom";

export type BulkAction = "retry" | "cancel" | "raise" | "lower" | "accept" | "discard" | "copy";

const BUTTONS: [action: BulkAction, label: string, title: string][] = [
  ["retry", "Retry", "Retry the selected jobs that failed or were cancelled"],
  ["cancel", "Cancel", "Cancel the selected jobs not finished yet (Delete)"],
  ["raise", "Priority ↑", "Raise the priority of the selected waiting jobs"],
  ["lower", "Priority ↓", "Lower the priority of the selected waiting jobs"],
  ["accept", "Accept", "Accept the selected outputs waiting for review"],
  ["discard", "Discard", "Discard the selected outputs waiting for review (their jobs are cancelled)"],
  ["copy", "Copy links", "Copy the links of the selected uploads, one per line"],
];

export class BulkActions {
  readonly el: HTMLElement;
  private readonly countEl: HTMLElement;

  constructor(act: (action: BulkAction) => void, clear: () => void) {
    this.countEl = h("span", { class: "count" });
    this.el = h(
      "div",
      { class: "bulk", role: "toolbar", "aria-label": "Selected jobs", hidden: true },
      this.countEl,
      ...BUTTONS.map(([action, label, title]) =>
        h("button", { type: "button", class: "small", title, "data-action": action, onclick: () => act(action) }, label),
      ),
      h("button", { type: "button", class: "small", title: "Clear the selection (Escape)", onclick: clear }, "Clear"),
    );
  }

  show(count: number): void {
    this.el.hidden = count === 0;
    setText(this.countEl, `${count} selected`);
  }
}
