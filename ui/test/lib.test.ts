import { describe, expect, it } from "vitest";
import { parseFields } from "../src/lib/fields";
import { bytes, duration, fileName, percent, stateLabel } from "../src/lib/format";
import { applyEvent, filteredTotal, matches } from "../src/lib/jobs";
import { pathsFromText } from "../src/lib/paste";
import { countsDown, fixLabel, standing, standingLabel, standingText } from "../src/lib/standing";
import { overall, Rate } from "../src/lib/overall";
import { announcement, InProgress } from "../src/components/in-progress";
import type { BatchView, StateCounts } from "../src/lib/types";
import { job } from "./fixtures";
import { pagesFor, visibleRows } from "../src/lib/virtual";

const counts = (over: Partial<StateCounts> = {}): StateCounts => ({
  pending: 0,
  processing: 0,
  completed: 0,
  failed: 0,
  paused: 0,
  cancelled: 0,
  total: 0,
  ...over,
});

describe("format", () => {
  it("writes sizes in the unit people read", () => {
    expect(bytes(512)).toBe("512 B");
    expect(bytes(1536)).toBe("1.5 KB");
    expect(bytes(25 * 1024 * 1024)).toBe("25 MB");
  });
  it("writes durations from milliseconds to hours", () => {
    expect(duration(850)).toBe("850 ms");
    expect(duration(12_400)).toBe("12 s");
    expect(duration(185_000)).toBe("3 min 05 s");
    expect(duration(7_440_000)).toBe("2 h 04 min");
  });
  it("has no share for an unknown total and clamps the rest", () => {
    expect(percent(5, null)).toBeNull();
    expect(percent(5, 0)).toBeNull();
    expect(percent(50, 200)).toBe(25);
    expect(percent(300, 200)).toBe(100);
  });
  it("names files and states", () => {
    expect(fileName("/a/b/ç é.jpg")).toBe("ç é.jpg");
    expect(fileName("C:\\x\\y.png")).toBe("y.png");
    expect(stateLabel("processing")).toBe("working");
    expect(stateLabel("pending", true)).toBe("to review");
  });
});

describe("virtual list", () => {
  it("draws only the rows in view plus a margin", () => {
    const w = visibleRows(40_000, 600, 40, 20_000, 6);
    expect(w.start).toBe(994);
    expect(w.end).toBe(1000 + 16 + 6);
    expect(w.offset).toBe(994 * 40);
    expect(w.end - w.start).toBeLessThan(40);
  });
  it("stays inside the list at both ends", () => {
    expect(visibleRows(0, 600, 40, 5)).toEqual({ start: 0, end: 5, offset: 0 });
    const end = visibleRows(10_000_000, 600, 40, 100);
    expect(end.end).toBe(100);
    expect(end.start).toBe(100);
    expect(visibleRows(0, 600, 40, 0)).toEqual({ start: 0, end: 0, offset: 0 });
  });
  it("finds the pages covering a range", () => {
    expect(pagesFor(0, 30, 100)).toEqual([0]);
    expect(pagesFor(95, 130, 100)).toEqual([0, 1]);
    expect(pagesFor(30, 30, 100)).toEqual([]);
  });
});

describe("jobs", () => {
  it("filters by state and batch", () => {
    expect(matches(job({ state: "failed", batch_id: 2 }), { state: "failed", batch: 2 })).toBe(true);
    expect(matches(job({ state: "failed", batch_id: 2 }), { state: "failed", batch: 3 })).toBe(false);
    expect(matches(job(), { state: null, batch: null })).toBe(true);
  });
  it("counts a filter's rows from the engine's counters", () => {
    const all = counts({ total: 20, failed: 3 });
    const batch = counts({ total: 7, failed: 1 });
    expect(filteredTotal(all, null, { state: null, batch: null })).toBe(20);
    expect(filteredTotal(all, null, { state: "failed", batch: null })).toBe(3);
    expect(filteredTotal(all, batch, { state: "failed", batch: 4 })).toBe(1);
    expect(filteredTotal(all, null, { state: null, batch: 4 })).toBe(0);
  });
  it("applies a job's changes and bytes, and ignores other jobs", () => {
    const j = job({ id: 7 });
    expect(applyEvent(j, { type: "job_changed", job_id: 8, state: "failed", phase: "upload", error: null, retry_at: null, attempts: 1, link: null }, 1)).toBe(false);
    expect(j.state).toBe("pending");
    applyEvent(j, { type: "job_changed", job_id: 7, state: "processing", phase: "upload", error: null, retry_at: null, attempts: 1, link: null }, 100);
    expect(j.started_at).toBe(100);
    applyEvent(j, { type: "bytes_sent", job_id: 7, sent: 10, total: 40 }, 101);
    expect([j.bytes_sent, j.bytes_total]).toEqual([10, 40]);
    applyEvent(j, { type: "job_changed", job_id: 7, state: "failed", phase: "upload", error: ["permanent", "HTTP 413"], retry_at: null, attempts: 1, link: null }, 200);
    expect(j.error).toEqual({ class: "permanent", message: "HTTP 413" });
    expect(j.finished_at).toBe(200);
  });
});

describe("paste", () => {
  it("reads file URIs and absolute paths, and drops the rest", () => {
    const text = "# copied\nfile:///home/me/a%20b.jpg\r\n/tmp/c.png\nrelative.png\nhttps://x/y.jpg\n\n";
    expect(pathsFromText(text)).toEqual(["/home/me/a b.jpg", "/tmp/c.png"]);
    expect(pathsFromText("just words")).toEqual([]);
  });
});

describe("sample fields", () => {
  it("accepts an object and names what is wrong otherwise", () => {
    expect(parseFields('{"title": "Mug"}')).toEqual({ title: "Mug" });
    expect(() => parseFields("{path: /x}")).toThrow(/not valid JSON/);
    expect(() => parseFields("[1]")).toThrow(/must be a JSON object/);
    expect(() => parseFields("null")).toThrow(/must be a JSON object/);
  });
});

describe("standing", () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0);
  it("a job put back to wait says when it is tried again, counting down", () => {
    const s = standing(job({ state: "pending", error: { class: "transient", message: "HTTP 503" }, next_attempt_at: at + 65_000 }));
    expect(s?.kind).toBe("retrying");
    if (!s) return;
    expect(standingLabel(s)).toBe("will retry");
    expect(standingText(s, at)).toBe("Will retry in 1 min 05 s: HTTP 503");
    expect(standingText(s, at + 70_000)).toBe("Will retry any moment now: HTTP 503");
    expect(standingText(s, null)).toMatch(/^Will retry at .+: HTTP 503$/);
  });
  it("tells needing the user from failing for good", () => {
    const needs = standing(job({ state: "failed", phase: "upload", destination: "shop", error: { class: "needs_user", message: "wrong password" } }));
    expect(needs).toEqual({ kind: "needs_you", message: "wrong password", fix: { destination: "shop" }, attempts: 0 });
    const gone = standing(job({ state: "failed", attempts: 5, error: { class: "transient", message: "timed out" } }));
    expect(gone && standingText(gone, at)).toBe("Failed for good after 5 attempts: timed out");
    const once = standing(job({ state: "failed", attempts: 1, error: { class: "permanent", message: "not an image" } }));
    expect(once && standingText(once, at)).toBe("Failed for good: not an image");
    // Out of attempts, the engine says how many: not said twice.
    const spent = standing(job({ state: "failed", attempts: 3, error: { class: "transient", message: "gave up after 3 attempts: timeout" } }));
    expect(spent && standingText(spent, at)).toBe("Failed for good: gave up after 3 attempts: timeout");
  });
  it("a retry and a job that needs you say the attempts so far, of how many when known", () => {
    const upload = standing(
      job({ state: "pending", phase: "upload", attempts: 2, max_attempts: 3, error: { class: "transient", message: "HTTP 503" }, next_attempt_at: at + 42_000 }),
    );
    expect(upload && standingText(upload, at)).toBe("Will retry in 42 s (2 of 3 attempts used): HTTP 503");
    expect(upload && standingText(upload, null)).toMatch(/^Will retry at .+ \(2 of 3 attempts used\): HTTP 503$/);
    // A generation's cap may be its AI provider's, lower than the job's: not said.
    const generate = standing(
      job({ state: "pending", phase: "generate", attempts: 1, max_attempts: 3, error: { class: "transient", message: "HTTP 429" }, next_attempt_at: at + 5_000 }),
    );
    expect(generate && standingText(generate, at)).toBe("Will retry in 5 s (1 attempt used): HTTP 429");
    const running = standing(job({ state: "processing", phase: "upload", attempts: 3, max_attempts: 3, error: { class: "transient", message: "HTTP 503" } }));
    expect(running && standingText(running, at)).toBe("Trying again (attempt 3 of 3): HTTP 503");
    // Free to go at once (no time set): the next claim takes it.
    const due = standing(job({ state: "pending", phase: "upload", attempts: 2, max_attempts: 3, error: { class: "transient", message: "HTTP 503" } }));
    expect(due && standingText(due, null)).toBe("Will retry any moment now (2 of 3 attempts used): HTTP 503");
    const needs = standing(job({ state: "failed", attempts: 2, destination: "shop", error: { class: "needs_user", message: "wrong password" } }));
    expect(needs && standingText(needs, at)).toBe("Needs you after 2 attempts: wrong password");
    const first = standing(job({ state: "failed", attempts: 1, destination: "shop", error: { class: "needs_user", message: "wrong password" } }));
    expect(first && standingText(first, at)).toBe("Needs you: wrong password");
  });
  it("a job that needs you points at what to fix: its destination, or its recipe's AI provider when generating stopped", () => {
    const error = { class: "needs_user", message: "the API key was refused" } as const;
    const upload = standing(job({ state: "failed", phase: "upload", destination: "shop", recipe: "studio-shots", error }));
    expect(upload?.kind === "needs_you" && upload.fix).toEqual({ destination: "shop" });
    expect(upload?.kind === "needs_you" && fixLabel(upload.fix)).toBe("Fix shop");
    const generate = standing(job({ state: "failed", phase: "generate", destination: "shop", recipe: "studio-shots", error }));
    expect(generate?.kind === "needs_you" && generate.fix).toEqual({ recipe: "studio-shots" });
    expect(generate?.kind === "needs_you" && fixLabel(generate.fix)).toBe("Fix AI provider");
    // Held at a spending cap: the provider's settings are where the cap is raised.
    const capped = standing(job({ state: "pending", phase: "generate", recipe: "studio-shots", error: { class: "needs_user", message: "spending cap reached" } }));
    expect(capped?.kind === "waiting" && capped.fix).toEqual({ recipe: "studio-shots" });
  });
  it("only a retry with a time counts down", () => {
    const error = { class: "transient", message: "HTTP 503" } as const;
    expect(countsDown(standing(job({ state: "pending", error, next_attempt_at: at })))).toBe(true);
    expect(countsDown(standing(job({ state: "processing", error, next_attempt_at: at })))).toBe(false);
    expect(countsDown(standing(job({ state: "failed", error })))).toBe(false);
    expect(countsDown(null)).toBe(false);
  });
  it("a job held back until the user acts waits, without failing", () => {
    const s = standing(job({ state: "pending", error: { class: "needs_user", message: "spending cap reached: studio has 0.10 left" } }));
    expect(s && standingLabel(s)).toBe("waiting");
    expect(s && standingText(s, at)).toBe("Waiting for you: spending cap reached: studio has 0.10 left");
  });
  it("a job with nothing wrong has no standing", () => {
    expect(standing(job({ state: "completed", error: null }))).toBeNull();
    expect(standing(job({ state: "pending", error: null }))).toBeNull();
    expect(standing(job({ state: "cancelled", error: { class: "permanent", message: "a duplicate" } }))).toBeNull();
  });
});

describe("overall progress", () => {
  const batch = (id: number, completed: number, failed: number, total: number, eta: number | null): BatchView => ({
    id,
    name: "b",
    sequential: false,
    paused: false,
    created_at: 0,
    counts: { pending: total - completed - failed, processing: 0, completed, failed, paused: 0, cancelled: 0, total },
    eta_ms: eta,
  });
  it("adds the unfinished batches up; the slowest says the time left", () => {
    expect(overall([])).toBeNull();
    expect(overall([batch(1, 3, 1, 10, 5000), batch(2, 0, 0, 5, null), batch(3, 1, 0, 2, 9000)])).toEqual({ done: 5, total: 17, etaMs: 9000 });
  });
  it("counts bytes per second over the last seconds, a restarted upload counting from zero", () => {
    const r = new Rate(5000);
    r.sent(0, 1, 1000);
    r.sent(1000, 1, 3000);
    r.sent(2000, 2, 2000);
    expect(r.perSecond(2000)).toBe(2500); // 5000 bytes over 2 s
    r.sent(3000, 1, 500); // job 1 started again
    expect(r.perSecond(3000)).toBeCloseTo(5500 / 3, 5);
    expect(r.perSecond(60_000)).toBe(0);
  });
});

describe("in-progress announcements", () => {
  const flight = (id: number, source: string) => ({ id, source, destination: "d", phase: "generate" as const, started_at: 0, elapsed_ms: 0, bytes_sent: 0, bytes_total: null });
  it("say which jobs started and ended, and nothing when none did", () => {
    const a = flight(1, "/p/a.jpg");
    const b = flight(2, "/p/b.jpg");
    const c = flight(3, "/p/c.jpg");
    expect(announcement([a, b], [b, c])).toBe("Started c.jpg. Finished a.jpg.");
    expect(announcement([a], [a])).toBe("");
  });
  it("show a destination's pause with the time left, until it ends", () => {
    const panel = new InProgress();
    const pause = { of: "destination" as const, name: "shop", until: 40_000, reason: "429 Too Many Requests" };
    panel.update([], [pause], 10_000);
    const line = panel.el.querySelector<HTMLElement>(".cool-down");
    expect(line?.textContent).toBe("shop asked for a pause: nothing starts there for 30 s.");
    expect(line?.title).toBe("429 Too Many Requests");
    panel.render(41_000);
    expect(panel.el.querySelector(".cool-down")).toBeNull();
    expect(panel.el.textContent).toContain("Nothing in progress.");
  });
});
