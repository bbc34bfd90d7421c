// The grid of items, virtualised: the latest drop on top, each drop in its
// own order. Every job's latest view is kept (a small record patched by the
// engine's events), but only the tiles in view (and a row or two around them)
// exist; a tile that scrolls away is dropped with its previews, and one that
// scrolls back is drawn again from the kept view. After a reload the grid is
// rebuilt from the engine's most recent jobs. While a tile in view counts
// down to a retry, a clock rewrites those tiles' countdowns every second.

import { h, onNextFrame } from "../lib/dom";
import { applyEvent } from "../lib/jobs";
import type { EngineEvent, JobId, JobView } from "../lib/types";
import { visibleRows } from "../lib/virtual";
import { Tile, type TileActions } from "./tile";

/** The narrowest a tile gets before a column is dropped, and the gap. */
export const MIN_TILE = 190;
export const GAP = 12;
/** Below the 4:3 preview: name and badge, three lines of reason, buttons. */
export const CAPTION = 124;
const PADDING = 16;

export interface Layout {
  columns: number;
  tileWidth: number;
  rowHeight: number;
}

/** Columns and row height for a grid this wide. */
export function layout(width: number): Layout {
  const inner = Math.max(MIN_TILE, width - 2 * PADDING);
  const columns = Math.max(1, Math.floor((inner + GAP) / (MIN_TILE + GAP)));
  const tileWidth = (inner - GAP * (columns - 1)) / columns;
  return { columns, tileWidth, rowHeight: Math.round(tileWidth * 0.75 + CAPTION + GAP) };
}

export class ResultsGrid {
  readonly el: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly list: HTMLElement;
  private readonly empty: HTMLElement;
  /** Every job the grid holds, in display order. */
  private order: JobId[] = [];
  private readonly known = new Set<JobId>();
  /** Each job's latest view, once the engine has said it. */
  private readonly views = new Map<JobId, JobView>();
  /** Jobs whose outputs wait for the user's review before upload. */
  private readonly review = new Set<JobId>();
  /** The tiles in view. */
  private readonly tiles = new Map<JobId, Tile>();
  /** The latest change of each job without a view yet: a drop's jobs before
   * their first read, and (until the first restore) any job, since a launch
   * subscribes before it reads the history and that read can predate
   * changes already received. */
  private readonly held = new Map<JobId, EngineEvent>();
  private restored = false;
  private width = 0;
  /** The countdowns' clock, running only while a tile in view counts down. */
  private clock: number | null = null;

  constructor(private readonly actions: TileActions) {
    this.spacer = h("div", { class: "spacer" });
    this.list = h("div", { class: "grid", role: "list" });
    this.empty = h(
      "p",
      { class: "empty" },
      "Drop images or folders here, paste an image, or choose files. Results appear at once; uploads run in the background.",
    );
    this.el = h("section", { class: "results", "aria-label": "Results" }, this.empty, this.spacer, this.list);
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        if (this.el.clientWidth !== this.width) this.schedule();
      }).observe(this.el);
    }
  }

  /** Tiles for newly queued jobs, in their order, above the older ones. A
   * preview needs only the job id; names and states follow with `update`. */
  add(jobs: JobId[], review: boolean): void {
    const fresh = jobs.filter((id) => !this.known.has(id));
    for (const id of fresh) {
      this.known.add(id);
      if (review) this.review.add(id);
    }
    this.order = [...fresh, ...this.order];
    this.schedule();
  }

  /** Brings jobs up to date with the engine's view of them. */
  update(jobs: JobView[]): void {
    for (const job of jobs) {
      if (!this.known.has(job.id)) continue;
      this.views.set(job.id, job);
      const early = this.held.get(job.id);
      this.held.delete(job.id);
      if (early) applyEvent(job, early, Date.now());
      const tile = this.tiles.get(job.id);
      if (tile) {
        tile.restore(job);
        if (early) tile.apply(early);
      }
    }
    this.watchCountdowns();
  }

  /** The grid as the engine has it (after a reload): newest batch first. */
  restore(jobs: JobView[]): void {
    const ordered = newestBatchFirst(jobs.filter((j) => !this.known.has(j.id)));
    for (const id of ordered) this.known.add(id);
    this.order = [...this.order, ...ordered];
    this.update(jobs);
    this.restored = true;
    // Held changes of jobs the history did not include are of no tile.
    for (const id of [...this.held.keys()]) if (!this.known.has(id)) this.held.delete(id);
    this.schedule();
  }

  /** Jobs as the engine has them now, some perhaps queued by another
   * process: those the grid lacks go on top, newest batch first. */
  merge(jobs: JobView[]): void {
    const fresh = newestBatchFirst(jobs.filter((j) => !this.known.has(j.id)));
    for (const id of fresh) this.known.add(id);
    this.order = [...fresh, ...this.order];
    this.update(jobs);
    this.schedule();
  }

  apply(event: EngineEvent): void {
    if (event.type !== "job_changed") return;
    const view = this.views.get(event.job_id);
    if (view) {
      applyEvent(view, event, Date.now());
      this.tiles.get(event.job_id)?.apply(event);
    } else if (this.known.has(event.job_id) || !this.restored) {
      this.held.set(event.job_id, event);
      this.tiles.get(event.job_id)?.apply(event);
    }
    if (this.tiles.has(event.job_id)) this.watchCountdowns();
  }

  /** The source path of a job, once known. */
  source(job: JobId): string | null {
    return this.views.get(job)?.source ?? null;
  }

  get size(): number {
    return this.order.length;
  }

  private readonly schedule = onNextFrame(() => this.render());


  /** Draws the rows in view: tiles that left are dropped, new ones made. */
  private render(): void {
    this.empty.hidden = this.order.length > 0;
    this.el.dataset.items = String(this.order.length);
    this.width = this.el.clientWidth;
    const { columns, rowHeight } = layout(this.width);
    const rows = Math.ceil(this.order.length / columns);
    this.spacer.style.height = `${rows * rowHeight}px`;
    this.list.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    this.list.style.setProperty("--row", `${rowHeight - GAP}px`);
    const win = visibleRows(this.el.scrollTop - PADDING, this.el.clientHeight, rowHeight, rows, 2);
    this.list.style.transform = `translateY(${win.offset}px)`;
    const shown = this.order.slice(win.start * columns, win.end * columns);
    const wanted = new Set(shown);
    for (const [id, tile] of this.tiles) {
      if (!wanted.has(id)) {
        tile.drop();
        this.tiles.delete(id);
      }
    }
    const els = shown.map((id) => this.tile(id).el);
    // Only touch the DOM when the tiles in view changed.
    const same = els.length === this.list.children.length && els.every((el, i) => this.list.children[i] === el);
    if (!same) this.list.replaceChildren(...els);
    this.watchCountdowns();
  }

  /** Starts the clock when a tile in view counts down to a retry. */
  private watchCountdowns(): void {
    if (this.clock !== null) return;
    for (const tile of this.tiles.values()) {
      if (tile.countingDown()) {
        this.clock = window.setInterval(() => this.tick(), 1000);
        return;
      }
    }
  }

  /** Rewrites the countdowns in view; stops the clock once there are none. */
  private tick(): void {
    const now = Date.now();
    let any = false;
    for (const tile of this.tiles.values()) {
      if (!tile.countingDown()) continue;
      tile.tick(now);
      any = true;
    }
    if (!any && this.clock !== null) {
      window.clearInterval(this.clock);
      this.clock = null;
    }
  }

  private tile(id: JobId): Tile {
    const existing = this.tiles.get(id);
    if (existing) return existing;
    const view = this.views.get(id);
    const tile = new Tile(id, view?.source ?? null, this.review.has(id), this.actions);
    if (view) tile.restore(view);
    const early = this.held.get(id);
    if (early) tile.apply(early);
    this.tiles.set(id, tile);
    return tile;
  }
}

function newestBatchFirst(jobs: JobView[]): JobId[] {
  return jobs
    .slice()
    .sort((a, b) => b.batch_id - a.batch_id || a.id - b.id)
    .map((j) => j.id);
}
