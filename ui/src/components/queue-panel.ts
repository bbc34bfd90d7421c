// The queue panel: counts, queue-wide actions, jobs in progress, batches and
// the full job list with its filters. The counts, batches and jobs in
// progress all come from one status reading (sent with the events that changed
// it), so they agree; events patch the list's rows and the live byte counts.
// Jobs selected in the list are acted on together from the bulk bar.

import type { Api } from "../lib/api";
import { errorMessage } from "../lib/api";
import { h } from "../lib/dom";
import { money } from "../lib/format";
import { filteredTotal, type Filter } from "../lib/jobs";
import type { BatchId, EngineEvent, JobId, JobView, Status } from "../lib/types";
import type { FixTarget } from "../lib/standing";
import { Batches } from "./batches";
import { BulkActions, type BulkAction } from "./bulk-actions";
import { CountsBar } from "./counts-bar";
import { InProgress } from "./in-progress";
import { OverallProgress } from "./overall-progress";
import { JobList } from "./job-list";

const STATUS_INTERVAL_MS = 1000;

export class QueuePanel {
  readonly el: HTMLElement;
  private readonly counts: CountsBar;
  private readonly inProgress = new InProgress();
  private readonly overall = new OverallProgress();
  private readonly batches: Batches;
  private readonly list: JobList;
  private readonly bulkBar: BulkActions;
  private readonly pauseButton: HTMLButtonElement;
  private readonly cleanDays: HTMLInputElement;
  private readonly cost: HTMLElement;
  private status: Status | null = null;
  private filter: Filter = { state: null, batch: null };
  private statusTimer: number | null = null;
  private lastStatusAt = 0;

  constructor(
    private readonly api: Api,
    private readonly say: (text: string) => void,
    links: {
      fix(target: FixTarget): void;
      copyLink(url: string, source: string): void;
      copyLinks(jobs: JobView[]): void;
      detail(job: JobId): void;
    },
  ) {
    this.counts = new CountsBar((state) => this.setFilter({ ...this.filter, state }));
    this.batches = new Batches({
      pause: (b) => this.act(() => this.api.pause(b)),
      resume: (b) => this.act(() => this.api.resume(b)),
      retryFailed: (b) => this.act(async () => this.reportRetry(await this.api.retryFailed(b))),
      filter: (batch) => this.setFilter({ ...this.filter, batch }),
    });
    this.list = new JobList((q) => this.api.history(q), {
      retry: (job) => this.act(async () => this.reportRetry(await this.api.retry([job]))),
      cancel: (job) => this.act(() => this.api.cancel([job])),
      raise: (job) =>
        this.act(async () => {
          await this.api.setPriority([job.id], job.priority + 1);
          job.priority += 1;
          this.list.changed();
        }),
      copy: (job) => {
        if (job.remote?.url) links.copyLink(job.remote.url, job.source);
      },
      open: (job) => this.act(() => this.api.openLocation(job)),
      fix: (target) => links.fix(target),
      selected: (count) => this.bulkBar.show(count),
      cancelSelected: () => void this.bulk("cancel", links.copyLinks),
      detail: (job) => links.detail(job),
    });
    this.bulkBar = new BulkActions(
      (action) => void this.bulk(action, links.copyLinks),
      () => this.list.clearSelection(),
    );
    this.pauseButton = h("button", { type: "button", onclick: () => this.togglePause() }, "Pause queue");
    this.cleanDays = h("input", { type: "number", min: 0, max: 3650, value: 30, "aria-label": "Days", class: "days" });
    const toolbar = h(
      "div",
      { class: "toolbar" },
      this.pauseButton,
      h("button", { type: "button", onclick: () => this.act(async () => this.reportRetry(await this.api.retryFailed(null))) }, "Retry all failed"),
      h(
        "span",
        { class: "clean" },
        h("button", { type: "button", onclick: () => this.clean() }, "Clean finished older than"),
        this.cleanDays,
        h("span", { class: "muted" }, "days"),
      ),
    );
    this.cost = h("p", { class: "cost muted", hidden: true });
    this.el = h(
      "aside",
      { class: "queue", "aria-label": "Queue" },
      h("h2", {}, "Queue"),
      this.counts.el,
      this.cost,
      toolbar,
      this.overall.el,
      this.inProgress.el,
      this.batches.el,
      this.bulkBar.el,
      this.list.el,
    );
    window.setInterval(() => {
      this.inProgress.render(Date.now());
      this.overall.render(Date.now());
      this.list.changed(); // retry countdowns
    }, 1000);
  }

  show(status: Status): void {
    const totalsChanged =
      !this.status || this.status.counts.total !== status.counts.total;
    this.status = status;
    this.lastStatusAt = Date.now();
    this.counts.update(status.counts);
    this.pauseButton.textContent = status.queue_paused ? "Resume queue" : "Pause queue";
    this.pauseButton.setAttribute("aria-pressed", String(status.queue_paused));
    this.inProgress.update(status.in_flight, status.cool_downs, Date.now());
    this.overall.show(status.batches, new Set(status.in_flight.map((j) => j.id)), Date.now());
    const { spent, to_spend } = status.cost;
    this.cost.hidden = spent === 0 && to_spend === 0;
    this.cost.textContent = `AI generation: ${money(spent)} spent, ${money(to_spend)} to spend`;
    this.batches.update(status.batches, this.filter.batch);
    const total = this.total();
    if (totalsChanged) this.list.reload(total);
    else this.list.setTotal(total);
  }

  apply(events: EngineEvent[]): void {
    const now = Date.now();
    for (const event of events) {
      this.list.apply(event, now);
      if (event.type === "bytes_sent") {
        this.inProgress.bytesSent(event.job_id, event.sent, event.total);
        this.overall.bytesSent(event.job_id, event.sent, now);
      }
      if (event.type === "generation_stage") this.inProgress.stage(event.job_id, event.stage);
    }
  }

  /** Another process changed jobs: the loaded rows may all be stale. */
  reloadList(): void {
    this.list.reload(this.total());
  }

  /** Reads the status again after the user's own action, at most once per interval. */
  private refreshSoon(): void {
    if (this.statusTimer !== null) return;
    const wait = Math.max(0, this.lastStatusAt + STATUS_INTERVAL_MS - Date.now());
    this.statusTimer = window.setTimeout(() => {
      this.statusTimer = null;
      this.api
        .status()
        .then((s) => this.show(s))
        .catch((e) => this.say(errorMessage(e)));
    }, wait);
  }

  private total(): number {
    if (!this.status) return 0;
    const batch = this.status.batches.find((b) => b.id === this.filter.batch);
    return filteredTotal(this.status.counts, batch?.counts ?? null, this.filter);
  }

  /** A batch's name, while the status lists it (batches with work left). */
  batchName(batch: BatchId): string | null {
    return this.status?.batches.find((b) => b.id === batch)?.name ?? null;
  }

  /** The job picked first in the list, if any. */
  picked(): JobView | null {
    return this.list.picked();
  }

  private setFilter(filter: Filter): void {
    this.filter = filter;
    this.counts.select(filter.state);
    if (this.status) this.batches.update(this.status.batches, filter.batch);
    this.list.setFilter(filter, this.total());
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
      this.refreshSoon();
    } catch (e) {
      this.say(errorMessage(e));
    }
  }

  /** One action on every selected job it applies to; says what it did. */
  private async bulk(action: BulkAction, copyLinks: (jobs: JobView[]) => void): Promise<void> {
    let jobs: JobView[];
    try {
      jobs = await this.list.selectedJobs();
    } catch (e) {
      this.say(errorMessage(e));
      return;
    }
    const where = (states: JobView["state"][]) => jobs.filter((j) => states.includes(j.state));
    const none = (what: string) => this.say(`None of the ${jobs.length} selected job(s) ${what}.`);
    switch (action) {
      case "retry": {
        const ids = where(["failed", "cancelled"]).map((j) => j.id);
        if (ids.length === 0) return none("failed or was cancelled");
        await this.act(async () => this.reportRetry(await this.api.retry(ids)));
        return this.list.clearSelection();
      }
      case "cancel": {
        const ids = where(["pending", "paused", "processing"]).map((j) => j.id);
        if (ids.length === 0) return none("is unfinished");
        await this.act(async () => {
          await this.api.cancel(ids);
          this.say(`${ids.length} job(s) cancelled.`);
        });
        return this.list.clearSelection();
      }
      case "raise":
      case "lower": {
        const waiting = where(["pending", "paused"]);
        if (waiting.length === 0) return none("is waiting");
        const step = action === "raise" ? 1 : -1;
        // One call per priority: each job moves one step from its own.
        const byPriority = new Map<number, JobView[]>();
        for (const j of waiting) byPriority.set(j.priority, [...(byPriority.get(j.priority) ?? []), j]);
        await this.act(async () => {
          for (const [priority, group] of byPriority) {
            await this.api.setPriority(group.map((j) => j.id), priority + step);
            for (const j of group) j.priority = priority + step;
          }
          this.say(`${waiting.length} job(s) moved ${action === "raise" ? "up" : "down"}.`);
          this.list.changed();
        });
        return;
      }
      case "accept": {
        const ids = jobs.filter((j) => j.awaiting_review).map((j) => j.id);
        if (ids.length === 0) return none("waits for review");
        await this.act(async () => {
          await this.api.accept(ids);
          this.say(`${ids.length} output(s) accepted.`);
        });
        return this.list.clearSelection();
      }
      case "discard": {
        // Discarding an output is cancelling its job, as the tile's Discard.
        const ids = jobs.filter((j) => j.awaiting_review).map((j) => j.id);
        if (ids.length === 0) return none("waits for review");
        await this.act(async () => {
          await this.api.cancel(ids);
          this.say(`${ids.length} output(s) discarded.`);
        });
        return this.list.clearSelection();
      }
      case "copy": {
        const linked = jobs.filter((j) => j.remote?.url).sort((a, b) => a.id - b.id);
        if (linked.length === 0) return none("has a link");
        return copyLinks(linked);
      }
    }
  }

  private reportRetry(r: { retried: number[]; refused: string[] }): void {
    const refused = r.refused.length > 0 ? ` Not retried: ${r.refused.join("; ")}` : "";
    this.say(`${r.retried.length} job(s) back in the queue.${refused}`);
  }

  private togglePause(): void {
    const paused = this.status?.queue_paused ?? false;
    void this.act(() => (paused ? this.api.resume(null) : this.api.pause(null)));
  }

  private clean(): void {
    const days = Number(this.cleanDays.value);
    if (!Number.isInteger(days) || days < 0) {
      this.say("Days must be a whole number, 0 or more.");
      return;
    }
    void this.act(async () => {
      const n = await this.api.clean(days);
      this.say(`${n} finished job(s) removed.`);
      this.list.reload(this.total());
    });
  }
}
