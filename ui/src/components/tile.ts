// One item in the results grid: its preview (the EXIF thumbnail first, then
// the real one, then the generated output with a before/after slider), its
// state, its reason when it failed, and what the user can do with it now.

import { previewUrl } from "../lib/api";
import { h, setText } from "../lib/dom";
import { fileName, stateLabel } from "../lib/format";
import { markPainted } from "../lib/perf";
import { countsDown, fixLabel, standing, standingLabel, standingText, type FixTarget, type Standing } from "../lib/standing";
import type { EngineEvent, JobError, JobId, JobState, JobView, Phase } from "../lib/types";

export interface TileActions {
  accept(job: JobId): void;
  discard(job: JobId): void;
  regenerate(job: JobId): void;
  retry(job: JobId): void;
  open(job: JobId): void;
  /** Opens the settings the job needs the user to fix. */
  fix(target: FixTarget): void;
  /** Copies the upload's link, in the format the user chose. */
  copyLink(url: string, source: string): void;
}

export class Tile {
  readonly el: HTMLElement;
  private readonly frame: HTMLElement;
  private before: HTMLImageElement;
  private readonly after: HTMLImageElement;
  private readonly slider: HTMLInputElement;
  private readonly badge: HTMLElement;
  private readonly reason: HTMLElement;
  private readonly buttons: HTMLElement;
  private readonly name: HTMLElement;
  private state: JobState = "pending";
  private phase: Phase = "generate";
  private awaitingReview = false;
  private link: string | null = null;
  private source: string | null = null;
  private outputVersion = 0;
  private realPreviewShown = false;
  private error: JobError | null = null;
  private retryAt: number | null = null;
  private attempts = 0;
  /** The job's automatic attempts at most, once read from the engine. */
  private maxAttempts: number | null = null;
  private destination = "";
  private recipe = "";
  /** What went wrong, as last drawn. */
  private trouble: Standing = null;
  /** Previews still loading, stopped if the tile is dropped. */
  private loading: HTMLImageElement[] = [];
  /** Why the file has no preview, when it has none. */
  private previewProblem: string | null = null;

  constructor(
    readonly job: JobId,
    source: string | null,
    private review: boolean,
    private readonly actions: TileActions,
  ) {
    this.before = h("img", { class: "before", alt: "" });
    this.after = h("img", { class: "after", alt: "", hidden: true });
    this.slider = h("input", {
      type: "range",
      min: 0,
      max: 100,
      value: 50,
      class: "compare",
      "aria-label": "Compare the original and the result",
      hidden: true,
    });
    this.slider.addEventListener("input", () => this.clip());
    this.frame = h("div", { class: "frame" }, this.before, this.after, this.slider);
    this.badge = h("span", { class: "badge" });
    this.reason = h("p", { class: "reason", hidden: true });
    this.buttons = h("div", { class: "actions" });
    this.name = h("span", { class: "name" });
    this.setSource(source);
    this.el = h(
      "article",
      { class: "tile", "data-job": job, tabindex: 0 },
      this.frame,
      h("header", {}, this.name, this.badge),
      this.reason,
      this.buttons,
    );
    this.loadSourcePreview();
    this.render();
  }

  private setSource(source: string | null): void {
    this.source = source;
    setText(this.name, source ? fileName(source) : `item ${this.job}`);
    if (source) this.name.title = source;
  }

  /** Scrolled out of view: stops loading its previews and lets them go. */
  drop(): void {
    for (const img of this.loading) {
      img.onload = null;
      img.onerror = null;
      img.removeAttribute("src");
    }
    this.loading = [];
    this.after.onload = null;
    this.after.removeAttribute("src");
    this.before.removeAttribute("src");
  }

  /** The EXIF thumbnail (instant when the file has one), then the real preview. */
  private loadSourcePreview(): void {
    const exif = new Image();
    exif.onload = () => {
      if (!this.realPreviewShown) this.before.src = exif.src;
    };
    exif.src = previewUrl.exif(this.job);
    const real = new Image();
    real.className = "before";
    real.alt = this.before.alt;
    real.onload = () => {
      performance.mark(`outbox:loaded:${this.job}`);
      this.realPreviewShown = true;
      this.before.replaceWith(real);
      this.before = real;
      this.el.dataset.preview = "source";
      markPainted(`outbox:preview:${this.job}`);
    };
    real.onerror = () => {
      this.el.dataset.preview = "none";
      this.previewProblem = "No preview: this file cannot be read as an image.";
      this.render();
    };
    real.src = previewUrl.source(this.job);
    this.loading = [exif, real];
  }

  private loadOutputPreview(): void {
    this.outputVersion += 1;
    this.after.onload = () => {
      this.after.hidden = false;
      this.slider.hidden = false;
      this.el.dataset.output = "shown";
      this.clip();
    };
    this.after.src = previewUrl.output(this.job, this.outputVersion);
  }

  private clip(): void {
    this.after.style.clipPath = `inset(0 0 0 ${this.slider.value}%)`;
  }

  /** Brings the tile up to date with a job read from the engine. */
  restore(job: JobView): void {
    this.setSource(job.source);
    this.review = this.review || job.awaiting_review;
    this.state = job.state;
    this.phase = job.phase;
    this.awaitingReview = job.awaiting_review;
    this.link = job.remote?.url ?? null;
    this.error = job.error;
    this.retryAt = job.next_attempt_at;
    this.attempts = job.attempts;
    this.maxAttempts = job.max_attempts;
    this.destination = job.destination;
    this.recipe = job.recipe;
    if (job.phase === "upload" && job.state !== "cancelled" && this.outputVersion === 0) {
      this.loadOutputPreview();
    }
    this.render();
  }

  apply(event: EngineEvent): void {
    if (event.type !== "job_changed" || event.job_id !== this.job) return;
    const outputMade = event.phase === "upload" && this.phase === "generate";
    const remade = event.phase === "generate" && this.phase === "upload";
    this.state = event.state;
    this.phase = event.phase;
    this.awaitingReview = this.review && event.state === "pending" && event.phase === "upload";
    if (event.link) this.link = event.link;
    this.error = event.error ? { class: event.error[0], message: event.error[1] } : null;
    this.retryAt = event.retry_at;
    this.attempts = event.attempts;
    if (outputMade) this.loadOutputPreview();
    if (remade) {
      this.after.hidden = true;
      this.slider.hidden = true;
      delete this.el.dataset.output;
    }
    this.render();
  }

  /** Whether the reason counts down to a retry: the grid then calls
   * `tick` every second while the tile is in view. */
  countingDown(): boolean {
    return countsDown(this.trouble);
  }

  /** The time passed: rewrites the countdown, and nothing else. */
  tick(now: number): void {
    if (this.trouble && this.countingDown()) setText(this.reason, standingText(this.trouble, now));
  }

  private render(): void {
    const trouble = standing({
      state: this.state,
      phase: this.phase,
      error: this.error,
      next_attempt_at: this.retryAt,
      attempts: this.attempts,
      max_attempts: this.maxAttempts,
      destination: this.destination,
      recipe: this.recipe,
    });
    this.trouble = trouble;
    this.el.dataset.state = this.awaitingReview ? "review" : this.state;
    this.el.dataset.standing = trouble?.kind ?? "";
    setText(this.badge, trouble ? standingLabel(trouble) : stateLabel(this.state, this.awaitingReview));
    // A cancelled job may still say why (a duplicate of which job).
    const reason = trouble ? standingText(trouble, Date.now()) : (this.error?.message ?? this.previewProblem);
    this.reason.hidden = !reason;
    setText(this.reason, reason ?? "");
    const buttons: HTMLButtonElement[] = [];
    const button = (label: string, action: () => void, cls = "") =>
      buttons.push(h("button", { type: "button", class: cls, onclick: () => action() }, label));
    if (trouble?.kind === "needs_you") {
      button(fixLabel(trouble.fix), () => this.actions.fix(trouble.fix), "primary");
      button("Retry", () => this.actions.retry(this.job));
    } else if (trouble?.kind === "waiting") {
      button(fixLabel(trouble.fix), () => this.actions.fix(trouble.fix));
    } else if (this.awaitingReview) {
      button("Accept", () => this.actions.accept(this.job), "primary");
      button("Discard", () => this.actions.discard(this.job));
      button("Regenerate", () => this.actions.regenerate(this.job));
    } else if (this.state === "failed" || this.state === "cancelled") {
      button("Retry", () => this.actions.retry(this.job));
    } else if (this.state === "completed" && this.link) {
      const link = this.link;
      button("Open", () => this.actions.open(this.job));
      button("Copy link", () => this.actions.copyLink(link, this.source ?? link));
    }
    this.buttons.replaceChildren(...buttons);
  }
}
