// The queue panel's copy of the jobs it has loaded, kept current by the
// engine's events without asking the engine again.

import type { BatchId, EngineEvent, JobId, JobState, JobView, StateCounts } from "./types";

export interface Filter {
  state: JobState | null;
  batch: BatchId | null;
}

export function matches(job: JobView, filter: Filter): boolean {
  return (
    (filter.state === null || job.state === filter.state) &&
    (filter.batch === null || job.batch_id === filter.batch)
  );
}

/** How many rows a filter selects, from the counts the engine keeps. */
export function filteredTotal(
  counts: StateCounts,
  batchCounts: StateCounts | null,
  filter: Filter,
): number {
  const c = filter.batch === null ? counts : batchCounts;
  if (!c) return 0;
  return filter.state === null ? c.total : c[filter.state];
}

/** Applies one event to a loaded job; returns whether anything changed. */
export function applyEvent(job: JobView, event: EngineEvent, now: number): boolean {
  switch (event.type) {
    case "job_changed": {
      if (event.job_id !== job.id) return false;
      const was = job.state;
      job.state = event.state;
      job.phase = event.phase;
      job.error = event.error ? { class: event.error[0], message: event.error[1] } : null;
      job.next_attempt_at = event.retry_at;
      job.attempts = event.attempts;
      if (event.link) job.remote = { id: job.remote?.id ?? null, url: event.link };
      if (event.state === "processing" && was !== "processing") {
        job.started_at = now;
        job.bytes_sent = 0;
      }
      if (event.state === "completed" || event.state === "failed" || event.state === "cancelled") {
        job.finished_at = now;
      }
      if (event.state !== "pending" || event.phase !== "upload") job.awaiting_review = false;
      return true;
    }
    case "bytes_sent": {
      if (event.job_id !== job.id) return false;
      job.bytes_sent = event.sent;
      job.bytes_total = event.total;
      return true;
    }
    default:
      return false;
  }
}

/** The job an event is about, if it is about one. */
export function eventJob(event: EngineEvent): JobId | null {
  return event.type === "job_changed" || event.type === "bytes_sent" ? event.job_id : null;
}
