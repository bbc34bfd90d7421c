// Other programs on this computer: the local API (`/v1`, with a bearer token)
// and the PicGo protocol editors speak, both off until turned on. Says where
// they listen (or why they cannot); the token is shown only when asked for,
// copied, or replaced by a new one.

import { errorMessage } from "../lib/api";
import { h } from "../lib/dom";
import type { Listening, Settings } from "../lib/types";

export interface LocalApiActions {
  listening(): Promise<Listening>;
  token(): Promise<string>;
  renewToken(): Promise<string>;
  copy(text: string): Promise<void>;
  /** Saves the settings; refused whole when a port cannot be had. */
  save(next: Settings): Promise<Settings>;
}

/** One line on where the servers listen, from the shell's answer. */
export function listeningText(l: Listening): string {
  if (l.problem) return `Not listening: ${l.problem}`;
  const on = [l.api ? `API ${l.api}` : null, l.picgo ? `PicGo ${l.picgo}` : null].filter(Boolean);
  return on.length > 0 ? `Listening: ${on.join(" · ")}` : "Off: no program can reach Outbox.";
}

export class LocalApiSection {
  readonly el: HTMLElement;
  /** Where the servers listen (or why not), always. */
  private readonly listening: HTMLElement;
  /** What the last action did: a token copied, a port refused. */
  private readonly said: HTMLElement;
  private readonly tokenInput: HTMLInputElement;

  constructor(
    private readonly settings: Settings,
    private readonly actions: LocalApiActions,
    /** Says an outcome at the top of the settings, and reads them again. */
    private readonly done: (message: string) => void,
  ) {
    const enabled = h("input", { type: "checkbox", id: "s-api-enabled" });
    enabled.checked = settings.api_enabled;
    const port = h("input", { type: "number", min: 1024, max: 65535, value: settings.api_port, id: "s-api-port" });
    const picgo = h("input", { type: "checkbox", id: "s-picgo-enabled" });
    picgo.checked = settings.picgo_enabled;
    const picgoPort = h("input", { type: "number", min: 1024, max: 65535, value: settings.picgo_port, id: "s-picgo-port" });
    this.tokenInput = h("input", {
      id: "s-api-token",
      type: "password",
      readonly: true,
      value: "••••••••••••••••",
      "aria-label": "The API's token",
      spellcheck: false,
    });
    this.listening = h("p", { class: "muted", id: "s-api-listening" });
    this.said = h("p", { id: "s-api-said", role: "status" });
    const show = h("button", { type: "button", class: "small", onclick: () => void this.toggleToken(show) }, "Show");
    const field = (label: string, input: HTMLElement, id: string) =>
      h("div", { class: "field" }, h("label", { for: id }, label), input);
    const apply = async () => {
      const next: Settings = {
        ...this.settings,
        api_enabled: enabled.checked,
        api_port: Number(port.value),
        picgo_enabled: picgo.checked,
        picgo_port: Number(picgoPort.value),
      };
      try {
        await this.actions.save(next);
        this.done("Settings saved.");
      } catch (e) {
        this.said.textContent = `Not changed: ${errorMessage(e)}`;
        void this.showListening();
      }
    };
    this.el = h(
      "section",
      { class: "local-api" },
      h("h3", {}, "Other programs"),
      h(
        "p",
        { class: "muted" },
        "Scripts, editors and plugins on this computer can send images to the queue over HTTP, on 127.0.0.1 only. Nothing listens until you turn it on.",
      ),
      field("Let programs on this computer send images (local API)", enabled, "s-api-enabled"),
      field("API port", port, "s-api-port"),
      h(
        "div",
        { class: "field" },
        h("label", { for: "s-api-token" }, "Token (every request sends it as Authorization: Bearer …)"),
        h(
          "div",
          { class: "token-row" },
          this.tokenInput,
          show,
          h("button", { type: "button", class: "small", onclick: () => void this.copyToken() }, "Copy"),
          h("button", { type: "button", class: "small", onclick: () => void this.renewToken() }, "New token"),
        ),
      ),
      field("Answer as PicGo does (Typora, Obsidian and other editors set up for PicGo; no token)", picgo, "s-picgo-enabled"),
      field("PicGo port", picgoPort, "s-picgo-port"),
      h("p", { class: "muted" }, "PicGo's images go where new items go, made with the same recipe, and are never held for review."),
      this.listening,
      this.said,
      h("button", { type: "button", class: "primary", onclick: () => void apply() }, "Apply"),
    );
    void this.showListening();
  }

  private async showListening(): Promise<void> {
    try {
      this.listening.textContent = listeningText(await this.actions.listening());
    } catch (e) {
      this.listening.textContent = errorMessage(e);
    }
  }

  private async toggleToken(button: HTMLButtonElement): Promise<void> {
    if (this.tokenInput.type === "text") {
      this.tokenInput.type = "password";
      button.textContent = "Show";
      return;
    }
    try {
      this.tokenInput.value = await this.actions.token();
      this.tokenInput.type = "text";
      button.textContent = "Hide";
    } catch (e) {
      this.said.textContent = errorMessage(e);
    }
  }

  private async copyToken(): Promise<void> {
    try {
      await this.actions.copy(await this.actions.token());
      this.said.textContent = "Token copied.";
    } catch (e) {
      this.said.textContent = errorMessage(e);
    }
  }

  private async renewToken(): Promise<void> {
    try {
      const token = await this.actions.renewToken();
      if (this.tokenInput.type === "text") this.tokenInput.value = token;
      this.said.textContent = "A new token is in use; programs with the old one are refused.";
    } catch (e) {
      this.said.textContent = errorMessage(e);
    }
  }
}
