// The pure parts of the recipe editor: moving a step, a step's errors, and
// running only the newest of many requests (each keystroke asks for a sketch;
// a slow one must not pile the next ones up behind it).

import type { FieldError } from "./forms";
import type { StepError } from "./types";

/** `items` with the one at `index` moved one place up (-1) or down (1). */
export function moved<T>(items: readonly T[], index: number, by: -1 | 1): T[] {
  const to = index + by;
  const out = [...items];
  if (index < 0 || index >= out.length || to < 0 || to >= out.length) return out;
  const [item] = out.splice(index, 1);
  if (item !== undefined) out.splice(to, 0, item);
  return out;
}

/** The errors of step `step` (`null`: of the recipe itself) as field errors. */
export function errorsOfStep(errors: readonly StepError[], step: number | null): FieldError[] {
  return errors.filter((e) => e.step === step).map((e) => ({ field: e.field, message: e.message }));
}

/**
 * Runs `run` for the newest request only: while one runs, later requests
 * replace each other, and the last one runs when it ends.
 */
export class Latest<T> {
  private running = false;
  private waiting: { value: T } | null = null;

  constructor(private readonly run: (value: T) => Promise<void>) {}

  request(value: T): void {
    this.waiting = { value };
    if (!this.running) void this.next();
  }

  private async next(): Promise<void> {
    const taken = this.waiting;
    if (!taken) return;
    this.waiting = null;
    this.running = true;
    try {
      await this.run(taken.value);
    } finally {
      this.running = false;
      void this.next();
    }
  }
}
