// Every job, newest first, filtered by state and batch, in a virtualised list:
// only the rows in view exist in the DOM, pages of rows are loaded from the
// engine as they scroll into view, and events patch loaded rows in place.

import { h, onNextFrame, setText } from "../lib/dom";
import { bytes, fileName, percent, stateLabel } from "../lib/format";
import { applyEvent, type Filter } from "../lib/jobs";
import { standing, standingLabel, standingText } from "../lib/standing";
import type { EngineEvent, HistoryQuery, JobId, JobView } from "../lib/types";
import { pagesFor, visibleRows } from "../lib/virtual";

export const ROW_HEIGHT = 44;
const PAGE_SIZE = 100;

export interface RowActions {
  retry(job: JobId): void;
  cancel(job: JobId): void;
  raise(job: JobView): void;
  copy(job: JobView): void;
  open(job: JobId): void;
  /** Opens the settings of the destination a job needs the user to fix. */
  fix(destination: string): void;
}

interface Row {
  el: HTMLElement;
  name: HTMLElement;
  state: HTMLElement;
  detail: HTMLElement;
  bar: HTMLElement;
  actions: HTMLElement;
  shownJob: JobView | null;
  shownKey: string;
  /** Which buttons the row holds now. */
  actionsKey: string;
}

export class JobList {
  readonly el: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private readonly rows: Row[] = [];
  private pages = new Map<number, JobView[]>();
  private readonly loading = new Set<number>();
  private readonly byId = new Map<JobId, JobView>();
  private total = 0;
  private filter: Filter = { state: null, batch: null };
  private generation = 0;

  constructor(
    private readonly load: (q: HistoryQuery) => Promise<JobView[]>,
    private readonly actions: RowActions,
  ) {
    this.spacer = h("div", { class: "spacer" });
    this.rowsEl = h("div", { class: "rows", role: "list" });
    this.el = h("div", { class: "joblist", tabindex: 0, "aria-label": "Jobs" }, this.spacer, this.rowsEl);
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
  }

  setFilter(filter: Filter, total: number): void {
    this.filter = filter;
    this.el.scrollTop = 0;
    this.reload(total);
  }

  /** Forgets loaded pages (new jobs shift every row) and loads what is in view. */
  reload(total: number): void {
    this.generation += 1;
    this.pages = new Map();
    this.loading.clear();
    this.byId.clear();
    this.setTotal(total);
  }

  setTotal(total: number): void {
    this.total = total;
    this.spacer.style.height = `${total * ROW_HEIGHT}px`;
    this.schedule();
  }

  /** Shows a change made here (a new priority), or the time passing (retry
   * countdowns), without loading the page again. */
  changed(): void {
    this.schedule();
  }

  apply(event: EngineEvent, now: number): void {
    if (event.type !== "job_changed" && event.type !== "bytes_sent") return;
    const job = this.byId.get(event.job_id);
    if (job && applyEvent(job, event, now)) this.schedule();
  }

  private readonly schedule = onNextFrame(() => this.render());


  private render(): void {
    const win = visibleRows(this.el.scrollTop, this.el.clientHeight, ROW_HEIGHT, this.total);
    for (const page of pagesFor(win.start, win.end, PAGE_SIZE)) this.fetch(page);
    const count = win.end - win.start;
    while (this.rows.length < count) {
      const row = this.makeRow();
      this.rows.push(row);
      this.rowsEl.append(row.el);
    }
    this.rowsEl.style.transform = `translateY(${win.offset}px)`;
    this.rows.forEach((row, i) => {
      row.el.hidden = i >= count;
      if (i < count) this.fill(row, this.jobAt(win.start + i));
    });
  }

  private jobAt(index: number): JobView | null {
    return this.pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE] ?? null;
  }

  private fetch(page: number): void {
    if (this.pages.has(page) || this.loading.has(page)) return;
    this.loading.add(page);
    const generation = this.generation;
    this.load({ ...this.filter, limit: PAGE_SIZE, offset: page * PAGE_SIZE })
      .then((jobs) => {
        if (generation !== this.generation) return;
        this.pages.set(page, jobs);
        for (const job of jobs) this.byId.set(job.id, job);
        this.schedule();
      })
      .catch(() => undefined)
      .finally(() => {
        if (generation === this.generation) this.loading.delete(page);
      });
  }

  private makeRow(): Row {
    const name = h("span", { class: "name" });
    const state = h("span", { class: "badge" });
    const detail = h("span", { class: "detail muted" });
    const bar = h("span", { class: "bar" });
    const actions = h("span", { class: "actions" });
    const el = h("div", { class: "jobrow", role: "listitem" }, state, name, h("span", { class: "meter" }, bar), detail, actions);
    el.style.height = `${ROW_HEIGHT}px`;
    return { el, name, state, detail, bar, actions, shownJob: null, shownKey: "", actionsKey: "" };
  }

  /** Rewrites a row only when what it shows changed. */
  private fill(row: Row, job: JobView | null): void {
    const trouble = job ? standing(job) : null;
    const detail = !job
      ? ""
      : trouble
        ? standingText(trouble, Date.now())
        : job.error
          ? job.error.message
          : job.state === "processing" && job.phase === "upload" && job.bytes_total
          ? `${bytes(job.bytes_sent)} of ${bytes(job.bytes_total)}`
          : `${job.recipe} → ${job.destination}${job.priority !== 0 ? ` · priority ${job.priority}` : ""}${job.attempts > 1 ? ` · attempt ${job.attempts}` : ""}`;
    const key = job
      ? `${job.id}|${job.state}|${job.phase}|${job.bytes_sent}|${job.bytes_total}|${job.priority}|${job.awaiting_review}|${detail}|${job.remote?.url ?? ""}`
      : "";
    if (row.shownKey === key && row.shownJob === job) return;
    row.shownKey = key;
    row.shownJob = job;
    if (!job) {
      row.el.dataset.job = "";
      row.el.dataset.state = "loading";
      row.el.dataset.standing = "";
      setText(row.name, "…");
      setText(row.state, "");
      setText(row.detail, "");
      row.bar.style.width = "0";
      // Its buttons wait hidden: the row's next job most likely has the same.
      row.actions.hidden = true;
      return;
    }
    row.el.dataset.job = String(job.id);
    row.el.dataset.state = job.state;
    row.el.dataset.standing = trouble?.kind ?? "";
    setText(row.name, `#${job.id} ${fileName(job.source)}`);
    row.name.title = job.source;
    setText(row.state, trouble ? standingLabel(trouble) : stateLabel(job.state, job.awaiting_review));
    const share = job.phase === "upload" ? percent(job.bytes_sent, job.bytes_total) : null;
    row.bar.style.width = `${job.state === "completed" ? 100 : (share ?? 0)}%`;
    setText(row.detail, detail);
    row.detail.title = detail;
    this.fillActions(row, job);
  }

  /**
   * The row's buttons. A jump through the list shows other jobs in the same
   * rows, mostly with the same buttons: those are relabelled, not rebuilt,
   * and act on whichever job the row shows when clicked.
   */
  private fillActions(row: Row, job: JobView): void {
    const offered: [label: string, title: string, action: (job: JobView) => void][] = [];
    if (standing(job)?.kind === "needs_you") {
      offered.push(["Fix", `Open the settings of ${job.destination}`, (j) => this.actions.fix(j.destination)]);
    }
    if (job.state === "failed" || job.state === "cancelled") offered.push(["Retry", "Retry", (j) => this.actions.retry(j.id)]);
    if (job.state === "pending" || job.state === "paused" || job.state === "processing") {
      offered.push(["Cancel", "Cancel", (j) => this.actions.cancel(j.id)]);
    }
    if (job.state === "pending" || job.state === "paused") offered.push(["↑", "Raise priority", (j) => this.actions.raise(j)]);
    if (job.remote?.url) {
      offered.push(["Copy", "Copy the uploaded location", (j) => this.actions.copy(j)]);
      offered.push(["Open", "Open the uploaded location", (j) => this.actions.open(j.id)]);
    }
    row.actions.hidden = false;
    const key = offered.map(([label]) => label).join("|");
    if (row.actionsKey !== key) {
      row.actionsKey = key;
      row.actions.replaceChildren(
        ...offered.map(([label, title, action]) =>
          h("button", { type: "button", class: "small", title, onclick: () => row.shownJob && action(row.shownJob) }, label),
        ),
      );
    }
    offered.forEach(([, title], i) => row.actions.children[i]?.setAttribute("aria-label", `${title}, job ${job.id}`));
  }
}
