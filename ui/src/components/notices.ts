// Messages for the user: what an add skipped and why, duplicates, and the
// outcome of actions. Kept until dismissed; read out by screen readers.

import { h } from "../lib/dom";
import { fileName } from "../lib/format";
import type { AddReport, ImportReport } from "../lib/types";

export class Notices {
  readonly el: HTMLElement;

  constructor() {
    this.el = h("section", { class: "notices", "aria-live": "polite", "aria-label": "Messages" });
  }

  say(text: string, kind: "info" | "error" = "info"): void {
    this.push(h("p", {}, text), kind);
  }

  report(report: AddReport): void {
    const lines: HTMLElement[] = [];
    if (report.skipped.length > 0) {
      lines.push(
        h("p", {}, `Skipped ${report.skipped.length}:`),
        h(
          "ul",
          { class: "skipped" },
          ...report.skipped.map((s) =>
            h("li", { "data-path": s.path }, h("strong", { title: s.path }, fileName(s.path)), ` — ${s.reason}`),
          ),
        ),
      );
    }
    if (report.duplicates.length > 0) {
      lines.push(
        h("p", {}, `Already queued or delivered (${report.duplicates.length}):`),
        h(
          "ul",
          { class: "duplicates" },
          ...report.duplicates.map((d) =>
            h("li", {}, h("strong", { title: d.path }, fileName(d.path)), ` — job ${d.existing_job} is ${d.state}${d.url ? ` at ${d.url}` : ""}`),
          ),
        ),
      );
    }
    if (lines.length > 0) {
      const added = h("p", {}, `Added ${report.added.length}.`);
      this.push(h("div", {}, added, ...lines), "info");
    }
  }

  /** An import's summary: how many rows were added, each skipped row and why. */
  imported(report: ImportReport): void {
    const lines: HTMLElement[] = [
      h("p", {}, `Imported ${report.added.length} item(s), skipped ${report.skipped.length}.`),
    ];
    if (report.skipped.length > 0) {
      lines.push(
        h("ul", { class: "skipped" }, ...report.skipped.map((s) => h("li", {}, h("strong", {}, `row ${s.row}`), ` — ${s.reason}`))),
      );
    }
    this.push(h("div", {}, ...lines), report.added.length === 0 ? "error" : "info");
  }

  private push(content: HTMLElement, kind: "info" | "error"): void {
    const close = h("button", { type: "button", class: "small", "aria-label": "Dismiss" }, "×");
    const note = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, content, close);
    close.addEventListener("click", () => note.remove());
    this.el.prepend(note);
    while (this.el.children.length > 5) this.el.lastElementChild?.remove();
  }
}
