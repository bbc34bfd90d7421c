//! Image benchmark: `cargo bench -p outbox-engine --bench images`.
//!
//! Prints figures; asserts nothing about timing. Every figure is measured
//! beside its reference in the same run, on the same files, and the ratio is
//! outbox cost / reference cost (time or memory; below 1 = outbox cheaper).
//! The references are libvips (`vipsthumbnail`), libjpeg-turbo (`djpeg`) and
//! the `image` crate; a reference whose tool is missing is skipped with a
//! note (`scripts/bench.sh` installs them).
//!
//! The bench makes its own corpus in a scratch folder (no downloads): a
//! camera-like 24 MP JPEG, a 12 MP JPEG with EXIF (orientation 6 and an
//! embedded thumbnail), a progressive 12 MP JPEG, a 12 MP PNG, a 6 MP WebP
//! and 100 mixed files. Process-against-process figures spawn the release
//! `outbox` binary (built here with `cargo build --release -p outbox`, or
//! taken from `OUTBOX_BIN`).
//!
//! `OUTBOX_BENCH_ONLY=preview,exif,web,batch,memory,formats` runs a subset.
//!
//! The last run's figures and where the time goes: docs/PERFORMANCE.md.

mod report;

#[path = "../tests/shared/exif.rs"]
mod exif;
use exif::{exif_tiff, with_exif};
use image::{ImageFormat, RgbImage};
use outbox_engine::pipeline::{Generate, LocalPipeline, SourceItem};
use outbox_engine::preview::{exif_thumbnail, preview, preview_file};
use outbox_engine::recipe::{self, Operation, Recipe};
use report::{machine_line, median, ms, print_table, progress, Figure};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use turbojpeg::{Compressor, Decompressor, PixelFormat, ScalingFactor, Subsamp};

const PREVIEW_SIZE: u32 = 512;
const WEB_EDGE: u32 = 2048;
/// Runs per process-against-process figure (the median is reported).
const PROCESS_RUNS: usize = 9;
const WEB_RUNS: usize = 5;
const MEMORY_RUNS: usize = 3;
const THUMBNAIL_CALLS: usize = 500;
const BATCH_JPEGS: usize = 90;
const BATCH_PNGS: usize = 10;
const BATCH_REPS: usize = 3;

fn main() {
    let scratch = tempfile::Builder::new()
        .prefix("outbox-images-bench-")
        .tempdir()
        .expect("create a scratch folder");
    let tools = Tools::find();
    header(scratch.path(), &tools);
    // OUTBOX_BENCH_KEEP=1 keeps the corpus and outputs (for profiling).
    let keep = std::env::var_os("OUTBOX_BENCH_KEEP").is_some();

    let only = std::env::var("OUTBOX_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    let mut figures = Vec::new();
    let mut notes = Vec::new();

    let outbox = outbox_binary(&mut notes);
    let corpus = Corpus::make(scratch.path(), &mut notes);

    if wanted("preview") {
        figures.extend(bench_preview(
            &corpus,
            &tools,
            outbox.as_deref(),
            &mut notes,
        ));
    }
    if wanted("exif") {
        figures.push(bench_exif(&corpus, &mut notes));
    }
    if wanted("web") {
        figures.extend(bench_web(&corpus, &tools, &mut notes));
    }
    if wanted("batch") {
        figures.extend(bench_batch(&corpus, &tools, &mut notes));
    }
    if wanted("memory") {
        figures.extend(bench_memory(&corpus, &tools, outbox.as_deref(), &mut notes));
    }
    if wanted("formats") {
        figures.extend(bench_formats(
            &corpus,
            &tools,
            outbox.as_deref(),
            &mut notes,
        ));
    }

    println!();
    print_table(&figures);
    println!();
    println!(
        "ratio = outbox cost / reference cost (time, or peak memory; below 1 = outbox cheaper)"
    );
    for note in &notes {
        println!("  * {note}");
    }
    if keep {
        let kept = scratch.keep();
        println!("  (scratch folder kept: {})", kept.display());
    }
}

// ---------------------------------------------------------------------------
// Reporting

fn header(scratch: &Path, tools: &Tools) {
    println!("Outbox image benchmark");
    println!("{}", machine_line());
    println!(
        "  vipsthumbnail: {}",
        tools
            .vips
            .as_ref()
            .map(|v| version_of(v, &["--vips-version"]))
            .unwrap_or_else(|| "missing".into())
    );
    println!(
        "  djpeg: {}",
        tools
            .djpeg
            .as_ref()
            .map(|d| version_of(d, &["-version"]))
            .unwrap_or_else(|| "missing".into())
    );
    println!(
        "  /usr/bin/time: {}",
        if tools.time.is_some() {
            "present"
        } else {
            "missing"
        }
    );
    println!(
        "  load average at start: {} (other work on the machine skews thread scaling)",
        load_average()
    );
    println!("  scratch folder (corpus, outputs): {}", scratch.display());
    println!();
}

/// The 1-, 5- and 15-minute load averages, from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The first line a tool prints about its version (on stdout or stderr).
fn version_of(tool: &Path, args: &[&str]) -> String {
    match Command::new(tool).args(args).stdin(Stdio::null()).output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("?")
                .to_string()
        }
        Err(e) => format!("cannot run: {e}"),
    }
}

fn ms_list(samples: &[Duration]) -> String {
    let list: Vec<String> = samples
        .iter()
        .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
        .collect();
    format!("[{}] ms", list.join(", "))
}

fn ratio(outbox: Duration, reference: Duration) -> f64 {
    outbox.as_secs_f64() / reference.as_secs_f64()
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

// ---------------------------------------------------------------------------
// Tools and processes

struct Tools {
    vips: Option<PathBuf>,
    djpeg: Option<PathBuf>,
    time: Option<PathBuf>,
}

impl Tools {
    fn find() -> Tools {
        Tools {
            vips: which("vipsthumbnail"),
            djpeg: which("djpeg"),
            // GNU time (the shell keyword cannot report memory).
            time: Some(PathBuf::from("/usr/bin/time")).filter(|p| p.is_file()),
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The release `outbox` binary: `OUTBOX_BIN`, or built next to this bench.
fn outbox_binary(notes: &mut Vec<String>) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("OUTBOX_BIN") {
        return Some(PathBuf::from(bin));
    }
    // This bench runs from target/release/deps/; the binary lands in target/release/.
    let exe = std::env::current_exe().expect("the bench's own path");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from target/<profile>/deps")
        .to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    progress("building the release `outbox` binary (cargo build --release -p outbox)");
    let target_dir = release.parent().map(Path::to_path_buf);
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "-p", "outbox", "--quiet"])
        .current_dir(&workspace);
    if let Some(dir) = target_dir {
        build.env("CARGO_TARGET_DIR", dir);
    }
    let built = build.status();
    let bin = release.join("outbox");
    match built {
        Ok(status) if status.success() && bin.is_file() => Some(bin),
        other => {
            notes.push(format!(
                "the release `outbox` binary could not be built ({other:?}): the \
                 process-against-process figures are skipped"
            ));
            None
        }
    }
}

/// Wall time of one process run; panics if it fails.
fn run_timed(cmd: &mut Command) -> Duration {
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let start = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output();
    let elapsed = start.elapsed();
    let out = out.unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Medians of interleaved runs of several commands (one warm-up each), so
/// that drift on a noisy machine hits every command alike.
fn interleaved(
    commands: &mut [Box<dyn FnMut() -> Duration + '_>],
    runs: usize,
) -> Vec<Vec<Duration>> {
    for command in commands.iter_mut() {
        command();
    }
    let mut samples = vec![Vec::with_capacity(runs); commands.len()];
    for _ in 0..runs {
        for (command, samples) in commands.iter_mut().zip(&mut samples) {
            samples.push(command());
        }
    }
    samples
}

// ---------------------------------------------------------------------------
// The corpus

struct Corpus {
    /// 6000×4000 camera-like, q92, 4:2:0.
    big: PathBuf,
    /// 4000×3000, EXIF orientation 6 and a 160×120 thumbnail.
    exif: PathBuf,
    /// 4000×3000 progressive, q90.
    progressive: PathBuf,
    /// 4000×3000 PNG.
    png: PathBuf,
    /// 3000×2000 lossless WebP.
    webp: PathBuf,
    /// 90 JPEGs of 2–12 MP and 10 PNGs of 2–4 MP.
    batch: Vec<PathBuf>,
    root: PathBuf,
}

impl Corpus {
    fn make(scratch: &Path, notes: &mut Vec<String>) -> Corpus {
        let root = scratch.join("corpus");
        std::fs::create_dir_all(&root).expect("create the corpus folder");
        let start = Instant::now();

        progress("corpus: 24 MP camera-like JPEG (6000×4000, q92, 4:2:0)");
        let canvas = camera_like(6000, 4000, 1);
        let big = root.join("big-24mp.jpg");
        let big_bytes = turbo_jpeg(&canvas, 92, Subsamp::Sub2x2, false);
        std::fs::write(&big, &big_bytes).expect("write the 24 MP JPEG");

        progress("corpus: 12 MP JPEG with EXIF (orientation 6, 160×120 thumbnail)");
        let twelve = camera_like(4000, 3000, 2);
        let thumb = image::imageops::thumbnail(&twelve, 160, 120);
        let thumb_jpeg = turbo_jpeg(&thumb, 80, Subsamp::Sub2x2, false);
        let main = turbo_jpeg(&twelve, 92, Subsamp::Sub2x2, false);
        let exif = root.join("exif-12mp.jpg");
        let exif_bytes = with_exif(&main, &exif_tiff(6, Some(&thumb_jpeg)));
        std::fs::write(&exif, &exif_bytes).expect("write the EXIF JPEG");

        progress("corpus: 12 MP progressive JPEG, 12 MP PNG, 6 MP WebP");
        let progressive = root.join("progressive-12mp.jpg");
        let progressive_bytes = turbo_jpeg(&twelve, 90, Subsamp::Sub2x2, true);
        std::fs::write(&progressive, &progressive_bytes).expect("write the progressive JPEG");
        let png = root.join("big-12mp.png");
        twelve.save(&png).expect("write the PNG");
        let webp = root.join("medium-6mp.webp");
        crop(&canvas, 1000, 500, 3000, 2000)
            .save(&webp)
            .expect("write the WebP");
        drop(twelve);

        progress("corpus: 100 mixed files (90 JPEGs of 2–12 MP, 10 PNGs of 2–4 MP)");
        let batch_dir = root.join("batch");
        std::fs::create_dir_all(&batch_dir).expect("create the batch folder");
        let mut batch = Vec::new();
        let mut batch_bytes = 0_u64;
        let mut pixels = 0_u64;
        for i in 0..BATCH_JPEGS + BATCH_PNGS {
            let is_png = i % 10 == 9;
            let mp = if is_png { 2 + i % 3 } else { 2 + (i * 7) % 11 } as f64;
            // Landscape 3:2, portrait 2:3, landscape 4:3 in turn.
            let aspect = [1.5, 2.0 / 3.0, 4.0 / 3.0][i % 3];
            let w = ((mp * 1e6 * aspect).sqrt() as u32).min(canvas.width());
            let h = ((mp * 1e6 / f64::from(w)) as u32).min(canvas.height());
            let x = (i as u32 * 397) % (canvas.width() - w + 1);
            let y = (i as u32 * 211) % (canvas.height() - h + 1);
            let crop = crop(&canvas, x, y, w, h);
            pixels += u64::from(w) * u64::from(h);
            let path = if is_png {
                let path = batch_dir.join(format!("img{i:03}.png"));
                crop.save(&path).expect("write a batch PNG");
                path
            } else {
                let path = batch_dir.join(format!("img{i:03}.jpg"));
                let subsamp = if i % 4 == 3 {
                    Subsamp::Sub2x1
                } else {
                    Subsamp::Sub2x2
                };
                let bytes = turbo_jpeg(&crop, 85 + (i % 11) as i32, subsamp, false);
                std::fs::write(&path, bytes).expect("write a batch JPEG");
                path
            };
            batch_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            batch.push(path);
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        notes.push(format!(
            "corpus (made in {:.1} s): 24 MP JPEG {}, 12 MP EXIF JPEG {} (thumbnail {} bytes), \
             progressive 12 MP {}, 12 MP PNG {}, 6 MP lossless WebP {}; batch of {} files, \
             {:.0} MP, {} in all",
            start.elapsed().as_secs_f64(),
            megabytes(size(&big)),
            megabytes(size(&exif)),
            thumb_jpeg.len(),
            megabytes(size(&progressive)),
            megabytes(size(&png)),
            megabytes(size(&webp)),
            batch.len(),
            pixels as f64 / 1e6,
            megabytes(batch_bytes),
        ));
        Corpus {
            big,
            exif,
            progressive,
            png,
            webp,
            batch,
            root,
        }
    }
}

/// Smooth gradients (the light), two octaves of value noise (texture of
/// surfaces), hard-edged patches (objects) and per-pixel sensor noise: about
/// the entropy of a camera JPEG at q92, unlike flat colour.
fn camera_like(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (wu, hu) = (w as usize, h as usize);
    // Per-column and per-row light, per channel.
    let phases: Vec<f32> = (0..12).map(|_| rng.f32() * std::f32::consts::TAU).collect();
    let light = |t: f32, c: usize, k: usize| {
        70.0 * (t * 1.7 + phases[c + k]).cos() + 25.0 * (t * 5.3 + phases[c + 3 + k]).cos()
    };
    let cols: Vec<[f32; 3]> = (0..wu)
        .map(|x| {
            let t = x as f32 / w as f32 * 3.0;
            [light(t, 0, 0), light(t, 1, 0), light(t, 2, 0)]
        })
        .collect();
    let rows: Vec<[f32; 3]> = (0..hu)
        .map(|y| {
            let t = y as f32 / h as f32 * 3.0;
            [light(t, 0, 6), light(t, 1, 6), light(t, 2, 6)]
        })
        .collect();
    struct Octave {
        cell: usize,
        gw: usize,
        grid: Vec<[f32; 3]>,
    }
    let octave = |rng: &mut fastrand::Rng, cell: usize, amplitude: f32| {
        let gw = wu / cell + 2;
        let gh = hu / cell + 2;
        let grid = (0..gw * gh)
            .map(|_| {
                let l = (rng.f32() - 0.5) * amplitude;
                // Mostly luminance, a little colour.
                [
                    l + (rng.f32() - 0.5) * amplitude * 0.3,
                    l + (rng.f32() - 0.5) * amplitude * 0.3,
                    l + (rng.f32() - 0.5) * amplitude * 0.3,
                ]
            })
            .collect();
        Octave { cell, gw, grid }
    };
    let octaves = [octave(&mut rng, 97, 70.0), octave(&mut rng, 5, 44.0)];
    // Hard-edged patches: a colour offset per 160-pixel block (jittered rows).
    let patch = |x: usize, y: usize| {
        let bx = (x + (y / 160) * 53) / 160;
        let by = y / 160;
        let hash = (bx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (by as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ seed;
        let hash = hash.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        if hash >> 62 == 0 {
            [
                ((hash >> 8) & 63) as f32 - 32.0,
                ((hash >> 16) & 63) as f32 - 32.0,
                ((hash >> 24) & 63) as f32 - 32.0,
            ]
        } else {
            [0.0; 3]
        }
    };
    let mut pixels = vec![0_u8; wu * hu * 3];
    for (y, row) in pixels.chunks_exact_mut(wu * 3).enumerate() {
        let mut noise =
            fastrand::Rng::with_seed(seed ^ (y as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let mut v = [128.0_f32; 3];
            for o in &octaves {
                let (gx, fx) = (x / o.cell, (x % o.cell) as f32 / o.cell as f32);
                let (gy, fy) = (y / o.cell, (y % o.cell) as f32 / o.cell as f32);
                let at = |i: usize, j: usize| o.grid[j * o.gw + i];
                let (a, b, c, d) = (
                    at(gx, gy),
                    at(gx + 1, gy),
                    at(gx, gy + 1),
                    at(gx + 1, gy + 1),
                );
                for k in 0..3 {
                    let top = a[k] + (b[k] - a[k]) * fx;
                    let bottom = c[k] + (d[k] - c[k]) * fx;
                    v[k] += top + (bottom - top) * fy;
                }
            }
            let p = patch(x, y);
            let n = noise.u32(..);
            // Sensor grain, mostly in luminance as a camera's JPEG engine leaves
            // it (chroma noise is smoothed): triangular, about ±8 levels,
            // plus ±2 levels per channel.
            let luma = ((n & 15) as f32 + ((n >> 4) & 15) as f32 - 15.0) * 0.55;
            for k in 0..3 {
                let chroma = ((n >> (8 + 5 * k)) & 31) as f32 / 7.75 - 2.0;
                let value = v[k] + 0.5 * (cols[x][k] + rows[y][k]) + p[k] + luma + chroma;
                px[k] = value.clamp(0.0, 255.0) as u8;
            }
        }
    }
    RgbImage::from_raw(w, h, pixels).expect("the canvas has w×h pixels")
}

/// A copy of a rectangle of `canvas`, row by row (`SubImage::to_image` goes
/// pixel by pixel, several times slower).
fn crop(canvas: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> RgbImage {
    let stride = canvas.width() as usize * 3;
    let (x, w) = (x as usize * 3, w as usize * 3);
    let mut pixels = Vec::with_capacity(w * h as usize);
    for row in canvas
        .as_raw()
        .chunks_exact(stride)
        .skip(y as usize)
        .take(h as usize)
    {
        pixels.extend_from_slice(&row[x..x + w]);
    }
    RgbImage::from_raw((w / 3) as u32, h, pixels).expect("a crop inside the canvas")
}

fn turbo_jpeg(image: &RgbImage, quality: i32, subsamp: Subsamp, progressive: bool) -> Vec<u8> {
    let mut compressor = Compressor::new().expect("a libjpeg-turbo compressor");
    compressor.set_quality(quality).expect("set the quality");
    compressor
        .set_subsamp(subsamp)
        .expect("set the subsampling");
    compressor
        .set_progressive(progressive)
        .expect("set progressive");
    compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: image.width() as usize,
            pitch: 3 * image.width() as usize,
            height: image.height() as usize,
            format: PixelFormat::RGB,
        })
        .expect("encode a corpus JPEG")
}

// ---------------------------------------------------------------------------
// 1. Preview 512 of the 24 MP JPEG, process against process

fn bench_preview(
    corpus: &Corpus,
    tools: &Tools,
    outbox: Option<&Path>,
    notes: &mut Vec<String>,
) -> Vec<Figure> {
    progress("1/6 preview 512 of the 24 MP JPEG, process against process (median of 9)");
    let out_dir = corpus.root.join("out-preview");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let size = PREVIEW_SIZE.to_string();
    let big = &corpus.big;

    // In process: the same call the CLI makes, and its parts.
    let bytes = std::fs::read(big).expect("read the 24 MP JPEG");
    let check = preview(&bytes, ImageFormat::Jpeg, PREVIEW_SIZE).expect("preview");
    assert_eq!((check.width, check.height), (512, 341), "preview size");
    let mut in_process = Vec::new();
    let mut from_file = Vec::new();
    let mut decode_only = Vec::new();
    for _ in 0..PROCESS_RUNS {
        let start = Instant::now();
        black_box(preview(&bytes, ImageFormat::Jpeg, PREVIEW_SIZE).expect("preview"));
        in_process.push(start.elapsed());
        let start = Instant::now();
        black_box(preview_file(big, PREVIEW_SIZE).expect("preview_file"));
        from_file.push(start.elapsed());
        let start = Instant::now();
        black_box(turbo_decode_scaled(&bytes, ScalingFactor::ONE_EIGHTH));
        decode_only.push(start.elapsed());
    }
    notes.push(format!(
        "preview 512 in process (24 MP JPEG): preview() {} (median of {PROCESS_RUNS}), \
         preview_file() {}; libjpeg-turbo's DCT-1/8 decode alone (turbojpeg crate, 750×500 RGB) {}",
        ms(median(in_process)),
        ms(median(from_file)),
        ms(median(decode_only)),
    ));

    let Some(outbox) = outbox else {
        return Vec::new();
    };
    let outbox_out = out_dir.join("outbox.jpg");
    let vips_out = out_dir.join("vips.jpg");
    let mut commands: Vec<Box<dyn FnMut() -> Duration + '_>> = vec![
        Box::new(|| {
            run_timed(
                Command::new(outbox)
                    .arg("preview")
                    .arg(big)
                    .arg("-o")
                    .arg(&outbox_out)
                    .args(["--size", &size]),
            )
        }),
        // What starting the binary costs, with no image work.
        Box::new(|| run_timed(Command::new(outbox).arg("--version"))),
    ];
    let (size_arg, vips_out_arg) = (size.as_str(), vips_out.as_path());
    if let Some(vips) = &tools.vips {
        commands.push(Box::new(move || {
            run_timed(
                Command::new(vips)
                    .arg(big)
                    .args(["-s", size_arg, "-o"])
                    .arg(vips_out_arg),
            )
        }));
    }
    if let Some(djpeg) = &tools.djpeg {
        // stdout goes to /dev/null (run_timed).
        commands.push(Box::new(move || {
            run_timed(Command::new(djpeg).args(["-scale", "1/8"]).arg(big))
        }));
    }
    let mut samples = interleaved(&mut commands, PROCESS_RUNS).into_iter();
    drop(commands);
    let outbox_times = samples.next().expect("outbox samples");
    let startup = median(samples.next().expect("start-up samples"));
    let outbox_time = median(outbox_times.clone());
    notes.push(format!(
        "preview 512 process runs: outbox {}; starting the binary alone (`outbox --version`) {}",
        ms_list(&outbox_times),
        ms(startup)
    ));

    let mut figures = Vec::new();
    let name = "preview 512 of 24 MP JPEG, process vs process (median of 9)".to_string();
    // The references, in the order their commands were queued above.
    let references = [
        (
            tools.vips.is_some(),
            "vipsthumbnail",
            "vipsthumbnail -s 512",
            "<= 0.6x",
            0.6,
        ),
        (
            tools.djpeg.is_some(),
            "djpeg",
            "djpeg -scale 1/8 > /dev/null",
            "<= 1.15x",
            1.15,
        ),
    ];
    for (present, tool, command, target, limit) in references {
        if !present {
            notes.push(format!("preview 512: {tool} missing, reference skipped"));
            continue;
        }
        let runs = samples.next().expect("reference samples");
        let label = command.trim_end_matches(" > /dev/null");
        notes.push(format!(
            "preview 512 process runs: {label} {}",
            ms_list(&runs)
        ));
        let reference = median(runs);
        let r = ratio(outbox_time, reference);
        figures.push(Figure {
            name: format!("{name}: vs {command}"),
            outbox: ms(outbox_time),
            reference: ms(reference),
            ratio: Some(r),
            target,
            met: Some(r <= limit),
        });
    }
    figures
}

/// libjpeg-turbo's own decode at `scale`, as RGB: (pixels, width, height).
fn turbo_decode_scaled(bytes: &[u8], scale: ScalingFactor) -> (Vec<u8>, usize, usize) {
    let mut decompressor = Decompressor::new().expect("a libjpeg-turbo decompressor");
    let header = decompressor.read_header(bytes).expect("a JPEG header");
    decompressor
        .set_scaling_factor(scale)
        .expect("a supported scale");
    let scaled = header.scaled(scale);
    let mut image = turbojpeg::Image {
        pixels: vec![0; 3 * scaled.width * scaled.height],
        width: scaled.width,
        pitch: 3 * scaled.width,
        height: scaled.height,
        format: PixelFormat::RGB,
    };
    decompressor
        .decompress(bytes, image.as_deref_mut())
        .expect("a scaled decode");
    (image.pixels, scaled.width, scaled.height)
}

// ---------------------------------------------------------------------------
// 2. EXIF thumbnail of the 12 MP file, in process

fn bench_exif(corpus: &Corpus, notes: &mut Vec<String>) -> Figure {
    progress("2/6 EXIF thumbnail preview of the 12 MP file, in process");
    let bytes = std::fs::read(&corpus.exif).expect("read the EXIF JPEG");
    let thumb = exif_thumbnail(&bytes).expect("the corpus file has an EXIF thumbnail");
    assert_eq!(
        (thumb.width, thumb.height),
        (120, 160),
        "orientation 6 turns the 160×120 thumbnail upright"
    );
    let mut thumb_times = Vec::with_capacity(THUMBNAIL_CALLS);
    for _ in 0..THUMBNAIL_CALLS {
        let start = Instant::now();
        black_box(exif_thumbnail(black_box(&bytes)));
        thumb_times.push(start.elapsed());
    }
    let mut full_times = Vec::new();
    for _ in 0..PROCESS_RUNS {
        let start = Instant::now();
        black_box(preview(&bytes, ImageFormat::Jpeg, PREVIEW_SIZE).expect("preview"));
        full_times.push(start.elapsed());
    }
    let p = preview(&bytes, ImageFormat::Jpeg, PREVIEW_SIZE).expect("preview");
    notes.push(format!(
        "EXIF thumbnail: {}×{} upright from a 160×120 thumbnail; the reference is preview(512) of \
         the same 12 MP file in process ({}×{}, DCT-scaled decode; median of {PROCESS_RUNS})",
        thumb.width, thumb.height, p.width, p.height
    ));
    let (thumb_time, full) = (median(thumb_times), median(full_times));
    Figure {
        name: format!("EXIF thumbnail of 12 MP JPEG, in process (median of {THUMBNAIL_CALLS})"),
        outbox: format!("{:.3} ms", thumb_time.as_secs_f64() * 1e3),
        reference: format!("{} (preview 512)", ms(full)),
        ratio: Some(ratio(thumb_time, full)),
        target: "<= 5 ms",
        met: Some(thumb_time <= Duration::from_millis(5)),
    }
}

// ---------------------------------------------------------------------------
// 3. The `web` output of the 24 MP JPEG

fn bench_web(corpus: &Corpus, tools: &Tools, notes: &mut Vec<String>) -> Vec<Figure> {
    progress("3/6 `web` output (2048, q90) of the 24 MP JPEG: LocalPipeline vs vipsthumbnail");
    let web = recipe::find_recipe("web").expect("the built-in web recipe");
    let out_dir = corpus.root.join("out-web");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let vips_out = out_dir.join("vips.jpg");
    let vips_arg = format!("{}[Q=90]", vips_out.display());
    let edge_string = WEB_EDGE.to_string();
    let pipeline = LocalPipeline::default();
    let output = pipeline
        .generate(SourceItem::file(&corpus.big), &web)
        .expect("generate web");
    assert_eq!((output.width, output.height), (2048, 1365), "web size");

    // The worker's generator also makes the output's preview from the same
    // decoded pixels; timed beside the output alone.
    let with_preview = LocalPipeline::with_preview(PREVIEW_SIZE);
    let web_ref = &web;
    let timed = |pipeline: LocalPipeline| {
        move || {
            let start = Instant::now();
            black_box(
                pipeline
                    .generate(SourceItem::file(&corpus.big), web_ref)
                    .expect("generate web"),
            );
            start.elapsed()
        }
    };
    let mut commands: Vec<Box<dyn FnMut() -> Duration + '_>> =
        vec![Box::new(timed(pipeline)), Box::new(timed(with_preview))];
    let (edge_arg, vips_arg_ref) = (edge_string.as_str(), vips_arg.as_str());
    if let Some(vips) = &tools.vips {
        commands.push(Box::new(move || {
            run_timed(Command::new(vips).arg(&corpus.big).args([
                "-s",
                edge_arg,
                "-o",
                vips_arg_ref,
            ]))
        }));
    }
    let mut samples = interleaved(&mut commands, WEB_RUNS).into_iter();
    drop(commands);
    let outbox_times = samples.next().expect("outbox samples");
    let outbox_time = median(outbox_times.clone());
    let both_times = samples.next().expect("output and preview samples");
    let both_time = median(both_times.clone());
    notes.push(format!(
        "web: LocalPipeline::generate (reads the file, hashes it, decodes, orients, resizes, \
         encodes) {}; with the {PREVIEW_SIZE} px preview from the same decode {}",
        ms_list(&outbox_times),
        ms_list(&both_times)
    ));

    // Quality: against a full-resolution Lanczos3 reference made with `image`.
    progress("3/6 PSNR against a full-resolution Lanczos3 reference (image crate)");
    let start = Instant::now();
    let full = image::open(&corpus.big)
        .expect("decode the 24 MP JPEG with image")
        .to_rgb8();
    let decode_time = start.elapsed();
    let start = Instant::now();
    let reference = image::imageops::resize(
        &full,
        output.width,
        output.height,
        image::imageops::FilterType::Lanczos3,
    );
    let resize_time = start.elapsed();
    drop(full);
    let ours = image::load_from_memory_with_format(&output.bytes, ImageFormat::Jpeg)
        .expect("the web output is a JPEG")
        .to_rgb8();
    let outbox_psnr = psnr(&ours, &reference);
    notes.push(psnr_breakdown(&corpus.big, &reference));
    notes.push(format!(
        "web: output {}×{}, {}; the reference took {} to decode with `image` (zune-jpeg, full \
         size) and {} to resize with `image`'s Lanczos3 — the naive route",
        output.width,
        output.height,
        megabytes(output.bytes.len() as u64),
        ms(decode_time),
        ms(resize_time),
    ));

    let r = ratio(both_time, outbox_time);
    let mut figures = vec![Figure {
        name: format!(
            "web output and its {PREVIEW_SIZE} px preview from one decode vs the output alone \
             (in process, median of {WEB_RUNS})"
        ),
        outbox: ms(both_time),
        reference: ms(outbox_time),
        ratio: Some(r),
        target: "<= 1.1x",
        met: Some(r <= 1.1),
    }];
    match &tools.vips {
        Some(_) => {
            let vips = samples.next().expect("vips samples");
            notes.push(format!(
                "web: vipsthumbnail -s 2048 Q=90 {}",
                ms_list(&vips)
            ));
            let vips_time = median(vips);
            if let Ok(theirs) = image::open(&vips_out) {
                let theirs = theirs.to_rgb8();
                if theirs.dimensions() == reference.dimensions() {
                    notes.push(format!(
                        "web: vipsthumbnail's output scores {:.1} dB PSNR against the same \
                         reference ({})",
                        psnr(&theirs, &reference),
                        megabytes(std::fs::metadata(&vips_out).map(|m| m.len()).unwrap_or(0)),
                    ));
                } else {
                    notes.push(format!(
                        "web: vipsthumbnail made {}×{}, not comparable by PSNR",
                        theirs.width(),
                        theirs.height()
                    ));
                }
            }
            let r = ratio(outbox_time, vips_time);
            figures.push(Figure {
                name: format!(
                    "web (2048 q90) of 24 MP JPEG: LocalPipeline in process vs vipsthumbnail \
                     process (median of {WEB_RUNS})"
                ),
                outbox: ms(outbox_time),
                reference: ms(vips_time),
                ratio: Some(r),
                target: "<= 0.5x",
                met: Some(r <= 0.5),
            });
        }
        None => {
            notes.push("web: vipsthumbnail missing, reference skipped".into());
            figures.push(Figure {
                name: format!("web (2048 q90) of 24 MP JPEG, in process (median of {WEB_RUNS})"),
                outbox: ms(outbox_time),
                reference: "skipped (no vipsthumbnail)".into(),
                ratio: None,
                target: "<= 0.5x",
                met: None,
            });
        }
    }
    figures.push(Figure {
        name: "web output PSNR vs full-resolution Lanczos3 reference".into(),
        outbox: format!("{outbox_psnr:.1} dB"),
        reference: "image decode + resize Lanczos3".into(),
        ratio: None,
        target: ">= 45 dB",
        met: Some(outbox_psnr >= 45.0),
    });

    // Where orientation sits in the recipe: the 12 MP file has orientation 6.
    progress("3/6 web output of the 12 MP orientation-6 file, with and without AutoOrient");
    let no_orient = Recipe {
        name: "web-no-orient".into(),
        operations: web
            .operations
            .iter()
            .filter(|op| !matches!(op, Operation::AutoOrient))
            .cloned()
            .collect(),
    };
    let mut commands: Vec<Box<dyn FnMut() -> Duration + '_>> = vec![
        Box::new(|| {
            let start = Instant::now();
            black_box(
                pipeline
                    .generate(SourceItem::file(&corpus.exif), &web)
                    .expect("generate web"),
            );
            start.elapsed()
        }),
        Box::new(|| {
            let start = Instant::now();
            black_box(
                pipeline
                    .generate(SourceItem::file(&corpus.exif), &no_orient)
                    .expect("generate"),
            );
            start.elapsed()
        }),
    ];
    let mut samples = interleaved(&mut commands, WEB_RUNS).into_iter();
    drop(commands);
    let (with, without) = (
        median(samples.next().expect("samples")),
        median(samples.next().expect("samples")),
    );
    notes.push(format!(
        "web of the 12 MP orientation-6 JPEG: {} with AutoOrient (the pipeline turns after the \
         fit, which commutes with it), {} without it: turning costs {}",
        ms(with),
        ms(without),
        ms(with.saturating_sub(without)),
    ));
    figures
}

/// Where the web output's error comes from: the shrink-on-load route's
/// pixels before encoding (DCT 1/2 with libjpeg-turbo, then Lanczos3 with
/// `fast_image_resize`, made here the way the engine makes them), and what
/// encoding the reference itself at q90 costs.
fn psnr_breakdown(source: &Path, reference: &RgbImage) -> String {
    let bytes = std::fs::read(source).expect("read the 24 MP JPEG");
    let (pixels, half_width, half_height) = turbo_decode_scaled(&bytes, ScalingFactor::ONE_HALF);
    let (w, h) = reference.dimensions();
    let source = fast_image_resize::images::Image::from_vec_u8(
        u32::try_from(half_width).expect("a width"),
        u32::try_from(half_height).expect("a height"),
        pixels,
        fast_image_resize::PixelType::U8x3,
    )
    .expect("a resizer image");
    let mut target =
        fast_image_resize::images::Image::new(w, h, fast_image_resize::PixelType::U8x3);
    fast_image_resize::Resizer::new()
        .resize(
            &source,
            &mut target,
            &fast_image_resize::ResizeOptions::new().resize_alg(
                fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Lanczos3),
            ),
        )
        .expect("resize");
    let route = RgbImage::from_raw(w, h, target.into_vec()).expect("w×h pixels");
    let encoded = |image: &RgbImage, subsamp: Subsamp| {
        let jpeg = turbo_jpeg(image, 90, subsamp, false);
        let back = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg)
            .expect("decode a JPEG just made")
            .to_rgb8();
        psnr(&back, reference)
    };
    format!(
        "web PSNR, where the error comes from: the shrink-on-load route's pixels before \
         encoding (DCT 1/2, then fast_image_resize Lanczos3) score {:.1} dB against the \
         reference; the reference itself encoded by libjpeg-turbo at q90 scores {:.1} dB with \
         4:2:0 (what outputs use) and {:.1} dB with 4:4:4 — the ceiling for any q90 output of \
         this content",
        psnr(&route, reference),
        encoded(reference, Subsamp::Sub2x2),
        encoded(reference, Subsamp::None),
    )
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "PSNR needs equal sizes");
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    let mse = sum as f64 / a.as_raw().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0 * 255.0 / mse).log10()
}

// ---------------------------------------------------------------------------
// 4. 100 mixed files: thread scaling and throughput against libvips

fn previews_with_threads(files: &[PathBuf], threads: usize) -> Duration {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let p = preview_file(path, PREVIEW_SIZE)
                    .unwrap_or_else(|e| panic!("preview of {}: {e}", path.display()));
                black_box(p);
            });
        }
    });
    start.elapsed()
}

fn bench_batch(corpus: &Corpus, tools: &Tools, notes: &mut Vec<String>) -> Vec<Figure> {
    let n = corpus.batch.len();
    progress(&format!(
        "4/6 {n} mixed files: previews 512 with 1 and 2 threads, and vipsthumbnail (median of {BATCH_REPS})"
    ));
    let out_dir = corpus.root.join("out-batch");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let pattern = format!("{}/%s.jpg", out_dir.display());
    let size = PREVIEW_SIZE.to_string();
    let mut commands: Vec<Box<dyn FnMut() -> Duration + '_>> = vec![
        Box::new(|| previews_with_threads(&corpus.batch, 1)),
        Box::new(|| previews_with_threads(&corpus.batch, 2)),
    ];
    let (size_arg, pattern_arg) = (size.as_str(), pattern.as_str());
    if let Some(vips) = &tools.vips {
        commands.push(Box::new(move || {
            run_timed(
                Command::new(vips)
                    .args(["-s", size_arg, "-o", pattern_arg])
                    .args(&corpus.batch),
            )
        }));
    }
    let mut samples = interleaved(&mut commands, BATCH_REPS).into_iter();
    drop(commands);
    let one = samples.next().expect("1-thread samples");
    let two = samples.next().expect("2-thread samples");
    notes.push(format!(
        "batch: 1 thread {}, 2 threads {}",
        ms_list(&one),
        ms_list(&two)
    ));
    let (one, two) = (median(one), median(two));
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let scaling = one.as_secs_f64() / two.as_secs_f64();
    let mut figures = vec![Figure {
        name: format!("{n} mixed previews 512: 2 threads vs 1 thread (in process)"),
        outbox: format!("{:.1} images/s", rate(two)),
        reference: format!("{:.1} images/s (1 thread)", rate(one)),
        ratio: Some(ratio(two, one)),
        target: "scaling >= 1.8x (ratio <= 0.56)",
        met: Some(scaling >= 1.8),
    }];
    notes.push(format!(
        "batch: 2 threads scale {scaling:.2}× over 1 (load average after the runs: {}; \
         anything else running takes a core from the 2-thread runs)",
        load_average()
    ));
    match &tools.vips {
        Some(_) => {
            let vips = samples.next().expect("vips samples");
            notes.push(format!(
                "batch: vipsthumbnail is one process given all {n} files (`vipsthumbnail -s 512 \
                 -o DIR/%s.jpg f1 … f{n}`), which works through them one after another with \
                 its own threads: {}",
                ms_list(&vips)
            ));
            let vips = median(vips);
            let r = ratio(two, vips);
            figures.push(Figure {
                name: format!(
                    "{n} mixed previews 512: outbox 2 threads vs one vipsthumbnail process"
                ),
                outbox: format!("{:.1} images/s", rate(two)),
                reference: format!("{:.1} images/s", rate(vips)),
                ratio: Some(r),
                target: ">= 2x images/s (ratio <= 0.5)",
                met: Some(r <= 0.5),
            });
        }
        None => notes.push("batch: vipsthumbnail missing, reference skipped".into()),
    }
    figures
}

// ---------------------------------------------------------------------------
// 5. Peak memory of one 24 MP preview, process against process

/// Peak resident set size in kB, from GNU time's `%M`.
fn peak_kb(time: &Path, command: &[&std::ffi::OsStr], report: &Path) -> u64 {
    let status = Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(report)
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run /usr/bin/time");
    assert!(status.success(), "{command:?} failed under /usr/bin/time");
    std::fs::read_to_string(report)
        .expect("read time's report")
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .expect("time reports %M")
}

fn bench_memory(
    corpus: &Corpus,
    tools: &Tools,
    outbox: Option<&Path>,
    notes: &mut Vec<String>,
) -> Vec<Figure> {
    progress("5/6 peak memory of one 24 MP preview, process against process (/usr/bin/time %M)");
    let (Some(time), Some(outbox)) = (&tools.time, outbox) else {
        notes.push("memory: /usr/bin/time or the outbox binary missing, figure skipped".into());
        return Vec::new();
    };
    let out_dir = corpus.root.join("out-memory");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let report = out_dir.join("time.txt");
    let out = out_dir.join("out.jpg");
    let size = PREVIEW_SIZE.to_string();
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let measure = |command: &[&std::ffi::OsStr]| {
        let mut kb: Vec<u64> = (0..MEMORY_RUNS)
            .map(|_| peak_kb(time, command, &report))
            .collect();
        kb.sort_unstable();
        kb[kb.len() / 2]
    };
    let outbox_kb = measure(&[
        outbox.as_os_str(),
        os("preview"),
        corpus.big.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--size"),
        std::ffi::OsStr::new(&size),
    ]);
    let startup_kb = measure(&[outbox.as_os_str(), os("--version")]);
    let mut extra = format!(
        "memory: peak RSS (median of {MEMORY_RUNS}): outbox preview {outbox_kb} kB, \
         `outbox --version` {startup_kb} kB"
    );
    if let Some(djpeg) = &tools.djpeg {
        let djpeg_kb = measure(&[
            djpeg.as_os_str(),
            os("-scale"),
            os("1/8"),
            os("-outfile"),
            out_dir.join("djpeg.ppm").as_os_str(),
            corpus.big.as_os_str(),
        ]);
        extra.push_str(&format!(", djpeg -scale 1/8 {djpeg_kb} kB"));
    }
    notes.push(extra);
    match &tools.vips {
        Some(vips) => {
            let vips_kb = measure(&[
                vips.as_os_str(),
                corpus.big.as_os_str(),
                os("-s"),
                std::ffi::OsStr::new(&size),
                os("-o"),
                out.as_os_str(),
            ]);
            let r = outbox_kb as f64 / vips_kb as f64;
            let mut figures = vec![Figure {
                name: "peak memory, preview 512 of 24 MP JPEG, process vs process".into(),
                outbox: format!("{:.1} MB", outbox_kb as f64 / 1024.0),
                reference: format!("{:.1} MB (vipsthumbnail)", vips_kb as f64 / 1024.0),
                ratio: Some(r),
                target: "<= 0.5x",
                met: Some(r <= 0.5),
            }];
            figures.push(memory_of_many(corpus, time, outbox, vips, &report));
            figures
        }
        None => {
            notes.push("memory: vipsthumbnail missing, reference skipped".into());
            Vec::new()
        }
    }
}

/// Peak memory while previewing 100 × 24 MP files in one process (`outbox
/// preview` on all cores; `vipsthumbnail` over the same files), one run each.
fn memory_of_many(
    corpus: &Corpus,
    time: &Path,
    outbox: &Path,
    vips: &Path,
    report: &Path,
) -> Figure {
    let many = corpus.root.join("many-24mp");
    std::fs::create_dir_all(&many).expect("create the folder of 100 files");
    let files: Vec<PathBuf> = (0..100)
        .map(|i| {
            let link = many.join(format!("big-{i:03}.jpg"));
            if !link.exists() {
                // Hard links: 100 files of 24 MP without 700 MB of disk.
                std::fs::hard_link(&corpus.big, &link).expect("link the 24 MP file");
            }
            link
        })
        .collect();
    let out = corpus.root.join("out-many");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create the output folder");
    let size = PREVIEW_SIZE.to_string();
    let mut ours: Vec<&std::ffi::OsStr> = vec![outbox.as_os_str(), "preview".as_ref()];
    ours.extend(files.iter().map(|f| f.as_os_str()));
    ours.extend([
        "-o".as_ref(),
        out.as_os_str(),
        "--size".as_ref(),
        size.as_ref(),
    ]);
    let start = Instant::now();
    let outbox_kb = peak_kb(time, &ours, report);
    let outbox_time = start.elapsed();
    let pattern = out.join("%s-vips.jpg");
    let mut theirs: Vec<&std::ffi::OsStr> = vec![vips.as_os_str()];
    theirs.extend(files.iter().map(|f| f.as_os_str()));
    theirs.extend([
        "-s".as_ref(),
        size.as_ref(),
        "-o".as_ref(),
        pattern.as_os_str(),
    ]);
    let start = Instant::now();
    let vips_kb = peak_kb(time, &theirs, report);
    let vips_time = start.elapsed();
    let r = outbox_kb as f64 / vips_kb as f64;
    Figure {
        name: format!(
            "peak memory, previews 512 of 100 × 24 MP JPEGs in one process (outbox {}, \
             vipsthumbnail {})",
            ms(outbox_time),
            ms(vips_time)
        ),
        outbox: format!("{:.1} MB", outbox_kb as f64 / 1024.0),
        reference: format!("{:.1} MB (vipsthumbnail)", vips_kb as f64 / 1024.0),
        ratio: Some(r),
        target: "< 1 GiB",
        met: Some(outbox_kb < 1 << 20),
    }
}

// ---------------------------------------------------------------------------
// 6. Other formats (no targets): progressive JPEG, PNG, WebP

fn bench_formats(
    corpus: &Corpus,
    tools: &Tools,
    outbox: Option<&Path>,
    notes: &mut Vec<String>,
) -> Vec<Figure> {
    progress("6/6 preview 512 of a progressive JPEG, a PNG and a WebP, process against process");
    let (Some(outbox), Some(vips)) = (outbox, &tools.vips) else {
        notes.push("formats: outbox binary or vipsthumbnail missing, figures skipped".into());
        return Vec::new();
    };
    let out_dir = corpus.root.join("out-formats");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let size = PREVIEW_SIZE.to_string();
    let mut figures = Vec::new();
    let mut in_process = Vec::new();
    for (label, path, format) in [
        (
            "progressive 12 MP JPEG",
            &corpus.progressive,
            ImageFormat::Jpeg,
        ),
        ("12 MP PNG", &corpus.png, ImageFormat::Png),
        ("6 MP lossless WebP", &corpus.webp, ImageFormat::WebP),
    ] {
        let outbox_out = out_dir.join("outbox.jpg");
        let vips_out = out_dir.join("vips.jpg");
        let mut commands: Vec<Box<dyn FnMut() -> Duration + '_>> = vec![
            Box::new(|| {
                run_timed(
                    Command::new(outbox)
                        .arg("preview")
                        .arg(path)
                        .arg("-o")
                        .arg(&outbox_out)
                        .args(["--size", &size]),
                )
            }),
            Box::new(|| {
                run_timed(
                    Command::new(vips)
                        .arg(path)
                        .args(["-s", &size, "-o"])
                        .arg(&vips_out),
                )
            }),
        ];
        let mut samples = interleaved(&mut commands, 5).into_iter();
        drop(commands);
        let (ours, theirs) = (
            median(samples.next().expect("samples")),
            median(samples.next().expect("samples")),
        );
        let bytes = std::fs::read(path).expect("read a corpus file");
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            black_box(preview(&bytes, format, PREVIEW_SIZE).expect("preview"));
            times.push(start.elapsed());
        }
        in_process.push(format!("{label} {}", ms(median(times))));
        figures.push(Figure {
            name: format!("preview 512 of {label}, process vs vipsthumbnail (median of 5)"),
            outbox: ms(ours),
            reference: ms(theirs),
            ratio: Some(ratio(ours, theirs)),
            target: "(none)",
            met: None,
        });
    }
    notes.push(format!(
        "formats: preview() in process: {}",
        in_process.join(", ")
    ));
    figures
}
