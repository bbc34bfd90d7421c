// Outbox's window: builds the components, restores the full view from the
// engine (at start and after a reload), and routes inputs and events.

import { getCurrentWebview } from "@tauri-apps/api/webview";
import { open } from "@tauri-apps/plugin-dialog";
import { DamagedDatabasePanel } from "./components/damaged-database";
import { DropChoices } from "./components/drop-choices";
import { DropZone, type DragDropEvent } from "./components/drop-zone";
import { HistoryPanel } from "./components/history-panel";
import { JobDetailDialog } from "./components/job-detail";
import { Notices } from "./components/notices";
import { QueuePanel } from "./components/queue-panel";
import { ResultsGrid } from "./components/results-grid";
import { SettingsPanel } from "./components/settings-panel";
import { api, errorMessage } from "./lib/api";
import { h } from "./lib/dom";
import { fileName } from "./lib/format";
import { LinkCopier } from "./lib/link-copier";
import { formatLink, formatLinks, linked } from "./lib/links";
import { FrameSampler, markDrop } from "./lib/perf";
import type { AddReport, JobView, Settings, Update } from "./lib/types";
import type { FixTarget } from "./lib/standing";

/** How many recent jobs the grid shows again after a reload. */
const RESTORED_TILES = 200;

const notices = new Notices();
const say = (text: string) => notices.say(text);
const fail = (e: unknown) => notices.say(errorMessage(e), "error");
let settings: Settings | null = null;

const grid = new ResultsGrid({
  accept: (job) => void api.accept([job]).catch(fail),
  discard: (job) => void api.cancel([job]).catch(fail),
  regenerate: (job) => void api.regenerate([job]).catch(fail),
  retry: (job) =>
    void api
      .retry([job])
      .then((r) => r.refused.forEach(say))
      .catch(fail),
  open: (job) => void api.openLocation(job).catch(fail),
  fix: (target) => fix(target),
  copyLink: (url, source) => copyLink(url, source),
});
const settingsPanel = new SettingsPanel(
  api,
  (s) => {
    settings = s;
  },
  // Recipes are tried on the job picked in the queue, when there is one.
  () => {
    const job = queue.picked();
    return job ? { job: job.id, name: fileName(job.source) } : null;
  },
);

/** Copies an upload's link in the format chosen in the settings. */
function copyLink(url: string, source: string): void {
  const text = formatLink(settings?.copy_links ?? "url", settings?.link_template ?? "{url}", linked(url, source));
  api
    .copyText(text)
    .then(() => say(`Copied ${text}`))
    .catch(fail);
}
/** Several links, one per line, in the format chosen in the settings. */
function copyLinks(jobs: JobView[]): void {
  const text = formatLinks(
    settings?.copy_links ?? "url",
    settings?.link_template ?? "{url}",
    jobs.map((j) => linked(j.remote?.url ?? "", j.source)),
  );
  api
    .copyText(text)
    .then(() => say(`${jobs.length} link(s) copied`))
    .catch(fail);
}
const fix = (target: FixTarget) => void settingsPanel.open(target);
const choices = new DropChoices(async (s) => {
  settings = await api.setSettings(s);
  return settings;
});
// What the settings panel changed (destinations, recipes, defaults) shows in
// the drop choices once it closes.
settingsPanel.el.addEventListener("close", () => void restoreStatus().catch(fail));
const detail = new JobDetailDialog({
  load: (job) => api.jobDetail(job),
  copyLink: (url, source) => copyLink(url, source),
  retry: async (job) => {
    const r = await api.retry([job]).catch((e: unknown) => {
      fail(e);
      return null;
    });
    r?.refused.forEach(say);
  },
  open: (job) => void api.openLocation(job).catch(fail),
  fix: (target) => {
    detail.el.close();
    historyPanel.el.close();
    fix(target);
  },
  showBatch: (batch) => void historyPanel.showBatch(batch, queue.batchName(batch)).catch(fail),
});
const historyPanel = new HistoryPanel({
  count: (filter) => api.historyCount({ ...filter, limit: 1, offset: 0 }),
  page: (query) => api.history(query),
  destinations: async () => (await api.destinations()).map((d) => d.name),
  open: (job) => void detail.open(job),
});
const queue = new QueuePanel(api, say, { fix, copyLink, copyLinks, detail: (job) => void detail.open(job) });
const linkCopier = new LinkCopier({
  settings: () => settings,
  source: (job) => grid.source(job),
  batchJobs: (batch) => api.history({ state: "completed", batch, limit: 10_000, offset: 0 }),
  copy: (text) => api.copyText(text),
  said: say,
});

/** Batches whose jobs are in the grid or on their way (this window's own
 * drops and imports, and batches queued elsewhere once announced). */
const gridBatches = new Set<number>();

/** A batch's jobs, a page at a time (a drop may be 20,000). */
async function* batchPages(batch: number): AsyncGenerator<JobView[]> {
  const page = 1000;
  for (let offset = 0; ; offset += page) {
    const jobs = await api.history({ state: null, batch, limit: page, offset });
    yield jobs;
    if (jobs.length < page) return;
  }
}

/** A batch queued elsewhere (a program through the local API or PicGo, the
 * command line): all of its jobs go on top of the grid at once. */
async function mergeBatch(batch: number): Promise<void> {
  const jobs: JobView[] = [];
  for await (const page of batchPages(batch)) jobs.push(...page);
  grid.merge(jobs);
}

async function added(report: AddReport): Promise<void> {
  performance.mark("outbox:added"); // the bench's legs of a drop
  if (report.batch_id !== null) gridBatches.add(report.batch_id);
  grid.add(report.added, settings ? !settings.auto_accept : false);
  notices.report(report);
  if (report.added.length === 0 && report.skipped.length === 0 && report.duplicates.length === 0) {
    say("Nothing to add: no images there.");
  }
  if (report.batch_id !== null) await loadBatch(report.batch_id);
}

/** A new batch's jobs into the grid, each page as it comes. */
async function loadBatch(batch: number): Promise<void> {
  for await (const page of batchPages(batch)) grid.update(page);
}

/** False while a damaged database waits for the user: nothing can be added. */
let queueOpen = false;

function addPaths(paths: string[]): void {
  if (!queueOpen) return;
  markDrop();
  api.addPaths(paths, choices.takeOneDrop()).then(added).catch(fail);
}

const dropZone = new DropZone({
  onPaths: addPaths,
  onImage: (bytes) => {
    if (queueOpen) void api.addPasted(bytes).then(added).catch(fail);
  },
  onNothing: () => say("The clipboard holds no image and no file."),
  onManifest: (path) => {
    if (!queueOpen) return;
    void api
      .importManifest(path)
      .then(async (report) => {
        notices.imported(report);
        if (report.batch_id !== null) gridBatches.add(report.batch_id);
        grid.add(
          report.added.map((a) => a.job),
          settings ? !settings.auto_accept : false,
        );
        if (report.batch_id !== null) await loadBatch(report.batch_id);
      })
      .catch(fail);
  },
  pickManifest: async () => {
    const picked = await open({ multiple: false, directory: false, filters: [{ name: "Item lists", extensions: ["csv", "json"] }] });
    return typeof picked === "string" ? picked : null;
  },
  pick: async (directory) => {
    const picked = await open({ multiple: true, directory });
    if (picked === null) return null;
    return Array.isArray(picked) ? picked : [picked];
  },
});

function onUpdate(update: Update): void {
  if (update.resync) {
    void restoreStatus();
  }
  for (const event of update.events) {
    grid.apply(event);
    if (event.type === "jobs_queued" && !gridBatches.has(event.batch_id)) {
      gridBatches.add(event.batch_id);
      void mergeBatch(event.batch_id).catch(fail);
    }
  }
  queue.apply(update.events);
  linkCopier.events(update.events);
  if (update.status) {
    queue.show(update.status);
    linkCopier.status(update.status);
  }
  if (update.elsewhere) {
    queue.reloadList();
    void api
      .history({ state: null, batch: null, limit: RESTORED_TILES, offset: 0 })
      .then((jobs) => grid.merge(jobs))
      .catch(fail);
  }
}

async function restoreStatus(): Promise<void> {
  const snapshot = await api.snapshot();
  settings = snapshot.settings;
  choices.show(snapshot.settings, snapshot.destinations, snapshot.recipes);
  queue.show(snapshot.status);
  linkCopier.status(snapshot.status);
}

/** Resolves once the queue's database is open: at once, or after the user
 * agreed to replace a damaged one (a notice then says where the copy is). */
async function databaseOpen(app: HTMLElement): Promise<void> {
  const damaged = await api.damagedDatabase();
  if (!damaged) return;
  await new Promise<void>((resolve) => {
    const panel = new DamagedDatabasePanel(
      damaged,
      { startFresh: api.startFreshDatabase, quit: api.quit },
      (kept) => {
        panel.el.remove();
        notices.say(`The damaged database is kept as ${kept}; this is a fresh, empty queue.`);
        resolve();
      },
    );
    app.append(panel.el);
    panel.focus();
  });
}

async function start(): Promise<void> {
  const app = document.getElementById("app");
  if (!app) return;
  await databaseOpen(app);
  queueOpen = true;
  app.append(
    h(
      "header",
      { class: "top" },
      h("h1", {}, "Outbox"),
      dropZone.buttons,
      h("button", { type: "button", "data-open": "history", title: "Every job, by name, state, destination and date", onclick: () => void historyPanel.open().catch(fail) }, "History"),
      h("button", { type: "button", onclick: () => void settingsPanel.open() }, "Settings"),
    ),
    notices.el,
    h("main", {}, h("div", { class: "work" }, choices.el, grid.el), queue.el),
    dropZone.overlay,
    settingsPanel.el,
    historyPanel.el,
    detail.el,
  );
  await getCurrentWebview().onDragDropEvent((e) => dropZone.handle(e.payload as DragDropEvent));
  await api.subscribe(onUpdate);
  await restoreStatus();
  grid.restore(await api.history({ state: null, batch: null, limit: RESTORED_TILES, offset: 0 }));
  // Files given on the command line, by this launch or by a later one.
  await api.onOpenPaths(addPaths);
  const launched = await api.takeLaunchPaths();
  if (launched.length > 0) addPaths(launched);
  document.body.dataset.ready = "true";
}

// For the end-to-end test: the same drop handler the native event calls, and
// a frame sampler. Nothing here can do more than the UI's own buttons.
declare global {
  interface Window {
    outbox: { drop(paths: string[]): void; frames: FrameSampler };
  }
}
window.outbox = {
  drop: (paths) => dropZone.handle({ type: "drop", paths }),
  frames: new FrameSampler(),
};

start().catch(fail);
