//! The command-line grammar.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "outbox",
    version,
    about = "Queue images, generate outputs, deliver them in the background."
)]
pub struct Cli {
    /// The data folder (database, generated outputs). Default: $OUTBOX_DATA_DIR,
    /// else the desktop app's ($XDG_DATA_HOME/app.outbox.desktop).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// More log lines on stderr (-v info, -vv debug); OUTBOX_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage destinations.
    #[command(subcommand)]
    Dest(DestCommand),
    /// Manage recipes (saved ones beside the built-in web, thumbnail, original).
    #[command(subcommand)]
    Recipe(RecipeCommand),
    /// Manage AI image providers (OpenAI-style Images API, Gemini).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Queue image files and folders (recursively; non-images are listed as skipped).
    Add(AddArgs),
    /// Queue the items of a CSV or JSON manifest (fields and an image path or URL per row).
    Import(ImportArgs),
    /// Run the worker: generate outputs and deliver them.
    Run(RunArgs),
    /// Run the worker and the local HTTP API (127.0.0.1 and ::1 only), and
    /// optionally the PicGo protocol editors speak.
    Serve(ServeArgs),
    /// Counts per state, jobs in progress, batch progress.
    Status(StatusArgs),
    /// Jobs, newest first.
    History(HistoryArgs),
    /// Put failed jobs back at the front of the queue.
    Retry(RetryArgs),
    /// Cancel jobs (one in progress is stopped).
    Cancel {
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<i64>,
    },
    /// Outputs waiting for review (jobs added with `--review`).
    Review {
        #[arg(long)]
        json: bool,
    },
    /// Let reviewed outputs go to their destinations.
    Accept {
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<i64>,
    },
    /// Drop outputs waiting for review (their jobs are cancelled).
    Discard {
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<i64>,
    },
    /// Make outputs waiting for review again (held for review again).
    Regenerate {
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<i64>,
    },
    /// Pause the queue, or one batch.
    Pause(BatchArg),
    /// Resume the queue, or one batch.
    Resume(BatchArg),
    /// Delete finished jobs older than some days, with their generated outputs.
    Clean {
        #[arg(long, value_name = "DAYS")]
        older_than: f64,
    },
    /// Show or set how much finished work is kept; the worker removes the rest
    /// as it goes (jobs, outputs, pasted and downloaded images).
    Retention(RetentionArgs),
    /// Write the preview the app shows for an image (JPEG), or for many, without the queue.
    Preview(PreviewArgs),
    /// Run a recipe over files and folders into a folder, without the queue.
    Render(RenderArgs),
    /// Keep a damaged database under another name and start a fresh one
    /// (refused while the database is sound).
    Repair(RepairArgs),
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    /// Move the damaged database (and its -wal and -shm) aside to
    /// `outbox.sqlite3.damaged-<unix-ms>` and start an empty queue.
    #[arg(long, required = true)]
    pub fresh_database: bool,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[arg(long, default_value = outbox_engine::recipe::DEFAULT_RECIPE)]
    pub recipe: String,
    /// The folder to write into (made if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where to write the preview JPEG; with several paths, a folder (made if
    /// missing) that gets one `NAME.jpg` per file, previewed on all cores.
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: PathBuf,
    /// The longest edge, in pixels.
    #[arg(long, value_name = "N", default_value_t = outbox_engine::preview::DEFAULT_PREVIEW_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub size: u32,
    /// Write the JPEG's embedded EXIF thumbnail instead (the first thing the
    /// app shows); fails when there is none.
    #[arg(long)]
    pub exif_thumbnail: bool,
}

#[derive(Subcommand, Debug)]
pub enum DestCommand {
    /// Add a destination. A password, token or key is read from standard
    /// input (`--secret-stdin`) or `OUTBOX_SECRET`, and kept in the OS keychain.
    Add(Box<DestAddArgs>),
    /// List destinations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check that a destination is reachable and takes its credentials.
    Test { name: String },
    /// Replace a destination's password, token or key (read as for `add`).
    Secret {
        name: String,
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Remove a destination (refused while it has unfinished jobs) and its secret.
    Remove { name: String },
}

#[derive(Args, Debug)]
pub struct DestAddArgs {
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: DestKind,
    /// Read the password, token or key (a GCS service-account JSON) from
    /// standard input.
    #[arg(long)]
    pub secret_stdin: bool,
    /// At most this many uploads at once to it.
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// Seconds without an answer before an upload is given up and retried.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// folder: the folder.
    #[arg(long, value_name = "DIR", help_heading = "folder")]
    pub path: Option<PathBuf>,

    /// wordpress: the site's address (with its sub-path); http: the URL
    /// template ({file_name}, {hash}, {job}).
    #[arg(long, value_name = "URL", help_heading = "wordpress, http")]
    pub url: Option<String>,
    /// wordpress: the user the application password belongs to.
    #[arg(long, value_name = "USER", help_heading = "wordpress")]
    pub user: Option<String>,
    /// wordpress: the site has plain permalinks (REST at ?rest_route=).
    #[arg(long, help_heading = "wordpress")]
    pub plain_permalinks: bool,
    /// wordpress: attach uploads to this post (an item's `post` field wins).
    #[arg(long, value_name = "ID", help_heading = "wordpress")]
    pub post: Option<u64>,
    /// wordpress: make each upload the post's featured image.
    #[arg(long, help_heading = "wordpress")]
    pub featured: bool,
    /// wordpress: also set this ACF image field of the post.
    #[arg(long, value_name = "FIELD", help_heading = "wordpress")]
    pub acf_field: Option<String>,
    /// wordpress: after a crash or timeout mid-upload, how long the site may
    /// still be finishing it; it is sent again only once this has passed
    /// and the upload is not in the media library (default 120).
    #[arg(long, value_name = "SECONDS", help_heading = "wordpress")]
    pub settle_seconds: Option<u64>,

    /// http: `post` (multipart) or `put` (raw body).
    #[arg(long, value_enum, default_value = "post", help_heading = "http")]
    pub method: HttpMethodArg,
    /// http: the multipart field of the file.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "file",
        help_heading = "http"
    )]
    pub field: String,
    /// http: a header sent with every upload, `Name: value` (not secret).
    #[arg(long = "header", value_name = "NAME: VALUE", help_heading = "http")]
    pub headers: Vec<String>,
    /// http: how the secret is sent: `bearer`, or `header:NAME` (an API key).
    #[arg(long, value_name = "AUTH", help_heading = "http")]
    pub auth: Option<String>,
    /// http: the uploaded file's URL is at this JSON pointer of the answer.
    #[arg(long, value_name = "POINTER", help_heading = "http")]
    pub result_json_pointer: Option<String>,
    /// http: the uploaded file's URL is in this header of the answer.
    #[arg(long, value_name = "HEADER", help_heading = "http")]
    pub result_header: Option<String>,
    /// http: send the content hash in this header (e.g. Idempotency-Key).
    #[arg(long, value_name = "HEADER", help_heading = "http")]
    pub idempotency_header: Option<String>,

    /// s3, gcs: the bucket; azure: the container.
    #[arg(long, value_name = "NAME", help_heading = "s3, gcs, azure")]
    pub bucket: Option<String>,
    /// s3: the region (default us-east-1).
    #[arg(long, value_name = "REGION", help_heading = "s3, gcs, azure")]
    pub region: Option<String>,
    /// s3: an S3-compatible endpoint (path-style requests); azure: the
    /// account's blob endpoint, account included (`http://host:10000/account`).
    #[arg(long, value_name = "URL", help_heading = "s3, gcs, azure")]
    pub endpoint: Option<String>,
    /// azure: the storage account.
    #[arg(long, value_name = "NAME", help_heading = "s3, gcs, azure")]
    pub account: Option<String>,
    /// s3: the access key id (its secret key is the secret).
    #[arg(long, value_name = "ID", help_heading = "s3, gcs, azure")]
    pub access_key_id: Option<String>,
    /// The object key: {file_name}, {stem}, {ext}, {hash}, {job} and item
    /// fields (default `{hash}/{file_name}`).
    #[arg(long, value_name = "TEMPLATE", help_heading = "s3, gcs, azure")]
    pub key_template: Option<String>,
    /// The URL recorded is this plus `/KEY` (a CDN, say).
    #[arg(long, value_name = "URL", help_heading = "s3, gcs, azure")]
    pub public_url_base: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum HttpMethodArg {
    Post,
    Put,
}

#[derive(Subcommand, Debug)]
pub enum RecipeCommand {
    /// Save a recipe from a JSON file (`-` reads standard input), replacing
    /// the one of the same name; queued jobs keep the copy they were queued with.
    Save {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the recipes.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print a recipe as JSON (a starting point for your own).
    Show { name: String },
    /// Remove a saved recipe.
    Remove { name: String },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DestKind {
    Folder,
    Wordpress,
    Http,
    S3,
    Gcs,
    Azure,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Destination name (default: the folder ~/Pictures/Outbox).
    #[arg(long, value_name = "DEST")]
    pub to: Option<String>,
    /// Recipe: web (default), thumbnail, original, or a saved one.
    #[arg(long, value_name = "NAME")]
    pub recipe: Option<String>,
    /// A field for every item added, `key=value` (title, alt_text, caption,
    /// description, post…; recipes and destinations read them). Repeatable.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    /// Deliver this batch strictly in order.
    #[arg(long)]
    pub sequential: bool,
    /// A name for the batch.
    #[arg(long, value_name = "NAME")]
    pub batch: Option<String>,
    /// Queue again even what is queued or delivered already.
    #[arg(long)]
    pub force: bool,
    /// Automatic attempts per job.
    #[arg(long, default_value_t = outbox_engine::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Hold each output for review: it is uploaded once accepted
    /// (`outbox review`, `outbox accept`).
    #[arg(long)]
    pub review: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Add an AI provider. Its API key is read from standard input
    /// (`--secret-stdin`) or `OUTBOX_SECRET`, and kept in the OS keychain.
    Add(Box<ProviderAddArgs>),
    /// List the providers.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check that a provider is reachable and takes its key (generates nothing).
    Test { name: String },
    /// Replace a provider's API key (read as for `add`).
    Secret {
        name: String,
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Change some of a provider's settings (the others stay). Queued jobs
    /// use the new settings from their next attempt; their cost stays.
    Edit(Box<ProviderEditArgs>),
    /// Set or lift a provider's spending cap: an amount, or `none`. Jobs
    /// waiting at the old cap go on if the new one leaves room.
    Cap { name: String, amount: String },
    /// Remove a provider (refused while it has unfinished jobs) and its key.
    Remove { name: String },
}

#[derive(Args, Debug)]
pub struct ProviderAddArgs {
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: ProviderKindArg,
    /// Read the API key from standard input.
    #[arg(long)]
    pub secret_stdin: bool,
    /// The API's root, version included (default: the kind's own service;
    /// a compatible or self-hosted server's otherwise).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The model (default: gpt-image-1, gemini-2.5-flash-image).
    #[arg(long)]
    pub model: Option<String>,
    /// openai: `1024x1024`, `1536x1024`, `auto`…; gemini: the aspect ratio (`1:1`, `16:9`…).
    #[arg(long)]
    pub size: Option<String>,
    /// openai: `low`, `medium`, `high`, `auto`, `hd`…
    #[arg(long)]
    pub quality: Option<String>,
    /// openai: `b64_json` or `url`, for models that take it (not GPT image models).
    #[arg(long, value_name = "FORMAT")]
    pub response_format: Option<String>,
    /// Images per item (openai `n`); each is paid for, the first is the output.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Seconds one request may take (image models take 60–300 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Requests to this provider at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_concurrent: u32,
    /// Requests started per minute, spread evenly.
    #[arg(long, value_name = "N")]
    pub requests_per_minute: Option<u32>,
    /// What one image costs (for the money spent and to spend in `status`).
    #[arg(long, value_name = "AMOUNT")]
    pub cost_per_image: Option<f64>,
    /// The most this provider may cost in all; jobs that would pass it wait.
    #[arg(long, value_name = "AMOUNT")]
    pub spending_cap: Option<f64>,
    /// Automatic attempts of one generation at most (each may cost money).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_attempts: u32,
}

/// `provider edit`: only what is given changes. An empty text value goes
/// back to the kind's default.
#[derive(Args, Debug)]
pub struct ProviderEditArgs {
    pub name: String,
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub size: Option<String>,
    #[arg(long)]
    pub quality: Option<String>,
    #[arg(long, value_name = "FORMAT")]
    pub response_format: Option<String>,
    #[arg(long)]
    pub count: Option<u32>,
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// Requests started per minute, or `none` for no limit.
    #[arg(long, value_name = "N|none")]
    pub requests_per_minute: Option<String>,
    /// What one image costs, or `none`.
    #[arg(long, value_name = "AMOUNT|none")]
    pub cost_per_image: Option<String>,
    /// The most this provider may cost in all, or `none`; not below what it
    /// has spent already.
    #[arg(long, value_name = "AMOUNT|none")]
    pub spending_cap: Option<String>,
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ProviderKindArg {
    Openai,
    Gemini,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A CSV (header row; columns image/path/url plus any fields) or JSON
    /// (array of objects) manifest; image paths are relative to it.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Destination name (default: the folder ~/Pictures/Outbox).
    #[arg(long, value_name = "DEST")]
    pub to: Option<String>,
    /// Recipe: web (default), thumbnail, original, or a saved one.
    #[arg(long, value_name = "NAME")]
    pub recipe: Option<String>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    /// Deliver the items strictly in the manifest's order.
    #[arg(long)]
    pub sequential: bool,
    /// A name for the batch (default: the manifest's file name).
    #[arg(long, value_name = "NAME")]
    pub batch: Option<String>,
    /// Queue again even what is queued or delivered already.
    #[arg(long)]
    pub force: bool,
    /// Also download image URLs on this computer or a private network (a
    /// NAS, a local server); without it, only public addresses.
    #[arg(long)]
    pub private_addresses: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Stop when nothing is left to do (exit 1 if a job failed in this run).
    #[arg(long)]
    pub until_idle: bool,
    /// Uploads at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Outputs generated at once (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub generate_concurrency: Option<u32>,
    /// First retry delay in seconds (later ones double).
    #[arg(long, default_value_t = 2.0)]
    pub retry_delay: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The API's port (0: any free one; the line `api: URL` says which).
    #[arg(long, default_value_t = outbox_local_api::DEFAULT_PORT)]
    pub port: u16,
    /// Also answer the PicGo protocol (`POST /upload`) on this port; 36677
    /// lets editors set up for PicGo work unchanged. Off without it.
    #[arg(long, value_name = "PORT")]
    pub picgo_port: Option<u16>,
    /// PicGo uploads go to this destination (default: the folder ~/Pictures/Outbox).
    #[arg(long, value_name = "DEST")]
    pub picgo_to: Option<String>,
    /// PicGo uploads use this recipe (default: web).
    #[arg(long, value_name = "NAME")]
    pub picgo_recipe: Option<String>,
    /// The file holding the bearer token (made, readable by you only, when
    /// missing). Default: DATA/api-token. OUTBOX_API_TOKEN, when set, is the
    /// token itself instead.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// The largest request body, in MiB (files sent in one request).
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_mb: u64,
    /// Uploads at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Outputs generated at once (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub generate_concurrency: Option<u32>,
    /// First retry delay in seconds (later ones double).
    #[arg(long, default_value_t = 2.0)]
    pub retry_delay: f64,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
    /// Refresh until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// pending, processing, completed, failed, paused or cancelled.
    #[arg(long, value_parser = parse_state)]
    pub state: Option<outbox_engine::JobState>,
    #[arg(long, value_name = "ID")]
    pub batch: Option<i64>,
    /// Only jobs whose source path or name contains TEXT (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only jobs sent to this destination.
    #[arg(long, value_name = "NAME")]
    pub destination: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct RetryArgs {
    #[arg(value_name = "JOB")]
    pub jobs: Vec<i64>,
    /// Every failed job.
    #[arg(long)]
    pub failed: bool,
    /// The failed jobs of one batch.
    #[arg(long, value_name = "ID")]
    pub batch: Option<i64>,
}

#[derive(Args, Debug)]
pub struct BatchArg {
    /// Only this batch (default: the whole queue).
    #[arg(long, value_name = "ID")]
    pub batch: Option<i64>,
}

fn parse_state(s: &str) -> Result<outbox_engine::JobState, String> {
    outbox_engine::JobState::parse(s).ok_or_else(|| {
        "expected pending, processing, completed, failed, paused or cancelled".to_string()
    })
}

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// Completed jobs finished more than this many days ago go.
    #[arg(long, value_name = "DAYS")]
    pub completed_days: Option<i64>,
    /// Only the newest this many completed jobs stay.
    #[arg(long, value_name = "N")]
    pub completed_keep: Option<i64>,
    /// Only the newest this many failed or cancelled jobs stay.
    #[arg(long, value_name = "N")]
    pub failed_keep: Option<i64>,
    /// Remove what the rules no longer keep now, not at the worker's next turn.
    #[arg(long)]
    pub apply: bool,
    #[arg(long)]
    pub json: bool,
}
