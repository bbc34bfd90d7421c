// One figure for everything in flight: how much of the unfinished batches is
// done, how fast bytes go out, and how long is left.

import type { BatchView, JobId } from "./types";

export interface Overall {
  done: number;
  total: number;
  /** The longest time left of the batches (they run side by side). */
  etaMs: number | null;
}

export function overall(batches: BatchView[]): Overall | null {
  if (batches.length === 0) return null;
  let done = 0;
  let total = 0;
  let etaMs: number | null = null;
  for (const b of batches) {
    const c = b.counts;
    done += c.completed + c.failed + c.cancelled;
    total += c.total;
    if (b.eta_ms !== null) etaMs = Math.max(etaMs ?? 0, b.eta_ms);
  }
  return { done, total, etaMs };
}

/** Bytes per second sent over the last few seconds, from each upload's
 * running count of bytes sent. */
export class Rate {
  private readonly last = new Map<JobId, number>();
  private samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly windowMs = 5000) {}

  sent(now: number, job: JobId, sent: number): void {
    const before = this.last.get(job) ?? 0;
    // A count that went down is an upload that started again.
    const delta = sent >= before ? sent - before : sent;
    this.last.set(job, sent);
    if (delta > 0) this.samples.push({ at: now, bytes: delta });
    this.trim(now);
  }

  /** Forgets uploads that are over (their counts would look like restarts). */
  keepOnly(jobs: Set<JobId>): void {
    for (const id of [...this.last.keys()]) if (!jobs.has(id)) this.last.delete(id);
  }

  perSecond(now: number): number {
    this.trim(now);
    if (this.samples.length === 0) return 0;
    const bytes = this.samples.reduce((n, s) => n + s.bytes, 0);
    const first = this.samples[0]?.at ?? now;
    const span = Math.max(1000, now - first);
    return (bytes * 1000) / span;
  }

  private trim(now: number): void {
    this.samples = this.samples.filter((s) => now - s.at <= this.windowMs);
  }
}
