import { describe, expect, it, vi } from "vitest";
import { cellLayout, dayStart, HistoryPanel, type HistoryFilter } from "../src/components/history-panel";
import { JobDetailDialog, when } from "../src/components/job-detail";
import type { HistoryQuery, JobDetail, JobView } from "../src/lib/types";
import { job } from "./fixtures";

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(null)));
const settle = async () => {
  for (let i = 0; i < 6; i++) {
    await Promise.resolve();
    await frame();
  }
};

// jsdom has no <dialog> methods.
function dialogs(): void {
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.open = false;
  };
}

function panel(total: number) {
  dialogs();
  const queries: HistoryQuery[] = [];
  const counts: HistoryFilter[] = [];
  const open = vi.fn();
  const p = new HistoryPanel({
    count: async (f) => {
      counts.push(f);
      return f.search === "none" ? 0 : total;
    },
    page: async (q) => {
      queries.push(q);
      const n = Math.max(0, Math.min(q.limit, total - q.offset));
      return Array.from({ length: n }, (_, i) => job({ id: total - q.offset - i, source: `/p/${total - q.offset - i}.jpg`, state: "completed", phase: "upload" }));
    },
    destinations: async () => ["shop", "backup"],
    open,
  });
  const scroller = p.el.querySelector(".history-cells") as HTMLElement;
  Object.defineProperty(scroller, "clientHeight", { value: 600 });
  Object.defineProperty(scroller, "clientWidth", { value: 808 });
  document.body.append(p.el);
  return { p, queries, counts, open, scroller };
}

describe("HistoryPanel", () => {
  it("lays out cells by width, and a list as one column", () => {
    expect(cellLayout("gallery", 808)).toEqual({ columns: 5, rowHeight: 200 });
    expect(cellLayout("list", 808).columns).toBe(1);
    expect(cellLayout("gallery", 100).columns).toBe(1);
  });

  it("reads a date input as that day's local start, and refuses other text", () => {
    expect(dayStart("2026-12-03")).toBe(new Date(2026, 11, 3).getTime());
    expect(dayStart("03/12/2026")).toBeNull();
    expect(dayStart("")).toBeNull();
  });

  it("with 20,000 jobs asks for one page and builds only the cells in view", async () => {
    const { p, queries } = panel(20_000);
    await p.open();
    await settle();
    const cells = p.el.querySelectorAll(".cell[data-job]");
    expect(cells.length).toBeGreaterThan(0);
    expect(cells.length).toBeLessThanOrEqual(30);
    expect(cells[0]?.getAttribute("data-job")).toBe("20000");
    expect(queries.map((q) => q.offset)).toEqual([0]);
    expect(p.el.querySelector(".summary")?.textContent).toBe("20000 job(s), newest first.");
    // The output's thumbnail, at thumbnail size.
    expect(cells[0]?.querySelector("img")?.getAttribute("src")).toBe("outbox-preview://localhost/output/20000/256?v=0");
  });

  it("loads the page a scroll reaches and drops the cells left behind", async () => {
    const { p, queries, scroller } = panel(20_000);
    await p.open();
    await settle();
    scroller.scrollTop = 2_000 * 200;
    scroller.dispatchEvent(new Event("scroll"));
    await settle();
    expect(queries.some((q) => q.offset === 9_900)).toBe(true);
    const ids = Array.from(p.el.querySelectorAll(".cell[data-job]")).map((c) => Number(c.getAttribute("data-job")));
    expect(ids).toContain(20_000 - 10_000);
    expect(ids).not.toContain(20_000);
  });

  it("sends the filters to the engine, starts again at the top, and says when nothing matches", async () => {
    const { p, counts, queries } = panel(500);
    await p.open();
    await settle();
    (p.el.querySelector("select[aria-label=State]") as HTMLSelectElement).value = "failed";
    const destination = p.el.querySelector("select[aria-label=Destination]") as HTMLSelectElement;
    expect(Array.from(destination.options).map((o) => o.value)).toEqual(["", "shop", "backup"]);
    destination.value = "shop";
    (p.el.querySelector("input[aria-label='Added from']") as HTMLInputElement).value = "2026-12-01";
    (p.el.querySelector("input[aria-label='Added until']") as HTMLInputElement).value = "2026-12-02";
    destination.dispatchEvent(new Event("change"));
    await settle();
    const last = counts[counts.length - 1];
    expect(last).toEqual({
      state: "failed",
      batch: null,
      search: null,
      destination: "shop",
      since: new Date(2026, 11, 1).getTime(),
      until: new Date(2026, 11, 3).getTime(),
    });
    expect(queries[queries.length - 1]).toMatchObject({ destination: "shop", offset: 0 });
    const search = p.el.querySelector("input[type=search]") as HTMLInputElement;
    search.value = "none";
    search.dispatchEvent(new Event("input"));
    await new Promise((r) => setTimeout(r, 250));
    await settle();
    expect(p.el.querySelector(".summary")?.textContent).toBe("No job matches.");
    expect(p.el.querySelectorAll(".cell[data-job]").length).toBe(0);
  });

  it("narrows to a batch with a chip that says which, sends its id, and shows every batch again once the chip is removed", async () => {
    const { p, counts, queries } = panel(50);
    const chip = p.el.querySelector(".filters .batch-filter") as HTMLElement;
    expect(chip.hidden).toBe(true);
    await p.showBatch(7, "Shoot A");
    await settle();
    expect(p.el.open).toBe(true);
    expect(chip.hidden).toBe(false);
    expect(chip.textContent).toBe("Batch: Shoot A✕");
    expect(counts[counts.length - 1]).toMatchObject({ batch: 7 });
    expect(queries[queries.length - 1]).toMatchObject({ batch: 7, offset: 0 });
    // The other filters still apply with it.
    (p.el.querySelector("select[aria-label=State]") as HTMLSelectElement).value = "failed";
    p.el.querySelector("select[aria-label=State]")?.dispatchEvent(new Event("change"));
    await settle();
    expect(counts[counts.length - 1]).toMatchObject({ batch: 7, state: "failed" });
    (chip.querySelector("button[aria-label='Remove the batch filter']") as HTMLButtonElement).click();
    await settle();
    expect(chip.hidden).toBe(true);
    expect(counts[counts.length - 1]).toMatchObject({ batch: null, state: "failed" });
    // A batch whose name is not known is shown by its number.
    await p.showBatch(9, null);
    expect(chip.textContent).toBe("Batch: #9✕");
  });

  it("opens a job's detail from a click on its cell", async () => {
    const { p, open } = panel(10);
    await p.open();
    await settle();
    (p.el.querySelector('.cell[data-job="7"] .name') as HTMLElement).click();
    expect(open).toHaveBeenCalledWith(7);
  });
});

describe("JobDetailDialog", () => {
  const detail = (over: Partial<JobView> = {}): JobDetail => ({
    job: job({ id: 4, state: "completed", phase: "upload", source: "/p/shoe.jpg", remote: { id: "9", url: "https://cdn.example/shoe.jpg" }, ...over }),
    output: { file_name: "shoe.webp", mime: "image/webp", size: 2048, width: 800, height: 600 },
    fields: { title: "Red shoe" },
    attempts: [
      { phase: "generate", started_at: 1000, ended_at: 2000, outcome: "generated", error: null },
      { phase: "upload", started_at: 3000, ended_at: 4000, outcome: "retrying", error: { class: "transient", message: "503 busy" } },
      { phase: "upload", started_at: 9000, ended_at: 9500, outcome: "delivered", error: null },
    ],
  });

  it("shows source and output side by side, the link, fields and every attempt with its error", async () => {
    dialogs();
    const copyLink = vi.fn();
    const d = new JobDetailDialog({ load: async () => detail(), copyLink, retry: vi.fn(), open: vi.fn(), fix: vi.fn() });
    await d.open(4);
    const imgs = Array.from(d.el.querySelectorAll(".pictures img")).map((i) => i.getAttribute("src"));
    expect(imgs).toEqual(["outbox-preview://localhost/source/4/512", "outbox-preview://localhost/output/4/512?v=0"]);
    expect(d.el.querySelector(".pictures")?.textContent).toContain("shoe.webp · 800 × 600 · 2.0 KB");
    expect(d.el.querySelector(".facts")?.textContent).toContain("https://cdn.example/shoe.jpg");
    expect(d.el.querySelector(".facts")?.textContent).toContain("Red shoe");
    const rows = Array.from(d.el.querySelectorAll(".attempts tbody tr")).map((r) => (r.lastElementChild as HTMLElement).textContent);
    expect(rows).toEqual(["generated", "failed, retried later: 503 busy", "delivered"]);
    expect(d.el.querySelectorAll(".attempts tbody tr")[1]?.children[2]?.textContent).toBe(when(3000));
    (Array.from(d.el.querySelectorAll("button")).find((b) => b.textContent === "Copy link") as HTMLButtonElement).click();
    expect(copyLink).toHaveBeenCalledWith("https://cdn.example/shoe.jpg", "/p/shoe.jpg");
  });

  it("offers Show this batch: it closes the detail and hands the job's batch on", async () => {
    dialogs();
    const showBatch = vi.fn();
    const d = new JobDetailDialog({ load: async () => detail({ batch_id: 12 }), copyLink: vi.fn(), retry: vi.fn(), open: vi.fn(), fix: vi.fn(), showBatch });
    await d.open(4);
    const button = Array.from(d.el.querySelectorAll("button")).find((b) => b.textContent === "Show this batch") as HTMLButtonElement;
    button.click();
    expect(showBatch).toHaveBeenCalledWith(12);
    expect(d.el.open).toBe(false);
    // Nothing to hand it to: not offered.
    const alone = new JobDetailDialog({ load: async () => detail({ batch_id: 12 }), copyLink: vi.fn(), retry: vi.fn(), open: vi.fn(), fix: vi.fn() });
    await alone.open(4);
    expect(Array.from(alone.el.querySelectorAll("button")).some((b) => b.textContent === "Show this batch")).toBe(false);
  });

  it("offers retry for a failed job and shows it again once retried; says when a job is gone", async () => {
    dialogs();
    const load = vi.fn(async () => detail({ state: "failed", remote: null, error: { class: "permanent", message: "HTTP 413" } }));
    const retry = vi.fn(async () => undefined);
    const d = new JobDetailDialog({ load, copyLink: vi.fn(), retry, open: vi.fn(), fix: vi.fn() });
    await d.open(4);
    (Array.from(d.el.querySelectorAll("button")).find((b) => b.textContent === "Retry") as HTMLButtonElement).click();
    await settle();
    expect(retry).toHaveBeenCalledWith(4);
    expect(load).toHaveBeenCalledTimes(2);
    const gone = new JobDetailDialog({ load: async () => null, copyLink: vi.fn(), retry, open: vi.fn(), fix: vi.fn() });
    await gone.open(77);
    expect(gone.el.textContent).toContain("Job 77 is no longer in the queue.");
  });
});
