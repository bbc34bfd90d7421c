// Building a recipe step by step, each step a form drawn from the engine's
// description of its operation, beside a live sketch of the recipe on a
// sample: the item picked in the queue, or a photo shipped with the app.
// Every change asks for a new sketch (the newest only); once the sketch is
// painted, the exact output's size, bytes and name follow from a real run.

import { errorMessage } from "../lib/api";
import { h } from "../lib/dom";
import { bytes as formatBytes } from "../lib/format";
import type { FieldError, KindForm } from "../lib/forms";
import { errorsOfStep, Latest, moved } from "../lib/recipe-steps";
import type { CommandError, JobId, RecipeForm, StepError, StepValues, Trial } from "../lib/types";
import { KindFormView } from "./kind-form";

export interface RecipeEditorApi {
  sketch(form: RecipeForm, source: JobId | null): Promise<ArrayBuffer>;
  trial(form: RecipeForm, source: JobId | null): Promise<Trial>;
  save(form: RecipeForm): Promise<void>;
}

export interface RecipeStart {
  name: string;
  steps: StepValues[];
  /** Editing the saved recipe of this name (not making a new one). */
  existing: boolean;
}

/** An item of the queue to try the recipe on. */
export interface SampleItem {
  job: JobId;
  name: string;
}

/** How long the form waits after the last change before the exact run. */
const TRIAL_DELAY_MS = 400;

interface Step {
  view: KindFormView;
  el: HTMLElement;
  error: HTMLElement;
}

let stepIds = 0;

export class RecipeEditor {
  readonly el: HTMLFormElement;
  private steps: Step[] = [];
  private readonly list: HTMLOListElement;
  private readonly name: HTMLInputElement;
  private readonly nameError: HTMLElement;
  private readonly formError: HTMLElement;
  private readonly source: HTMLSelectElement;
  private readonly picture: HTMLImageElement;
  private readonly facts: HTMLElement;
  private readonly note: HTMLElement;
  private readonly sketches: Latest<{ form: RecipeForm; asked: number }>;
  /** Exact runs of the whole file: one at a time, the newest form only. */
  private readonly trials: Latest<RecipeForm>;
  private trialTimer: ReturnType<typeof setTimeout> | null = null;
  private trialAsked = 0;
  private pictureUrl: string | null = null;

  constructor(
    private readonly forms: KindForm[],
    start: RecipeStart,
    sample: SampleItem | null,
    private readonly api: RecipeEditorApi,
    private readonly done: (message: string | null) => void,
  ) {
    this.name = h("input", { id: "r-name", value: start.name, placeholder: "square", autocomplete: "off" });
    this.nameError = h("p", { class: "error", role: "alert", hidden: true });
    this.formError = h("p", { class: "error", role: "alert", hidden: true });
    this.list = h("ol", { class: "steps" });
    const adding = h("select", { id: "r-add", "aria-label": "Step to add" }, ...forms.map((f) => h("option", { value: f.kind }, f.label)));
    this.source = h(
      "select",
      { id: "r-source" },
      h("option", { value: "" }, "The sample photo"),
      sample ? h("option", { value: String(sample.job), selected: true }, sample.name) : null,
    );
    this.picture = h("img", { class: "sketch", alt: "The recipe's output on the sample" });
    this.facts = h("p", { class: "trial", role: "status" });
    this.note = h("p", { class: "muted help" });
    this.sketches = new Latest((asked) => this.sketch(asked.form, asked.asked));
    this.trials = new Latest((form) => this.trial(form));
    for (const step of start.steps) this.addStep(step.op, step.values);

    this.el = h(
      "form",
      { class: "recipe-editor", "aria-label": start.existing ? `Edit ${start.name}` : "New recipe", novalidate: true },
      h("h4", {}, start.existing ? `Edit ${start.name}` : "New recipe"),
      h(
        "div",
        { class: "recipe-columns" },
        h(
          "div",
          { class: "recipe-steps" },
          h("div", { class: "field" }, h("label", { for: "r-name" }, "Name"), this.name, this.nameError),
          this.list,
          h("div", { class: "row" }, adding, h("button", { type: "button", onclick: () => this.add(adding.value) }, "Add step")),
        ),
        h(
          "figure",
          { class: "recipe-preview" },
          this.picture,
          h("figcaption", {}, this.facts, this.note, h("div", { class: "field" }, h("label", { for: "r-source" }, "Try it on"), this.source)),
        ),
      ),
      this.formError,
      h(
        "div",
        { class: "row actions" },
        h("button", { type: "submit", class: "primary" }, "Save recipe"),
        h("button", { type: "button", onclick: () => this.done(null) }, "Cancel"),
      ),
    );
    this.name.addEventListener("input", () => {
      this.nameError.hidden = true;
    });
    this.el.addEventListener("input", () => this.changed());
    this.el.addEventListener("change", () => this.changed());
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    this.changed();
  }

  /** The form as the engine takes it. */
  form(): RecipeForm {
    const steps: StepValues[] = [];
    for (const step of this.steps) {
      const read = step.view.values();
      steps.push({ op: step.view.form.kind, values: "values" in read ? read.values : {} });
    }
    return { name: this.name.value, steps };
  }

  private add(op: string): void {
    this.addStep(op, null);
    this.steps.at(-1)?.el.querySelector<HTMLElement>("input, select")?.focus();
    this.changed();
  }

  private addStep(op: string, values: Record<string, unknown> | null): void {
    const form = this.forms.find((f) => f.kind === op);
    if (!form) return;
    stepIds += 1;
    const view = new KindFormView(form, values, `r${stepIds}`);
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const el = h("li", { class: "step", "data-op": op });
    const step: Step = { view, el, error };
    const button = (label: string, title: string, act: () => void) =>
      h("button", { type: "button", class: "small", title, "aria-label": `${title}: ${form.label}`, onclick: act }, label);
    el.append(
      h(
        "div",
        { class: "step-head" },
        h("strong", {}, form.label),
        button("↑", "Move up", () => this.move(step, -1)),
        button("↓", "Move down", () => this.move(step, 1)),
        button("✕", "Remove", () => this.remove(step)),
      ),
      error,
      view.el,
    );
    this.steps.push(step);
    this.list.append(el);
  }

  private move(step: Step, by: -1 | 1): void {
    this.steps = moved(this.steps, this.steps.indexOf(step), by);
    this.list.replaceChildren(...this.steps.map((s) => s.el));
    this.changed();
  }

  private remove(step: Step): void {
    this.steps = this.steps.filter((s) => s !== step);
    step.el.remove();
    this.changed();
  }

  private sourceJob(): JobId | null {
    return this.source.value === "" ? null : Number(this.source.value);
  }

  /** Something changed: a new sketch now, the exact run once typing settles. */
  private changed(): void {
    const form = this.form();
    this.note.textContent = form.steps.some((s) => s.op === "ai_generate")
      ? "The AI step is not run here (it would be paid for): the steps after it are shown on the sample."
      : "";
    this.sketches.request({ form, asked: performance.now() });
    if (this.trialTimer !== null) clearTimeout(this.trialTimer);
    this.facts.textContent = "Measuring the output…";
    this.trialTimer = setTimeout(() => this.trials.request(form), TRIAL_DELAY_MS);
  }

  private async sketch(form: RecipeForm, asked: number): Promise<void> {
    let url: string | null = null;
    try {
      const jpeg = await this.api.sketch(form, this.sourceJob());
      url = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
      this.picture.src = url;
      await this.picture.decode();
      if (this.pictureUrl) URL.revokeObjectURL(this.pictureUrl);
      this.pictureUrl = url;
      // Form change → sketch painted, read by the tests and the bench.
      this.el.dataset.sketchMs = String(Math.round(performance.now() - asked));
      this.show([], null);
    } catch (e) {
      if (url && url !== this.pictureUrl) URL.revokeObjectURL(url);
      this.shown(e);
    }
  }

  private async trial(form: RecipeForm): Promise<void> {
    const asked = ++this.trialAsked;
    try {
      const out = await this.api.trial(form, this.sourceJob());
      if (asked !== this.trialAsked) return;
      this.facts.textContent = `${out.width} × ${out.height} px · ${formatBytes(out.bytes)} · ${out.file_name} (made from ${out.sample})`;
    } catch (e) {
      if (asked !== this.trialAsked) return;
      this.facts.textContent = "";
      this.shown(e);
    }
  }

  /** A refusal's problems, each beside its step and field. */
  private shown(e: unknown, focus = false): void {
    const steps = (e as Partial<CommandError>)?.steps;
    if (steps && steps.length > 0) this.show(steps, null, focus);
    else this.show([], errorMessage(e), focus);
  }

  private show(errors: StepError[], whole: string | null, focus = false): void {
    const own = errorsOfStep(errors, null);
    // Only a save judges the name (a sketch needs none); typing clears it.
    const name = own.filter((e) => e.field === "name").map((e) => e.message);
    if (name.length > 0) {
      this.nameError.hidden = false;
      this.nameError.textContent = name.join(" ");
    }
    const rest: string[] = own.filter((e) => e.field !== "name").map((e) => e.message);
    if (whole) rest.push(whole);
    this.formError.hidden = rest.length === 0;
    this.formError.textContent = rest.join(" ");
    let first: Step | null = null;
    for (const [index, step] of this.steps.entries()) {
      const mine: FieldError[] = errorsOfStep(errors, index);
      const left = step.view.showErrors(mine);
      step.error.hidden = left.length === 0;
      step.error.textContent = left.join(" ");
      if (mine.length > 0) first ??= step;
    }
    if (!focus) return;
    if (name.length > 0) this.name.focus();
    else first?.view.focusFirstError();
  }

  private async save(): Promise<void> {
    try {
      await this.api.save(this.form());
      this.done(`Recipe ${this.name.value.trim()} saved.`);
    } catch (e) {
      this.shown(e, true);
    }
  }
}
