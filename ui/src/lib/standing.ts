// Where a job that went wrong stands, and what the user can do about it:
// it will be tried again at a time, it needs the user (a password, a
// setting), or it failed for good. One wording for tiles and rows.

import { duration } from "./format";
import type { JobView } from "./types";

export type Standing =
  | { kind: "retrying"; at: number | null; message: string }
  | { kind: "waiting"; message: string }
  | { kind: "needs_you"; message: string; destination: string }
  | { kind: "failed"; message: string; attempts: number }
  | null;

/** Null for a job with nothing wrong, and for one cancelled (its message,
 * if any, says why: a duplicate of which job). */
export function standing(job: Pick<JobView, "state" | "error" | "next_attempt_at" | "attempts" | "destination">): Standing {
  if (!job.error) return null;
  // Held back until the user acts (a spending cap reached), not failed.
  if (job.state === "pending" && job.error.class === "needs_user") return { kind: "waiting", message: job.error.message };
  if (job.state === "pending" || job.state === "processing") {
    return { kind: "retrying", at: job.state === "pending" ? job.next_attempt_at : null, message: job.error.message };
  }
  if (job.state !== "failed") return null;
  if (job.error.class === "needs_user") {
    return { kind: "needs_you", message: job.error.message, destination: job.destination };
  }
  return { kind: "failed", message: job.error.message, attempts: job.attempts };
}

/** The badge's word for a job in this standing. */
export function standingLabel(s: NonNullable<Standing>): string {
  return { retrying: "will retry", waiting: "waiting", needs_you: "needs you", failed: "failed" }[s.kind];
}

/** One line: what happened and what comes next. With `now` (ms) a retry
 * says how long is left (for a view that ticks), else at what time. */
export function standingText(s: NonNullable<Standing>, now: number | null): string {
  switch (s.kind) {
    case "retrying": {
      if (s.at === null) return `Trying again: ${s.message}`;
      if (now === null) return `Will retry at ${new Date(s.at).toLocaleTimeString()}: ${s.message}`;
      const left = s.at - now;
      const when = left <= 0 ? "any moment now" : `in ${duration(left)}`;
      return `Will retry ${when}: ${s.message}`;
    }
    case "waiting":
      return `Waiting for you: ${s.message}`;
    case "needs_you":
      return `Needs you: ${s.message}`;
    case "failed":
      return `Failed for good${s.attempts > 1 ? ` after ${s.attempts} attempts` : ""}: ${s.message}`;
  }
}
