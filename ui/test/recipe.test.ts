import { describe, expect, it, vi } from "vitest";
import { RecipeEditor, type RecipeEditorApi } from "../src/components/recipe-editor";
import type { KindForm } from "../src/lib/forms";
import { errorsOfStep, Latest, moved } from "../src/lib/recipe-steps";
import type { CommandError, RecipeForm, Trial } from "../src/lib/types";

// Shaped as the engine describes these operations (forms/recipe.rs).
const forms: KindForm[] = [
  { kind: "auto_orient", label: "Turn upright", help: "", secret: null, fields: [] },
  {
    kind: "fit_within",
    label: "Shrink to fit",
    help: "",
    secret: null,
    fields: [{ name: "longest_edge", label: "Longest edge (pixels)", help: "", input: { type: "number", min: 1, max: 30000 }, required: true, default: 2048, example: "", when: null, advanced: false }],
  },
  {
    kind: "pad_to_aspect",
    label: "Pad to a shape",
    help: "",
    secret: null,
    fields: [
      { name: "width", label: "Ratio width", help: "", input: { type: "number", min: 1, max: 30000 }, required: true, default: 1, example: "", when: null, advanced: false },
      { name: "height", label: "Ratio height", help: "", input: { type: "number", min: 1, max: 30000 }, required: true, default: 1, example: "", when: null, advanced: false },
      { name: "background", label: "Background", help: "", input: { type: "colour" }, required: true, default: "#ffffff", example: "", when: null, advanced: false },
    ],
  },
  {
    kind: "jpeg",
    label: "Save as JPEG",
    help: "",
    secret: null,
    fields: [{ name: "quality", label: "Quality", help: "", input: { type: "number", min: 1, max: 100 }, required: true, default: 85, example: "", when: null, advanced: false }],
  },
];

const tick = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function editor(api: Partial<RecipeEditorApi> = {}) {
  // jsdom decodes no images.
  HTMLImageElement.prototype.decode = () => Promise.resolve();
  URL.createObjectURL ??= () => "blob:sketch";
  URL.revokeObjectURL ??= () => undefined;
  const sketches: RecipeForm[] = [];
  const full: RecipeEditorApi = {
    sketch: async (form) => {
      sketches.push(form);
      return new ArrayBuffer(8);
    },
    trial: async (): Promise<Trial> => ({ width: 2048, height: 1365, bytes: 400_000, file_name: "photo.jpg", sample: "photo.jpg" }),
    save: async () => undefined,
    ...api,
  };
  const done = vi.fn();
  const e = new RecipeEditor(
    forms,
    { name: "web2", steps: [{ op: "auto_orient", values: {} }, { op: "fit_within", values: { longest_edge: 2048 } }], existing: true },
    { job: 7, name: "photo.jpg" },
    full,
    done,
  );
  document.body.replaceChildren(e.el);
  return { e, sketches, done };
}

function set(e: RecipeEditor, selector: string, value: string): void {
  const control = e.el.querySelector<HTMLInputElement | HTMLSelectElement>(selector);
  if (!control) throw new Error(`no ${selector}`);
  control.value = value;
  control.dispatchEvent(new Event("input", { bubbles: true }));
}

describe("recipe steps", () => {
  it("moves a step one place and leaves the ends alone", () => {
    expect(moved(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moved(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });

  it("sorts errors by step", () => {
    const errors = [
      { step: null, field: "name", message: "A recipe needs a name." },
      { step: 1, field: "quality", message: "Quality must be…" },
      { step: 1, field: null, message: "whole step" },
    ];
    expect(errorsOfStep(errors, null)).toEqual([{ field: "name", message: "A recipe needs a name." }]);
    expect(errorsOfStep(errors, 1).map((e) => e.field)).toEqual(["quality", null]);
    expect(errorsOfStep(errors, 0)).toEqual([]);
  });

  it("runs only the newest request while one runs", async () => {
    const ran: number[] = [];
    const first = deferred<void>();
    const latest = new Latest<number>(async (n) => {
      ran.push(n);
      if (n === 1) await first.promise;
    });
    latest.request(1);
    latest.request(2);
    latest.request(3);
    latest.request(4);
    expect(ran).toEqual([1]);
    first.resolve();
    await tick();
    expect(ran).toEqual([1, 4]);
  });
});

describe("recipe editor", () => {
  it("sketches the recipe at once, on the picked item, and again on each change", async () => {
    const sources: Array<number | null> = [];
    const sketchesOf: RecipeForm[] = [];
    const { e } = editor({
      sketch: async (form, source) => {
        sketchesOf.push(form);
        sources.push(source);
        return new ArrayBuffer(8);
      },
    });
    await tick();
    expect(sketchesOf.at(-1)?.steps).toEqual([
      { op: "auto_orient", values: {} },
      { op: "fit_within", values: { longest_edge: "2048" } },
    ]);
    expect(sources.at(-1)).toBe(7);
    set(e, "[data-op=fit_within] input", "512");
    await tick();
    expect(sketchesOf.at(-1)?.steps[1]).toEqual({ op: "fit_within", values: { longest_edge: "512" } });
    expect(e.el.dataset.sketchMs).toMatch(/^\d+$/);
    // The sample photo instead of the item.
    set(e, "#r-source", "");
    e.el.querySelector("#r-source")?.dispatchEvent(new Event("change", { bubbles: true }));
    await tick();
    expect(sources.at(-1)).toBeNull();
  });

  it("adds, moves and removes steps, and the sketch follows", async () => {
    const { e, sketches } = editor();
    set(e, "#r-add", "pad_to_aspect");
    Array.from(e.el.querySelectorAll("button")).find((b) => b.textContent === "Add step")?.click();
    await tick();
    expect(sketches.at(-1)?.steps.map((s) => s.op)).toEqual(["auto_orient", "fit_within", "pad_to_aspect"]);
    expect(sketches.at(-1)?.steps[2]?.values).toEqual({ width: "1", height: "1", background: "#ffffff" });
    e.el.querySelector<HTMLButtonElement>("[data-op=pad_to_aspect] button[title='Move up']")?.click();
    await tick();
    expect(sketches.at(-1)?.steps.map((s) => s.op)).toEqual(["auto_orient", "pad_to_aspect", "fit_within"]);
    expect(Array.from(e.el.querySelectorAll("li.step")).map((li) => (li as HTMLElement).dataset.op)).toEqual(["auto_orient", "pad_to_aspect", "fit_within"]);
    e.el.querySelector<HTMLButtonElement>("[data-op=auto_orient] button[title='Remove']")?.click();
    await tick();
    expect(sketches.at(-1)?.steps.map((s) => s.op)).toEqual(["pad_to_aspect", "fit_within"]);
  });

  it("shows a refused step's problem beside its field, and clears it once it is right", async () => {
    let fail = true;
    const refusal: CommandError = {
      kind: "steps",
      message: "Longest edge (pixels) must be a whole number from 1 to 30000.",
      fields: [],
      steps: [{ step: 1, field: "longest_edge", message: "Longest edge (pixels) must be a whole number from 1 to 30000." }],
    };
    const { e } = editor({
      sketch: async () => {
        if (fail) throw refusal;
        return new ArrayBuffer(8);
      },
    });
    await tick();
    const error = () => e.el.querySelector<HTMLElement>("[data-op=fit_within] [data-field=longest_edge] .error");
    expect(error()?.hidden).toBe(false);
    expect(error()?.textContent).toContain("1 to 30000");
    fail = false;
    set(e, "[data-op=fit_within] input", "800");
    await tick();
    expect(error()?.hidden).toBe(true);
  });

  it("says the exact output once typing settles", async () => {
    vi.useFakeTimers();
    try {
      const trials = vi.fn(async (): Promise<Trial> => ({ width: 800, height: 533, bytes: 123_456, file_name: "photo.jpg", sample: "photo.jpg" }));
      const { e } = editor({ trial: trials });
      set(e, "[data-op=fit_within] input", "80");
      set(e, "[data-op=fit_within] input", "800");
      expect(e.el.querySelector(".trial")?.textContent).toBe("Measuring the output…");
      await vi.advanceTimersByTimeAsync(500);
      expect(trials).toHaveBeenCalledTimes(1);
      expect(e.el.querySelector(".trial")?.textContent).toContain("800 × 533 px");
      expect(e.el.querySelector(".trial")?.textContent).toContain("photo.jpg");
    } finally {
      vi.useRealTimers();
    }
  });

  it("saves the form, or shows the name's problem beside the name", async () => {
    const saved: RecipeForm[] = [];
    let refuse = true;
    const { e, done } = editor({
      save: async (form) => {
        saved.push(form);
        if (refuse) throw { kind: "steps", message: "A recipe needs a name.", fields: [], steps: [{ step: null, field: "name", message: "A recipe needs a name." }] } satisfies CommandError;
      },
    });
    set(e, "#r-name", "");
    e.el.requestSubmit();
    await tick();
    expect(e.el.querySelector<HTMLElement>("#r-name + .error")?.textContent).toBe("A recipe needs a name.");
    expect(done).not.toHaveBeenCalled();
    refuse = false;
    set(e, "#r-name", "small");
    e.el.requestSubmit();
    await tick();
    expect(saved.at(-1)?.name).toBe("small");
    expect(done).toHaveBeenCalledWith("Recipe small saved.");
  });
});
