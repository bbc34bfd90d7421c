// Settings: how the queue runs (uploads at once, attempts, auto-accept, where
// and how new items go), destinations (secrets to the keychain) and recipes.

import type { Api } from "../lib/api";
import { errorMessage } from "../lib/api";
import {
  DESTINATION_KINDS,
  DESTINATION_TEMPLATES,
  parseSettings,
  type DestinationKind,
} from "../lib/destination-templates";
import { h } from "../lib/dom";
import type { DestinationView, RecipeView, Settings } from "../lib/types";

export class SettingsPanel {
  readonly el: HTMLDialogElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;

  constructor(
    private readonly api: Api,
    private readonly onSaved: (s: Settings) => void,
  ) {
    this.body = h("div", { class: "settings-body" });
    this.status = h("p", { class: "muted", role: "status" });
    this.el = h(
      "dialog",
      { class: "settings", "aria-label": "Settings" },
      h("header", {}, h("h2", {}, "Settings"), h("button", { type: "button", class: "small", onclick: () => this.el.close() }, "Close")),
      this.status,
      this.body,
    );
  }

  async open(): Promise<void> {
    await this.refresh();
    if (!this.el.open) this.el.showModal();
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private async refresh(): Promise<void> {
    try {
      const [settings, destinations, recipes] = await Promise.all([
        this.api.getSettings(),
        this.api.destinations(),
        this.api.recipes(),
      ]);
      this.body.replaceChildren(
        this.general(settings, destinations, recipes),
        this.destinationSection(destinations),
        this.recipeSection(recipes),
      );
    } catch (e) {
      this.say(errorMessage(e));
    }
  }

  private general(settings: Settings, destinations: DestinationView[], recipes: RecipeView[]): HTMLElement {
    const concurrency = h("input", { type: "number", min: 1, max: 32, value: settings.concurrency, id: "s-concurrency" });
    const attempts = h("input", { type: "number", min: 1, max: 100, value: settings.max_attempts, id: "s-attempts" });
    const autoAccept = h("input", { type: "checkbox", id: "s-auto-accept" });
    autoAccept.checked = settings.auto_accept;
    const select = (id: string, current: string | null, options: string[], fallback: string) => {
      const el = h("select", { id }, h("option", { value: "" }, fallback));
      for (const name of options) el.append(h("option", { value: name, selected: name === current }, name));
      return el;
    };
    const destination = select("s-destination", settings.destination, destinations.map((d) => d.name), "Default folder (~/Pictures/Outbox)");
    const recipe = select("s-recipe", settings.recipe, recipes.map((r) => r.name), "web (default)");
    const save = async () => {
      const next: Settings = {
        concurrency: Number(concurrency.value),
        max_attempts: Number(attempts.value),
        auto_accept: autoAccept.checked,
        destination: destination.value || null,
        recipe: recipe.value || null,
      };
      try {
        this.onSaved(await this.api.setSettings(next));
        this.say("Settings saved.");
      } catch (e) {
        this.say(errorMessage(e));
      }
    };
    const field = (label: string, input: HTMLElement, id: string) =>
      h("div", { class: "field" }, h("label", { for: id }, label), input);
    return h(
      "section",
      {},
      h("h3", {}, "Queue"),
      field("Uploads at once", concurrency, "s-concurrency"),
      field("Attempts per job", attempts, "s-attempts"),
      field("Upload results without review (auto-accept)", autoAccept, "s-auto-accept"),
      field("New items go to", destination, "s-destination"),
      field("New items are made with", recipe, "s-recipe"),
      h("button", { type: "button", class: "primary", onclick: () => void save() }, "Save"),
    );
  }

  private destinationSection(destinations: DestinationView[]): HTMLElement {
    const list = h(
      "ul",
      { class: "plain" },
      ...destinations.map((d) =>
        h(
          "li",
          {},
          h("strong", {}, d.name),
          h("span", { class: "muted" }, ` ${d.kind}`),
          h("button", { type: "button", class: "small", onclick: () => void this.run(() => this.api.testDestination(d.name)) }, "Test"),
          h("button", { type: "button", class: "small", onclick: () => void this.run(async () => { await this.api.removeDestination(d.name); return `${d.name} removed.`; }) }, "Remove"),
        ),
      ),
    );
    const name = h("input", { id: "d-name", placeholder: "name" });
    const kind = h("select", { id: "d-kind" }, ...DESTINATION_KINDS.map((k) => h("option", { value: k }, k)));
    const settings = h("textarea", { id: "d-settings", rows: 4, spellcheck: false });
    const secret = h("input", { id: "d-secret", type: "password", placeholder: "password, token or key (kept in the keychain)", autocomplete: "off" });
    const fill = () => {
      settings.value = JSON.stringify(DESTINATION_TEMPLATES[kind.value as DestinationKind], null, 1);
    };
    kind.addEventListener("change", fill);
    fill();
    const add = () =>
      this.run(async () => {
        const view: DestinationView = {
          name: name.value.trim(),
          kind: kind.value,
          settings: parseSettings(settings.value),
          max_concurrent: null,
        };
        await this.api.addDestination(view, secret.value || null);
        secret.value = "";
        return `${view.name} added.`;
      });
    return h(
      "section",
      {},
      h("h3", {}, "Destinations"),
      list,
      h("div", { class: "field" }, h("label", { for: "d-name" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "d-kind" }, "Kind"), kind),
      h("div", { class: "field" }, h("label", { for: "d-settings" }, "Settings (JSON)"), settings),
      h("div", { class: "field" }, h("label", { for: "d-secret" }, "Secret"), secret),
      h("button", { type: "button", onclick: () => void add() }, "Add destination"),
    );
  }

  private recipeSection(recipes: RecipeView[]): HTMLElement {
    const list = h(
      "ul",
      { class: "plain" },
      ...recipes.map((r) =>
        h(
          "li",
          {},
          h("strong", {}, r.name),
          h("span", { class: "muted" }, ` ${r.operations.map((o) => String(o.op)).join(" → ")}`),
          r.builtin
            ? h("span", { class: "muted" }, " (built in)")
            : h("button", { type: "button", class: "small", onclick: () => void this.run(async () => { await this.api.removeRecipe(r.name); return `${r.name} removed.`; }) }, "Remove"),
        ),
      ),
    );
    const json = h("textarea", { id: "r-json", rows: 5, spellcheck: false, placeholder: '{"name": "square", "operations": [{"op": "auto_orient"}, {"op": "resize", "mode": "fill", "width": 1080, "height": 1080}, {"op": "jpeg", "quality": 88}]}' });
    const save = () =>
      this.run(async () => {
        let recipe: unknown;
        try {
          recipe = JSON.parse(json.value);
        } catch (e) {
          throw new Error(`The recipe is not valid JSON: ${(e as Error).message}`);
        }
        await this.api.saveRecipe(recipe);
        return "Recipe saved.";
      });
    return h(
      "section",
      {},
      h("h3", {}, "Recipes"),
      list,
      this.promptPreview(recipes),
      h("div", { class: "field" }, h("label", { for: "r-json" }, "New recipe (JSON)"), json),
      h("button", { type: "button", onclick: () => void save() }, "Save recipe"),
    );
  }

  /** A recipe's AI prompt filled from sample fields, before anything runs. */
  private promptPreview(recipes: RecipeView[]): HTMLElement {
    const withAi = recipes.filter((r) => r.operations.some((o) => o.op === "ai_generate"));
    if (withAi.length === 0) return h("span", {});
    const recipe = h("select", { id: "p-recipe" }, ...withAi.map((r) => h("option", { value: r.name }, r.name)));
    const fields = h("textarea", { id: "p-fields", rows: 2, spellcheck: false });
    fields.value = '{"title": "Blue mug", "unit": "350 ml"}';
    const out = h("p", { class: "prompt", role: "status" });
    const show = async () => {
      try {
        const parsed = parseSettings(fields.value);
        const prompt = await this.api.promptPreview(recipe.value, parsed);
        out.textContent = prompt ?? "This recipe has no AI step.";
      } catch (e) {
        out.textContent = errorMessage(e);
      }
    };
    return h(
      "div",
      { class: "prompt-preview" },
      h("div", { class: "field" }, h("label", { for: "p-recipe" }, "Preview the prompt of"), recipe),
      h("div", { class: "field" }, h("label", { for: "p-fields" }, "with the fields (JSON)"), fields),
      h("button", { type: "button", onclick: () => void show() }, "Preview prompt"),
      out,
    );
  }

  /** Runs an action, says its outcome, and shows the lists again. */
  private async run(action: () => Promise<string>): Promise<void> {
    try {
      this.say(await action());
      await this.refresh();
    } catch (e) {
      this.say(errorMessage(e));
    }
  }
}
