// Jobs per state, each count a button that filters the list by that state.

import { h, setText } from "../lib/dom";
import { stateLabel } from "../lib/format";
import { JOB_STATES, type JobState, type StateCounts } from "../lib/types";

export class CountsBar {
  readonly el: HTMLElement;
  private readonly chips = new Map<JobState | null, { button: HTMLButtonElement; count: HTMLElement }>();

  constructor(private readonly onFilter: (state: JobState | null) => void) {
    this.el = h("div", { class: "counts", role: "toolbar", "aria-label": "Jobs by state" });
    for (const state of [null, ...JOB_STATES] as Array<JobState | null>) {
      const count = h("strong", {}, "0");
      const button = h(
        "button",
        { type: "button", class: `chip ${state ?? "all"}`, "data-state": state ?? "all", "aria-pressed": state === null },
        count,
        h("span", {}, state === null ? "all" : stateLabel(state)),
      );
      button.addEventListener("click", () => this.onFilter(state));
      this.chips.set(state, { button, count });
      this.el.append(button);
    }
  }

  update(counts: StateCounts): void {
    for (const [state, chip] of this.chips) {
      setText(chip.count, String(state === null ? counts.total : counts[state]));
    }
  }

  select(state: JobState | null): void {
    for (const [s, chip] of this.chips) chip.button.setAttribute("aria-pressed", String(s === state));
  }
}
