// Typed wrappers of the shell's commands (src-tauri/src/commands.rs and
// damaged.rs). The only module that calls `invoke`; components take these
// functions, so tests can hand them fakes.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { KindForm, Values } from "./forms";
import type {
  AddReport,
  BatchId,
  CommandError,
  DamagedDatabase,
  DestinationView,
  HistoryQuery,
  JobDetail,
  ImportReport,
  JobId,
  JobView,
  Listening,
  ProviderView,
  RecipeForm,
  RecipeView,
  RetryResult,
  Settings,
  Snapshot,
  Status,
  Trial,
  Update,
} from "./types";

/** The message of a command's error, whatever shape it arrived in. */
export function errorMessage(e: unknown): string {
  if (typeof e === "string") return e;
  if (e && typeof e === "object" && "message" in e) {
    const message = (e as CommandError).message;
    if (typeof message === "string") return message;
  }
  return String(e);
}

export const api = {
  damagedDatabase: () => invoke<DamagedDatabase | null>("damaged_database"),
  startFreshDatabase: () => invoke<string>("start_fresh_database"),
  quit: () => invoke<void>("quit"),
  snapshot: () => invoke<Snapshot>("snapshot"),
  status: () => invoke<Status>("status"),
  subscribe(onUpdate: (u: Update) => void): Promise<void> {
    const channel = new Channel<Update>();
    channel.onmessage = onUpdate;
    return invoke<void>("subscribe", { channel });
  },
  addPaths: (paths: string[], one: { batch_name: string | null; force: boolean }) =>
    invoke<AddReport>("add_paths", { paths, request: one }),
  addPasted: (bytes: Uint8Array) => invoke<AddReport>("add_pasted", bytes),
  importManifest: (path: string) => invoke<ImportReport>("import_manifest", { path }),
  promptPreview: (recipe: string, fields: Record<string, unknown>) =>
    invoke<string | null>("prompt_preview", { recipe, fields }),
  history: (query: HistoryQuery) => invoke<JobView[]>("history", { query }),
  historyCount: (query: HistoryQuery) => invoke<number>("history_count", { query }),
  jobDetail: (job: JobId) => invoke<JobDetail | null>("job_detail", { job }),
  retry: (jobs: JobId[]) => invoke<RetryResult>("retry", { jobs }),
  retryFailed: (batch: BatchId | null) => invoke<RetryResult>("retry_failed", { batch }),
  cancel: (jobs: JobId[]) => invoke<void>("cancel", { jobs }),
  pause: (batch: BatchId | null) => invoke<number>("pause", { batch }),
  resume: (batch: BatchId | null) => invoke<number>("resume", { batch }),
  setPriority: (jobs: JobId[], priority: number) =>
    invoke<void>("set_priority", { jobs, priority }),
  clean: (days: number) => invoke<number>("clean", { days }),
  accept: (jobs: JobId[]) => invoke<void>("accept", { jobs }),
  regenerate: (jobs: JobId[]) => invoke<void>("regenerate", { jobs }),
  openLocation: (job: JobId) => invoke<void>("open_location", { job }),
  copyText: (text: string) => invoke<void>("copy_text", { text }),
  takeLaunchPaths: () => invoke<string[]>("take_launch_paths"),
  /** Paths a second launch of the app handed over. */
  onOpenPaths: (f: (paths: string[]) => void) => listen<string[]>("open-paths", (e) => f(e.payload)),
  getSettings: () => invoke<Settings>("get_settings"),
  setSettings: (settings: Settings) => invoke<Settings>("set_settings", { settings }),
  localApi: () => invoke<Listening>("local_api"),
  localApiToken: () => invoke<string>("local_api_token"),
  renewLocalApiToken: () => invoke<string>("renew_local_api_token"),
  destinations: () => invoke<DestinationView[]>("destinations"),
  destinationForms: () => invoke<KindForm[]>("destination_forms"),
  destinationForm: (name: string) => invoke<DestinationForm>("destination_form", { name }),
  saveDestination: (form: DestinationForm) => invoke<void>("save_destination", { form }),
  providerForms: () => invoke<KindForm[]>("provider_forms"),
  providers: () => invoke<ProviderView[]>("providers"),
  providerForm: (name: string) => invoke<DestinationForm>("provider_form", { name }),
  saveProvider: (form: DestinationForm) => invoke<void>("save_provider", { form }),
  removeProvider: (name: string) => invoke<void>("remove_provider", { name }),
  testProvider: (name: string) => invoke<string>("test_provider", { name }),
  removeDestination: (name: string) => invoke<void>("remove_destination", { name }),
  setDestinationSecret: (name: string, secret: string) =>
    invoke<void>("set_destination_secret", { name, secret }),
  testDestination: (name: string) => invoke<string>("test_destination", { name }),
  recipes: () => invoke<RecipeView[]>("recipes"),
  recipeForms: () => invoke<KindForm[]>("recipe_forms"),
  recipeForm: (name: string) => invoke<RecipeForm>("recipe_form", { name }),
  saveRecipe: (form: RecipeForm) => invoke<void>("save_recipe", { form }),
  /** The recipe tried on the sample (an item's source, or the shipped photo), as JPEG bytes. */
  sketchRecipe: (form: RecipeForm, source: JobId | null) => invoke<ArrayBuffer>("sketch_recipe", { form, source }),
  tryRecipe: (form: RecipeForm, source: JobId | null) => invoke<Trial>("try_recipe", { form, source }),
  removeRecipe: (name: string) => invoke<void>("remove_recipe", { name }),
};

export type Api = typeof api;

/** A destination form as the shell takes and gives it. */
export interface DestinationForm {
  name: string;
  kind: string;
  values: Values;
  max_concurrent: number | null;
  /** A new secret; null keeps the saved one. */
  secret: string | null;
  existing: boolean;
}

/** Preview URLs served by the shell's `outbox-preview` scheme. */
export const previewUrl = {
  base: "outbox-preview://localhost",
  source: (job: JobId, size = 512) => `${previewUrl.base}/source/${job}/${size}`,
  exif: (job: JobId) => `${previewUrl.base}/exif/${job}`,
  output: (job: JobId, version: number, size = 512) =>
    `${previewUrl.base}/output/${job}/${size}?v=${version}`,
};
