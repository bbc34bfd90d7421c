import { describe, expect, it, vi } from "vitest";
import { KindEditor } from "../src/components/kind-editor";
import { DropChoices } from "../src/components/drop-choices";
import { KindFormView } from "../src/components/kind-form";
import type { DestinationForm } from "../src/lib/api";
import { settings as newSettings } from "./fixtures";
import { errorsByField, headersText, initialValues, parseHeaders, visible, type KindForm } from "../src/lib/forms";

// Shaped as the engine describes HTTP and folder destinations (forms.rs).
const http: KindForm = {
  kind: "http",
  label: "HTTP endpoint",
  help: "Sends each result to any web address.",
  secret: { label: "Token or API key", help: "Kept in the OS keychain.", required: false },
  fields: [
    { name: "url", label: "Address", help: "", input: { type: "url" }, required: true, default: null, example: "https://example.com/upload", when: null, advanced: false },
    {
      name: "auth",
      label: "Authorisation",
      help: "",
      input: { type: "choice", choices: [{ value: "none", label: "None" }, { value: "bearer", label: "Bearer" }, { value: "header", label: "API key in a header" }] },
      required: false,
      default: "none",
      example: "",
      when: null,
      advanced: false,
    },
    { name: "auth_header", label: "Header of the API key", help: "", input: { type: "text" }, required: true, default: null, example: "X-Api-Key", when: ["auth", "header"], advanced: false },
    { name: "headers", label: "Extra headers", help: "", input: { type: "headers" }, required: false, default: null, example: "X-Source: outbox", when: null, advanced: true },
    { name: "timeout_seconds", label: "Give up after", help: "", input: { type: "number", min: 1, max: 3600 }, required: false, default: 120, example: "", when: null, advanced: true },
  ],
};
const folder: KindForm = {
  kind: "folder",
  label: "Folder",
  help: "Copies each result into a folder.",
  secret: null,
  fields: [
    { name: "path", label: "Folder", help: "", input: { type: "folder" }, required: true, default: null, example: "/home/me/Pictures", when: null, advanced: false },
    { name: "create", label: "Create it", help: "", input: { type: "toggle" }, required: false, default: false, example: "", when: null, advanced: false },
  ],
};

const input = (root: Element, id: string) => root.querySelector(`#${id}`) as HTMLInputElement;
const change = (el: HTMLInputElement | HTMLSelectElement, value: string) => {
  el.value = value;
  el.dispatchEvent(new Event("change", { bubbles: true }));
};

describe("form logic", () => {
  it("starts from the defaults, a saved form's values over them", () => {
    expect(initialValues(http)).toEqual({ auth: "none", timeout_seconds: 120 });
    expect(initialValues(http, { url: "https://x", auth: "bearer" })).toEqual({ url: "https://x", auth: "bearer", timeout_seconds: 120 });
  });
  it("shows a dependent field only for its choice, the default counting when unset", () => {
    const dependent = http.fields[2];
    expect(dependent && visible(http, dependent, {})).toBe(false);
    expect(dependent && visible(http, dependent, { auth: "header" })).toBe(true);
    const negated = { ...http.fields[2]!, when: ["auth", "!none"] as [string, string] };
    expect(visible(http, negated, {})).toBe(false);
    expect(visible(http, negated, { auth: "bearer" })).toBe(true);
  });
  it("reads headers as Name: value lines and names a bad line", () => {
    expect(parseHeaders("X-A: 1\n\n X-B : two words ")).toEqual({ headers: { "X-A": "1", "X-B": "two words" } });
    expect(parseHeaders("X-A 1")).toEqual({ error: 'Line 1 needs the form "Name: value".' });
    expect(headersText({ "X-A": "1", "X-B": "2" })).toBe("X-A: 1\nX-B: 2");
  });
  it("groups errors by field, the form's own under the empty name", () => {
    const by = errorsByField([{ field: "url", message: "a" }, { field: null, message: "b" }, { field: "url", message: "c" }]);
    expect(by.get("url")).toEqual(["a", "c"]);
    expect(by.get("")).toEqual(["b"]);
  });
});

describe("KindFormView", () => {
  it("folds advanced fields, hides dependent ones until chosen, and reads typed values", () => {
    const v = new KindFormView(http, null, "t");
    document.body.append(v.el);
    expect(v.el.querySelector("details.more [data-field=timeout_seconds]")).not.toBeNull();
    const headerField = v.el.querySelector("[data-field=auth_header]") as HTMLElement;
    expect(headerField.hidden).toBe(true);
    change(v.el.querySelector("#t-auth") as HTMLSelectElement, "header");
    expect(headerField.hidden).toBe(false);
    input(v.el, "t-url").value = " https://example.com/up ";
    input(v.el, "t-auth_header").value = "X-Key";
    (v.el.querySelector("#t-headers") as HTMLTextAreaElement).value = "X-Source: outbox";
    expect(v.values()).toEqual({
      values: { url: "https://example.com/up", auth: "header", auth_header: "X-Key", headers: { "X-Source": "outbox" }, timeout_seconds: "120" },
    });
    v.el.remove();
  });
  it("a bad headers line is an error on that field, before asking the engine", () => {
    const v = new KindFormView(http, null, "t");
    (v.el.querySelector("#t-headers") as HTMLTextAreaElement).value = "no colon";
    expect(v.values()).toEqual({ errors: [{ field: "headers", message: 'Line 1 needs the form "Name: value".' }] });
  });
  it("shows each error beside its field and hands back those about no field", () => {
    const v = new KindFormView(folder, null, "t");
    const rest = v.showErrors([
      { field: "path", message: "Folder must be a full path." },
      { field: null, message: "the folder is not writable" },
    ]);
    const error = v.el.querySelector("[data-field=path] .error") as HTMLElement;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toBe("Folder must be a full path.");
    expect(rest).toEqual(["the folder is not writable"]);
    v.showErrors([]);
    expect(error.hidden).toBe(true);
  });
});

describe("KindEditor", () => {
  function editor(save: (f: DestinationForm) => Promise<void>, existing = false) {
    const saving = vi.fn(save);
    const done = vi.fn();
    const e = new KindEditor(
      [folder, http],
      { name: existing ? "shop" : "", kind: "http", values: existing ? { url: "https://old" } : null, max_concurrent: null, existing },
      { noun: "destination", ids: "d", limit: true, editNote: "Jobs already queued keep the settings they were queued with.", save: saving },
      done,
    );
    document.body.append(e.el);
    return { e, api: { saveDestination: saving }, done };
  }
  const submit = async (e: KindEditor) => {
    e.el.dispatchEvent(new Event("submit", { cancelable: true }));
    await new Promise((r) => setTimeout(r, 0));
  };

  it("sends the form to the engine and shows its refusal beside each field, keeping what was typed", async () => {
    const refusal = { kind: "fields", message: "…", fields: [{ field: "name", message: "A name is needed." }, { field: "url", message: "Address is not a web address." }] };
    const { e, done } = editor(() => Promise.reject(refusal));
    input(e.el, "d-url").value = "example.com";
    await submit(e);
    expect(done).not.toHaveBeenCalled();
    expect((e.el.querySelector("[data-field=url] .error") as HTMLElement).textContent).toBe("Address is not a web address.");
    expect(e.el.querySelector("#d-name + .error")?.textContent).toBe("A name is needed.");
    expect(input(e.el, "d-url").value).toBe("example.com");
    e.el.remove();
  });

  it("refuses an upload limit out of range without asking the engine", async () => {
    const { e, api } = editor(() => Promise.resolve());
    input(e.el, "d-limit").value = "0";
    await submit(e);
    expect(api.saveDestination).not.toHaveBeenCalled();
    expect(e.el.textContent).toContain("Uploads at once must be a whole number from 1 to 64");
    e.el.remove();
  });

  it("edits keep the name and kind, say that queued jobs keep their settings, and send only a new secret", async () => {
    const sent: DestinationForm[] = [];
    const { e, done } = editor((f) => {
      sent.push(f);
      return Promise.resolve();
    }, true);
    expect(input(e.el, "d-name").readOnly).toBe(true);
    expect((e.el.querySelector("#d-kind") as HTMLSelectElement).disabled).toBe(true);
    expect(e.el.textContent).toContain("Jobs already queued keep the settings they were queued with");
    expect(input(e.el, "d-url").value).toBe("https://old");
    input(e.el, "d-url").value = "https://new";
    input(e.el, "d-limit").value = "3";
    await submit(e);
    expect(sent).toEqual([{ name: "shop", kind: "http", values: { url: "https://new", auth: "none", timeout_seconds: "120" }, max_concurrent: 3, secret: null, existing: true }]);
    expect(done).toHaveBeenCalledWith("shop saved.");
    e.el.remove();
  });

  it("switching the kind draws that kind's form and hides the secret a folder does not have", () => {
    const { e } = editor(() => Promise.resolve());
    change(e.el.querySelector("#d-kind") as HTMLSelectElement, "folder");
    expect(e.el.querySelector(".kind-form")?.getAttribute("data-kind")).toBe("folder");
    expect((e.el.querySelector("[data-field=secret]") as HTMLElement).hidden).toBe(true);
    e.el.remove();
  });
});

describe("DropChoices", () => {
  const settings = newSettings();
  const make = (save = vi.fn((s) => Promise.resolve(s))) => {
    const c = new DropChoices(save);
    c.show({ ...settings }, [{ name: "shop", kind: "wordpress", settings: {}, max_concurrent: null }], [{ name: "web", builtin: true, operations: [] }, { name: "square", builtin: false, operations: [] }]);
    document.body.append(c.el);
    return { c, save };
  };

  it("shows the lasting choices and saves each change as the new default", async () => {
    const { c, save } = make();
    expect(Array.from(c.el.querySelectorAll("#c-destination option")).map((o) => o.textContent)).toEqual(["the default folder", "shop"]);
    change(c.el.querySelector("#c-destination") as HTMLSelectElement, "shop");
    await new Promise((r) => setTimeout(r, 0));
    const review = c.el.querySelector("#c-review") as HTMLInputElement;
    review.checked = true;
    review.dispatchEvent(new Event("change", { bubbles: true }));
    await new Promise((r) => setTimeout(r, 0));
    expect(save).toHaveBeenLastCalledWith({ ...settings, destination: "shop", auto_accept: false });
    c.el.remove();
  });

  it("refuses a priority out of range beside the choices, without saving", async () => {
    const { c, save } = make();
    change(c.el.querySelector("#c-priority") as HTMLInputElement, "500");
    await new Promise((r) => setTimeout(r, 0));
    expect(save).not.toHaveBeenCalled();
    expect(c.el.querySelector(".error")?.textContent).toBe("Priority is a whole number from -100 to 100.");
    c.el.remove();
  });

  it("a batch name and send-again are for the next drop only", () => {
    const { c } = make();
    input(c.el, "c-batch").value = " Shoot A ";
    input(c.el, "c-force").checked = true;
    expect(c.takeOneDrop()).toEqual({ batch_name: "Shoot A", force: true });
    expect(c.takeOneDrop()).toEqual({ batch_name: null, force: false });
  });
});
