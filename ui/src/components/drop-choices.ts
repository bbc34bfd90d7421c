// The choices a drop is queued with, above the grid: where it goes, how it
// is made, its priority, strict order and review. They are the settings, so
// they last (the next drop and the next launch start from them) and a drop
// with no change needs no click. The batch name and "send again" apply to
// the next drop only.

import { errorMessage } from "../lib/api";
import { h } from "../lib/dom";
import type { DestinationView, RecipeView, Settings } from "../lib/types";

export interface OneDrop {
  batch_name: string | null;
  force: boolean;
}

export class DropChoices {
  readonly el: HTMLElement;
  private readonly destination: HTMLSelectElement;
  private readonly recipe: HTMLSelectElement;
  private readonly priority: HTMLInputElement;
  private readonly sequential: HTMLInputElement;
  private readonly review: HTMLInputElement;
  private readonly batchName: HTMLInputElement;
  private readonly force: HTMLInputElement;
  private readonly error: HTMLElement;
  private settings: Settings | null = null;

  constructor(private readonly save: (s: Settings) => Promise<Settings>) {
    this.destination = h("select", { id: "c-destination", "aria-label": "Destination" });
    this.recipe = h("select", { id: "c-recipe", "aria-label": "Recipe" });
    this.priority = h("input", { id: "c-priority", type: "number", min: -100, max: 100, step: 1, value: 0, class: "priority", "aria-label": "Priority" });
    this.sequential = h("input", { id: "c-sequential", type: "checkbox" });
    this.review = h("input", { id: "c-review", type: "checkbox" });
    this.batchName = h("input", { id: "c-batch", placeholder: "batch name (next drop)", autocomplete: "off", "aria-label": "Batch name for the next drop" });
    this.force = h("input", { id: "c-force", type: "checkbox" });
    this.error = h("span", { class: "error", role: "alert", hidden: true });
    const check = (box: HTMLInputElement, label: string) => h("label", { class: "check" }, box, ` ${label}`);
    this.el = h(
      "div",
      { class: "drop-choices", role: "group", "aria-label": "How new items are queued" },
      h("span", { class: "muted" }, "New items go to"),
      this.destination,
      h("span", { class: "muted" }, "made with"),
      this.recipe,
      h("label", { for: "c-priority", class: "muted" }, "priority"),
      this.priority,
      check(this.sequential, "in order"),
      check(this.review, "review first"),
      this.batchName,
      check(this.force, "send again even if delivered"),
      this.error,
    );
    for (const el of [this.destination, this.recipe, this.priority, this.sequential, this.review]) {
      el.addEventListener("change", () => void this.keep());
    }
  }

  /** Shows the settings and the destinations and recipes there are. */
  show(settings: Settings, destinations: DestinationView[], recipes: RecipeView[]): void {
    this.settings = settings;
    const options = (select: HTMLSelectElement, current: string | null, names: string[], fallback: string) => {
      select.replaceChildren(h("option", { value: "" }, fallback), ...names.map((n) => h("option", { value: n, selected: n === current }, n)));
    };
    options(this.destination, settings.destination, destinations.map((d) => d.name), "the default folder");
    options(this.recipe, settings.recipe, recipes.filter((r) => r.name !== "web").map((r) => r.name), "web");
    this.priority.value = String(settings.priority);
    this.sequential.checked = settings.sequential;
    this.review.checked = !settings.auto_accept;
  }

  /** The next drop's own choices; they are cleared for the one after. */
  takeOneDrop(): OneDrop {
    const one = { batch_name: this.batchName.value.trim() || null, force: this.force.checked };
    this.batchName.value = "";
    this.force.checked = false;
    return one;
  }

  private async keep(): Promise<void> {
    if (!this.settings) return;
    const priority = Number(this.priority.value);
    if (!Number.isInteger(priority) || priority < -100 || priority > 100) {
      this.error.hidden = false;
      this.error.textContent = "Priority is a whole number from -100 to 100.";
      return;
    }
    const next: Settings = {
      ...this.settings,
      destination: this.destination.value || null,
      recipe: this.recipe.value || null,
      priority,
      sequential: this.sequential.checked,
      auto_accept: !this.review.checked,
    };
    try {
      this.settings = await this.save(next);
      this.error.hidden = true;
    } catch (e) {
      this.error.hidden = false;
      this.error.textContent = errorMessage(e);
    }
  }
}
