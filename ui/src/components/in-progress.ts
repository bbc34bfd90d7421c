// The jobs being worked on now: phase, elapsed time, bytes sent. Screen
// readers hear when jobs start and end, not the elapsed time ticking.

import { h } from "../lib/dom";
import { bytes, duration, fileName, percent, stageLabel } from "../lib/format";
import type { CoolDown, GenerationStage, InFlightJob, JobId } from "../lib/types";

export class InProgress {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly announcer: HTMLElement;
  private jobs: InFlightJob[] = [];
  private coolDowns: CoolDown[] = [];
  private fetchedAt = 0;
  private readonly sent = new Map<JobId, { sent: number; total: number }>();
  private readonly stages = new Map<JobId, GenerationStage>();

  constructor() {
    this.list = h("div", {});
    this.announcer = h("p", { class: "sr-only", "aria-live": "polite" });
    this.el = h("section", { class: "in-progress", "aria-label": "In progress" }, this.list, this.announcer);
  }

  update(jobs: InFlightJob[], coolDowns: CoolDown[], now: number): void {
    const said = announcement(this.jobs, jobs);
    if (said) this.announcer.textContent = said;
    this.jobs = jobs;
    this.coolDowns = coolDowns;
    this.fetchedAt = now;
    for (const map of [this.sent, this.stages]) {
      for (const id of [...map.keys()]) if (!jobs.some((j) => j.id === id)) map.delete(id);
    }
    this.render(now);
  }

  bytesSent(job: JobId, sent: number, total: number): void {
    this.sent.set(job, { sent, total });
  }

  stage(job: JobId, stage: GenerationStage): void {
    this.stages.set(job, stage);
  }

  /** Called every second (elapsed times) and after changes. */
  render(now: number): void {
    const pauses = this.coolDowns.filter((c) => c.until > now).map((c) => coolDownLine(c, now));
    if (this.jobs.length === 0) {
      this.list.replaceChildren(...pauses, h("p", { class: "muted" }, "Nothing in progress."));
      return;
    }
    this.list.replaceChildren(
      ...pauses,
      ...this.jobs.map((job) => {
        const elapsed = job.elapsed_ms + (now - this.fetchedAt);
        const live = this.sent.get(job.id);
        const done = live?.sent ?? job.bytes_sent;
        const total = live?.total ?? job.bytes_total;
        const share = job.phase === "upload" ? percent(done, total) : null;
        return h(
          "div",
          { class: "flight", "data-job": job.id },
          h("span", { class: "name", title: job.source }, fileName(job.source)),
          h("span", { class: "muted" }, `${this.doing(job)} · ${duration(elapsed)}`),
          share === null
            ? h("progress", { "aria-label": "working" })
            : h("progress", { max: 100, value: share.toFixed(1), "aria-label": `${bytes(done)} of ${bytes(total ?? 0)}` }),
        );
      }),
    );
  }

  private doing(job: InFlightJob): string {
    if (job.phase === "upload") return `uploading to ${job.destination}`;
    const stage = this.stages.get(job.id);
    return stage ? stageLabel(stage) : "generating";
  }
}

/** A destination or provider holding its jobs, with the time left. */
function coolDownLine(c: CoolDown, now: number): HTMLElement {
  return h(
    "p",
    { class: "cool-down", "data-name": c.name, title: c.reason },
    `${c.name} asked for a pause: nothing starts there for ${duration(c.until - now)}.`,
  );
}

/** What changed between two readings of the jobs in progress, in words. */
export function announcement(before: InFlightJob[], after: InFlightJob[]): string {
  const was = new Set(before.map((j) => j.id));
  const is = new Set(after.map((j) => j.id));
  const started = after.filter((j) => !was.has(j.id)).map((j) => fileName(j.source));
  const ended = before.filter((j) => !is.has(j.id)).map((j) => fileName(j.source));
  const parts: string[] = [];
  if (started.length > 0) parts.push(`Started ${started.join(", ")}.`);
  if (ended.length > 0) parts.push(`Finished ${ended.join(", ")}.`);
  return parts.join(" ");
}
