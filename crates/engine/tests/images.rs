//! Previews and outputs: right way up, right colours, right size, colour
//! profile kept, from every route, and a clear error for bad bytes. Inputs are made here (JPEGs with hand-written
//! EXIF segments), so each test knows exactly what the answer must be.

#[path = "shared/exif.rs"]
mod exif;
use exif::{exif_tiff, with_exif};
use image::{ImageFormat, Rgb, RgbImage};
use outbox_engine::jpeg_meta::{icc_profile, read_jpeg_exif, with_icc_profile};
use outbox_engine::pipeline::{Generate, LocalPipeline, SourceItem};
use outbox_engine::preview::{exif_thumbnail, preview, Preview};
use outbox_engine::recipe::find_recipe;
use std::io::Cursor;

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 40];
const BLUE: [u8; 3] = [30, 40, 210];
const WHITE: [u8; 3] = [250, 250, 250];

/// Four flat quadrants: red top left, green top right, blue bottom left,
/// white bottom right. Every orientation puts them somewhere else.
fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

fn jpeg_of(image: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn decoded(p: &Preview) -> RgbImage {
    let image = image::load_from_memory_with_format(&p.jpeg, ImageFormat::Jpeg)
        .expect("a preview is a JPEG");
    assert_eq!((image.width(), image.height()), (p.width, p.height));
    image.to_rgb8()
}

fn assert_close(got: &Rgb<u8>, want: [u8; 3], what: &str) {
    let off = got.0.iter().zip(want).map(|(a, b)| a.abs_diff(b)).max();
    assert!(off.unwrap_or(0) <= 24, "{what}: got {got:?}, want {want:?}");
}

/// Colours of the four quadrants: top left, top right, bottom left, bottom right.
type Quadrants = [[u8; 3]; 4];

/// Checks the colours at the centres of the four quadrants.
fn assert_quadrants(image: &RgbImage, want: Quadrants, what: &str) {
    let (w, h) = image.dimensions();
    for ((x, y), (colour, corner)) in [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (w / 4, 3 * h / 4),
        (3 * w / 4, 3 * h / 4),
    ]
    .into_iter()
    .zip(
        want.into_iter()
            .zip(["top left", "top right", "bottom left", "bottom right"]),
    ) {
        assert_close(image.get_pixel(x, y), colour, &format!("{what}, {corner}"));
    }
}

#[test]
fn every_exif_orientation_shows_upright() {
    let stored = jpeg_of(&quadrants(64, 32));
    // What the viewer must see for each orientation (EXIF 2.3, tag 0x0112).
    let cases: [(u16, (u32, u32), Quadrants); 8] = [
        (1, (64, 32), [RED, GREEN, BLUE, WHITE]),
        (2, (64, 32), [GREEN, RED, WHITE, BLUE]), // mirrored left-right
        (3, (64, 32), [WHITE, BLUE, GREEN, RED]), // turned half round
        (4, (64, 32), [BLUE, WHITE, RED, GREEN]), // mirrored top-bottom
        (5, (32, 64), [RED, BLUE, GREEN, WHITE]), // transposed
        (6, (32, 64), [BLUE, RED, WHITE, GREEN]), // turned a quarter clockwise
        (7, (32, 64), [WHITE, GREEN, BLUE, RED]), // transversed
        (8, (32, 64), [GREEN, WHITE, RED, BLUE]), // turned a quarter anticlockwise
    ];
    for (orientation, size, want) in cases {
        let file = with_exif(&stored, &exif_tiff(orientation, None));
        assert_eq!(read_jpeg_exif(&file).orientation, Some(orientation));
        let p = preview(&file, ImageFormat::Jpeg, 512).expect("preview");
        assert_eq!((p.width, p.height), size, "orientation {orientation}");
        assert_quadrants(&decoded(&p), want, &format!("orientation {orientation}"));
    }
}

#[test]
fn a_large_jpeg_is_shrunk_to_the_asked_size_keeping_its_shape() {
    let file = jpeg_of(&quadrants(4000, 3000));
    for (size, want) in [(512, (512, 384)), (100, (100, 75)), (2000, (2000, 1500))] {
        let p = preview(&file, ImageFormat::Jpeg, size).expect("preview");
        assert_eq!((p.width, p.height), want, "size {size}");
        assert_quadrants(
            &decoded(&p),
            [RED, GREEN, BLUE, WHITE],
            &format!("size {size}"),
        );
    }
    // Never enlarged.
    let small = jpeg_of(&quadrants(40, 30));
    let p = preview(&small, ImageFormat::Jpeg, 512).expect("preview");
    assert_eq!((p.width, p.height), (40, 30));
}

#[test]
fn png_and_webp_previews_take_the_generic_route_and_flatten_transparency_onto_white() {
    let image = quadrants(300, 200);
    let mut png = Cursor::new(Vec::new());
    image.write_to(&mut png, ImageFormat::Png).unwrap();
    let p = preview(png.get_ref(), ImageFormat::Png, 150).expect("png preview");
    assert_eq!((p.width, p.height), (150, 100));
    assert_quadrants(&decoded(&p), [RED, GREEN, BLUE, WHITE], "png");

    let mut webp = Cursor::new(Vec::new());
    image.write_to(&mut webp, ImageFormat::WebP).unwrap();
    let p = preview(webp.get_ref(), ImageFormat::WebP, 150).expect("webp preview");
    assert_quadrants(&decoded(&p), [RED, GREEN, BLUE, WHITE], "webp");

    let clear = image::RgbaImage::from_pixel(20, 20, image::Rgba([0, 0, 0, 0]));
    let mut png = Cursor::new(Vec::new());
    clear.write_to(&mut png, ImageFormat::Png).unwrap();
    let p = preview(png.get_ref(), ImageFormat::Png, 512).expect("transparent png");
    assert_close(
        decoded(&p).get_pixel(10, 10),
        [255, 255, 255],
        "transparent is white",
    );
}

#[test]
fn the_embedded_exif_thumbnail_is_found_and_shown_upright() {
    let main = jpeg_of(&quadrants(640, 480));
    let thumb = jpeg_of(&quadrants(160, 120));
    let file = with_exif(&main, &exif_tiff(6, Some(&thumb)));
    let exif = read_jpeg_exif(&file);
    let range = exif.thumbnail.clone().expect("a thumbnail");
    assert_eq!(&file[range], &thumb[..]);

    let t = exif_thumbnail(&file).expect("thumbnail preview");
    assert_eq!(
        (t.width, t.height),
        (120, 160),
        "turned a quarter clockwise"
    );
    assert_quadrants(&decoded(&t), [BLUE, RED, WHITE, GREEN], "thumbnail");

    assert_eq!(exif_thumbnail(&main), None, "no EXIF, no thumbnail");
    let without = with_exif(&main, &exif_tiff(1, None));
    assert_eq!(exif_thumbnail(&without), None, "EXIF without a thumbnail");
}

#[test]
fn broken_exif_is_ignored_and_the_photo_still_previews() {
    let main = jpeg_of(&quadrants(64, 32));
    let thumb = jpeg_of(&quadrants(16, 8));
    let good = exif_tiff(6, Some(&thumb));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut short", good[..good.len() / 2].to_vec()),
        ("offsets past the end", {
            let mut t = good.clone();
            // IFD1 is at 26; its first entry (the thumbnail offset) holds its value at +10.
            t[36..40].copy_from_slice(&u32::MAX.to_le_bytes());
            t
        }),
        ("not TIFF", b"XX*\0garbage".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, tiff) in cases {
        let file = with_exif(&main, &tiff);
        assert_eq!(exif_thumbnail(&file), None, "{what}");
        let p = preview(&file, ImageFormat::Jpeg, 512).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(p.width == 64 || p.width == 32, "{what}");
    }
}

#[test]
fn bad_bytes_get_a_clear_error() {
    let whole = jpeg_of(&quadrants(400, 300));
    let garbage: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xE0]
        .into_iter()
        .chain((0..4000u32).map(|i| (i * 7 % 251) as u8))
        .collect();
    // The header of a small JPEG claiming 50000×50000 pixels: refused before decoding.
    let mut bomb = whole.clone();
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    bomb[sof + 5..sof + 7].copy_from_slice(&50000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&50000u16.to_be_bytes());
    for (what, bytes, needle) in [
        (
            "garbage after the JPEG magic",
            garbage,
            "damaged or truncated",
        ),
        ("header only", whole[..200].to_vec(), "damaged or truncated"),
        ("50000×50000 header", bomb, "too large"),
    ] {
        let err = preview(&bytes, ImageFormat::Jpeg, 512).expect_err(what);
        assert!(err.message.contains(needle), "{what}: {}", err.message);
        assert!(!err.message.contains('\n'), "{what}: one line");
    }
}

/// A stand-in ICC profile: readers here only carry the bytes, so any bytes
/// do; big enough to need two APP2 chunks.
fn fake_profile(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 256) as u8).collect()
}

#[test]
fn icc_profiles_round_trip_across_several_segments() {
    let jpeg = jpeg_of(&quadrants(32, 32));
    assert_eq!(icc_profile(&jpeg), None);
    for len in [100, 65_519, 65_520, 200_000] {
        let profile = fake_profile(len);
        let tagged = with_icc_profile(&jpeg, &profile);
        assert_eq!(
            icc_profile(&tagged).as_deref(),
            Some(&profile[..]),
            "{len} bytes"
        );
        // Still a JPEG that decodes to the same picture.
        let image = image::load_from_memory_with_format(&tagged, ImageFormat::Jpeg).unwrap();
        assert_eq!((image.width(), image.height()), (32, 32));
    }
    // A missing chunk makes the profile unknown rather than wrong.
    let tagged = with_icc_profile(&jpeg, &fake_profile(100_000));
    let second = tagged
        .windows(14)
        .rposition(|w| w.starts_with(b"ICC_PROFILE\0"))
        .expect("a second chunk");
    let mut broken = tagged.clone();
    broken[second + 12] = 7; // its sequence number
    assert_eq!(icc_profile(&broken), None);
}

#[test]
fn web_output_and_preview_keep_the_colour_profile() {
    let dir = tempfile::tempdir().unwrap();
    let profile = fake_profile(3000);
    let source = dir.path().join("tagged.jpg");
    std::fs::write(
        &source,
        with_icc_profile(&jpeg_of(&quadrants(3000, 2000)), &profile),
    )
    .unwrap();

    let web = LocalPipeline::default()
        .generate(SourceItem::file(&source), &find_recipe("web").unwrap())
        .expect("web output");
    assert_eq!((web.width, web.height), (2048, 1365));
    assert_eq!(icc_profile(&web.bytes).as_deref(), Some(&profile[..]));
    let image = image::load_from_memory_with_format(&web.bytes, ImageFormat::Jpeg).unwrap();
    assert_quadrants(&image.to_rgb8(), [RED, GREEN, BLUE, WHITE], "web output");

    let bytes = std::fs::read(&source).unwrap();
    let p = preview(&bytes, ImageFormat::Jpeg, 512).unwrap();
    assert_eq!(icc_profile(&p.jpeg).as_deref(), Some(&profile[..]));
}

#[test]
fn web_output_is_upright() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("turned.jpg");
    std::fs::write(
        &source,
        with_exif(&jpeg_of(&quadrants(4000, 3000)), &exif_tiff(6, None)),
    )
    .unwrap();
    let web = LocalPipeline::default()
        .generate(SourceItem::file(&source), &find_recipe("web").unwrap())
        .expect("web output");
    assert_eq!((web.width, web.height), (1536, 2048));
    let image = image::load_from_memory_with_format(&web.bytes, ImageFormat::Jpeg).unwrap();
    assert_quadrants(&image.to_rgb8(), [BLUE, RED, WHITE, GREEN], "web output");
}

/// Encodes with libjpeg-turbo, which writes what `image` cannot: CMYK and
/// progressive files.
fn turbo_jpeg(
    pixels: &[u8],
    w: usize,
    h: usize,
    format: turbojpeg::PixelFormat,
    progressive: bool,
    colorspace: Option<turbojpeg::Colorspace>,
) -> Vec<u8> {
    let mut c = turbojpeg::Compressor::new().unwrap();
    if let Some(colorspace) = colorspace {
        c.set_colorspace(colorspace).unwrap();
    }
    c.set_quality(92).unwrap();
    c.set_progressive(progressive).unwrap();
    c.compress_to_vec(turbojpeg::Image {
        pixels,
        width: w,
        pitch: w * format.size(),
        height: h,
        format,
    })
    .unwrap()
}

#[test]
fn progressive_and_cmyk_jpegs_show_their_real_colours() {
    let rgb = quadrants(800, 600);
    let progressive = turbo_jpeg(
        rgb.as_raw(),
        800,
        600,
        turbojpeg::PixelFormat::RGB,
        true,
        None,
    );
    let p = preview(&progressive, ImageFormat::Jpeg, 200).expect("progressive preview");
    assert_eq!((p.width, p.height), (200, 150));
    assert_quadrants(&decoded(&p), [RED, GREEN, BLUE, WHITE], "progressive");

    // CMYK inks (0 = no ink); a wrongly inverted decode would show these
    // colours as their negatives.
    let inks: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| {
            let k = 255 - p.0.iter().copied().max().unwrap_or(0);
            let ink = |c: u8| {
                if k == 255 {
                    0
                } else {
                    ((255 - c - k) as u32 * 255 / (255 - k) as u32) as u8
                }
            };
            [ink(p.0[0]), ink(p.0[1]), ink(p.0[2]), k]
        })
        .collect();
    // libjpeg-turbo writes an Adobe marker with CMYK and YCCK, so the inks
    // are stored inverted, as Photoshop and ImageMagick store them.
    let adobe: Vec<u8> = inks.iter().map(|i| 255 - i).collect();
    for colorspace in [turbojpeg::Colorspace::YCCK, turbojpeg::Colorspace::CMYK] {
        let cmyk_jpeg = turbo_jpeg(
            &adobe,
            800,
            600,
            turbojpeg::PixelFormat::CMYK,
            false,
            Some(colorspace),
        );
        let p = preview(&cmyk_jpeg, ImageFormat::Jpeg, 200).expect("cmyk preview");
        assert_eq!((p.width, p.height), (200, 150));
        assert_quadrants(
            &decoded(&p),
            [RED, GREEN, BLUE, WHITE],
            &format!("{colorspace:?} with an Adobe marker"),
        );
    }
    // Plain CMYK without the marker: inks stored as they are.
    let plain = without_adobe_marker(&turbo_jpeg(
        &inks,
        800,
        600,
        turbojpeg::PixelFormat::CMYK,
        false,
        Some(turbojpeg::Colorspace::CMYK),
    ));
    let p = preview(&plain, ImageFormat::Jpeg, 200).expect("plain cmyk preview");
    assert_quadrants(
        &decoded(&p),
        [RED, GREEN, BLUE, WHITE],
        "CMYK without an Adobe marker",
    );
}

/// `jpeg` without its APP14 ("Adobe") segments.
fn without_adobe_marker(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xEE {
            out.extend_from_slice(&jpeg[at..at + 2 + len]);
        }
        at += 2 + len;
    }
    assert!(out.len() < jpeg.len(), "the file had an Adobe marker");
    out.extend_from_slice(&jpeg[at..]);
    out
}

fn encoded(image: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn damaged_files_of_every_format_fail_alone_with_a_reason() {
    let picture = image::DynamicImage::ImageRgb8(quadrants(300, 200));
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (format, ext) in [
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Png, "png"),
        (ImageFormat::WebP, "webp"),
        (ImageFormat::Gif, "gif"),
    ] {
        let whole = encoded(&picture, format);
        cases.push((
            format!("truncated.{ext}"),
            whole[..whole.len() / 3].to_vec(),
        ));
        let mut corrupt = whole.clone();
        let from = (whole.len() / 4).max(40);
        for b in &mut corrupt[from..] {
            *b ^= 0x5A;
        }
        cases.push((format!("corrupt.{ext}"), corrupt));
    }
    cases.push(("zero.jpg".into(), Vec::new()));
    cases.push(("notes.jpg".into(), b"remember the milk\n".to_vec()));
    let web = find_recipe("web").unwrap();
    for (name, bytes) in cases {
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let output = LocalPipeline::default().generate(SourceItem::file(&path), &web);
        let preview = outbox_engine::preview::preview_file(&path, 256);
        for (what, result) in [
            ("output", output.map(|_| ())),
            ("preview", preview.map(|_| ())),
        ] {
            // A decoder may salvage the top of a cut file; what it must not
            // do is panic or fail with a vague or multi-line message.
            if let Err(e) = result {
                assert!(
                    [
                        "damaged or truncated",
                        "empty",
                        "not an image",
                        "not supported"
                    ]
                    .iter()
                    .any(|n| e.message.contains(n)),
                    "{name} {what}: {}",
                    e.message
                );
                assert!(!e.message.contains('\n'), "{name} {what}: one line");
            } else {
                assert!(
                    name.starts_with("truncated") || name.starts_with("corrupt"),
                    "{name} {what} succeeded"
                );
            }
        }
    }
}

#[test]
fn a_png_bomb_is_refused_from_its_header() {
    // 50000×50000 pixels of nothing, a few KB on disk: refused before any
    // pixel buffer is allocated.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 50_000, 50_000);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let row = vec![0u8; 50_000 / 8];
    for _ in 0..50_000 {
        std::io::Write::write_all(&mut stream, &row).unwrap();
    }
    stream.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 1_000_000);

    let err = LocalPipeline::default()
        .generate(SourceItem::file(&path), &find_recipe("web").unwrap())
        .expect_err("a bomb");
    assert!(err.message.contains("too large"), "{}", err.message);
    let err = outbox_engine::preview::preview_file(&path, 512).expect_err("a bomb");
    assert!(err.message.contains("too large"), "{}", err.message);
}

#[test]
fn sixteen_bit_and_palette_pngs_with_transparency_come_out_right() {
    let dir = tempfile::tempdir().unwrap();
    // 16-bit RGBA: left half opaque red, right half fully transparent.
    let deep = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(64, 32, |x, _| {
        if x < 32 {
            image::Rgba([56_000, 8_000, 8_000, 65_535])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let path = dir.path().join("deep.png");
    image::DynamicImage::ImageRgba16(deep).save(&path).unwrap();
    let p = outbox_engine::preview::preview_file(&path, 512).expect("16-bit preview");
    let got = decoded(&p);
    assert_close(got.get_pixel(10, 16), [218, 31, 31], "16-bit opaque half");
    assert_close(
        got.get_pixel(54, 16),
        [255, 255, 255],
        "16-bit transparent half",
    );

    // Palette PNG with a transparent entry (tRNS), written with the png crate.
    let path = dir.path().join("palette.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 16, 16);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![30, 40, 210, 0, 0, 0]);
    encoder.set_trns(vec![255, 0]);
    let mut writer = encoder.write_header().unwrap();
    let pixels: Vec<u8> = (0..256).map(|i| u8::from(i % 16 >= 8)).collect();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    let web = LocalPipeline::default()
        .generate(SourceItem::file(&path), &find_recipe("web").unwrap())
        .expect("palette output");
    let out = image::load_from_memory(&web.bytes).unwrap().to_rgb8();
    assert_close(out.get_pixel(3, 8), BLUE, "palette colour");
    assert_close(
        out.get_pixel(12, 8),
        [255, 255, 255],
        "palette transparency",
    );
}

#[test]
fn an_animated_gif_gives_its_first_frame() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, RgbaImage};
    let dir = tempfile::tempdir().unwrap();
    let frame = |c: [u8; 3]| {
        Frame::from_parts(
            RgbaImage::from_pixel(40, 30, image::Rgba([c[0], c[1], c[2], 255])),
            0,
            0,
            Delay::from_numer_denom_ms(100, 1),
        )
    };
    let path = dir.path().join("anim.gif");
    {
        let mut encoder = GifEncoder::new(std::fs::File::create(&path).unwrap());
        encoder
            .encode_frames([frame(RED), frame(GREEN), frame(BLUE)])
            .unwrap();
    }
    let p = outbox_engine::preview::preview_file(&path, 512).expect("gif preview");
    assert_eq!((p.width, p.height), (40, 30));
    assert_close(decoded(&p).get_pixel(20, 15), RED, "first GIF frame");
}

/// An animated WebP (VP8X + ANIM + one ANMF per frame) of lossless frames
/// encoded by the `image` crate, which writes no animations itself.
fn animated_webp(frames: &[[u8; 3]], w: u32, h: u32) -> Vec<u8> {
    fn chunk(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut c = fourcc.to_vec();
        c.extend((payload.len() as u32).to_le_bytes());
        c.extend(payload);
        if payload.len() % 2 == 1 {
            c.push(0);
        }
        c
    }
    let u24 = |v: u32| v.to_le_bytes()[..3].to_vec();
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0x02, 0, 0, 0]; // the animation flag
    vp8x.extend(u24(w - 1));
    vp8x.extend(u24(h - 1));
    body.extend(chunk(b"VP8X", &vp8x));
    body.extend(chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for colour in frames {
        let mut still = Vec::new();
        RgbImage::from_pixel(w, h, Rgb(*colour))
            .write_to(&mut Cursor::new(&mut still), image::ImageFormat::WebP)
            .unwrap();
        // A still lossless WebP is RIFF, size, WEBP, then its VP8L chunk.
        assert_eq!(&still[12..16], b"VP8L");
        let mut frame = [u24(0), u24(0), u24(w - 1), u24(h - 1), u24(100)].concat();
        frame.push(0);
        frame.extend(&still[12..]);
        body.extend(chunk(b"ANMF", &frame));
    }
    let mut riff = b"RIFF".to_vec();
    riff.extend((body.len() as u32).to_le_bytes());
    riff.extend(body);
    riff
}

#[test]
fn an_animated_webp_gives_its_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anim.webp");
    std::fs::write(&path, animated_webp(&[GREEN, RED, BLUE], 48, 32)).unwrap();
    let p = outbox_engine::preview::preview_file(&path, 512).expect("webp preview");
    assert_eq!((p.width, p.height), (48, 32));
    assert_close(decoded(&p).get_pixel(24, 16), GREEN, "first WebP frame");
    let web = LocalPipeline::default()
        .generate(SourceItem::file(&path), &find_recipe("web").unwrap())
        .expect("web output");
    let out = image::load_from_memory(&web.bytes).unwrap().to_rgb8();
    assert_close(out.get_pixel(24, 16), GREEN, "the output too");
}

#[test]
fn many_files_preview_in_parallel_each_with_its_own_result() {
    use outbox_engine::preview::{preview_many, PreviewEvent};
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for i in 0..6 {
        let path = dir.path().join(format!("good{i}.jpg"));
        std::fs::write(&path, jpeg_of(&quadrants(200 + 40 * i, 100))).unwrap();
        paths.push(path);
    }
    let camera = dir.path().join("camera.jpg");
    let thumb = jpeg_of(&quadrants(80, 40));
    std::fs::write(
        &camera,
        with_exif(&jpeg_of(&quadrants(800, 400)), &exif_tiff(1, Some(&thumb))),
    )
    .unwrap();
    paths.push(camera);
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not a jpeg at all").unwrap();
    paths.push(bad);
    paths.push(dir.path().join("missing.png"));

    let events: Vec<PreviewEvent> = preview_many(paths.clone(), 64, 2).into_iter().collect();
    let mut finished = vec![0; paths.len()];
    let mut thumbnail_before_ready = false;
    for (at, event) in events.iter().enumerate() {
        match event {
            PreviewEvent::Thumbnail { index, preview } => {
                assert_eq!(*index, 6, "only the camera file has a thumbnail");
                assert_eq!((preview.width, preview.height), (80, 40));
                thumbnail_before_ready = events[at..]
                    .iter()
                    .any(|e| matches!(e, PreviewEvent::Ready { index: 6, .. }));
            }
            PreviewEvent::Ready { index, preview } => {
                finished[*index] += 1;
                assert!(*index <= 6, "{}", paths[*index].display());
                assert_eq!(preview.width, 64);
            }
            PreviewEvent::Failed { index, error } => {
                finished[*index] += 1;
                let want = if *index == 7 { "not an image" } else { "gone" };
                assert!(
                    *index >= 7 && error.message.contains(want),
                    "{index}: {}",
                    error.message
                );
            }
        }
    }
    assert_eq!(finished, vec![1; paths.len()], "one result per file");
    assert!(
        thumbnail_before_ready,
        "the thumbnail comes before the preview"
    );
}

mod recipes {
    use super::*;
    use outbox_engine::pipeline::GeneratedImage;
    use outbox_engine::recipe::{Corner, Operation, Recipe, ResizeMode};
    use serde_json::json;

    fn run(source: &image::DynamicImage, ops: Vec<Operation>) -> Result<GeneratedImage, String> {
        run_with(source, ops, None)
    }

    /// Generates from `source` saved as `photo.png`, with the item's `fields`.
    fn run_with(
        source: &image::DynamicImage,
        ops: Vec<Operation>,
        fields: Option<serde_json::Value>,
    ) -> Result<GeneratedImage, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.png");
        source.save(&path).unwrap();
        let recipe = Recipe {
            name: "test".into(),
            operations: ops,
        };
        let fields = fields.map(|f| f.as_object().cloned().unwrap());
        let item = SourceItem {
            path: &path,
            fields: fields.as_ref(),
        };
        LocalPipeline::default()
            .generate(item, &recipe)
            .map_err(|e| e.message)
    }

    fn pixels(out: &GeneratedImage) -> RgbImage {
        let image = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!((image.width(), image.height()), (out.width, out.height));
        image.to_rgb8()
    }

    fn photo(w: u32, h: u32) -> image::DynamicImage {
        image::DynamicImage::ImageRgb8(quadrants(w, h))
    }

    #[test]
    fn resize_fits_fills_or_stretches_to_the_box() {
        let fit = Operation::Resize {
            mode: ResizeMode::Fit,
            width: 300,
            height: 300,
        };
        let out = run(&photo(600, 400), vec![fit.clone()]).unwrap();
        assert_eq!((out.width, out.height), (300, 200));
        assert_quadrants(&pixels(&out), [RED, GREEN, BLUE, WHITE], "fit");
        let out = run(&photo(120, 80), vec![fit]).unwrap();
        assert_eq!((out.width, out.height), (120, 80), "fit never enlarges");

        let fill = Operation::Resize {
            mode: ResizeMode::Fill,
            width: 200,
            height: 200,
        };
        let out = run(&photo(600, 400), vec![fill]).unwrap();
        assert_eq!((out.width, out.height), (200, 200));
        assert_quadrants(
            &pixels(&out),
            [RED, GREEN, BLUE, WHITE],
            "fill crops the centre",
        );

        let exact = Operation::Resize {
            mode: ResizeMode::Exact,
            width: 100,
            height: 300,
        };
        let out = run(&photo(600, 400), vec![exact]).unwrap();
        assert_eq!((out.width, out.height), (100, 300));
        assert_quadrants(&pixels(&out), [RED, GREEN, BLUE, WHITE], "exact");
    }

    #[test]
    fn crop_and_pad_to_an_aspect_ratio_keep_the_centre() {
        let out = run(
            &photo(600, 400),
            vec![Operation::CropToAspect {
                width: 1,
                height: 1,
            }],
        )
        .unwrap();
        assert_eq!((out.width, out.height), (400, 400));
        assert_quadrants(&pixels(&out), [RED, GREEN, BLUE, WHITE], "crop");
        let out = run(
            &photo(400, 600),
            vec![Operation::CropToAspect {
                width: 4,
                height: 5,
            }],
        )
        .unwrap();
        assert_eq!((out.width, out.height), (400, 500));

        let pad = Operation::PadToAspect {
            width: 1,
            height: 1,
            background: "#000000".into(),
        };
        let out = run(&photo(600, 300), vec![pad]).unwrap();
        assert_eq!((out.width, out.height), (600, 600));
        let p = pixels(&out);
        assert_close(p.get_pixel(300, 50), [0, 0, 0], "band above");
        assert_close(p.get_pixel(300, 560), [0, 0, 0], "band below");
        assert_close(p.get_pixel(150, 225), RED, "picture top left");
        assert_close(p.get_pixel(450, 375), WHITE, "picture bottom right");
    }

    #[test]
    fn formats_names_and_metadata_follow_the_recipe() {
        let out = run(&photo(64, 32), vec![Operation::Webp]).unwrap();
        assert_eq!(image::guess_format(&out.bytes).unwrap(), ImageFormat::WebP);
        assert_eq!(
            (out.file_name.as_str(), out.mime),
            ("photo.webp", "image/webp")
        );
        assert_quadrants(&pixels(&out), [RED, GREEN, BLUE, WHITE], "webp is lossless");

        let clear = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            8,
            8,
            image::Rgba([9, 9, 9, 0]),
        ));
        let out = run(&clear, vec![Operation::Png]).unwrap();
        let back = image::load_from_memory(&out.bytes).unwrap().to_rgba8();
        assert_eq!(back.get_pixel(4, 4).0[3], 0, "PNG keeps transparency");

        let renamed = run(
            &photo(64, 32),
            vec![Operation::Rename {
                pattern: "{stem}-{width}x{height}-{recipe}".into(),
            }],
        )
        .unwrap();
        assert_eq!(renamed.file_name, "photo-64x32-test.jpg");
    }

    #[test]
    fn strip_metadata_drops_the_colour_profile_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tagged.jpg");
        let profile = fake_profile(500);
        std::fs::write(
            &path,
            with_icc_profile(&jpeg_of(&quadrants(64, 32)), &profile),
        )
        .unwrap();
        for (keep, want) in [(true, Some(profile.clone())), (false, None)] {
            let recipe = Recipe {
                name: "t".into(),
                operations: vec![Operation::StripMetadata {
                    keep_colour_profile: keep,
                }],
            };
            let out = LocalPipeline::default()
                .generate(SourceItem::file(&path), &recipe)
                .unwrap();
            assert_eq!(icc_profile(&out.bytes), want, "keep {keep}");
        }
    }

    #[test]
    fn invalid_recipes_are_refused_with_the_reason() {
        for (op, needle) in [
            (Operation::Jpeg { quality: 0 }, "quality must be 1 to 100"),
            (
                Operation::Resize {
                    mode: ResizeMode::Fit,
                    width: 0,
                    height: 10,
                },
                "width must be 1",
            ),
            (
                Operation::FitWithin {
                    longest_edge: 40_000,
                },
                "longest_edge must be 1",
            ),
            (
                Operation::PadToAspect {
                    width: 1,
                    height: 1,
                    background: "green".into(),
                },
                "not #rrggbb",
            ),
            (
                Operation::Rename {
                    pattern: "../{stem}".into(),
                },
                "may not contain /",
            ),
            (
                Operation::Rename {
                    pattern: "{stem".into(),
                },
                "without its }",
            ),
            (
                Operation::TextWatermark {
                    text: "© {owner".into(),
                    corner: Corner::TopLeft,
                    height: 0.1,
                    colour: "#ffffff".into(),
                    opacity: 1.0,
                    margin: 0,
                },
                "watermark text",
            ),
            (
                Operation::TextWatermark {
                    text: "ok".into(),
                    corner: Corner::TopLeft,
                    height: 0.0,
                    colour: "#ffffff".into(),
                    opacity: 1.0,
                    margin: 0,
                },
                "watermark height must be",
            ),
            (
                Operation::Rename {
                    pattern: "  ".into(),
                },
                "empty",
            ),
        ] {
            let err = run(&photo(16, 16), vec![op.clone()]).expect_err(needle);
            assert!(
                err.contains(needle) && err.contains("invalid"),
                "{op:?}: {err}"
            );
        }
    }

    #[test]
    fn recipes_are_data_that_round_trip_through_json() {
        let json = r##"{"name":"square","operations":[
            {"op":"auto_orient"},
            {"op":"crop_to_aspect","width":1,"height":1},
            {"op":"resize","mode":"fill","width":1080,"height":1080},
            {"op":"pad_to_aspect","width":4,"height":5,"background":"#ffffff"},
            {"op":"strip_metadata","keep_colour_profile":true},
            {"op":"webp"},
            {"op":"rename","pattern":"{stem}-square"}]}"##;
        let recipe: Recipe = serde_json::from_str(json).unwrap();
        assert_eq!(recipe.operations.len(), 7);
        recipe.validate().unwrap();
        let again: Recipe = serde_json::from_str(&serde_json::to_string(&recipe).unwrap()).unwrap();
        assert_eq!(again, recipe);
        let out = run(&photo(300, 200), recipe.operations).unwrap();
        assert_eq!(
            (out.width, out.height, out.file_name.as_str()),
            (1080, 1350, "photo-square.webp")
        );
    }

    #[test]
    fn a_watermark_lands_in_its_corner_at_its_opacity() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("mark.png");
        image::RgbaImage::from_pixel(20, 10, image::Rgba([255, 255, 255, 255]))
            .save(&mark)
            .unwrap();
        let black = image::DynamicImage::ImageRgb8(RgbImage::from_pixel(200, 100, Rgb([0, 0, 0])));
        let op = |opacity: f32, corner: Corner| Operation::Watermark {
            image: mark.clone(),
            corner,
            width: 0.25,
            opacity,
            margin: 5,
        };
        // 50×25 pixels, 5 pixels in from the bottom right corner.
        let out = run(&black, vec![op(1.0, Corner::BottomRight), Operation::Png]).unwrap();
        let p = pixels(&out);
        assert_close(p.get_pixel(170, 82), [255, 255, 255], "inside the mark");
        assert_close(p.get_pixel(140, 82), [0, 0, 0], "left of it");
        assert_close(p.get_pixel(170, 65), [0, 0, 0], "above it");
        assert_close(p.get_pixel(197, 97), [0, 0, 0], "in the margin");

        let out = run(&black, vec![op(0.5, Corner::TopLeft), Operation::Png]).unwrap();
        let p = pixels(&out);
        assert_close(p.get_pixel(20, 15), [128, 128, 128], "half opacity");
        assert_close(p.get_pixel(170, 82), [0, 0, 0], "not in the other corner");

        let gone = Operation::Watermark {
            image: dir.path().join("missing.png"),
            corner: Corner::TopLeft,
            width: 0.25,
            opacity: 1.0,
            margin: 0,
        };
        let err = run(&black, vec![gone]).expect_err("missing mark");
        assert!(
            err.contains("the watermark") && err.contains("missing.png"),
            "{err}"
        );
        let bad = Operation::Watermark {
            image: mark.clone(),
            corner: Corner::TopLeft,
            width: 1.5,
            opacity: 1.0,
            margin: 0,
        };
        let err = run(&black, vec![bad]).expect_err("too wide");
        assert!(err.contains("watermark width must be"), "{err}");
    }

    #[test]
    fn rename_patterns_take_the_items_fields_made_safe_for_a_file_name() {
        let rename = |pattern: &str| {
            vec![Operation::Rename {
                pattern: pattern.into(),
            }]
        };
        let fields = json!({"sku": "A/17", "colour": "bleu ciel", "size": 42});
        let out = run_with(
            &photo(40, 20),
            rename("{sku}_{colour}_{size}_{width}"),
            Some(fields.clone()),
        )
        .unwrap();
        assert_eq!(out.file_name, "A_17_bleu ciel_42_40.jpg");

        let err = run_with(&photo(40, 20), rename("{stem}-{title}"), Some(fields)).unwrap_err();
        assert!(
            err.contains("cannot name the output") && err.contains("no {title}"),
            "{err}"
        );
        let err = run(&photo(40, 20), rename("{sku}")).unwrap_err();
        assert!(err.contains("no {sku}"), "an item without fields: {err}");
    }

    #[test]
    fn a_text_watermark_writes_the_items_fields_in_its_corner() {
        let grey =
            image::DynamicImage::ImageRgb8(RgbImage::from_pixel(400, 200, Rgb([60, 60, 60])));
        let text = |text: &str, corner: Corner| Operation::TextWatermark {
            text: text.into(),
            corner,
            height: 0.1,
            colour: "#ffd700".into(),
            opacity: 1.0,
            margin: 8,
        };
        let fields = Some(json!({"owner": "Ada"}));
        let out = run_with(
            &grey,
            vec![text("© {owner}", Corner::BottomRight), Operation::Png],
            fields.clone(),
        )
        .unwrap();
        let p = pixels(&out);
        // The text's box: at most 20 px tall, right-aligned 8 px in.
        let inked = |x0: u32, y0: u32, x1: u32, y1: u32| {
            (x0..x1)
                .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                .filter(|&(x, y)| p.get_pixel(x, y).0 != [60, 60, 60])
                .collect::<Vec<_>>()
        };
        let ink = inked(300, 160, 392, 192);
        assert!(
            ink.len() > 100,
            "text drawn in the bottom right: {} pixels",
            ink.len()
        );
        assert!(
            ink.iter()
                .any(|&(x, y)| p.get_pixel(x, y).0 == [255, 215, 0]),
            "in its colour"
        );
        assert!(inked(0, 0, 400, 150).is_empty(), "nothing elsewhere");
        assert!(inked(392, 0, 400, 200).is_empty(), "the margin is kept");

        // Too long for the width: made smaller, still inside the margins.
        let long = "a very long caption that cannot fit across at this size";
        let out = run(&grey, vec![text(long, Corner::TopLeft), Operation::Png]).unwrap();
        let p = pixels(&out);
        let ink: Vec<_> = (0..400u32)
            .flat_map(|x| (0..200u32).map(move |y| (x, y)))
            .filter(|&(x, y)| p.get_pixel(x, y).0 != [60, 60, 60])
            .collect();
        assert!(!ink.is_empty());
        assert!(
            ink.iter().all(|&(x, y)| (8..392).contains(&x) && y < 40),
            "fits: {:?}",
            ink.iter().max()
        );

        let err = run(&grey, vec![text("© {owner}", Corner::TopLeft)]).unwrap_err();
        assert!(
            err.contains("watermark text") && err.contains("no {owner}"),
            "{err}"
        );
    }

    #[test]
    fn the_outputs_preview_comes_from_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        std::fs::write(&path, jpeg_of(&quadrants(1600, 1200))).unwrap();
        let web = outbox_engine::recipe::find_recipe("web").unwrap();
        let out = LocalPipeline::with_preview(512)
            .generate(SourceItem::file(&path), &web)
            .unwrap();
        let preview = out.preview.expect("a preview was asked for");
        assert_eq!((preview.width, preview.height), (512, 384));
        let shown = image::load_from_memory(&preview.jpeg).unwrap().to_rgb8();
        assert_quadrants(
            &shown,
            [RED, GREEN, BLUE, WHITE],
            "the preview shows the output",
        );
        let made_again =
            outbox_engine::preview::preview(&out.bytes, image::ImageFormat::Jpeg, 512).unwrap();
        assert_eq!((made_again.width, made_again.height), (512, 384));
        let plain = LocalPipeline::default()
            .generate(SourceItem::file(&path), &web)
            .unwrap();
        assert!(plain.preview.is_none(), "none unless asked");
        assert_eq!(plain.bytes, out.bytes, "the output is the same either way");
    }
}
