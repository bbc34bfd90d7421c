// The engine's views as the shell serialises them (serde, snake_case).

import type { LinkFormat } from "./links";

export type JobId = number;
export type BatchId = number;
export type JobState = "pending" | "processing" | "completed" | "failed" | "paused" | "cancelled";
export type Phase = "generate" | "upload";
export type ErrorClass = "transient" | "permanent" | "needs_user";

export const JOB_STATES: readonly JobState[] = [
  "pending",
  "processing",
  "completed",
  "failed",
  "paused",
  "cancelled",
];

export interface StateCounts {
  pending: number;
  processing: number;
  completed: number;
  failed: number;
  paused: number;
  cancelled: number;
  total: number;
}

export interface JobError {
  class: ErrorClass;
  message: string;
}

export interface Remote {
  id: string | null;
  url: string | null;
}

export interface JobView {
  id: JobId;
  batch_id: BatchId;
  source: string;
  destination: string;
  recipe: string;
  state: JobState;
  phase: Phase;
  awaiting_review: boolean;
  priority: number;
  attempts: number;
  manual_retries: number;
  max_attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  next_attempt_at: number | null;
  bytes_sent: number;
  bytes_total: number | null;
  error: JobError | null;
  remote: Remote | null;
}

export interface BatchView {
  id: BatchId;
  name: string;
  sequential: boolean;
  paused: boolean;
  created_at: number;
  counts: StateCounts;
  eta_ms: number | null;
}

export interface InFlightJob {
  id: JobId;
  source: string;
  destination: string;
  phase: Phase;
  started_at: number;
  elapsed_ms: number;
  bytes_sent: number;
  bytes_total: number | null;
}

/** AI generation's money, in the unit of the providers' cost per image. */
export interface Cost {
  spent: number;
  to_spend: number;
}

export interface Status {
  counts: StateCounts;
  queue_paused: boolean;
  in_flight: InFlightJob[];
  batches: BatchView[];
  cost: Cost;
  cool_downs: CoolDown[];
}

/** A destination or AI provider whose server asked for a pause (Retry-After). */
export interface CoolDown {
  of: "destination" | "provider";
  name: string;
  /** Ms since the epoch. */
  until: number;
  reason: string;
}

export type GenerationStage = "request_sent" | "waiting" | "receiving" | "post_processing";

export interface Settings {
  concurrency: number;
  max_attempts: number;
  auto_accept: boolean;
  destination: string | null;
  recipe: string | null;
  /** New batches' priority, -100 to 100. */
  priority: number;
  /** New batches are delivered strictly in order. */
  sequential: boolean;
  copy_links: LinkFormat;
  copy_links_when: "each" | "batch";
  link_template: string;
  /** A closed window leaves Outbox in the tray even when idle. */
  stay_in_tray: boolean;
  /** Programs on this computer may send images over HTTP (`/v1`, with a token). */
  api_enabled: boolean;
  api_port: number;
  /** The PicGo protocol (`POST /upload`) Markdown editors speak. */
  picgo_enabled: boolean;
  picgo_port: number;
}

/** Where the local API listens, or why it does not (src-tauri/src/local_api.rs). */
export interface Listening {
  api: string | null;
  picgo: string | null;
  problem: string | null;
}

/** An AI provider as saved (its key is in the keychain). */
export interface ProviderView {
  name: string;
  kind: "openai" | "gemini";
  settings: {
    base_url: string | null;
    model: string | null;
    size: string | null;
    quality: string | null;
    count: number;
    cost_per_image: number | null;
    spending_cap: number | null;
    max_concurrent: number;
  };
}

export interface DestinationView {
  name: string;
  kind: string;
  settings: Record<string, unknown>;
  max_concurrent: number | null;
}

export interface RecipeView {
  name: string;
  operations: Array<Record<string, unknown>>;
  builtin: boolean;
}

/** A queue database that could not be read at launch. */
export interface DamagedDatabase {
  path: string;
  reason: string;
}

export interface Snapshot {
  status: Status;
  settings: Settings;
  destinations: DestinationView[];
  recipes: RecipeView[];
  data_dir: string;
}

export interface Skipped {
  path: string;
  reason: string;
}

export interface Duplicate {
  path: string;
  existing_job: JobId;
  state: JobState;
  url: string | null;
}

export interface AddReport {
  batch_id: BatchId | null;
  added: JobId[];
  duplicates: Duplicate[];
  skipped: Skipped[];
}

export type EngineEvent =
  | { type: "jobs_queued"; batch_id: BatchId; jobs: number }
  | {
      type: "job_changed";
      job_id: JobId;
      state: JobState;
      phase: Phase;
      error: [ErrorClass, string] | null;
      /** When a job put back to wait is tried again (ms since the epoch). */
      retry_at: number | null;
      /** Attempts spent so far. */
      attempts: number;
      /** Where a completed upload can be reached, when its destination says. */
      link: string | null;
    }
  | { type: "bytes_sent"; job_id: JobId; sent: number; total: number }
  | { type: "counts_changed"; counts: StateCounts }
  | { type: "generation_stage"; job_id: JobId; stage: GenerationStage; elapsed_ms: number };

export interface Update {
  events: EngineEvent[];
  /** Events were lost: read the whole snapshot again. */
  resync: boolean;
  /** The status read right after these events, when they changed any job. */
  status: Status | null;
  /** Another process (the command line, a second worker) changed the queue. */
  elsewhere: boolean;
}

export interface ImportReport {
  batch_id: BatchId | null;
  added: Array<{ row: number; job: JobId }>;
  skipped: Array<{ row: number; reason: string }>;
}

export interface RetryResult {
  retried: JobId[];
  refused: string[];
}

export interface CommandError {
  kind: "engine" | "invalid" | "shell" | "fields" | "check" | "steps";
  message: string;
  /** A form's problems, each on its field (kind "fields"), or the setting a
   * failed destination test blames (kind "check"; empty when none is). */
  fields: Array<{ field: string | null; message: string }>;
  /** A recipe form's problems, each on its step and field (kind "steps"). */
  steps: StepError[];
}

/** A recipe step's values as its form holds them (`op`: the operation). */
export interface StepValues {
  op: string;
  values: Record<string, unknown>;
}

export interface RecipeForm {
  name: string;
  steps: StepValues[];
}

/** A problem of one step (`step: null`: of the recipe, such as its name). */
export interface StepError {
  step: number | null;
  field: string | null;
  message: string;
}

/** A recipe's exact output on the sample. */
export interface Trial {
  width: number;
  height: number;
  bytes: number;
  file_name: string;
  sample: string;
}

export interface HistoryQuery {
  state: JobState | null;
  batch: BatchId | null;
  /** Part of the source's path or name, any case. */
  search?: string | null;
  destination?: string | null;
  /** Added at or after (ms since the epoch). */
  since?: number | null;
  /** Added before (ms since the epoch). */
  until?: number | null;
  limit: number;
  offset: number;
}

/** One attempt of a job (the detail view). */
export interface AttemptView {
  phase: Phase;
  started_at: number | null;
  ended_at: number;
  outcome: "generated" | "delivered" | "retrying" | "failed" | "cancelled";
  error: JobError | null;
}

export interface OutputView {
  file_name: string;
  mime: string;
  size: number;
  width: number;
  height: number;
}

export interface JobDetail {
  job: JobView;
  output: OutputView | null;
  fields: Record<string, unknown> | null;
  attempts: AttemptView[];
}
