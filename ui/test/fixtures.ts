// Jobs and settings as the engine and the shell serialise them, for tests.

import type { JobView, Settings } from "../src/lib/types";

/** The app's settings as a new install has them, with `over` on top. */
export function settings(over: Partial<Settings> = {}): Settings {
  return {
    concurrency: 3,
    max_attempts: 5,
    auto_accept: true,
    destination: null,
    recipe: null,
    priority: 0,
    sequential: false,
    copy_links: "off",
    copy_links_when: "each",
    link_template: "{url}",
    stay_in_tray: false,
    api_enabled: false,
    api_port: 36680,
    picgo_enabled: false,
    picgo_port: 36677,
    ...over,
  };
}

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
