// Ways in: drag-and-drop onto the window (Tauri's native drag-drop events,
// with a visible target while dragging), the file and folder pickers, and
// paste. Every way ends in the same `onPaths` / `onImage` calls.

import { h } from "../lib/dom";
import { readPaste } from "../lib/paste";

export type DragDropEvent =
  | { type: "enter"; paths: string[] }
  | { type: "over" }
  | { type: "drop"; paths: string[] }
  | { type: "leave" };

export interface Inputs {
  onPaths(paths: string[]): void;
  onImage(bytes: Uint8Array): void;
  onNothing(): void;
  onManifest(path: string): void;
  pick(directory: boolean): Promise<string[] | null>;
  pickManifest(): Promise<string | null>;
}

export class DropZone {
  readonly overlay: HTMLElement;
  readonly buttons: HTMLElement;

  constructor(private readonly inputs: Inputs) {
    this.overlay = h(
      "div",
      { class: "drop-overlay", hidden: true, "aria-hidden": "true" },
      h("div", {}, h("strong", {}, "Drop to add"), h("span", {}, "Images and folders (searched for images)")),
    );
    const pick = (directory: boolean) => () => {
      this.inputs
        .pick(directory)
        .then((paths) => {
          if (paths && paths.length > 0) this.inputs.onPaths(paths);
        })
        .catch(() => this.inputs.onNothing());
    };
    this.buttons = h(
      "span",
      { class: "pickers" },
      h("button", { type: "button", class: "primary", onclick: pick(false), title: "Add images (Ctrl+O)" }, "Add images…"),
      h("button", { type: "button", onclick: pick(true) }, "Add folder…"),
      h("button", { type: "button", onclick: () => this.importManifest(), title: "A CSV or JSON list of items: fields and an image path or URL per row" }, "Import list…"),
    );
    document.addEventListener("paste", (e) => this.paste(e));
    // Ctrl+O adds images, as "Open" does elsewhere; Ctrl+V is the paste above.
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "o") {
        e.preventDefault();
        pick(false)();
      }
    });
  }

  private importManifest(): void {
    this.inputs
      .pickManifest()
      .then((path) => {
        if (path) this.inputs.onManifest(path);
      })
      .catch(() => this.inputs.onNothing());
  }

  /** Handles one native drag-drop event. */
  handle(event: DragDropEvent): void {
    switch (event.type) {
      case "enter":
      case "over":
        this.overlay.hidden = false;
        break;
      case "leave":
        this.overlay.hidden = true;
        break;
      case "drop":
        this.overlay.hidden = true;
        if (event.paths.length > 0) this.inputs.onPaths(event.paths);
        break;
    }
  }

  private paste(e: ClipboardEvent): void {
    const target = e.target as HTMLElement | null;
    // Pasting into a text field is typing, not adding.
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
    const pasted = readPaste(e.clipboardData);
    e.preventDefault();
    if (pasted.images.length > 0) {
      for (const image of pasted.images) {
        image
          .arrayBuffer()
          .then((buffer) => this.inputs.onImage(new Uint8Array(buffer)))
          .catch(() => this.inputs.onNothing());
      }
    } else if (pasted.paths.length > 0) {
      this.inputs.onPaths(pasted.paths);
    } else {
      this.inputs.onNothing();
    }
  }
}
