//! Files made by other tools, not by Outbox: ImageMagick, libvips and Pillow
//! (Debian's) write every format and variant Outbox accepts — CMYK and YCCK
//! JPEGs with and without Adobe's marker, 16-bit, palette, grey with alpha,
//! the eight EXIF orientations, an ICC profile, progressive, WebP, GIF, BMP,
//! TIFF — and each is decoded by libvips and by Outbox (preview and `web`
//! output), then compared at the centre of each quadrant.
//!
//! Why: the tests that make their own files share the engine's idea of a
//! format. A CMYK JPEG written by ImageMagick once came out black while every
//! such test passed.
//!
//! The reference is libvips: `autorot`, `flatten` onto white, `colourspace
//! srgb`. For CMYK, libvips's ink values (after its Adobe-marker inversion)
//! go through the same plain ink-to-light formula as Outbox's, because
//! libvips would otherwise apply a press profile that Outbox does not claim
//! to apply; a decode that reads the inks wrongly (black, or a negative)
//! misses by far more than the tolerance.

use image::{ImageFormat, RgbImage};
use outbox_engine::pipeline::{Generate, LocalPipeline, SourceItem};
use outbox_engine::preview::preview;
use outbox_engine::recipe::find_recipe;
use std::path::{Path, PathBuf};
use std::process::Command;

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 40];
const BLUE: [u8; 3] = [30, 40, 210];
const WHITE: [u8; 3] = [250, 250, 250];
/// Centres of the quadrants, as shares of width and height.
const CENTRES: [(f64, f64); 4] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
/// Largest difference per channel between libvips and Outbox.
const TOLERANCE: u8 = 24;

/// Debian's own tools, by full path: a stand-in earlier on PATH must not
/// answer for them.
const CONVERT: &str = "/usr/bin/convert";
const VIPS: &str = "/usr/bin/vips";
const PYTHON: &str = "/usr/bin/python3";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "{cmd:?}: {e} (./scripts/test.sh installs imagemagick, libvips-tools and python3-pil)"
        )
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn convert(args: &[&str]) -> Command {
    let mut cmd = Command::new(CONVERT);
    cmd.args(args);
    cmd
}

fn vips(args: &[&str]) -> Command {
    let mut cmd = Command::new(VIPS);
    cmd.args(args);
    cmd
}

/// Pillow, with `src` and `out` bound to the reference and the file to write.
fn pillow(src: &Path, out: &Path, code: &str) -> Command {
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-c").arg(format!(
        "from PIL import Image\nsrc = {:?}\nout = {:?}\n{code}",
        src.display().to_string(),
        out.display().to_string()
    ));
    cmd
}

/// How a file is made from the reference PNG: the command, given both paths.
type Maker = Box<dyn Fn(&Path, &Path) -> Command>;

/// One file made by another tool: its name and how it is made.
struct Variant {
    name: String,
    make: Maker,
}

fn variant(name: &str, make: impl Fn(&Path, &Path) -> Command + 'static) -> Variant {
    Variant {
        name: name.to_string(),
        make: Box::new(make),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn variants() -> Vec<Variant> {
    let mut all = vec![
        // Adobe marker, transform 2 (YCCK), inks inverted: the file that
        // came out black.
        variant("imagemagick-cmyk.jpg", |src, out| {
            convert(&[s(src), "-colorspace", "CMYK", "-quality", "90", s(out)])
        }),
        // Adobe marker, transform 0 (plain CMYK).
        variant("imagemagick-cmyk-plain.jpg", |src, out| {
            convert(&[
                s(src),
                "-colorspace",
                "CMYK",
                "-define",
                "jpeg:colorspace=CMYK",
                s(out),
            ])
        }),
        // Through a press profile, which is embedded.
        variant("vips-cmyk-profile.jpg", |src, out| {
            vips(&[
                "icc_transform",
                s(src),
                s(out),
                "cmyk",
                "--input-profile",
                "srgb",
            ])
        }),
        variant("pillow-cmyk.jpg", |src, out| {
            pillow(
                src,
                out,
                "Image.open(src).convert('CMYK').save(out, quality=90)",
            )
        }),
        variant("pillow-grey.jpg", |src, out| {
            pillow(
                src,
                out,
                "Image.open(src).convert('L').save(out, quality=90)",
            )
        }),
        variant("imagemagick-progressive.jpg", |src, out| {
            convert(&[s(src), "-interlace", "Plane", s(out)])
        }),
        variant("vips-srgb-profile.jpg", |src, out| {
            vips(&[
                "icc_transform",
                s(src),
                s(out),
                "srgb",
                "--input-profile",
                "srgb",
            ])
        }),
        variant("imagemagick-16-bit.png", |src, out| {
            convert(&[s(src), &format!("PNG48:{}", s(out))])
        }),
        variant("imagemagick-palette.png", |src, out| {
            convert(&[s(src), &format!("PNG8:{}", s(out))])
        }),
        // Grey with alpha; the bottom right quadrant half transparent.
        variant("pillow-grey-alpha.png", |src, out| {
            pillow(
                src,
                out,
                "im = Image.open(src).convert('LA')\n\
                 w, h = im.size\n\
                 a = Image.new('L', im.size, 255)\n\
                 a.paste(128, (w // 2, h // 2, w, h))\n\
                 im.putalpha(a)\n\
                 im.save(out)",
            )
        }),
        variant("imagemagick.webp", |src, out| {
            convert(&[s(src), "-quality", "95", s(out)])
        }),
        variant("imagemagick.gif", |src, out| convert(&[s(src), s(out)])),
        variant("imagemagick.bmp", |src, out| convert(&[s(src), s(out)])),
        variant("imagemagick.tif", |src, out| convert(&[s(src), s(out)])),
        variant("imagemagick-16-bit.tif", |src, out| {
            convert(&[s(src), "-depth", "16", s(out)])
        }),
    ];
    // Every EXIF orientation, written by Pillow into a JPEG.
    for orientation in 1..=8 {
        all.push(variant(
            &format!("pillow-orientation-{orientation}.jpg"),
            move |src, out| {
                pillow(
                    src,
                    out,
                    &format!(
                        "exif = Image.Exif()\nexif[0x0112] = {orientation}\n\
                         Image.open(src).save(out, quality=92, exif=exif)"
                    ),
                )
            },
        ));
    }
    all
}

/// The reference PNG: four flat quadrants.
fn reference(dir: &Path) -> PathBuf {
    let (w, h) = (400, 300);
    let image = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    });
    let path = dir.join("reference.png");
    image.save(&path).expect("write the reference");
    path
}

/// Plain ink-to-light, as Outbox converts CMYK.
fn light(inks: &[f64]) -> [u8; 3] {
    let white = 255.0 - inks[3];
    let l = |ink: f64| ((255.0 - ink) * white / 255.0) as u8;
    [l(inks[0]), l(inks[1]), l(inks[2])]
}

/// libvips's colours at the quadrants' centres.
fn vips_colours(file: &Path, work: &Path) -> [[u8; 3]; 4] {
    let upright = work.join("upright.v");
    run(&mut vips(&["autorot", s(file), s(&upright)]));
    let header = run(Command::new("/usr/bin/vipsheader").args(["-a", s(&upright)]));
    let field = |name: &str| {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let (w, h): (f64, f64) = (
        field("width").parse().expect("width"),
        field("height").parse().expect("height"),
    );
    let bands: u32 = field("bands").parse().expect("bands");
    let cmyk = field("interpretation") == "cmyk";
    let mut image = upright;
    if !cmyk && (bands == 2 || bands == 4) {
        let flat = work.join("flat.v");
        run(&mut vips(&[
            "flatten",
            s(&image),
            s(&flat),
            "--background",
            "255",
        ]));
        image = flat;
    }
    if !cmyk {
        let srgb = work.join("srgb.v");
        run(&mut vips(&["colourspace", s(&image), s(&srgb), "srgb"]));
        image = srgb;
    }
    CENTRES.map(|(fx, fy)| {
        let x = ((fx * w) as u32).to_string();
        let y = ((fy * h) as u32).to_string();
        let values: Vec<f64> = run(&mut vips(&["getpoint", s(&image), &x, &y]))
            .split_whitespace()
            .map(|v| v.parse().expect("a number"))
            .collect();
        if cmyk {
            light(&values)
        } else {
            [values[0] as u8, values[1] as u8, values[2] as u8]
        }
    })
}

/// The average colour of a small square around each quadrant's centre.
fn outbox_colours(image: &RgbImage) -> [[u8; 3]; 4] {
    let (w, h) = image.dimensions();
    let r = (w.min(h) / 40).max(1);
    CENTRES.map(|(fx, fy)| {
        let (cx, cy) = ((fx * f64::from(w)) as u32, (fy * f64::from(h)) as u32);
        let mut sum = [0u64; 3];
        let mut n = 0u64;
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                let p = image.get_pixel(x, y);
                for (total, value) in sum.iter_mut().zip(p.0) {
                    *total += u64::from(value);
                }
                n += 1;
            }
        }
        sum.map(|v| (v / n) as u8)
    })
}

fn jpeg_pixels(bytes: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .expect("Outbox writes JPEG")
        .to_rgb8()
}

#[test]
fn files_made_by_imagemagick_libvips_and_pillow_look_as_libvips_shows_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = reference(dir.path());
    let web = find_recipe("web").expect("the web recipe");
    let mut wrong = Vec::new();
    for v in variants() {
        let file = dir.path().join(&v.name);
        run(&mut (v.make)(&src, &file));
        let work = tempfile::tempdir_in(dir.path()).expect("tempdir");
        let want = vips_colours(&file, work.path());
        let bytes = std::fs::read(&file).expect("read the file");
        let format = image::guess_format(&bytes).expect("a known format");
        let shown = match preview(&bytes, format, 256) {
            Ok(p) => outbox_colours(&jpeg_pixels(&p.jpeg)),
            Err(e) => {
                wrong.push(format!("{}: preview failed: {e}", v.name));
                continue;
            }
        };
        let output = match LocalPipeline::default().generate(SourceItem::file(&file), &web) {
            Ok(o) => outbox_colours(&jpeg_pixels(&o.bytes)),
            Err(e) => {
                wrong.push(format!("{}: web output failed: {e}", v.name));
                continue;
            }
        };
        for (route, got) in [("preview", shown), ("web output", output)] {
            let off = got
                .iter()
                .zip(&want)
                .flat_map(|(g, w)| g.iter().zip(w).map(|(a, b)| a.abs_diff(*b)))
                .max()
                .unwrap_or(0);
            if off > TOLERANCE {
                wrong.push(format!(
                    "{} ({route}): Outbox {got:?}, libvips {want:?}",
                    v.name
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "differs from libvips:\n{}",
        wrong.join("\n")
    );
}
