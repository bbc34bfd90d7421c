// One job in full: its source and output side by side, where it went, its
// link, its fields, and every attempt with its time and error. Opened from
// the history (a click) and from the job list (Enter); "Show this batch"
// leaves it for the history narrowed to the job's batch.

import { previewUrl } from "../lib/api";
import { h } from "../lib/dom";
import { bytes, fileName, stateLabel } from "../lib/format";
import { fixLabel, standing, standingText, type FixTarget } from "../lib/standing";
import type { AttemptView, BatchId, JobDetail, JobId, JobView } from "../lib/types";

export interface DetailActions {
  load(job: JobId): Promise<JobDetail | null>;
  copyLink(url: string, source: string): void;
  retry(job: JobId): Promise<void>;
  open(job: JobId): void;
  fix(target: FixTarget): void;
  /** The history narrowed to this batch; without it the detail offers none. */
  showBatch?(batch: BatchId): void;
}

/** A time as the detail shows it: the date and time of day, to the second. */
export function when(ms: number | null): string {
  if (ms === null) return "—";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const OUTCOMES: Record<AttemptView["outcome"], string> = {
  generated: "generated",
  delivered: "delivered",
  retrying: "failed, retried later",
  failed: "failed",
  cancelled: "cancelled",
};

export class JobDetailDialog {
  readonly el: HTMLDialogElement;
  private readonly body: HTMLElement;
  private shown: JobId | null = null;

  constructor(private readonly actions: DetailActions) {
    this.body = h("div", { class: "detail-body" });
    this.el = h(
      "dialog",
      { class: "detail", "aria-label": "Job detail" },
      h(
        "header",
        {},
        h("h2", {}, "Job"),
        h("button", { type: "button", onclick: () => this.el.close() }, "Close"),
      ),
      this.body,
    );
  }

  /** Reads the job and shows it; a job gone meanwhile says so. */
  async open(job: JobId): Promise<void> {
    this.shown = job;
    if (!this.el.open) this.el.showModal();
    this.body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    let detail: JobDetail | null;
    try {
      detail = await this.actions.load(job);
    } catch (e) {
      this.body.replaceChildren(h("p", { class: "error" }, String(e)));
      return;
    }
    if (this.shown !== job) return;
    this.body.replaceChildren(...(detail ? this.render(detail) : [h("p", {}, `Job ${job} is no longer in the queue.`)]));
  }

  private render(d: JobDetail): HTMLElement[] {
    const job = d.job;
    const trouble = standing(job);
    const figure = (label: string, src: string, caption: string) =>
      h(
        "figure",
        {},
        h("img", { src, alt: `${label} of ${fileName(job.source)}`, loading: "lazy" }),
        h("figcaption", {}, h("strong", {}, label), " ", caption),
      );
    const output = d.output;
    const pictures = h(
      "div",
      { class: "pictures" },
      figure("Source", previewUrl.source(job.id, 512), fileName(job.source)),
      output
        ? figure("Output", previewUrl.output(job.id, 0, 512), `${output.file_name} · ${output.width} × ${output.height} · ${bytes(output.size)}`)
        : h("figure", { class: "none" }, h("p", { class: "muted" }, "No output yet.")),
    );
    const url = job.remote?.url ?? null;
    const facts: [string, Node | string][] = [
      ["State", trouble ? standingText(trouble, Date.now()) : stateLabel(job.state, job.awaiting_review)],
      ["Destination", job.destination],
      ["Recipe", job.recipe],
      ["Batch", String(job.batch_id)],
      ["Added", when(job.created_at)],
      ["Finished", when(job.finished_at)],
      ["Source", job.source],
    ];
    if (url) facts.push(["Link", h("a", { href: url, target: "_blank", rel: "noreferrer" }, url)]);
    for (const [name, value] of Object.entries(d.fields ?? {})) facts.push([`Field ${name}`, typeof value === "string" ? value : JSON.stringify(value)]);
    const list = h("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const buttons = h("div", { class: "actions" }, ...this.buttons(job, url));
    const attempts =
      d.attempts.length === 0
        ? h("p", { class: "muted" }, "No attempt yet.")
        : h(
            "table",
            { class: "attempts" },
            h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Phase"), h("th", {}, "Started"), h("th", {}, "Ended"), h("th", {}, "Outcome"))),
            h(
              "tbody",
              {},
              ...d.attempts.map((a, i) =>
                h(
                  "tr",
                  { "data-outcome": a.outcome },
                  h("td", {}, String(i + 1)),
                  h("td", {}, a.phase),
                  h("td", {}, when(a.started_at)),
                  h("td", {}, when(a.ended_at)),
                  h("td", {}, a.error ? `${OUTCOMES[a.outcome]}: ${a.error.message}` : OUTCOMES[a.outcome]),
                ),
              ),
            ),
          );
    return [
      h("h3", { class: "name" }, `#${job.id} ${fileName(job.source)}`),
      pictures,
      buttons,
      list,
      h("h3", {}, "Attempts"),
      attempts,
    ];
  }

  private buttons(job: JobView, url: string | null): HTMLElement[] {
    const b = (label: string, action: () => void) => h("button", { type: "button", onclick: action }, label);
    const out: HTMLElement[] = [];
    if (url) {
      out.push(b("Copy link", () => this.actions.copyLink(url, job.source)));
      out.push(b("Open", () => this.actions.open(job.id)));
    }
    const trouble = standing(job);
    if (trouble?.kind === "needs_you" || trouble?.kind === "waiting") out.push(b(fixLabel(trouble.fix), () => this.actions.fix(trouble.fix)));
    if (job.state === "failed" || job.state === "cancelled") {
      out.push(
        b("Retry", () => void this.actions.retry(job.id).then(() => this.open(job.id))),
      );
    }
    const showBatch = this.actions.showBatch;
    if (showBatch && job.batch_id > 0) {
      out.push(
        b("Show this batch", () => {
          this.el.close();
          showBatch(job.batch_id);
        }),
      );
    }
    return out;
  }
}
