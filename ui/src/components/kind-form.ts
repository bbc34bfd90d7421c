// A form drawn from the engine's description of a kind: one control per
// field, its help under it, its error beside it, the advanced ones folded
// under "More settings", and fields that depend on a choice shown only when
// that choice is made.

import { h } from "../lib/dom";
import {
  errorsByField,
  headersText,
  initialValues,
  parseHeaders,
  visible,
  type Field,
  type FieldError,
  type KindForm,
  type Values,
} from "../lib/forms";

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export class KindFormView {
  readonly el: HTMLElement;
  private readonly controls = new Map<string, { field: Field; control: Control; wrap: HTMLElement; error: HTMLElement }>();

  constructor(
    readonly form: KindForm,
    saved: Values | null,
    private readonly idPrefix: string,
  ) {
    const values = initialValues(form, saved);
    const basic = h("div", { class: "fields" });
    const more = h("div", { class: "fields" });
    for (const field of form.fields) {
      const wrap = this.fieldEl(field, values[field.name]);
      (field.advanced ? more : basic).append(wrap);
    }
    const details = more.childElementCount > 0 ? h("details", { class: "more" }, h("summary", {}, "More settings"), more) : null;
    this.el = h("div", { class: "kind-form", "data-kind": form.kind }, h("p", { class: "muted help" }, form.help), basic, details);
    this.el.addEventListener("change", () => this.refreshVisibility());
    this.refreshVisibility();
  }

  private fieldEl(field: Field, value: unknown): HTMLElement {
    const id = `${this.idPrefix}-${field.name}`;
    const control = this.control(field, value, id);
    const error = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
    control.setAttribute("aria-describedby", `${id}-help ${id}-error`);
    const label = h("label", { for: id }, field.label, field.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null);
    const wrap = h(
      "div",
      { class: `field${field.input.type === "toggle" ? " toggle" : ""}`, "data-field": field.name },
      label,
      control,
      field.help ? h("p", { class: "muted help", id: `${id}-help` }, field.help) : null,
      error,
    );
    this.controls.set(field.name, { field, control, wrap, error });
    return wrap;
  }

  private control(field: Field, value: unknown, id: string): Control {
    const input = field.input;
    switch (input.type) {
      case "toggle": {
        const box = h("input", { type: "checkbox", id });
        box.checked = value === true;
        return box;
      }
      case "choice": {
        const select = h("select", { id });
        for (const c of input.choices) select.append(h("option", { value: c.value, selected: c.value === (value ?? "") }, c.label));
        return select;
      }
      case "headers": {
        const area = h("textarea", { id, rows: 3, spellcheck: false, placeholder: field.example });
        area.value = headersText(value);
        return area;
      }
      case "number":
        return h("input", { id, type: "number", min: input.min, max: input.max, step: 1, placeholder: field.example, value: value === undefined || value === null ? "" : String(value) });
      case "money":
        return h("input", { id, type: "number", min: 0, step: "0.001", placeholder: field.example, value: value === undefined || value === null ? "" : String(value) });
      case "decimal":
        return h("input", { id, type: "number", min: input.min, max: input.max, step: "0.01", placeholder: field.example, value: value === undefined || value === null ? "" : String(value) });
      case "colour":
        return h("input", { id, type: "color", value: typeof value === "string" ? value : "#ffffff" });
      default:
        return h("input", {
          id,
          type: input.type === "url" ? "url" : "text",
          placeholder: field.example,
          spellcheck: false,
          value: value === undefined || value === null ? "" : String(value),
        });
    }
  }

  private refreshVisibility(): void {
    const values = this.rawValues();
    for (const { field, wrap } of this.controls.values()) wrap.hidden = !visible(this.form, field, values);
  }

  private rawValues(): Values {
    const values: Values = {};
    for (const [name, { field, control }] of this.controls) {
      values[name] = field.input.type === "toggle" ? (control as HTMLInputElement).checked : control.value;
    }
    return values;
  }

  /** The values as the engine takes them, or a problem found before asking. */
  values(): { values: Values } | { errors: FieldError[] } {
    const values: Values = {};
    const errors: FieldError[] = [];
    for (const [name, { field, control, wrap }] of this.controls) {
      if (wrap.hidden) continue;
      if (field.input.type === "toggle") values[name] = (control as HTMLInputElement).checked;
      else if (field.input.type === "headers") {
        const parsed = parseHeaders(control.value);
        if ("error" in parsed) errors.push({ field: name, message: parsed.error });
        else if (Object.keys(parsed.headers).length > 0) values[name] = parsed.headers;
      } else if (control.value.trim() !== "") values[name] = control.value.trim();
    }
    return errors.length > 0 ? { errors } : { values };
  }

  /** Shows each error beside its field (unfolding "More settings" for an
   * advanced one); returns those about no field shown here. */
  showErrors(errors: FieldError[]): string[] {
    const by = errorsByField(errors);
    for (const [name, { error, wrap }] of this.controls) {
      const messages = wrap.hidden ? undefined : by.get(name);
      error.hidden = !messages;
      error.textContent = messages?.join(" ") ?? "";
      if (!messages) continue;
      const folded = wrap.closest("details");
      if (folded) folded.open = true;
      by.delete(name);
    }
    return [...by.values()].flat();
  }

  /** Focuses the first field showing an error; false when none does. */
  focusFirstError(): boolean {
    for (const { control, error, wrap } of this.controls.values()) {
      if (!error.hidden) {
        control.focus();
        wrap.scrollIntoView({ block: "center" });
        return true;
      }
    }
    return false;
  }
}
