// Batches with unfinished work: progress, time left, pause/resume, retry.

import { h } from "../lib/dom";
import { duration } from "../lib/format";
import type { BatchId, BatchView } from "../lib/types";

export interface BatchActions {
  pause(batch: BatchId): void;
  resume(batch: BatchId): void;
  retryFailed(batch: BatchId): void;
  filter(batch: BatchId | null): void;
}

export function batchProgress(b: BatchView): { done: number; total: number; text: string } {
  const c = b.counts;
  const done = c.completed + c.failed + c.cancelled;
  const eta = b.eta_ms === null ? "" : `, about ${duration(b.eta_ms)} left`;
  const failed = c.failed > 0 ? `, ${c.failed} failed` : "";
  return { done, total: c.total, text: `${done} of ${c.total} done${failed}${eta}` };
}

export class Batches {
  readonly el: HTMLElement;

  constructor(private readonly actions: BatchActions) {
    this.el = h("section", { class: "batches", "aria-label": "Batches" });
  }

  update(batches: BatchView[], selected: BatchId | null): void {
    this.el.replaceChildren(
      ...batches.map((b) => {
        const p = batchProgress(b);
        const button = (label: string, action: () => void) =>
          h("button", { type: "button", class: "small", onclick: () => action() }, label);
        return h(
          "div",
          { class: `batch${selected === b.id ? " selected" : ""}`, "data-batch": b.id },
          h("div", { class: "row" }, h("strong", {}, b.name), h("span", { class: "muted" }, b.paused ? "paused" : p.text)),
          h("progress", { max: Math.max(1, p.total), value: p.done, "aria-label": p.text }),
          h(
            "div",
            { class: "row actions" },
            b.paused ? button("Resume", () => this.actions.resume(b.id)) : button("Pause", () => this.actions.pause(b.id)),
            b.counts.failed > 0 ? button("Retry failed", () => this.actions.retryFailed(b.id)) : null,
            button(selected === b.id ? "Show all" : "Show jobs", () =>
              this.actions.filter(selected === b.id ? null : b.id),
            ),
          ),
        );
      }),
    );
  }
}
