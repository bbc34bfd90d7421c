import { describe, expect, it, vi } from "vitest";
import { DamagedDatabasePanel } from "../src/components/damaged-database";
import { DropZone } from "../src/components/drop-zone";
import { JobList, ROW_HEIGHT } from "../src/components/job-list";
import { Notices } from "../src/components/notices";
import { BulkActions } from "../src/components/bulk-actions";
import { QueuePanel } from "../src/components/queue-panel";
import type { Api } from "../src/lib/api";
import { CAPTION, GAP, layout, ResultsGrid } from "../src/components/results-grid";
import { Tile, type TileActions } from "../src/components/tile";
import type { HistoryQuery, JobView, Status } from "../src/lib/types";
import { job } from "./fixtures";

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(null)));
const settle = async () => {
  for (let i = 0; i < 4; i++) {
    await Promise.resolve();
    await frame();
  }
};

function actions(): TileActions & Record<string, ReturnType<typeof vi.fn>> {
  return { accept: vi.fn(), discard: vi.fn(), regenerate: vi.fn(), retry: vi.fn(), open: vi.fn(), fix: vi.fn(), copyLink: vi.fn() };
}

const buttonLabels = (el: Element) => Array.from(el.querySelectorAll("button")).map((b) => b.textContent);

describe("Tile", () => {
  it("asks for the EXIF thumbnail and the real preview by job id only", () => {
    const tile = new Tile(42, "/p/x.jpg", false, actions());
    expect(tile.el.dataset.job).toBe("42");
    expect(tile.el.querySelector(".name")?.textContent).toBe("x.jpg");
  });

  it("offers accept, discard and regenerate once an output waits for review", () => {
    const a = actions();
    const tile = new Tile(5, null, true, a);
    expect(buttonLabels(tile.el)).toEqual([]);
    tile.apply({ type: "job_changed", job_id: 5, state: "pending", phase: "upload", error: null, retry_at: null, attempts: 1, link: null });
    expect(tile.el.dataset.state).toBe("review");
    expect(buttonLabels(tile.el)).toEqual(["Accept", "Discard", "Regenerate"]);
    (tile.el.querySelector("button") as HTMLButtonElement).click();
    expect(a.accept).toHaveBeenCalledWith(5);
  });

  it("with auto-accept an output goes on without buttons", () => {
    const tile = new Tile(5, null, false, actions());
    tile.apply({ type: "job_changed", job_id: 5, state: "pending", phase: "upload", error: null, retry_at: null, attempts: 1, link: null });
    expect(tile.el.dataset.state).toBe("pending");
    expect(buttonLabels(tile.el)).toEqual([]);
  });

  it("shows a failure's reason and offers retry; ignores other jobs", () => {
    const tile = new Tile(9, null, false, actions());
    tile.apply({ type: "job_changed", job_id: 10, state: "failed", phase: "generate", error: ["permanent", "other"], retry_at: null, attempts: 1, link: null });
    expect(tile.el.querySelector(".reason")?.hasAttribute("hidden")).toBe(true);
    tile.apply({
      type: "job_changed",
      job_id: 9,
      state: "failed",
      phase: "generate",
      error: ["permanent", "not an image: the file is empty"],
      retry_at: null,
      attempts: 1,
      link: null,
    });
    expect(tile.el.querySelector(".reason")?.textContent).toBe("Failed for good: not an image: the file is empty");
    expect(tile.el.querySelector(".badge")?.textContent).toBe("failed");
    expect(buttonLabels(tile.el)).toEqual(["Retry"]);
  });

  it("counts a retry down with the attempts so far, and a tick rewrites only the reason", () => {
    const at = Date.UTC(2026, 0, 1, 12, 0, 0);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(at);
    try {
      const tile = new Tile(3, null, false, actions());
      const error = { class: "transient", message: "HTTP 503" } as const;
      tile.restore(job({ id: 3, state: "pending", phase: "upload", attempts: 1, max_attempts: 3, error, next_attempt_at: at + 65_000 }));
      const reason = tile.el.querySelector(".reason") as HTMLElement;
      expect(reason.textContent).toBe("Will retry in 1 min 05 s (1 of 3 attempts used): HTTP 503");
      expect(tile.countingDown()).toBe(true);
      const buttons = tile.el.querySelector(".actions")?.innerHTML;
      tile.tick(at + 5_000);
      expect(reason.textContent).toBe("Will retry in 1 min 00 s (1 of 3 attempts used): HTTP 503");
      expect(tile.el.querySelector(".actions")?.innerHTML).toBe(buttons);
      // Tried again: nothing left to count down.
      tile.apply({ type: "job_changed", job_id: 3, state: "processing", phase: "upload", error: ["transient", "HTTP 503"], retry_at: null, attempts: 2, link: null });
      expect(tile.countingDown()).toBe(false);
      expect(reason.textContent).toBe("Trying again (attempt 2 of 3): HTTP 503");
    } finally {
      vi.useRealTimers();
    }
  });

  it("is restored from the engine's view after a reload", () => {
    const tile = new Tile(3, null, false, actions());
    tile.restore(job({ id: 3, source: "/a/b/c.png", state: "completed", phase: "upload", remote: { id: null, url: "file:///out/c.jpg" } }));
    expect(tile.el.querySelector(".name")?.textContent).toBe("c.png");
    expect(buttonLabels(tile.el)).toEqual(["Open", "Copy link"]);
  });
});

describe("ResultsGrid", () => {
  const changed = (id: number, state: JobView["state"], phase: JobView["phase"]) =>
    ({ type: "job_changed", job_id: id, state, phase, error: null, retry_at: null, attempts: 1, link: null }) as const;

  it("keeps a change that arrives while the grid is restored, though the history read predates it", async () => {
    // A relaunch while the worker runs: events flow from the subscription
    // before the history answer comes back, and that answer can be older.
    const grid = new ResultsGrid(actions());
    grid.apply(changed(7, "completed", "upload"));
    grid.restore([job({ id: 7, state: "processing", phase: "upload" }), job({ id: 8, state: "pending" })]);
    await settle();
    const state = (id: number) => grid.el.querySelector<HTMLElement>(`.tile[data-job="${id}"]`)?.dataset.state;
    expect(state(7)).toBe("completed");
    expect(state(8)).toBe("pending");
    // Afterwards changes go to their tile as they come, and nothing more is held.
    grid.apply(changed(8, "processing", "generate"));
    grid.apply(changed(99, "completed", "upload"));
    grid.restore([job({ id: 99, batch_id: 2, state: "processing", phase: "upload" })]);
    await settle();
    expect(state(8)).toBe("processing");
    expect(state(99)).toBe("processing");
  });

  function big(n: number) {
    const grid = new ResultsGrid(actions());
    // A window 1000 px wide and 800 px tall: four columns of 235 px.
    Object.defineProperty(grid.el, "clientWidth", { value: 1000 });
    Object.defineProperty(grid.el, "clientHeight", { value: 800 });
    document.body.append(grid.el);
    grid.add(Array.from({ length: n }, (_, i) => i + 1), false);
    return grid;
  }
  const tileIds = (grid: ResultsGrid) => Array.from(grid.el.querySelectorAll<HTMLElement>(".tile")).map((t) => Number(t.dataset.job));

  it("lays tiles out in as many columns as fit, each row the same height", () => {
    expect(layout(1000).columns).toBe(4);
    expect(layout(300).columns).toBe(1);
    const l = layout(1000);
    expect(l.rowHeight).toBe(Math.round(l.tileWidth * 0.75 + CAPTION + GAP));
  });

  it("with a 20,000-file drop, only the tiles in view (and two rows around) exist, first the first ones", async () => {
    const grid = big(20_000);
    await settle();
    const { rowHeight } = layout(1000);
    const ids = tileIds(grid);
    const rowsInView = Math.ceil(800 / rowHeight) + 1;
    expect(ids.length).toBe((rowsInView + 2) * 4);
    expect(ids[0]).toBe(1);
    expect((grid.el.querySelector(".spacer") as HTMLElement).style.height).toBe(`${5000 * rowHeight}px`);
    grid.el.remove();
  });

  it("a scroll draws the tiles that came into view and drops those that left; previews are asked for tiles in view only", async () => {
    const asked: string[] = [];
    const srcSetter = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src")?.set;
    const spy = vi.spyOn(HTMLImageElement.prototype, "src", "set").mockImplementation(function (this: HTMLImageElement, v: string) {
      asked.push(v);
      srcSetter?.call(this, v);
    });
    const jobOf = (url: string) => Number(url.split("/")[4]);
    const grid = big(20_000);
    await settle();
    const inView = new Set(tileIds(grid));
    expect(new Set(asked.map(jobOf))).toEqual(inView);
    const first = grid.el.querySelector<HTMLElement>('.tile[data-job="1"]');
    const { rowHeight } = layout(1000);
    asked.length = 0;
    grid.el.scrollTop = 3000 * rowHeight;
    grid.el.dispatchEvent(new Event("scroll"));
    await settle();
    const ids = tileIds(grid);
    expect(ids).toContain(3000 * 4 + 1);
    expect(ids).not.toContain(1);
    expect(first?.isConnected).toBe(false);
    expect(new Set(asked.map(jobOf))).toEqual(new Set(ids));
    spy.mockRestore();
    grid.el.remove();
  });

  it("ticks the countdowns of the tiles in view only, and stops once none counts down", () => {
    const at = Date.UTC(2026, 0, 1, 12, 0, 0);
    // Frames too are the fake clock's: jsdom draws them on a timer of its own.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date", "requestAnimationFrame", "cancelAnimationFrame"] });
    vi.setSystemTime(at);
    const frame = () => vi.advanceTimersToNextFrame();
    const ticks = vi.spyOn(Tile.prototype, "tick");
    try {
      const grid = big(2_000);
      const error = { class: "transient", message: "HTTP 503" } as const;
      grid.update([
        job({ id: 1, state: "pending", phase: "upload", attempts: 1, max_attempts: 3, error, next_attempt_at: at + 65_000 }),
        job({ id: 2, state: "completed", phase: "upload" }),
        // Far below the view: no tile, no tick.
        job({ id: 1_999, state: "pending", phase: "upload", attempts: 1, max_attempts: 3, error, next_attempt_at: at + 65_000 }),
      ]);
      frame();
      const reason = () => grid.el.querySelector('.tile[data-job="1"] .reason')?.textContent;
      expect(reason()).toBe("Will retry in 1 min 05 s (1 of 3 attempts used): HTTP 503");
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(1_000);
      expect(reason()).toBe("Will retry in 1 min 04 s (1 of 3 attempts used): HTTP 503");
      expect(ticks.mock.contexts.map((t) => (t as Tile).job)).toEqual([1]);
      // Tried again: the clock stops at its next tick.
      grid.apply({ ...changed(1, "processing", "upload"), error: ["transient", "HTTP 503"], attempts: 2 });
      vi.advanceTimersByTime(1_000);
      expect(ticks).toHaveBeenCalledTimes(1);
      expect(vi.getTimerCount()).toBe(0);
      // A countdown scrolled out of view stops the clock too.
      grid.apply({ ...changed(1, "pending", "upload"), error: ["transient", "HTTP 503"], retry_at: at + 30_000, attempts: 2 });
      expect(vi.getTimerCount()).toBe(1);
      grid.el.scrollTop = 400 * layout(1000).rowHeight;
      grid.el.dispatchEvent(new Event("scroll"));
      frame();
      vi.advanceTimersByTime(1_000);
      expect(ticks).toHaveBeenCalledTimes(1);
      expect(vi.getTimerCount()).toBe(0);
      grid.el.remove();
    } finally {
      ticks.mockRestore();
      vi.useRealTimers();
    }
  });

  it("keeps each job's state while its tile is away, and shows it when it comes back", async () => {
    const grid = big(2_000);
    grid.update([job({ id: 1, source: "/p/one.jpg", state: "processing", phase: "generate" })]);
    await settle();
    const { rowHeight } = layout(1000);
    grid.el.scrollTop = 400 * rowHeight;
    grid.el.dispatchEvent(new Event("scroll"));
    await settle();
    grid.apply({ ...changed(1, "failed", "upload"), error: ["needs_user", "wrong password"] });
    grid.el.scrollTop = 0;
    grid.el.dispatchEvent(new Event("scroll"));
    await settle();
    const back = grid.el.querySelector<HTMLElement>('.tile[data-job="1"]');
    expect(back?.dataset.standing).toBe("needs_you");
    expect(back?.querySelector(".name")?.textContent).toBe("one.jpg");
    expect(grid.source(1)).toBe("/p/one.jpg");
    grid.el.remove();
  });
});

describe("JobList", () => {
  function list(total: number) {
    const queries: HistoryQuery[] = [];
    const load = (q: HistoryQuery): Promise<JobView[]> => {
      queries.push(q);
      const n = Math.max(0, Math.min(q.limit, total - q.offset));
      return Promise.resolve(Array.from({ length: n }, (_, i) => job({ id: total - q.offset - i, source: `/p/${total - q.offset - i}.jpg` })));
    };
    const actions = { retry: vi.fn(), cancel: vi.fn(), raise: vi.fn(), copy: vi.fn(), open: vi.fn(), fix: vi.fn(), selected: vi.fn(), cancelSelected: vi.fn(), detail: vi.fn() };
    const l = new JobList(load, actions);
    Object.defineProperty(l.el, "clientHeight", { value: 600 });
    document.body.append(l.el);
    return { l, queries, actions };
  }

  it("keeps only the rows in view in the document with 20,000 jobs", async () => {
    const { l, queries } = list(20_000);
    l.reload(20_000);
    await settle();
    const rows = l.el.querySelectorAll(".jobrow:not([hidden])");
    expect(rows.length).toBeLessThan(40);
    expect(rows[0]?.getAttribute("data-job")).toBe("20000");
    expect(queries).toEqual([{ state: null, batch: null, limit: 100, offset: 0 }]);
    expect((l.el.querySelector(".spacer") as HTMLElement).style.height).toBe(`${20_000 * ROW_HEIGHT}px`);
  });

  it("loads the page a scroll reaches and shows its rows", async () => {
    const { l, queries } = list(20_000);
    l.reload(20_000);
    await settle();
    l.el.scrollTop = 15_000 * ROW_HEIGHT;
    l.el.dispatchEvent(new Event("scroll"));
    await settle();
    expect(queries.some((q) => q.offset === 14_900)).toBe(true);
    const ids = Array.from(l.el.querySelectorAll(".jobrow:not([hidden])")).map((r) => Number(r.getAttribute("data-job")));
    expect(ids).toContain(20_000 - 15_000);
  });

  it("acts on the job a row shows now, after a jump put another job in it", async () => {
    const { l, actions } = list(20_000);
    l.reload(20_000);
    await settle();
    const firstRow = () => l.el.querySelector(".jobrow:not([hidden])") as HTMLElement;
    const cancel = () => firstRow().querySelector("button") as HTMLButtonElement;
    const before = cancel();
    expect(before.getAttribute("aria-label")).toBe("Cancel, job 20000");
    l.el.scrollTop = 15_000 * ROW_HEIGHT;
    l.el.dispatchEvent(new Event("scroll"));
    await settle();
    const shown = Number(firstRow().dataset.job);
    expect(shown).toBeGreaterThan(4_900);
    expect(shown).toBeLessThan(5_100);
    expect(cancel()).toBe(before);
    expect(cancel().getAttribute("aria-label")).toBe(`Cancel, job ${shown}`);
    cancel().click();
    expect(actions.cancel).toHaveBeenCalledWith(shown);
  });

  it("patches a loaded row from events without asking the engine", async () => {
    const { l, queries } = list(50);
    l.reload(50);
    await settle();
    const before = queries.length;
    l.apply({ type: "job_changed", job_id: 50, state: "failed", phase: "upload", error: ["needs_user", "wrong password"], retry_at: null, attempts: 1, link: null }, 1);
    await settle();
    const row = l.el.querySelector('.jobrow[data-job="50"]') as HTMLElement;
    expect(row.dataset.state).toBe("failed");
    expect(row.dataset.standing).toBe("needs_you");
    expect(row.querySelector(".badge")?.textContent).toBe("needs you");
    expect(row.querySelector(".detail")?.textContent).toBe("Needs you: wrong password");
    expect(buttonLabels(row)).toEqual(["Fix", "Retry"]);
    expect(queries.length).toBe(before);
  });
});

describe("DropZone", () => {
  it("shows the target while dragging and hands the dropped paths on", () => {
    const onPaths = vi.fn();
    const zone = new DropZone({ onPaths, onImage: vi.fn(), onNothing: vi.fn(), onManifest: vi.fn(), pick: async () => null, pickManifest: async () => null });
    zone.handle({ type: "enter", paths: ["/a"] });
    expect(zone.overlay.hidden).toBe(false);
    zone.handle({ type: "leave" });
    expect(zone.overlay.hidden).toBe(true);
    zone.handle({ type: "enter", paths: ["/a"] });
    zone.handle({ type: "drop", paths: ["/a", "/b dir"] });
    expect(zone.overlay.hidden).toBe(true);
    expect(onPaths).toHaveBeenCalledWith(["/a", "/b dir"]);
  });

  it("picks files and folders through the picker, and ignores a cancelled pick", async () => {
    const onPaths = vi.fn();
    const pick = vi.fn(async (directory: boolean) => (directory ? ["/dir"] : null));
    const zone = new DropZone({ onPaths, onImage: vi.fn(), onNothing: vi.fn(), onManifest: vi.fn(), pick, pickManifest: async () => null });
    const [files, folder] = Array.from(zone.buttons.querySelectorAll("button"));
    files?.click();
    folder?.click();
    await settle();
    expect(pick).toHaveBeenCalledWith(false);
    expect(onPaths).toHaveBeenCalledTimes(1);
    expect(onPaths).toHaveBeenCalledWith(["/dir"]);
  });
});

describe("Import", () => {
  it("hands the picked manifest on, and nothing when the pick is cancelled", async () => {
    const onManifest = vi.fn();
    let answer: string | null = null;
    const zone = new DropZone({ onPaths: vi.fn(), onImage: vi.fn(), onNothing: vi.fn(), onManifest, pick: async () => null, pickManifest: async () => answer });
    const importButton = Array.from(zone.buttons.querySelectorAll("button")).find((b) => b.textContent === "Import list…");
    importButton?.click();
    await settle();
    expect(onManifest).not.toHaveBeenCalled();
    answer = "/lists/items.csv";
    importButton?.click();
    await settle();
    expect(onManifest).toHaveBeenCalledWith("/lists/items.csv");
  });

  it("summarises an import with each skipped row and its reason", () => {
    const n = new Notices();
    n.imported({
      batch_id: 3,
      added: [{ row: 2, job: 10 }],
      skipped: [{ row: 3, reason: "no image: the image column is empty" }],
    });
    expect(n.el.textContent).toContain("Imported 1 item(s), skipped 1.");
    expect(n.el.querySelector(".skipped li")?.textContent).toBe("row 3 — no image: the image column is empty");
    expect(n.el.querySelector(".notice.info")).not.toBeNull();
  });

  it("an import that added nothing is shown as an error", () => {
    const n = new Notices();
    n.imported({ batch_id: null, added: [], skipped: [{ row: 2, reason: "wrong number of fields" }] });
    expect(n.el.querySelector(".notice.error")).not.toBeNull();
  });
});

describe("Notices", () => {
  it("lists every skipped path with its reason, and duplicates with their job", () => {
    const n = new Notices();
    n.report({
      batch_id: 1,
      added: [1, 2],
      skipped: [
        { path: "/in/notes.txt", reason: "not an image (by its extension)" },
        { path: "/in/.hidden.jpg", reason: "hidden file" },
      ],
      duplicates: [{ path: "/in/a.jpg", existing_job: 4, state: "completed", url: "file:///out/a.jpg" }],
    });
    const skipped = Array.from(n.el.querySelectorAll(".skipped li")).map((li) => li.textContent);
    expect(skipped).toEqual(["notes.txt — not an image (by its extension)", ".hidden.jpg — hidden file"]);
    expect(n.el.querySelector(".duplicates li")?.textContent).toContain("job 4 is completed at file:///out/a.jpg");
  });

  it("says nothing when everything was added", () => {
    const n = new Notices();
    n.report({ batch_id: 1, added: [1], skipped: [], duplicates: [] });
    expect(n.el.children.length).toBe(0);
  });
});

describe("JobList selection", () => {
  function list(total: number) {
    const load = (q: HistoryQuery): Promise<JobView[]> => {
      const n = Math.max(0, Math.min(q.limit, total - q.offset));
      return Promise.resolve(Array.from({ length: n }, (_, i) => job({ id: total - q.offset - i })));
    };
    const actions = { retry: vi.fn(), cancel: vi.fn(), raise: vi.fn(), copy: vi.fn(), open: vi.fn(), fix: vi.fn(), selected: vi.fn(), cancelSelected: vi.fn(), detail: vi.fn() };
    const l = new JobList(load, actions);
    Object.defineProperty(l.el, "clientHeight", { value: 440 });
    document.body.append(l.el);
    return { l, actions };
  }
  const row = (l: JobList, id: number) => l.el.querySelector(`.jobrow[data-job="${id}"]`) as HTMLElement;
  const click = (el: HTMLElement, init: MouseEventInit = {}) =>
    el.querySelector(".name")?.dispatchEvent(new MouseEvent("click", { bubbles: true, ...init }));
  const key = (l: JobList, k: string, init: KeyboardEventInit = {}) =>
    l.el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
  const selectedIds = (l: JobList) =>
    Array.from(l.el.querySelectorAll('.jobrow[aria-selected="true"]:not([hidden])')).map((r) => Number((r as HTMLElement).dataset.job));

  it("selects with click, Ctrl-click and Shift-click, and says how many", async () => {
    const { l, actions } = list(50);
    l.reload(50);
    await settle();
    click(row(l, 50));
    click(row(l, 48), { ctrlKey: true });
    await settle();
    expect(selectedIds(l)).toEqual([50, 48]);
    expect(actions.selected).toHaveBeenLastCalledWith(2);
    // The range runs from the last click (48) to 45, in place of the rest.
    click(row(l, 45), { shiftKey: true });
    await settle();
    expect(selectedIds(l)).toEqual([48, 47, 46, 45]);
    click(row(l, 47), { ctrlKey: true });
    await settle();
    expect(selectedIds(l)).toEqual([48, 46, 45]);
    expect((await l.selectedJobs()).map((j) => j.id).sort()).toEqual([45, 46, 48]);
    // A click on a row's button acts on that job and leaves the selection.
    (row(l, 44).querySelector("button") as HTMLButtonElement).click();
    expect(actions.cancel).toHaveBeenCalledWith(44);
    expect(l.selectedCount()).toBe(3);
  });

  it("moves with the arrows, selects with Space and Shift, clears with Escape, cancels with Delete", async () => {
    const { l, actions } = list(50);
    l.reload(50);
    await settle();
    key(l, "ArrowDown");
    key(l, "ArrowDown");
    key(l, " ");
    await settle();
    expect(selectedIds(l)).toEqual([48]);
    expect(row(l, 48).classList.contains("cursor")).toBe(true);
    expect(l.el.getAttribute("aria-activedescendant")).toBe(row(l, 48).id);
    key(l, "ArrowDown", { shiftKey: true });
    key(l, "ArrowDown", { shiftKey: true });
    await settle();
    expect(selectedIds(l)).toEqual([48, 47, 46]);
    key(l, "Escape");
    await settle();
    expect(selectedIds(l)).toEqual([]);
    // Delete with nothing selected cancels the row under the cursor.
    key(l, "Delete");
    expect(actions.cancelSelected).toHaveBeenCalledTimes(1);
    expect((await l.selectedJobs()).map((j) => j.id)).toEqual([46]);
    key(l, "Enter");
    expect(actions.detail).toHaveBeenCalledWith(46);
    // The cursor stays in view: End scrolls to the last row.
    key(l, "End");
    await settle();
    expect(l.el.scrollTop).toBe(50 * ROW_HEIGHT - 440);
    expect(row(l, 1).classList.contains("cursor")).toBe(true);
  });

  it("Ctrl+A selects the whole filter, rows not loaded included, less those toggled off", async () => {
    const { l } = list(2_500);
    l.reload(2_500);
    await settle();
    key(l, "a", { ctrlKey: true });
    await settle();
    expect(l.selectedCount()).toBe(2_500);
    click(row(l, 2_500), { ctrlKey: true });
    expect(l.selectedCount()).toBe(2_499);
    const jobs = await l.selectedJobs();
    expect(jobs.length).toBe(2_499);
    expect(jobs.some((j) => j.id === 2_500)).toBe(false);
    expect(jobs.some((j) => j.id === 1)).toBe(true);
    // A new filter starts with nothing selected.
    l.setFilter({ state: "failed", batch: null }, 10);
    expect(l.selectedCount()).toBe(0);
  });
});

describe("JobList actions", () => {
  it("offers what each state allows, and shows a raised priority at once", async () => {
    const raise = vi.fn();
    const jobs = [
      job({ id: 3, state: "pending", priority: 0 }),
      job({ id: 2, state: "completed", remote: { id: null, url: "https://example.com/a.jpg" } }),
      job({ id: 1, state: "failed", error: { class: "permanent", message: "HTTP 413: too large" } }),
    ];
    const l = new JobList(async () => jobs, { retry: vi.fn(), cancel: vi.fn(), raise, copy: vi.fn(), open: vi.fn(), fix: vi.fn(), selected: vi.fn(), cancelSelected: vi.fn(), detail: vi.fn() });
    Object.defineProperty(l.el, "clientHeight", { value: 600 });
    document.body.append(l.el);
    l.reload(3);
    await settle();
    const row = (id: number) => l.el.querySelector(`.jobrow[data-job="${id}"]`) as HTMLElement;
    expect(buttonLabels(row(3))).toEqual(["Cancel", "↑"]);
    expect(buttonLabels(row(2))).toEqual(["Copy", "Open"]);
    expect(buttonLabels(row(1))).toEqual(["Retry"]);
    (row(3).querySelectorAll("button")[1] as HTMLButtonElement).click();
    expect(raise).toHaveBeenCalledWith(jobs[0]);
    const first = jobs[0];
    if (first) first.priority = 1;
    l.changed();
    await settle();
    expect(row(3).querySelector(".detail")?.textContent).toContain("priority 1");
  });
});

describe("Bulk actions", () => {
  it("offers Discard next to Accept, for the selected outputs waiting for review", () => {
    const act = vi.fn();
    const bar = new BulkActions(act, vi.fn());
    expect(buttonLabels(bar.el)).toEqual(["Retry", "Cancel", "Priority ↑", "Priority ↓", "Accept", "Discard", "Copy links", "Clear"]);
    (bar.el.querySelector('button[data-action="discard"]') as HTMLButtonElement).click();
    expect(act).toHaveBeenCalledWith("discard");
  });
});

describe("QueuePanel", () => {
  const status = (over: Partial<Status> = {}): Status => ({
    counts: { pending: 3, processing: 0, completed: 1, failed: 0, paused: 0, cancelled: 0, total: 4 },
    queue_paused: false,
    in_flight: [],
    batches: [],
    cost: { spent: 0, to_spend: 0 },
    cool_downs: [],
    ...over,
  });
  function queuePanel(jobs: JobView[], s: Status) {
    const cancel = vi.fn(async (_jobs: number[]) => undefined);
    const fake: Pick<Api, "history" | "cancel" | "status"> = {
      history: async (q) => jobs.slice(q.offset, q.offset + q.limit),
      cancel,
      status: async () => s,
    };
    const say = vi.fn();
    const panel = new QueuePanel(fake as unknown as Api, say, { fix: vi.fn(), copyLink: vi.fn(), copyLinks: vi.fn(), detail: vi.fn() });
    const list = panel.el.querySelector(".joblist") as HTMLElement;
    Object.defineProperty(list, "clientHeight", { value: 600 });
    document.body.append(panel.el);
    panel.show(s);
    return { panel, list, cancel, say };
  }

  it("discards only the selected outputs waiting for review, by cancelling their jobs, and says so", async () => {
    const jobs = [
      job({ id: 4, state: "pending", phase: "upload", awaiting_review: true }),
      job({ id: 3, state: "pending", phase: "upload" }),
      job({ id: 2, state: "pending", phase: "upload", awaiting_review: true }),
      job({ id: 1, state: "completed", phase: "upload" }),
    ];
    const { panel, list, cancel, say } = queuePanel(jobs, status());
    await settle();
    const discard = panel.el.querySelector('.bulk button[data-action="discard"]') as HTMLButtonElement;
    // The one selected job does not wait for review: nothing is cancelled.
    list.querySelector('.jobrow[data-job="3"] .name')?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    discard.click();
    await settle();
    expect(cancel).not.toHaveBeenCalled();
    expect(say).toHaveBeenLastCalledWith("None of the 1 selected job(s) waits for review.");
    list.dispatchEvent(new KeyboardEvent("keydown", { key: "a", ctrlKey: true, bubbles: true, cancelable: true }));
    discard.click();
    await settle();
    expect(cancel).toHaveBeenCalledWith([4, 2]);
    expect(say).toHaveBeenLastCalledWith("2 output(s) discarded.");
    expect(panel.el.querySelector(".bulk")?.hasAttribute("hidden")).toBe(true);
    panel.el.remove();
  });

  it("names a batch the status lists, and none it does not", () => {
    const counts = status().counts;
    const { panel } = queuePanel([], status({ batches: [{ id: 5, name: "Shoot A", sequential: false, paused: false, created_at: 0, counts, eta_ms: null }] }));
    expect(panel.batchName(5)).toBe("Shoot A");
    expect(panel.batchName(6)).toBeNull();
    panel.el.remove();
  });
});

describe("DamagedDatabasePanel", () => {
  const damaged = { path: "/data/outbox.sqlite3", reason: "file is not a database" };
  const buttons = (panel: DamagedDatabasePanel) => Array.from(panel.el.querySelectorAll("button"));

  it("says what is damaged and why, and changes nothing until asked", () => {
    const actions = { startFresh: vi.fn(() => Promise.resolve("/data/kept")), quit: vi.fn(() => Promise.resolve()) };
    const panel = new DamagedDatabasePanel(damaged, actions, vi.fn());
    expect(panel.el.querySelector(".path")?.textContent).toBe("/data/outbox.sqlite3");
    expect(panel.el.textContent).toContain("file is not a database");
    expect(buttonLabels(panel.el)).toEqual(["Keep a copy and start afresh", "Quit"]);
    expect(actions.startFresh).not.toHaveBeenCalled();
    buttons(panel)[1]?.click();
    expect(actions.quit).toHaveBeenCalledOnce();
    expect(actions.startFresh).not.toHaveBeenCalled();
  });

  it("starts afresh when the user agrees and hands on where the copy is", async () => {
    const onFresh = vi.fn();
    const actions = { startFresh: vi.fn(() => Promise.resolve("/data/kept")), quit: vi.fn(() => Promise.resolve()) };
    const panel = new DamagedDatabasePanel(damaged, actions, onFresh);
    buttons(panel)[0]?.click();
    expect(buttons(panel).every((b) => b.disabled)).toBe(true);
    await settle();
    expect(onFresh).toHaveBeenCalledWith("/data/kept");
  });

  it("shows why starting afresh failed and lets the user choose again", async () => {
    const onFresh = vi.fn();
    const actions = {
      startFresh: vi.fn(() => Promise.reject({ kind: "engine", message: "cannot move it aside: read-only file system" })),
      quit: vi.fn(() => Promise.resolve()),
    };
    const panel = new DamagedDatabasePanel(damaged, actions, onFresh);
    buttons(panel)[0]?.click();
    await settle();
    const error = panel.el.querySelector<HTMLElement>(".error");
    expect(error?.hidden).toBe(false);
    expect(error?.textContent).toBe("cannot move it aside: read-only file system");
    expect(buttons(panel).some((b) => b.disabled)).toBe(false);
    expect(onFresh).not.toHaveBeenCalled();
  });
});
