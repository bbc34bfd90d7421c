// Puts links on the clipboard as uploads end, per the user's setting: each
// upload's link when it completes, or a batch's links (in the batch's order)
// once the batch has no unfinished work left.

import { formatLink, formatLinks, linked, type LinkFormat } from "./links";
import type { BatchId, EngineEvent, JobView, Status } from "./types";

export interface LinkSettings {
  copy_links: LinkFormat;
  copy_links_when: "each" | "batch";
  link_template: string;
}

export interface LinkCopierDeps {
  settings(): LinkSettings | null;
  /** A job's source path, when the window knows it. */
  source(job: number): string | null;
  batchJobs(batch: BatchId): Promise<JobView[]>;
  copy(text: string): Promise<void>;
  said(text: string): void;
}

export class LinkCopier {
  private active = new Set<BatchId>();

  constructor(private readonly deps: LinkCopierDeps) {}

  /** Each upload as it ends (the "each" setting). */
  events(events: EngineEvent[]): void {
    const s = this.deps.settings();
    if (!s || s.copy_links === "off" || s.copy_links_when !== "each") return;
    const done = events.filter(
      (e): e is Extract<EngineEvent, { type: "job_changed" }> => e.type === "job_changed" && e.state === "completed" && !!e.link,
    );
    const last = done[done.length - 1];
    if (!last?.link) return;
    // Several in one message: the newest wins, as the clipboard holds one.
    const text = formatLink(s.copy_links, s.link_template, linked(last.link, this.deps.source(last.job_id) ?? last.link));
    void this.put(text, "Link copied");
  }

  /** Batches that were active and no longer are have ended (the "batch" setting). */
  status(status: Status): void {
    const now = new Set(status.batches.map((b) => b.id));
    const ended = [...this.active].filter((b) => !now.has(b));
    this.active = now;
    const s = this.deps.settings();
    if (!s || s.copy_links === "off" || s.copy_links_when !== "batch") return;
    for (const batch of ended) void this.copyBatch(batch, s);
  }

  private async copyBatch(batch: BatchId, s: LinkSettings): Promise<void> {
    const jobs = (await this.deps.batchJobs(batch))
      .filter((j) => j.state === "completed" && j.remote?.url)
      .sort((a, b) => a.id - b.id);
    if (jobs.length === 0) return;
    const text = formatLinks(s.copy_links, s.link_template, jobs.map((j) => linked(j.remote?.url ?? "", j.source)));
    await this.put(text, `${jobs.length} link(s) copied`);
  }

  private async put(text: string, what: string): Promise<void> {
    try {
      await this.deps.copy(text);
      this.deps.said(what);
    } catch (e) {
      this.deps.said(`Cannot copy the link: ${String(e)}`);
    }
  }
}
