// The settings' "Other programs" section: what it says of the servers, the
// token shown only when asked for, and a refused port said beside the form.

import { describe, expect, it, vi } from "vitest";
import { listeningText, LocalApiSection, type LocalApiActions } from "../src/components/local-api-section";
import type { Settings } from "../src/lib/types";
import { settings as newSettings } from "./fixtures";

const settle = () => new Promise((r) => setTimeout(r, 0));

function section(over: Partial<LocalApiActions> = {}) {
  const actions: LocalApiActions = {
    listening: vi.fn(() => Promise.resolve({ api: null, picgo: null, problem: null })),
    token: vi.fn(() => Promise.resolve("a".repeat(64))),
    renewToken: vi.fn(() => Promise.resolve("b".repeat(64))),
    copy: vi.fn(() => Promise.resolve()),
    save: vi.fn((s: Settings) => Promise.resolve(s)),
    ...over,
  };
  const done = vi.fn();
  const s = new LocalApiSection(newSettings(), actions, done);
  document.body.append(s.el);
  const button = (label: string) =>
    Array.from(s.el.querySelectorAll("button")).find((b) => b.textContent === label) as HTMLButtonElement;
  const input = (id: string) => s.el.querySelector(`#${id}`) as HTMLInputElement;
  return { s, actions, done, button, input };
}

describe("listeningText", () => {
  it("names each server on, says off when none is, and gives a problem first", () => {
    expect(listeningText({ api: "http://127.0.0.1:36680/v1", picgo: null, problem: null })).toBe(
      "Listening: API http://127.0.0.1:36680/v1",
    );
    expect(
      listeningText({ api: "http://127.0.0.1:1/v1", picgo: "http://127.0.0.1:2/upload", problem: null }),
    ).toBe("Listening: API http://127.0.0.1:1/v1 · PicGo http://127.0.0.1:2/upload");
    expect(listeningText({ api: null, picgo: null, problem: null })).toContain("Off");
    expect(listeningText({ api: null, picgo: null, problem: "cannot listen on 127.0.0.1:36680: Address in use" })).toBe(
      "Not listening: cannot listen on 127.0.0.1:36680: Address in use",
    );
  });
});

describe("LocalApiSection", () => {
  it("is off as settings start, and reads the token only when asked to show or copy it", async () => {
    const { s, actions, button, input } = section();
    await settle();
    expect(input("s-api-enabled").checked).toBe(false);
    expect(input("s-picgo-enabled").checked).toBe(false);
    expect(input("s-api-port").value).toBe("36680");
    expect(input("s-picgo-port").value).toBe("36677");
    expect(s.el.querySelector("#s-api-listening")?.textContent).toContain("Off");
    expect(actions.token).not.toHaveBeenCalled();
    expect(input("s-api-token").type).toBe("password");
    expect(input("s-api-token").value).not.toContain("a");

    button("Show").click();
    await settle();
    expect(input("s-api-token").type).toBe("text");
    expect(input("s-api-token").value).toBe("a".repeat(64));
    button("Hide").click();
    expect(input("s-api-token").type).toBe("password");

    button("Copy").click();
    await settle();
    expect(actions.copy).toHaveBeenCalledWith("a".repeat(64));
    expect(s.el.querySelector("#s-api-said")?.textContent).toBe("Token copied.");
    expect(s.el.querySelector("#s-api-listening")?.textContent).toContain("Off");
    s.el.remove();
  });

  it("shows a new token in place of a shown one", async () => {
    const { s, button, input } = section();
    button("Show").click();
    await settle();
    button("New token").click();
    await settle();
    expect(input("s-api-token").value).toBe("b".repeat(64));
    expect(s.el.querySelector("#s-api-said")?.textContent).toContain("old one are refused");
    s.el.remove();
  });

  it("saves what was turned on, with the ports typed", async () => {
    const { s, actions, done, button, input } = section();
    input("s-api-enabled").checked = true;
    input("s-api-port").value = "40001";
    input("s-picgo-enabled").checked = true;
    input("s-picgo-port").value = "40002";
    button("Apply").click();
    await settle();
    expect(actions.save).toHaveBeenCalledWith(
      expect.objectContaining({ api_enabled: true, api_port: 40001, picgo_enabled: true, picgo_port: 40002, concurrency: 3 }),
    );
    expect(done).toHaveBeenCalledWith("Settings saved.");
    s.el.remove();
  });

  it("says a refused port beside the form, nothing saved, and where it still listens", async () => {
    const { s, done, button, input } = section({
      listening: () => Promise.resolve({ api: "http://127.0.0.1:36680/v1", picgo: null, problem: null }),
      save: () => Promise.reject({ kind: "invalid", message: "cannot listen on 127.0.0.1:40001: Address in use", fields: [], steps: [] }),
    });
    input("s-api-enabled").checked = true;
    button("Apply").click();
    await settle();
    expect(done).not.toHaveBeenCalled();
    expect(s.el.querySelector("#s-api-said")?.textContent).toBe("Not changed: cannot listen on 127.0.0.1:40001: Address in use");
    expect(s.el.querySelector("#s-api-listening")?.textContent).toBe("Listening: API http://127.0.0.1:36680/v1");
    s.el.remove();
  });
});
