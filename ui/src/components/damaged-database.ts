// Shown instead of the app when the queue's database is damaged: what is
// wrong, that nothing was touched, and the user's choice. The database is
// replaced (and kept as a copy) only when they agree.

import { errorMessage } from "../lib/api";
import { h, setText } from "../lib/dom";
import type { DamagedDatabase } from "../lib/types";

export interface DamagedDatabaseActions {
  /** Keeps the damaged database as a copy and opens a fresh one; the copy's path. */
  startFresh(): Promise<string>;
  quit(): Promise<void>;
}

export class DamagedDatabasePanel {
  readonly el: HTMLElement;
  private readonly error: HTMLElement;
  private readonly buttons: HTMLButtonElement[];

  /** `onFresh` runs once a fresh database is open, with the copy's path. */
  constructor(
    damaged: DamagedDatabase,
    private readonly actions: DamagedDatabaseActions,
    private readonly onFresh: (kept: string) => void,
  ) {
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.buttons = [
      h("button", { type: "button", class: "primary", onclick: () => this.startFresh() }, "Keep a copy and start afresh"),
      h("button", { type: "button", onclick: () => void this.actions.quit() }, "Quit"),
    ];
    this.el = h(
      "section",
      { class: "damaged", role: "alertdialog", "aria-labelledby": "damaged-title", "aria-describedby": "damaged-reason" },
      h("h2", { id: "damaged-title" }, "The queue's database is damaged"),
      h("p", { id: "damaged-reason" }, "Outbox cannot read ", h("code", { class: "path" }, damaged.path), `: ${damaged.reason}.`),
      h("p", {}, "Nothing was changed. Outbox can keep it as a copy beside it and start with an empty queue (destinations and recipes are added again), or quit and leave it as it is."),
      this.error,
      h("div", { class: "actions" }, ...this.buttons),
    );
  }

  /** Focuses the first choice, for the keyboard. */
  focus(): void {
    this.buttons[0]?.focus();
  }

  private startFresh(): void {
    for (const b of this.buttons) b.disabled = true;
    this.error.hidden = true;
    this.actions
      .startFresh()
      .then((kept) => this.onFresh(kept))
      .catch((e: unknown) => {
        setText(this.error, errorMessage(e));
        this.error.hidden = false;
        for (const b of this.buttons) b.disabled = false;
      });
  }
}
