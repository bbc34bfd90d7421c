// Where a job that went wrong stands, and what the user can do about it:
// it will be tried again at a time, it needs the user (a password, a
// setting), or it failed for good. One wording for tiles and rows.

import { duration } from "./format";
import type { JobView } from "./types";

export type Standing =
  | {
      kind: "retrying";
      /** When it is tried again; null when it may be at once, or is now. */
      at: number | null;
      /** Tried again now (processing), the message the last attempt's. */
      running: boolean;
      message: string;
      /** Attempts of this phase so far: spent while waiting, the one
       * running while trying again. */
      attempts: number;
      /** The phase's automatic attempts at most, when known. */
      max: number | null;
    }
  | { kind: "waiting"; message: string; fix: FixTarget }
  | { kind: "needs_you"; message: string; fix: FixTarget; attempts: number }
  | { kind: "failed"; message: string; attempts: number }
  | null;

/** The settings a job that needs the user points at: its destination's, or,
 * when its generation is what stopped (an AI provider's key, its spending
 * cap), those of the provider its recipe asks. */
export type FixTarget = { destination: string } | { recipe: string };

/** The fix button's label. */
export function fixLabel(fix: FixTarget): string {
  return "destination" in fix ? `Fix ${fix.destination}` : "Fix AI provider";
}

/** What `standing` reads of a job: a tile may not know its job's
 * `max_attempts` yet (null). */
export type StandingOf = Pick<JobView, "state" | "phase" | "error" | "next_attempt_at" | "attempts" | "destination" | "recipe"> & {
  max_attempts: number | null;
};

/** Null for a job with nothing wrong, and for one cancelled (its message,
 * if any, says why: a duplicate of which job). */
export function standing(job: StandingOf): Standing {
  if (!job.error) return null;
  const fix: FixTarget = job.phase === "generate" ? { recipe: job.recipe } : { destination: job.destination };
  // Held back until the user acts (a spending cap reached), not failed.
  if (job.state === "pending" && job.error.class === "needs_user") return { kind: "waiting", message: job.error.message, fix };
  if (job.state === "pending" || job.state === "processing") {
    return {
      kind: "retrying",
      at: job.state === "pending" ? job.next_attempt_at : null,
      running: job.state === "processing",
      message: job.error.message,
      attempts: job.attempts,
      // An AI provider may allow a generation fewer attempts than the job
      // (its own cap, not in the job's view): only an upload's are known.
      max: job.phase === "upload" ? job.max_attempts : null,
    };
  }
  if (job.state !== "failed") return null;
  if (job.error.class === "needs_user") {
    return { kind: "needs_you", message: job.error.message, fix, attempts: job.attempts };
  }
  return { kind: "failed", message: job.error.message, attempts: job.attempts };
}

/** The badge's word for a job in this standing. */
export function standingLabel(s: NonNullable<Standing>): string {
  return { retrying: "will retry", waiting: "waiting", needs_you: "needs you", failed: "failed" }[s.kind];
}

/** " after 3 attempts", or nothing for a single one. */
function after(attempts: number): string {
  return attempts > 1 ? ` after ${attempts} attempts` : "";
}

/** One line: what happened and what comes next. With `now` (ms) a retry
 * says how long is left (for a view that ticks), else at what time. */
export function standingText(s: NonNullable<Standing>, now: number | null): string {
  switch (s.kind) {
    case "retrying": {
      const of = s.max !== null ? ` of ${s.max}` : "";
      // A wait that was not an attempt (a server's pause) gives its attempt
      // back: "used" is true either way.
      const used = s.attempts > 0 ? ` (${s.attempts}${of} attempt${s.attempts === 1 && !of ? "" : "s"} used)` : "";
      if (s.running) return `Trying again${s.attempts > 0 ? ` (attempt ${s.attempts}${of})` : ""}: ${s.message}`;
      if (s.at !== null && now === null) return `Will retry at ${new Date(s.at).toLocaleTimeString()}${used}: ${s.message}`;
      const left = s.at === null || now === null ? 0 : s.at - now;
      const when = left <= 0 ? "any moment now" : `in ${duration(left)}`;
      return `Will retry ${when}${used}: ${s.message}`;
    }
    case "waiting":
      return `Waiting for you: ${s.message}`;
    case "needs_you":
      return `Needs you${after(s.attempts)}: ${s.message}`;
    case "failed":
      // The engine's message for a job out of attempts counts them itself.
      return s.message.startsWith("gave up after")
        ? `Failed for good: ${s.message}`
        : `Failed for good${after(s.attempts)}: ${s.message}`;
  }
}

/** Whether a standing's text changes as time passes (a retry counting down). */
export function countsDown(s: Standing): boolean {
  return s !== null && s.kind === "retrying" && s.at !== null;
}
