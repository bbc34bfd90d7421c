// The grid of items: the latest drop on top, each drop in its own order, each
// tile following its job's events. After a reload it is rebuilt from the
// engine's most recent jobs.

import { h } from "../lib/dom";
import type { EngineEvent, JobId, JobView } from "../lib/types";
import { Tile, type TileActions } from "./tile";

export class ResultsGrid {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly tiles = new Map<JobId, Tile>();
  /** The latest change of each job without a tile, until the first restore:
   * a launch subscribes before it reads the history, and that read can
   * predate changes already received (the worker runs meanwhile). */
  private held: Map<JobId, EngineEvent> | null = new Map();

  constructor(private readonly actions: TileActions) {
    this.list = h("div", { class: "grid", role: "list" });
    this.empty = h(
      "p",
      { class: "empty" },
      "Drop images or folders here, paste an image, or choose files. Results appear at once; uploads run in the background.",
    );
    this.el = h("section", { class: "results", "aria-label": "Results" }, this.empty, this.list);
  }

  /** Tiles for newly queued jobs, in their order, above the older ones. A
   * preview needs only the job id; names and states follow with `update`. */
  add(jobs: JobId[], review: boolean): void {
    this.list.prepend(this.build(jobs, review));
  }

  /** Brings tiles up to date with the engine's view of their jobs. */
  update(jobs: JobView[]): void {
    for (const job of jobs) this.tiles.get(job.id)?.restore(job);
  }

  /** The grid as the engine has it (after a reload): newest batch first. */
  restore(jobs: JobView[]): void {
    const ordered = jobs
      .slice()
      .sort((a, b) => b.batch_id - a.batch_id || a.id - b.id)
      .map((j) => j.id);
    this.list.append(this.build(ordered, false));
    this.update(jobs);
    const held = this.held;
    this.held = null;
    for (const event of held?.values() ?? []) this.apply(event);
  }

  /** Jobs as the engine has them now, some perhaps queued by another
   * process: those without a tile go on top, newest batch first. */
  merge(jobs: JobView[]): void {
    const fresh = jobs
      .filter((j) => !this.tiles.has(j.id))
      .sort((a, b) => b.batch_id - a.batch_id || a.id - b.id)
      .map((j) => j.id);
    this.list.prepend(this.build(fresh, false));
    this.update(jobs);
  }

  apply(event: EngineEvent): void {
    if (event.type !== "job_changed") return;
    const tile = this.tiles.get(event.job_id);
    if (tile) tile.apply(event);
    else this.held?.set(event.job_id, event);
  }

  /** The source path a job's tile shows, once known. */
  source(job: JobId): string | null {
    return this.tiles.get(job)?.sourcePath ?? null;
  }

  get size(): number {
    return this.tiles.size;
  }

  private build(jobs: JobId[], review: boolean): DocumentFragment {
    const fragment = document.createDocumentFragment();
    for (const id of jobs) {
      if (this.tiles.has(id)) continue;
      const tile = new Tile(id, null, review, this.actions);
      this.tiles.set(id, tile);
      fragment.append(tile.el);
    }
    this.empty.hidden = this.tiles.size > 0;
    return fragment;
  }
}
