// Adding or editing one destination or AI provider: its name, its kind's
// form (drawn from the engine's description), for destinations the uploads at
// once, and its secret. A refused save shows each problem beside its field
// and keeps everything typed; so does a failed test of the saved destination
// (the engine names the setting to fix).

import { errorMessage, type DestinationForm } from "../lib/api";
import { h } from "../lib/dom";
import { SECRET_FIELD, testDiagnosis, type FieldError, type KindForm, type Values } from "../lib/forms";
import type { CommandError } from "../lib/types";
import { KindFormView } from "./kind-form";

export interface EditorStart {
  name: string;
  kind: string;
  values: Values | null;
  max_concurrent: number | null;
  /** Editing the saved destination of this name (not adding one). */
  existing: boolean;
}

export interface EditorOptions {
  /** "destination", "AI provider": the words of the form. */
  noun: string;
  /** Prefix of the controls' ids. */
  ids: string;
  /** Whether to offer "uploads at once" (destinations). */
  limit: boolean;
  /** What editing changes for work already queued. */
  editNote: string;
  save(form: DestinationForm): Promise<void>;
  /** Tests the saved one of this name (offered when editing): what was
   * checked, or a rejection the engine's diagnosis is read from. */
  test?(name: string): Promise<string>;
}

export class KindEditor {
  readonly el: HTMLFormElement;
  private view: KindFormView;
  private readonly name: HTMLInputElement;
  private readonly nameError: HTMLElement;
  private readonly kind: HTMLSelectElement;
  private readonly limit: HTMLInputElement;
  private readonly limitError: HTMLElement;
  private readonly secret: HTMLInputElement;
  private readonly secretLabel: HTMLElement;
  private readonly secretHelp: HTMLElement;
  private readonly secretError: HTMLElement;
  private readonly formError: HTMLElement;
  private readonly testStatus: HTMLElement;
  private readonly slot: HTMLElement;

  constructor(
    private readonly forms: KindForm[],
    private readonly start: EditorStart,
    private readonly options: EditorOptions,
    private readonly done: (message: string | null) => void,
  ) {
    const id = (name: string) => `${options.ids}-${name}`;
    const first = forms.find((f) => f.kind === start.kind) ?? forms[0];
    if (!first) throw new Error(`The engine describes no ${options.noun} kinds.`);
    this.name = h("input", { id: id("name"), value: start.name, placeholder: "shop", autocomplete: "off", readonly: start.existing });
    this.nameError = h("p", { class: "error", role: "alert", hidden: true });
    this.kind = h("select", { id: id("kind"), disabled: start.existing }, ...forms.map((f) => h("option", { value: f.kind, selected: f.kind === first.kind }, f.label)));
    this.limit = h("input", { id: id("limit"), type: "number", min: 1, max: 64, step: 1, placeholder: "no limit", value: start.max_concurrent ?? "" });
    this.limitError = h("p", { class: "error", role: "alert", hidden: true });
    this.secret = h("input", { id: id("secret"), type: "password", autocomplete: "off", "aria-describedby": `${id("secret")}-help ${id("secret")}-error` });
    this.secretLabel = h("label", { for: id("secret") });
    this.secretHelp = h("p", { class: "muted help", id: `${id("secret")}-help` });
    this.secretError = h("p", { class: "error", id: `${id("secret")}-error`, role: "alert", hidden: true });
    this.formError = h("p", { class: "error", role: "alert", hidden: true });
    this.testStatus = h("p", { class: "muted test-status", role: "status" });
    const test = start.existing ? options.test : undefined;
    this.view = new KindFormView(first, start.values, options.ids);
    this.slot = h("div", {}, this.view.el);
    this.kind.addEventListener("change", () => this.switchKind());
    this.el = h(
      "form",
      { class: "kind-editor", "aria-label": start.existing ? `Edit ${start.name}` : `New ${options.noun}`, novalidate: true },
      h("h4", {}, start.existing ? `Edit ${start.name}` : `New ${options.noun}`),
      start.existing ? h("p", { class: "note" }, options.editNote) : null,
      h("div", { class: "field" }, h("label", { for: id("name") }, "Name"), this.name, this.nameError),
      h("div", { class: "field" }, h("label", { for: id("kind") }, "Kind"), this.kind),
      this.slot,
      h("div", { class: "field", "data-field": SECRET_FIELD }, this.secretLabel, this.secret, this.secretHelp, this.secretError),
      options.limit ? h("div", { class: "field" }, h("label", { for: id("limit") }, "Uploads at once to it"), this.limit, this.limitError) : null,
      this.formError,
      h(
        "div",
        { class: "row actions" },
        h("button", { type: "submit", class: "primary" }, start.existing ? "Save changes" : `Add ${options.noun}`),
        test ? h("button", { type: "button", class: "test", onclick: () => void this.test(test) }, "Test saved settings") : null,
        h("button", { type: "button", onclick: () => this.done(null) }, "Cancel"),
      ),
      this.testStatus,
    );
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    this.describeSecret();
  }

  private switchKind(): void {
    const form = this.forms.find((f) => f.kind === this.kind.value);
    if (!form) return;
    this.view = new KindFormView(form, null, this.options.ids);
    this.slot.replaceChildren(this.view.el);
    this.describeSecret();
  }

  private describeSecret(): void {
    const secret = this.view.form.secret;
    const wrap = this.secret.parentElement;
    if (wrap) wrap.hidden = !secret;
    if (!secret) return;
    this.secretLabel.textContent = secret.label;
    this.secretHelp.textContent = this.start.existing ? `${secret.help} Leave empty to keep the one saved.` : secret.help;
  }

  private show(errors: FieldError[], focus = true): void {
    const name = errors.filter((e) => e.field === "name").map((e) => e.message);
    this.nameError.hidden = name.length === 0;
    this.nameError.textContent = name.join(" ");
    const secretShown = this.view.form.secret !== null;
    const secret = secretShown ? errors.filter((e) => e.field === SECRET_FIELD).map((e) => e.message) : [];
    this.secretError.hidden = secret.length === 0;
    this.secretError.textContent = secret.join(" ");
    const rest = this.view.showErrors(errors.filter((e) => e.field !== "name" && !(secretShown && e.field === SECRET_FIELD)));
    this.formError.hidden = rest.length === 0;
    this.formError.textContent = rest.join(" ");
    if (!focus) return;
    if (name.length > 0) this.name.focus();
    else if (!this.view.focusFirstError() && secret.length > 0) {
      this.secret.focus();
      this.secret.parentElement?.scrollIntoView({ block: "center" });
    }
  }

  /** Shows what a failed test of the saved destination found, beside the
   * setting the engine blames (or above the buttons when it blames none). */
  diagnose(errors: FieldError[]): void {
    this.testStatus.textContent = "";
    this.show(errors);
  }

  private async test(test: (name: string) => Promise<string>): Promise<void> {
    this.show([], false);
    this.testStatus.textContent = "Testing…";
    try {
      this.testStatus.textContent = await test(this.start.name);
    } catch (e) {
      this.diagnose(testDiagnosis(e) ?? [{ field: null, message: errorMessage(e) }]);
    }
  }

  private async save(): Promise<void> {
    this.show([], false); // the last attempt's errors go; this one's come back
    const read = this.view.values();
    if ("errors" in read) return this.show(read.errors);
    const limit = this.options.limit ? this.limit.value.trim() : "";
    const maxConcurrent = limit === "" ? null : Number(limit);
    if (maxConcurrent !== null && (!Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 64)) {
      this.limitError.hidden = false;
      this.limitError.textContent = "Uploads at once must be a whole number from 1 to 64, or empty for no limit.";
      return;
    }
    this.limitError.hidden = true;
    const secretNeeded = this.view.form.secret?.required && !this.start.existing && this.secret.value === "";
    if (secretNeeded) {
      this.show([{ field: null, message: `${this.view.form.secret?.label ?? "The secret"} is needed.` }]);
      this.secret.focus();
      return;
    }
    try {
      await this.options.save({
        name: this.name.value,
        kind: this.view.form.kind,
        values: read.values,
        max_concurrent: maxConcurrent,
        secret: this.secret.value || null,
        existing: this.start.existing,
      });
      this.secret.value = "";
      this.done(this.start.existing ? `${this.name.value.trim()} saved.` : `${this.name.value.trim()} added.`);
    } catch (e) {
      const fields = (e as Partial<CommandError>)?.fields;
      this.show(fields && fields.length > 0 ? fields : [{ field: null, message: errorMessage(e) }]);
    }
  }
}
