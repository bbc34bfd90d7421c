import { describe, expect, it, vi } from "vitest";
import { LinkCopier, type LinkSettings } from "../src/lib/link-copier";
import { formatLink, formatLinks, linked } from "../src/lib/links";
import type { EngineEvent, Status } from "../src/lib/types";
import { job } from "./fixtures";

const l = linked("https://cdn.example/a b(1).jpg", "/photos/Blue [mug].jpg");

describe("link formats", () => {
  it("names the image after its file, without the extension", () => {
    expect(l).toEqual({ url: "https://cdn.example/a b(1).jpg", name: "Blue [mug].jpg", alt: "Blue [mug]" });
    expect(linked("u", "C:\\shots\\x.png").name).toBe("x.png");
  });
  it("writes each format with what would break it escaped", () => {
    expect(formatLink("url", "", l)).toBe("https://cdn.example/a b(1).jpg");
    expect(formatLink("markdown", "", l)).toBe("![Blue \\[mug\\]](https://cdn.example/a%20b%281%29.jpg)");
    expect(formatLink("html", "", linked('https://x/"q".jpg', "/a&b.jpg"))).toBe('<img src="https://x/&quot;q&quot;.jpg" alt="a&amp;b">');
    expect(formatLink("bbcode", "", linked("https://x/[1].jpg", "/p.jpg"))).toBe("[img]https://x/%5B1%5D.jpg[/img]");
    expect(formatLink("template", '<a href="{url}">{name}</a> {alt} {other}', linked("https://x/p.jpg", "/p.jpg"))).toBe(
      '<a href="https://x/p.jpg">p.jpg</a> p {other}',
    );
  });
  it("joins several, one per line", () => {
    expect(formatLinks("url", "", [linked("https://x/1", "/1.jpg"), linked("https://x/2", "/2.jpg")])).toBe("https://x/1\nhttps://x/2");
  });
});

describe("LinkCopier", () => {
  const done = (id: number, link: string | null): EngineEvent => ({
    type: "job_changed",
    job_id: id,
    state: "completed",
    phase: "upload",
    error: null,
    retry_at: null,
    attempts: 1,
    link,
  });
  const status = (batches: number[]): Status => ({
    counts: { pending: 0, processing: 0, completed: 0, failed: 0, paused: 0, cancelled: 0, total: 0 },
    queue_paused: false,
    in_flight: [],
    batches: batches.map((id) => ({ id, name: "b", sequential: false, paused: false, created_at: 0, counts: { pending: 1, processing: 0, completed: 0, failed: 0, paused: 0, cancelled: 0, total: 1 }, eta_ms: null })),
    cost: { spent: 0, to_spend: 0 },
    cool_downs: [],
  });
  function copier(s: LinkSettings | null) {
    const copy = vi.fn(() => Promise.resolve());
    const batchJobs = vi.fn(() =>
      Promise.resolve([
        job({ id: 9, state: "completed", source: "/p/b.jpg", remote: { id: null, url: "https://x/b.jpg" } }),
        job({ id: 8, state: "completed", source: "/p/a.jpg", remote: { id: null, url: "https://x/a.jpg" } }),
        job({ id: 10, state: "failed", source: "/p/c.jpg" }),
      ]),
    );
    const c = new LinkCopier({ settings: () => s, source: (id) => (id === 7 ? "/p/seven.jpg" : null), batchJobs, copy, said: vi.fn() });
    return { c, copy, batchJobs };
  }
  const flush = () => new Promise((r) => setTimeout(r, 0));

  it("copies each upload's link as it ends, in the chosen format, the newest when several end together", async () => {
    const { c, copy } = copier({ copy_links: "markdown", copy_links_when: "each", link_template: "" });
    c.events([done(6, null), done(5, "https://x/five.jpg"), done(7, "https://x/seven.jpg")]);
    await flush();
    expect(copy).toHaveBeenCalledTimes(1);
    expect(copy).toHaveBeenCalledWith("![seven](https://x/seven.jpg)");
  });

  it("copies nothing when off, or when set to whole batches", async () => {
    for (const s of [null, { copy_links: "off", copy_links_when: "each", link_template: "" }, { copy_links: "url", copy_links_when: "batch", link_template: "" }] as const) {
      const { c, copy } = copier(s);
      c.events([done(7, "https://x/seven.jpg")]);
      await flush();
      expect(copy).not.toHaveBeenCalled();
    }
  });

  it("copies a batch's delivered links in its order once the batch has ended", async () => {
    const { c, copy, batchJobs } = copier({ copy_links: "url", copy_links_when: "batch", link_template: "" });
    c.status(status([3, 4]));
    c.status(status([3, 4]));
    expect(batchJobs).not.toHaveBeenCalled();
    c.status(status([4]));
    await flush();
    expect(batchJobs).toHaveBeenCalledWith(3);
    expect(copy).toHaveBeenCalledWith("https://x/a.jpg\nhttps://x/b.jpg");
  });
});
