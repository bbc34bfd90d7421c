// Every job, newest first, filtered by state and batch, in a virtualised list:
// only the rows in view exist in the DOM, pages of rows are loaded from the
// engine as they scroll into view, and events patch loaded rows in place.
// Rows are selected with the mouse (click, Ctrl-click, Shift-click) and the
// keyboard (arrows move, Space selects, Shift+arrows extend, Ctrl+A selects
// the whole filter, Escape clears, Delete cancels, Enter opens the detail);
// the queue panel acts on the selection.

import { h, onNextFrame, setText } from "../lib/dom";
import { bytes, fileName, percent, stateLabel } from "../lib/format";
import { applyEvent, type Filter } from "../lib/jobs";
import { Selection } from "../lib/selection";
import { standing, standingLabel, standingText, type FixTarget } from "../lib/standing";
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
  /** Opens the settings a job needs the user to fix. */
  fix(target: FixTarget): void;
  /** The selection changed: `count` jobs are selected now. */
  selected(count: number): void;
  /** Delete pressed: cancel the selected jobs. */
  cancelSelected(): void;
  /** Enter pressed: the job's detail. */
  detail(job: JobId): void;
}

interface Row {
  el: HTMLElement;
  /** The list position the row shows. */
  index: number;
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
  private readonly selection = new Selection<JobView>();
  /** The keyboard's row. */
  private cursor = 0;

  constructor(
    private readonly load: (q: HistoryQuery) => Promise<JobView[]>,
    private readonly actions: RowActions,
  ) {
    this.spacer = h("div", { class: "spacer" });
    this.rowsEl = h("div", { class: "rows", role: "none" });
    this.el = h(
      "div",
      { class: "joblist", tabindex: 0, role: "listbox", "aria-multiselectable": "true", "aria-label": "Jobs" },
      this.spacer,
      this.rowsEl,
    );
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.rowsEl.addEventListener("click", (e) => this.clicked(e));
    this.el.addEventListener("keydown", (e) => this.key(e));
  }

  setFilter(filter: Filter, total: number): void {
    this.filter = filter;
    this.el.scrollTop = 0;
    this.cursor = 0;
    this.clearSelection();
    this.reload(total);
  }

  /** How many jobs are selected. */
  selectedCount(): number {
    return this.selection.count(this.total);
  }

  /** The selected jobs; with "select all", every job of the filter, read now. */
  async selectedJobs(): Promise<JobView[]> {
    return this.selection.items(async () => {
      const all: JobView[] = [];
      for (let offset = 0; ; offset += 1000) {
        const page = await this.load({ ...this.filter, limit: 1000, offset });
        all.push(...page);
        if (page.length < 1000) return all;
      }
    });
  }

  /** The first job picked by hand, if any. */
  picked(): JobView | null {
    return this.selection.first();
  }

  clearSelection(): void {
    this.selection.clear();
    this.selectionChanged();
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
    this.el.removeAttribute("aria-activedescendant");
    this.rows.forEach((row, i) => {
      row.el.hidden = i >= count;
      if (i >= count) return;
      row.index = win.start + i;
      const job = this.jobAt(row.index);
      this.fill(row, job);
      const selected = job !== null && this.selection.has(job.id);
      row.el.setAttribute("aria-selected", String(selected));
      row.el.classList.toggle("selected", selected);
      row.el.classList.toggle("cursor", row.index === this.cursor);
      if (row.index === this.cursor) this.el.setAttribute("aria-activedescendant", row.el.id);
    });
  }

  private clicked(e: MouseEvent): void {
    const target = e.target as HTMLElement;
    if (target.closest("button")) return;
    const row = this.rows.find((r) => r.el.contains(target));
    if (!row || row.el.hidden) return;
    this.cursor = row.index;
    const job = this.jobAt(row.index);
    if (e.shiftKey) this.selection.range(row.index, (i) => this.jobAt(i));
    else if (!job) return;
    else if (e.ctrlKey || e.metaKey) this.selection.toggle(row.index, job);
    else this.selection.only(row.index, job);
    this.el.focus({ preventScroll: true });
    this.selectionChanged();
  }

  private key(e: KeyboardEvent): void {
    // Keys on a row's button are that button's.
    if (e.target !== this.el) return;
    const last = this.total - 1;
    const page = Math.max(1, Math.floor(this.el.clientHeight / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = {
      ArrowDown: this.cursor + 1,
      ArrowUp: this.cursor - 1,
      PageDown: this.cursor + page,
      PageUp: this.cursor - page,
      Home: 0,
      End: last,
    };
    const job = this.jobAt(this.cursor);
    if (e.key in moves && last >= 0) {
      this.cursor = Math.max(0, Math.min(last, moves[e.key] ?? 0));
      if (e.shiftKey) this.selection.range(this.cursor, (i) => this.jobAt(i));
      this.reveal(this.cursor);
    } else if (e.key === " " && job) {
      this.selection.toggle(this.cursor, job);
    } else if (e.key === "a" && (e.ctrlKey || e.metaKey)) {
      this.selection.selectAll();
    } else if (e.key === "Escape") {
      this.selection.clear();
    } else if (e.key === "Enter" && job) {
      this.actions.detail(job.id);
    } else if (e.key === "Delete") {
      if (this.selection.count(this.total) === 0 && job) this.selection.only(this.cursor, job);
      this.actions.cancelSelected();
    } else {
      return;
    }
    e.preventDefault();
    this.selectionChanged();
  }

  /** Scrolls just enough to show row `index`. */
  private reveal(index: number): void {
    const top = index * ROW_HEIGHT;
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + ROW_HEIGHT > this.el.scrollTop + this.el.clientHeight) {
      this.el.scrollTop = top + ROW_HEIGHT - this.el.clientHeight;
    }
  }

  private selectionChanged(): void {
    this.actions.selected(this.selection.count(this.total));
    this.schedule();
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
    const el = h(
      "div",
      { class: "jobrow", role: "option", id: `jobrow-${this.rows.length}` },
      state,
      name,
      h("span", { class: "meter" }, bar),
      detail,
      actions,
    );
    el.style.height = `${ROW_HEIGHT}px`;
    return { el, index: 0, name, state, detail, bar, actions, shownJob: null, shownKey: "", actionsKey: "" };
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

  /** Opens the settings the job needs fixed. */
  private fixOf(job: JobView): void {
    const trouble = standing(job);
    if (trouble?.kind === "needs_you" || trouble?.kind === "waiting") this.actions.fix(trouble.fix);
  }

  /**
   * The row's buttons. A jump through the list shows other jobs in the same
   * rows, mostly with the same buttons: those are relabelled, not rebuilt,
   * and act on whichever job the row shows when clicked.
   */
  private fillActions(row: Row, job: JobView): void {
    const offered: [label: string, title: string, action: (job: JobView) => void][] = [];
    const trouble = standing(job);
    if (trouble?.kind === "needs_you" || trouble?.kind === "waiting") {
      const title = "destination" in trouble.fix ? `Open the settings of ${job.destination}` : `Open the settings of the AI provider of ${job.recipe}`;
      // The job the row shows when clicked, as for every other button.
      offered.push(["Fix", title, (j) => this.fixOf(j)]);
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
