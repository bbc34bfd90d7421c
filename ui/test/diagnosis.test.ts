// A failed destination test shown beside the setting the engine blames: the
// error's reading, the edit form's Test, and the settings' Test button.

import { describe, expect, it, vi } from "vitest";
import { KindEditor } from "../src/components/kind-editor";
import { SettingsPanel } from "../src/components/settings-panel";
import type { Api, DestinationForm } from "../src/lib/api";
import { blamesField, testDiagnosis, type KindForm } from "../src/lib/forms";
import type { CommandError, DestinationView } from "../src/lib/types";
import { settings as newSettings } from "./fixtures";

// Shaped as the engine describes a WordPress destination (forms.rs).
const wordpress: KindForm = {
  kind: "wordpress",
  label: "WordPress",
  help: "Uploads to a WordPress site's media library.",
  secret: { label: "Application password", help: "Kept in the OS keychain.", required: true },
  fields: [
    { name: "url", label: "Site address", help: "", input: { type: "url" }, required: true, default: null, example: "https://example.com", when: null, advanced: false },
    { name: "user", label: "User name", help: "", input: { type: "text" }, required: true, default: null, example: "editor", when: null, advanced: false },
    { name: "timeout_seconds", label: "Give up after", help: "", input: { type: "number", min: 1, max: 3600 }, required: false, default: 300, example: "", when: null, advanced: true },
  ],
};

const refused: CommandError = {
  kind: "check",
  message: "https://shop.example refused the credentials of \"ed\"",
  fields: [{ field: "secret", message: "https://shop.example refused the credentials of \"ed\"" }],
  steps: [],
};

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

// jsdom has neither <dialog> methods nor scrolling.
function dom(): void {
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.open = false;
  };
  Element.prototype.scrollIntoView ??= function () {};
}

const errorOf = (root: Element, field: string) => root.querySelector(`[data-field=${field}] .error`) as HTMLElement;

describe("a test's diagnosis", () => {
  it("reads the blamed field, else the whole message, and nothing from other errors", () => {
    expect(testDiagnosis(refused)).toEqual(refused.fields);
    expect(blamesField(testDiagnosis(refused) ?? [])).toBe(true);
    const busy = { kind: "check", message: "the storage service is busy", fields: [] };
    expect(testDiagnosis(busy)).toEqual([{ field: null, message: "the storage service is busy" }]);
    expect(blamesField(testDiagnosis(busy) ?? [])).toBe(false);
    expect(testDiagnosis({ kind: "engine", message: "no destination named \"x\"", fields: [] })).toBeNull();
    expect(testDiagnosis("text")).toBeNull();
    expect(testDiagnosis({ kind: "check", message: "m", fields: [{ field: 3 }] })).toEqual([{ field: null, message: "m" }]);
  });
});

describe("KindEditor's Test", () => {
  function editor(test: (name: string) => Promise<string>, existing = true) {
    dom();
    const e = new KindEditor(
      [wordpress],
      { name: "shop", kind: "wordpress", values: { url: "https://shop.example", user: "ed" }, max_concurrent: null, existing },
      { noun: "destination", ids: "d", limit: true, editNote: "", save: () => Promise.resolve(), test },
      vi.fn(),
    );
    document.body.append(e.el);
    return e;
  }
  const testButton = (e: KindEditor) => e.el.querySelector("button.test") as HTMLButtonElement | null;

  it("shows a refused password beside the password, focused, and clears it on the next success", async () => {
    const test = vi.fn<(name: string) => Promise<string>>().mockRejectedValueOnce(refused).mockResolvedValueOnce("signed in to https://shop.example as \"ed\"");
    const e = editor(test);
    testButton(e)?.click();
    await settle();
    expect(test).toHaveBeenCalledWith("shop");
    expect(errorOf(e.el, "secret").hidden).toBe(false);
    expect(errorOf(e.el, "secret").textContent).toContain("refused the credentials");
    expect(document.activeElement?.id).toBe("d-secret");
    expect(e.el.querySelector("#d-secret")?.getAttribute("aria-describedby")).toContain("d-secret-error");
    testButton(e)?.click();
    await settle();
    expect(errorOf(e.el, "secret").hidden).toBe(true);
    expect(e.el.querySelector(".test-status")?.textContent).toBe("signed in to https://shop.example as \"ed\"");
    e.el.remove();
  });

  it("unfolds More settings for an advanced field, and says an unblamed failure above the buttons", () => {
    const e = editor(() => Promise.resolve(""));
    e.diagnose([{ field: "timeout_seconds", message: "timed out" }]);
    expect((e.el.querySelector("details.more") as HTMLDetailsElement).open).toBe(true);
    expect(errorOf(e.el, "timeout_seconds").textContent).toBe("timed out");
    e.diagnose([{ field: null, message: "the site is busy" }]);
    expect(errorOf(e.el, "timeout_seconds").hidden).toBe(true);
    expect(e.el.querySelector("form > .error:not([hidden])")?.textContent).toBe("the site is busy");
    e.el.remove();
  });

  it("is offered only for a saved destination", () => {
    const e = editor(() => Promise.resolve(""), false);
    expect(testButton(e)).toBeNull();
    e.el.remove();
  });
});

describe("SettingsPanel's Test", () => {
  const settings = newSettings({ link_template: "" });
  const shop: DestinationView = { name: "shop", kind: "wordpress", settings: { url: "https://shop.example", user: "ed" }, max_concurrent: null };
  const saved: DestinationForm = { name: "shop", kind: "wordpress", values: { url: "https://shop.example", user: "ed" }, max_concurrent: null, secret: null, existing: true };

  function panel(testDestination: (name: string) => Promise<string>) {
    dom();
    const fake = {
      getSettings: () => Promise.resolve(settings),
      destinations: () => Promise.resolve([shop]),
      recipes: () => Promise.resolve([]),
      destinationForms: () => Promise.resolve([wordpress]),
      providers: () => Promise.resolve([]),
      providerForms: () => Promise.resolve([]),
      recipeForms: () => Promise.resolve([]),
      destinationForm: vi.fn(() => Promise.resolve(saved)),
      testDestination: vi.fn(testDestination),
    };
    const p = new SettingsPanel(fake as unknown as Api, vi.fn());
    document.body.append(p.el);
    return { p, fake };
  }
  const rowTest = (p: SettingsPanel) =>
    Array.from(p.el.querySelectorAll<HTMLButtonElement>("[data-destination=shop] button")).find((b) => b.textContent === "Test");

  it("opens the destination's form with the diagnosis beside the field it blames", async () => {
    const { p, fake } = panel(() => Promise.reject(refused));
    await p.open();
    rowTest(p)?.click();
    await settle();
    expect(fake.destinationForm).toHaveBeenCalledWith("shop");
    const form = p.el.querySelector("form.kind-editor") as HTMLFormElement;
    expect(form.getAttribute("aria-label")).toBe("Edit shop");
    expect(errorOf(form, "secret").textContent).toContain("refused the credentials");
    expect(p.el.querySelector("[role=status]")?.textContent).toContain("beside the setting to fix");
    p.el.remove();
  });

  it("says a success at the top without opening the form", async () => {
    const { p, fake } = panel(() => Promise.resolve("signed in to https://shop.example as \"ed\", who may upload files"));
    await p.open();
    rowTest(p)?.click();
    await settle();
    expect(fake.destinationForm).not.toHaveBeenCalled();
    expect(p.el.querySelector("form.kind-editor")).toBeNull();
    expect(p.el.querySelector("[role=status]")?.textContent).toContain("who may upload files");
    p.el.remove();
  });

  it("says a failure that blames no setting at the top", async () => {
    const { p, fake } = panel(() => Promise.reject({ kind: "check", message: "the storage service is busy", fields: [] }));
    await p.open();
    rowTest(p)?.click();
    await settle();
    expect(fake.destinationForm).not.toHaveBeenCalled();
    expect(p.el.querySelector("[role=status]")?.textContent).toBe("the storage service is busy");
    p.el.remove();
  });
});
