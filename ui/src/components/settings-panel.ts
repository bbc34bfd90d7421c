// Settings: how the queue runs (uploads at once, attempts, auto-accept, where
// and how new items go), other programs' access (the local API), destinations
// (secrets to the keychain), AI providers and recipes.

import type { Api } from "../lib/api";
import { errorMessage } from "../lib/api";
import { h } from "../lib/dom";
import { blamesField, testDiagnosis, type FieldError, type KindForm } from "../lib/forms";
import type { LinkFormat } from "../lib/links";
import { parseFields } from "../lib/fields";
import { KindEditor, type EditorOptions, type EditorStart } from "./kind-editor";
import { LocalApiSection } from "./local-api-section";
import { RecipeEditor, type SampleItem } from "./recipe-editor";
import { money } from "../lib/format";
import type { FixTarget } from "../lib/standing";
import type { DestinationView, ProviderView, RecipeForm, RecipeView, Settings } from "../lib/types";

/** A new recipe starts as the usual web one. */
const NEW_RECIPE: RecipeForm = {
  name: "",
  steps: [
    { op: "auto_orient", values: {} },
    { op: "fit_within", values: { longest_edge: 2048 } },
    { op: "jpeg", values: { quality: 85 } },
  ],
};

export class SettingsPanel {
  readonly el: HTMLDialogElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  /** The engine's forms: they do not change while the app runs. */
  private forms: KindForm[] | null = null;
  private providerForms: KindForm[] | null = null;
  /** The recipes as last read, to find the provider a recipe asks. */
  private recipes: RecipeView[] = [];
  /** Opens a provider's editor (set by the provider section, rebuilt with it). */
  private editProvider: ((name: string) => Promise<void>) | null = null;
  private recipeForms: KindForm[] | null = null;
  private readonly destinationEditing: EditorOptions = {
    noun: "destination",
    ids: "d",
    limit: true,
    editNote: "Jobs already queued keep the settings they were queued with; a new secret is used by every job from its next attempt.",
    save: (form) => this.api.saveDestination(form),
    test: (name) => this.api.testDestination(name),
  };
  private readonly providerEditing: EditorOptions = {
    noun: "AI provider",
    ids: "p",
    limit: false,
    editNote: "Queued AI jobs use the new settings and key from their next attempt; their cost stays as it was when they were queued.",
    save: (form) => this.api.saveProvider(form),
  };

  constructor(
    private readonly api: Api,
    private readonly onSaved: (s: Settings) => void,
    /** The item picked in the queue, to try recipes on. */
    private readonly sample: () => SampleItem | null = () => null,
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

  /** Opens the settings; with a fix target, at the settings it points at:
   * a destination's row, or the editor of the AI provider a recipe asks. */
  async open(target?: FixTarget): Promise<void> {
    const asked = performance.now();
    // What the last visit said is not news any more.
    if (!this.el.open) this.say("");
    await this.refresh();
    if (!this.el.open) this.el.showModal();
    // Open → painted and ready for input, read by the bench.
    requestAnimationFrame(() => {
      this.el.dataset.openMs = String(Math.round(performance.now() - asked));
    });
    if (!target) return;
    if ("destination" in target) {
      const row = this.row("destination", target.destination);
      row?.querySelector<HTMLInputElement>("input")?.focus();
      return;
    }
    const provider = this.recipeProvider(target.recipe);
    if (provider === null) {
      this.row("recipe", target.recipe);
      this.say(`The recipe ${target.recipe} asks no AI provider: its own steps are what to change.`);
      return;
    }
    if (this.row("provider", provider)) await this.editProvider?.(provider);
    else this.say(`The recipe ${target.recipe} asks for the AI provider ${provider}, which is not set up.`);
  }

  /** Marks and shows the row of a destination, provider or recipe. */
  private row(what: "destination" | "provider" | "recipe", name: string): HTMLElement | null {
    const row =
      Array.from(this.el.querySelectorAll<HTMLElement>(`[data-${what}]`)).find((el) => el.dataset[what] === name) ?? null;
    row?.classList.add("attention");
    row?.scrollIntoView({ block: "center" });
    return row;
  }

  /** The AI provider a recipe's first step asks, if it has one. */
  private recipeProvider(recipe: string): string | null {
    const first = this.recipes.find((r) => r.name === recipe)?.operations[0];
    return first?.op === "ai_generate" && typeof first.provider === "string" ? first.provider : null;
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private async refresh(): Promise<void> {
    try {
      const [settings, destinations, recipes, forms, providers, providerForms, recipeForms] = await Promise.all([
        this.api.getSettings(),
        this.api.destinations(),
        this.api.recipes(),
        this.forms ?? this.api.destinationForms(),
        this.api.providers(),
        this.providerForms ?? this.api.providerForms(),
        this.recipeForms ?? this.api.recipeForms(),
      ]);
      this.recipeForms = recipeForms;
      this.recipes = recipes;
      this.forms = forms;
      this.providerForms = providerForms;
      this.body.replaceChildren(
        this.general(settings, destinations, recipes),
        this.localApi(settings),
        this.destinationSection(destinations, forms, settings),
        this.providerSection(providers, providerForms),
        this.recipeSection(recipes, recipeForms),
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
    const stayInTray = h("input", { type: "checkbox", id: "s-stay-in-tray" });
    stayInTray.checked = settings.stay_in_tray;
    const select = (id: string, current: string | null, options: string[], fallback: string) => {
      const el = h("select", { id }, h("option", { value: "" }, fallback));
      for (const name of options) el.append(h("option", { value: name, selected: name === current }, name));
      return el;
    };
    const destination = select("s-destination", settings.destination, destinations.map((d) => d.name), "Default folder (~/Pictures/Outbox)");
    const recipe = select("s-recipe", settings.recipe, recipes.map((r) => r.name), "web (default)");
    const choices = (id: string, current: string, options: Array<[string, string]>) =>
      h("select", { id }, ...options.map(([value, label]) => h("option", { value, selected: value === current }, label)));
    const copyLinks = choices("s-copy-links", settings.copy_links, [
      ["off", "Off"],
      ["url", "URL"],
      ["markdown", "Markdown  ![alt](url)"],
      ["html", "HTML  <img src=…>"],
      ["bbcode", "BBCode  [img]…[/img]"],
      ["template", "My template"],
    ]);
    const copyWhen = choices("s-copy-when", settings.copy_links_when, [
      ["each", "as each upload ends"],
      ["batch", "for a whole drop, when it ends"],
    ]);
    const template = h("input", { id: "s-link-template", value: settings.link_template, spellcheck: false, placeholder: "<a href=\"{url}\">{name}</a>" });
    const templateField = h("div", { class: "field" }, h("label", { for: "s-link-template" }, "Template ({url}, {name}, {alt})"), template);
    const showTemplate = () => {
      templateField.hidden = copyLinks.value !== "template";
    };
    copyLinks.addEventListener("change", showTemplate);
    showTemplate();
    const save = async () => {
      const next: Settings = {
        ...settings,
        concurrency: Number(concurrency.value),
        max_attempts: Number(attempts.value),
        auto_accept: autoAccept.checked,
        destination: destination.value || null,
        recipe: recipe.value || null,
        copy_links: copyLinks.value as LinkFormat,
        copy_links_when: copyWhen.value === "batch" ? "batch" : "each",
        link_template: template.value,
        stay_in_tray: stayInTray.checked,
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
      field("Keep Outbox in the tray when its window is closed, even when idle", stayInTray, "s-stay-in-tray"),
      field("Copy links to the clipboard", copyLinks, "s-copy-links"),
      field("Copy them", copyWhen, "s-copy-when"),
      templateField,
      h("button", { type: "button", class: "primary", onclick: () => void save() }, "Save"),
    );
  }

  /** The local API and the PicGo protocol: on or off, ports, the token. */
  private localApi(settings: Settings): HTMLElement {
    const section = new LocalApiSection(
      settings,
      {
        listening: () => this.api.localApi(),
        token: () => this.api.localApiToken(),
        renewToken: () => this.api.renewLocalApiToken(),
        copy: (text) => this.api.copyText(text),
        save: async (next) => {
          const saved = await this.api.setSettings(next);
          this.onSaved(saved);
          return saved;
        },
      },
      (message) => void this.run(async () => message),
    );
    return section.el;
  }

  /** Where a section's editor opens, and how: one editor at a time; its
   * outcome is said and the lists are read again. */
  private editorSlot(forms: KindForm[], options: EditorOptions): { el: HTMLElement; open(start: EditorStart): KindEditor } {
    const el = h("div", { class: "editor-slot" });
    const open = (start: EditorStart) => {
      const editor = new KindEditor(forms, start, options, (message) => {
        el.replaceChildren();
        if (message) void this.run(async () => message);
      });
      el.replaceChildren(editor.el);
      editor.el.querySelector<HTMLElement>("input:not([readonly]), select:not([disabled])")?.focus();
      return editor;
    };
    return { el, open };
  }

  private destinationSection(destinations: DestinationView[], forms: KindForm[], settings: Settings): HTMLElement {
    const { el: editorSlot, open: openEditor } = this.editorSlot(forms, this.destinationEditing);
    const edit = async (d: DestinationView, copy: boolean, diagnosis: FieldError[] = []) => {
      try {
        const saved = await this.api.destinationForm(d.name);
        const editor = openEditor({
          name: copy ? `${d.name} copy` : d.name,
          kind: saved.kind,
          values: saved.values,
          max_concurrent: saved.max_concurrent,
          existing: !copy,
        });
        if (diagnosis.length > 0) editor.diagnose(diagnosis);
      } catch (e) {
        this.say(errorMessage(e));
      }
    };
    // A failure that blames a setting opens the form at it; any other
    // outcome is said at the top, as before.
    const test = async (d: DestinationView) => {
      this.say(`Testing ${d.name}…`);
      try {
        await this.run(() => this.api.testDestination(d.name), true);
      } catch (e) {
        const diagnosis = testDiagnosis(e);
        if (!diagnosis || !blamesField(diagnosis)) return this.say(errorMessage(e));
        this.say(`The test of ${d.name} found a problem; it is shown beside the setting to fix.`);
        await edit(d, false, diagnosis);
      }
    };
    const list = h(
      "ul",
      { class: "plain destinations" },
      ...destinations.map((d) => this.destinationRow(d, settings, { edit: (c) => void edit(d, c), test: () => void test(d) })),
    );
    return h(
      "section",
      {},
      h("h3", {}, "Destinations"),
      list,
      h(
        "button",
        { type: "button", onclick: () => openEditor({ name: "", kind: "wordpress", values: null, max_concurrent: null, existing: false }) },
        "Add destination…",
      ),
      editorSlot,
    );
  }

  /** AI providers: add, edit (model, size, quality, cost, key), test, remove. */
  private providerSection(providers: ProviderView[], forms: KindForm[]): HTMLElement {
    const { el: editorSlot, open: openEditor } = this.editorSlot(forms, this.providerEditing);
    const edit = async (name: string) => {
      try {
        const saved = await this.api.providerForm(name);
        openEditor({ name, kind: saved.kind, values: saved.values, max_concurrent: null, existing: true });
      } catch (e) {
        this.say(errorMessage(e));
      }
    };
    this.editProvider = edit;
    const describe = (p: ProviderView) => {
      const cost = p.settings.cost_per_image ? ` · ${money(p.settings.cost_per_image)} per image` : "";
      const cap = p.settings.spending_cap !== null ? ` · cap ${money(p.settings.spending_cap)}` : " · no spending cap";
      return ` ${p.kind} · ${p.settings.model ?? "default model"}${cost}${cap}`;
    };
    return h(
      "section",
      {},
      h("h3", {}, "AI providers"),
      h(
        "ul",
        { class: "plain providers" },
        ...providers.map((p) =>
          h(
            "li",
            { "data-provider": p.name },
            h("strong", {}, p.name),
            h("span", { class: "muted" }, describe(p)),
            h("button", { type: "button", class: "small", onclick: () => void edit(p.name) }, "Edit"),
            h("button", { type: "button", class: "small", onclick: () => void this.run(() => this.api.testProvider(p.name)) }, "Test"),
            h("button", { type: "button", class: "small", onclick: () => void this.run(async () => { await this.api.removeProvider(p.name); return `${p.name} removed.`; }) }, "Remove"),
          ),
        ),
      ),
      h(
        "button",
        { type: "button", onclick: () => openEditor({ name: "", kind: "openai", values: null, max_concurrent: null, existing: false }) },
        "Add AI provider…",
      ),
      editorSlot,
    );
  }

  /** A destination: edit, duplicate, test, make default, replace its secret, remove. */
  private destinationRow(d: DestinationView, settings: Settings, actions: { edit(copy: boolean): void; test(): void }): HTMLElement {
    const isDefault = settings.destination === d.name;
    const makeDefault = () =>
      this.run(async () => {
        this.onSaved(await this.api.setSettings({ ...settings, destination: d.name }));
        return `New items now go to ${d.name}.`;
      });
    const secret = h("input", {
      type: "password",
      class: "secret",
      placeholder: "new password, token or key",
      autocomplete: "off",
      "aria-label": `New secret for ${d.name}`,
    });
    const replace = () =>
      this.run(async () => {
        if (!secret.value) throw new Error("Type the new password, token or key first.");
        await this.api.setDestinationSecret(d.name, secret.value);
        secret.value = "";
        return `The secret of ${d.name} is replaced; retry its jobs that need you.`;
      });
    return h(
      "li",
      { "data-destination": d.name },
      h("strong", {}, d.name),
      h("span", { class: "muted" }, ` ${d.kind}${d.max_concurrent ? ` · ${d.max_concurrent} at once` : ""}${isDefault ? " · new items go here" : ""}`),
      h("button", { type: "button", class: "small", onclick: () => actions.edit(false) }, "Edit"),
      h("button", { type: "button", class: "small", onclick: () => actions.edit(true) }, "Duplicate"),
      h("button", { type: "button", class: "small", onclick: () => actions.test() }, "Test"),
      isDefault ? null : h("button", { type: "button", class: "small", onclick: () => void makeDefault() }, "Make default"),
      h("button", { type: "button", class: "small", onclick: () => void this.run(async () => { await this.api.removeDestination(d.name); return `${d.name} removed.`; }) }, "Remove"),
      h("span", { class: "replace-secret" }, secret, h("button", { type: "button", class: "small", onclick: () => void replace() }, "Replace secret")),
    );
  }

  private recipeSection(recipes: RecipeView[], forms: KindForm[]): HTMLElement {
    const slot = h("div", { class: "editor-slot" });
    const open = async (name: string | null, existing: boolean) => {
      try {
        const start = name === null ? NEW_RECIPE : await this.api.recipeForm(name);
        const editor = new RecipeEditor(
          forms,
          { name: existing ? start.name : "", steps: start.steps, existing },
          this.sample(),
          {
            sketch: (form, source) => this.api.sketchRecipe(form, source),
            trial: (form, source) => this.api.tryRecipe(form, source),
            save: (form) => this.api.saveRecipe(form),
          },
          (message) => {
            slot.replaceChildren();
            if (message) void this.run(async () => message);
          },
        );
        slot.replaceChildren(editor.el);
        editor.el.scrollIntoView({ block: "start" });
        editor.el.querySelector<HTMLElement>("#r-name")?.focus({ preventScroll: true });
      } catch (e) {
        this.say(errorMessage(e));
      }
    };
    const list = h(
      "ul",
      { class: "plain" },
      ...recipes.map((r) =>
        h(
          "li",
          { "data-recipe": r.name },
          h("strong", {}, r.name),
          h("span", { class: "muted" }, ` ${r.operations.map((o) => String(o.op)).join(" → ")}${r.builtin ? " (built in)" : ""}`),
          r.builtin
            ? h("button", { type: "button", class: "small", onclick: () => void open(r.name, false) }, "Start from it")
            : h("button", { type: "button", class: "small", onclick: () => void open(r.name, true) }, "Edit"),
          r.builtin
            ? null
            : h("button", { type: "button", class: "small", onclick: () => void this.run(async () => { await this.api.removeRecipe(r.name); return `${r.name} removed.`; }) }, "Remove"),
        ),
      ),
    );
    return h(
      "section",
      {},
      h("h3", {}, "Recipes"),
      list,
      h("button", { type: "button", onclick: () => void open(null, false) }, "New recipe"),
      slot,
      this.promptPreview(recipes),
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
        const parsed = parseFields(fields.value);
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

  /** Runs an action, says its outcome, and shows the lists again; a
   * failure is said too, or with `rethrow`, left to the caller. */
  private async run(action: () => Promise<string>, rethrow = false): Promise<void> {
    try {
      this.say(await action());
      await this.refresh();
    } catch (e) {
      if (rethrow) throw e;
      this.say(errorMessage(e));
    }
  }
}
