// Jobs as the engine serialises them, for tests.

import type { JobView } from "../src/lib/types";

export function job(over: Partial<JobView> = {}): JobView {
  return {
    id: 1,
    batch_id: 1,
    source: "/photos/a.jpg",
    destination: "default",
    recipe: "web",
    state: "pending",
    phase: "generate",
    awaiting_review: false,
    priority: 0,
    attempts: 0,
    manual_retries: 0,
    max_attempts: 5,
    created_at: 0,
    started_at: null,
    finished_at: null,
    next_attempt_at: null,
    bytes_sent: 0,
    bytes_total: null,
    error: null,
    remote: null,
    ...over,
  };
}
