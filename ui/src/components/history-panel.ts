// History: every job the queue holds, newest first, as a gallery of
// thumbnails or a list, found by name, state, destination and date. Paged
// from the engine (never all loaded at once) and virtualised: only the cells
// in view exist, and their thumbnails load only while they are in view. A
// click opens the job's detail; a job's detail can narrow the history to
// its batch (`showBatch`), shown as a chip the user removes.

import { previewUrl } from "../lib/api";
import { h, onNextFrame, setText } from "../lib/dom";
import { fileName, stateLabel } from "../lib/format";
import { standing, standingLabel } from "../lib/standing";
import type { BatchId, HistoryQuery, JobId, JobState, JobView } from "../lib/types";
import { pagesFor, visibleRows } from "../lib/virtual";

const PAGE_SIZE = 100;
const STATES: JobState[] = ["completed", "failed", "cancelled", "pending", "processing", "paused"];

export type HistoryView = "gallery" | "list";

/** The history's filter, as the engine takes it (without the page). */
export type HistoryFilter = Omit<HistoryQuery, "limit" | "offset">;

export interface HistorySource {
  count(filter: HistoryFilter): Promise<number>;
  page(query: HistoryQuery): Promise<JobView[]>;
  destinations(): Promise<string[]>;
  open(job: JobId): void;
}

/** Cells per row and the row's height, for a view this wide. */
export function cellLayout(view: HistoryView, width: number): { columns: number; rowHeight: number } {
  if (view === "list") return { columns: 1, rowHeight: 56 };
  const columns = Math.max(1, Math.floor((width - 8) / 160));
  return { columns, rowHeight: Math.round((width - 8) / columns) + 40 };
}

/** A date input's value (YYYY-MM-DD, local time) as the start of that day, in ms. */
export function dayStart(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
}

export class HistoryPanel {
  readonly el: HTMLDialogElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly cells: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly state: HTMLSelectElement;
  private readonly destination: HTMLSelectElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly batchChip: HTMLElement;
  private readonly batchLabel: HTMLElement;
  /** The batch the history is narrowed to, if any. */
  private batch: { id: BatchId; name: string } | null = null;
  private readonly viewButtons: Record<HistoryView, HTMLButtonElement>;
  private view: HistoryView = "gallery";
  private filter: HistoryFilter = { state: null, batch: null };
  private total = 0;
  private pages = new Map<number, JobView[]>();
  private readonly loading = new Set<number>();
  /** Bumped by every new filter: answers to older ones are dropped. */
  private generation = 0;
  private searchTimer: number | null = null;

  constructor(private readonly source: HistorySource) {
    this.search = h("input", { type: "search", placeholder: "Search by name", "aria-label": "Search by name", class: "search" });
    this.state = h(
      "select",
      { "aria-label": "State" },
      h("option", { value: "" }, "Any state"),
      ...STATES.map((s) => h("option", { value: s }, stateLabel(s))),
    );
    this.destination = h("select", { "aria-label": "Destination" }, h("option", { value: "" }, "Any destination"));
    this.from = h("input", { type: "date", "aria-label": "Added from" });
    this.to = h("input", { type: "date", "aria-label": "Added until" });
    this.batchLabel = h("span", {});
    this.batchChip = h(
      "span",
      { class: "chip batch-filter", hidden: true },
      this.batchLabel,
      h(
        "button",
        { type: "button", class: "remove", title: "Show every batch", "aria-label": "Remove the batch filter", onclick: () => this.clearBatch() },
        "✕",
      ),
    );
    const viewButton = (view: HistoryView, label: string) =>
      h("button", { type: "button", class: "small", "aria-pressed": String(view === this.view), onclick: () => this.setView(view) }, label);
    this.viewButtons = { gallery: viewButton("gallery", "Gallery"), list: viewButton("list", "List") };
    this.summary = h("p", { class: "muted summary", role: "status" });
    this.spacer = h("div", { class: "spacer" });
    this.cells = h("div", { class: "cells", role: "list" });
    this.scroller = h("div", { class: "history-cells", "data-view": this.view, tabindex: 0 }, this.spacer, this.cells);
    this.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.el = h(
      "dialog",
      { class: "history", "aria-label": "History" },
      h("header", {}, h("h2", {}, "History"), h("button", { type: "button", onclick: () => this.el.close() }, "Close")),
      h(
        "div",
        { class: "filters" },
        this.search,
        this.batchChip,
        this.state,
        this.destination,
        h("label", {}, "From ", this.from),
        h("label", {}, "until ", this.to),
        h("span", { class: "views", role: "group", "aria-label": "View" }, this.viewButtons.gallery, this.viewButtons.list),
      ),
      this.summary,
      this.scroller,
    );
    this.search.addEventListener("input", () => {
      if (this.searchTimer !== null) window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(() => void this.refilter(), 200);
    });
    for (const control of [this.state, this.destination, this.from, this.to]) {
      control.addEventListener("change", () => void this.refilter());
    }
    this.cells.addEventListener("click", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>("[data-job]");
      const job = Number(cell?.dataset.job);
      if (cell && Number.isInteger(job) && job > 0) this.source.open(job);
    });
  }

  async open(): Promise<void> {
    if (!this.el.open) this.el.showModal();
    const names = await this.source.destinations();
    const chosen = this.destination.value;
    this.destination.replaceChildren(
      h("option", { value: "" }, "Any destination"),
      ...names.map((n) => h("option", { value: n }, n)),
    );
    this.destination.value = names.includes(chosen) ? chosen : "";
    await this.refilter();
  }

  /** Opens the history narrowed to one batch (its name for the chip: the
   * engine's, or null when unknown), the other filters kept. */
  async showBatch(batch: BatchId, name: string | null): Promise<void> {
    this.batch = { id: batch, name: name ?? `#${batch}` };
    setText(this.batchLabel, `Batch: ${this.batch.name}`);
    this.batchChip.hidden = false;
    await this.open();
  }

  private clearBatch(): void {
    this.batch = null;
    this.batchChip.hidden = true;
    void this.refilter();
  }

  private setView(view: HistoryView): void {
    this.view = view;
    this.scroller.dataset.view = view;
    for (const [v, b] of Object.entries(this.viewButtons)) b.setAttribute("aria-pressed", String(v === view));
    this.cells.replaceChildren();
    this.schedule();
  }

  /** Reads the controls, counts the matches, and starts again at the top. */
  private async refilter(): Promise<void> {
    const until = dayStart(this.to.value);
    this.filter = {
      state: (this.state.value || null) as JobState | null,
      batch: this.batch?.id ?? null,
      search: this.search.value.trim() || null,
      destination: this.destination.value || null,
      since: dayStart(this.from.value),
      // "Until" a day includes that day.
      until: until === null ? null : until + 86_400_000,
    };
    this.generation += 1;
    const generation = this.generation;
    this.pages = new Map();
    this.loading.clear();
    this.scroller.scrollTop = 0;
    const total = await this.source.count(this.filter);
    if (generation !== this.generation) return;
    this.total = total;
    setText(this.summary, total === 0 ? "No job matches." : `${total} job(s), newest first.`);
    this.cells.replaceChildren();
    this.schedule();
  }

  private readonly schedule = onNextFrame(() => this.render());

  private render(): void {
    const width = this.scroller.clientWidth || 800;
    const { columns, rowHeight } = cellLayout(this.view, width);
    const rows = Math.ceil(this.total / columns);
    this.spacer.style.height = `${rows * rowHeight}px`;
    const win = visibleRows(this.scroller.scrollTop, this.scroller.clientHeight, rowHeight, rows, 2);
    const first = win.start * columns;
    const last = Math.min(this.total, win.end * columns);
    for (const page of pagesFor(first, last, PAGE_SIZE)) this.fetch(page);
    this.cells.style.transform = `translateY(${win.offset}px)`;
    this.cells.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    // Cells in view, keyed by job: kept while in view (their thumbnails stay
    // loaded), made when they come into view, dropped when they leave.
    const wanted: HTMLElement[] = [];
    const existing = new Map<string, HTMLElement>();
    for (const c of Array.from(this.cells.children) as HTMLElement[]) existing.set(c.dataset.key ?? "", c);
    for (let i = first; i < last; i += 1) {
      const job = this.pages.get(Math.floor(i / PAGE_SIZE))?.[i % PAGE_SIZE] ?? null;
      const key = job ? `${job.id}|${job.state}|${job.phase}` : `empty-${i}`;
      wanted.push(existing.get(key) ?? this.cell(job, rowHeight));
    }
    this.cells.replaceChildren(...wanted);
  }

  private cell(job: JobView | null, rowHeight: number): HTMLElement {
    const height = `${rowHeight - 8}px`;
    if (!job) {
      const empty = h("div", { class: "cell loading", "data-key": "", role: "listitem" });
      empty.style.height = height;
      return empty;
    }
    const trouble = standing(job);
    // The output once there is one, else the source.
    const src = job.phase === "upload" ? previewUrl.output(job.id, 0, 256) : previewUrl.source(job.id, 256);
    const img = h("img", { src, alt: "", loading: "lazy", decoding: "async" });
    // An output cleaned away: its source instead.
    const fallback = () => {
      if (!img.src.includes("/source/")) img.src = previewUrl.source(job.id, 256);
    };
    img.addEventListener("error", fallback, { once: true });
    const cell = h(
      "button",
      {
        type: "button",
        class: "cell",
        role: "listitem",
        "data-key": `${job.id}|${job.state}|${job.phase}`,
        "data-job": String(job.id),
        "data-state": job.state,
        title: job.source,
      },
      img,
      h("span", { class: "name" }, fileName(job.source)),
      h("span", { class: "badge" }, trouble ? standingLabel(trouble) : stateLabel(job.state, job.awaiting_review)),
      h("span", { class: "where muted" }, `${job.destination} · ${new Date(job.created_at).toLocaleDateString()}`),
    );
    cell.style.height = height;
    return cell;
  }

  private fetch(page: number): void {
    if (this.pages.has(page) || this.loading.has(page)) return;
    this.loading.add(page);
    const generation = this.generation;
    this.source
      .page({ ...this.filter, limit: PAGE_SIZE, offset: page * PAGE_SIZE })
      .then((jobs) => {
        if (generation !== this.generation) return;
        this.pages.set(page, jobs);
        this.schedule();
      })
      .catch(() => undefined)
      .finally(() => {
        if (generation === this.generation) this.loading.delete(page);
      });
  }
}
