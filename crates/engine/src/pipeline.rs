//! Generating an output from a source image: read, check, decode with limits,
//! apply the recipe, encode. Runs on blocking threads, never on the async
//! executor. Every failure is a [`GenerateError`] naming what is wrong with
//! this one file.

use crate::codec;
use crate::geometry;
use crate::model::ErrorClass;
use crate::preview::{self, Preview};
use crate::recipe::{parse_colour, Operation, Recipe, ResizeMode};
use crate::template::{self, Fields};
use crate::watermark;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;

/// Images above this many pixels are refused before they are decoded.
pub const MAX_PIXELS: u64 = 100_000_000;
/// Neither side may exceed this.
pub const MAX_SIDE: u32 = 30_000;
/// The most a decoder may allocate for one image.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// One generated image, in memory.
#[derive(Clone, Debug)]
pub struct GeneratedImage {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    /// The name it is delivered under (the source's stem, the new extension).
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    pub source_hash: [u8; 32],
    /// The output's preview, made from the same decoded pixels, when the
    /// generator was asked for one.
    pub preview: Option<Preview>,
}

/// What a generator works from: the source file and the item's fields.
#[derive(Clone, Copy, Debug)]
pub struct SourceItem<'a> {
    pub path: &'a Path,
    pub fields: Option<&'a Fields>,
}

impl<'a> SourceItem<'a> {
    /// A file with no fields.
    pub fn file(path: &'a Path) -> Self {
        SourceItem { path, fields: None }
    }

    fn field(&self, name: &str) -> Option<String> {
        self.fields.and_then(|f| template::field_text(f, name))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GenerateError {
    pub class: ErrorClass,
    pub message: String,
}

impl GenerateError {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        GenerateError {
            class: ErrorClass::Permanent,
            message: message.into(),
        }
    }
}

/// Something that turns a source into an output: the local pipeline here, an
/// AI provider later, a no-op in benchmarks.
pub trait Generate: Send + Sync + 'static {
    fn generate(
        &self,
        item: SourceItem<'_>,
        recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError>;
}

/// Local operations: libjpeg-turbo, SIMD resizing, the `image` crate.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalPipeline {
    /// Also make the output's preview of this size, from the pixels already
    /// decoded (far cheaper than decoding the output again).
    pub preview_size: Option<u32>,
}

impl LocalPipeline {
    pub fn with_preview(size: u32) -> Self {
        LocalPipeline {
            preview_size: Some(size),
        }
    }
}

impl Generate for LocalPipeline {
    fn generate(
        &self,
        item: SourceItem<'_>,
        recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError> {
        if recipe.split_ai().is_some() {
            return Err(GenerateError::permanent(format!(
                "the recipe {:?} starts with an AI provider; only the queue's worker runs it",
                recipe.name
            )));
        }
        let source = item.path;
        let bytes = read_source(source)?;
        let source_hash = *blake3::hash(&bytes).as_bytes();
        let format = sniff_format(source, &bytes)?;
        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());

        if recipe.is_passthrough() {
            let (width, height) = dimensions(&bytes, format)?;
            let file_name = source
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| stem.clone());
            return Ok(GeneratedImage {
                bytes,
                mime: format.to_mime_type(),
                file_name,
                width,
                height,
                source_hash,
                preview: None,
            });
        }

        recipe.validate().map_err(|e| {
            GenerateError::permanent(format!("the recipe {:?} is invalid: {e}", recipe.name))
        })?;
        let decoded = codec::decode(&bytes, format, recipe.shrink_on_load())?;
        let Shaped {
            image,
            output,
            name_pattern,
            icc,
        } = shape(decoded, recipe, &item, &mut Scale::Full)?;
        let (bytes, format) = match output {
            Output::Jpeg { quality } => (
                codec::encode_jpeg(&image, quality, icc.as_deref())?,
                ImageFormat::Jpeg,
            ),
            Output::Png => (
                encode_with_image(&image, ImageFormat::Png)?,
                ImageFormat::Png,
            ),
            Output::Webp => (
                encode_with_image(&image, ImageFormat::WebP)?,
                ImageFormat::WebP,
            ),
        };
        let extension = format.extensions_str().first().copied().unwrap_or("img");
        let stem = match name_pattern {
            Some(pattern) => output_name(pattern, &item, &stem, &image, &recipe.name)?,
            None => stem,
        };
        let preview = match self.preview_size {
            Some(size) => Some(preview::from_pixels(image.clone(), size, icc.as_deref())?),
            None => None,
        };
        Ok(GeneratedImage {
            bytes,
            mime: format.to_mime_type(),
            file_name: format!("{stem}.{extension}"),
            width: image.width(),
            height: image.height(),
            source_hash,
            preview,
        })
    }
}

/// Pixels shaped by a recipe, and how they are to be written.
pub(crate) struct Shaped<'r> {
    pub image: DynamicImage,
    pub output: Output,
    pub name_pattern: Option<&'r str>,
    pub icc: Option<Vec<u8>>,
}

/// Applies a recipe's operations to decoded pixels, in the recipe's order;
/// the format and name operations only say how the result is written.
pub(crate) fn shape<'r>(
    decoded: Decoded,
    recipe: &'r Recipe,
    item: &SourceItem<'_>,
    scale: &mut Scale,
) -> Result<Shaped<'r>, GenerateError> {
    let Decoded {
        mut image,
        orientation,
        mut icc,
    } = decoded;
    let mut output = Output::Jpeg { quality: 90 };
    let mut name_pattern = None;
    // Turning waits until the image is shrunk when it can: a fit to the
    // longest edge gives the same pixels either way, and turning 12 MP
    // pixel by pixel cost 43 % of a `web` output (measured).
    let mut turn = None;
    for op in &recipe.operations {
        if !matches!(op, Operation::FitWithin { .. }) {
            if let Some(orientation) = turn.take() {
                image.apply_orientation(orientation);
            }
        }
        match op {
            // The worker runs it before this pipeline.
            Operation::AiGenerate(_) => {}
            Operation::AutoOrient => turn = Some(orientation),
            Operation::FitWithin { longest_edge } => {
                image = scale.fit_within(image, *longest_edge)?;
            }
            Operation::Resize {
                mode,
                width,
                height,
            } => image = scale.resize(image, *mode, *width, *height)?,
            Operation::CropToAspect { width, height } => {
                let before = image.width().max(image.height());
                image = geometry::crop_to_aspect(&image, *width, *height);
                scale.reshaped(before, &image);
            }
            Operation::PadToAspect {
                width,
                height,
                background,
            } => {
                let colour = parse_colour(background).map_err(GenerateError::permanent)?;
                let before = image.width().max(image.height());
                image = geometry::pad_to_aspect(&image, *width, *height, colour);
                scale.reshaped(before, &image);
            }
            Operation::Jpeg { quality } => output = Output::Jpeg { quality: *quality },
            Operation::Png => output = Output::Png,
            Operation::Webp => output = Output::Webp,
            Operation::StripMetadata {
                keep_colour_profile,
            } => {
                if !keep_colour_profile {
                    icc = None;
                }
            }
            Operation::Rename { pattern } => name_pattern = Some(pattern.as_str()),
            Operation::Watermark {
                image: mark,
                corner,
                width,
                opacity,
                margin,
            } => {
                let margin = scale.pixels(*margin, &image);
                image = watermark::apply_image(image, mark, *corner, *width, *opacity, margin)?;
            }
            Operation::TextWatermark {
                text,
                corner,
                height,
                colour,
                opacity,
                margin,
            } => {
                let text = template::fill(text, |name| item.field(name))
                    .map_err(|e| GenerateError::permanent(format!("the watermark text: {e}")))?;
                let colour = parse_colour(colour).map_err(GenerateError::permanent)?;
                let margin = scale.pixels(*margin, &image);
                image = watermark::apply_text(
                    image, &text, *corner, *height, colour, *opacity, margin,
                )?;
            }
        }
    }
    if let Some(orientation) = turn {
        image.apply_orientation(orientation);
    }
    Ok(Shaped {
        image,
        output,
        name_pattern,
        icc,
    })
}

/// How a recipe's pixel sizes map onto the pixels being shaped.
pub(crate) enum Scale {
    /// One to one: the output itself.
    Full,
    /// A sketch: smaller pixels standing for an image whose longest edge is
    /// `longest` (the recipe tried on preview-sized pixels while it is
    /// edited). Shrinking operations apply as they are (they never enlarge,
    /// so the sketch keeps as much detail as the output has, up to its own);
    /// enlarging ones are drawn at most `edge` pixels a side; margins follow
    /// the ratio of the sketch to what it stands for.
    Sketch { longest: f64, edge: u32 },
}

impl Scale {
    fn fit_within(
        &mut self,
        image: DynamicImage,
        edge: u32,
    ) -> Result<DynamicImage, GenerateError> {
        if let Scale::Sketch { longest, .. } = self {
            *longest = longest.min(f64::from(edge));
        }
        codec::fit_within(image, edge)
    }

    fn resize(
        &mut self,
        image: DynamicImage,
        mode: ResizeMode,
        width: u32,
        height: u32,
    ) -> Result<DynamicImage, GenerateError> {
        let Scale::Sketch { longest, edge } = self else {
            return geometry::resize(image, mode, width, height);
        };
        let (bw, bh) = (f64::from(width), f64::from(height));
        if mode == ResizeMode::Fit {
            // What the full image's longest edge becomes inside the box.
            let ratio = f64::from(image.height()) / f64::from(image.width());
            let (fw, fh) = if ratio <= 1.0 {
                (*longest, *longest * ratio)
            } else {
                (*longest / ratio, *longest)
            };
            *longest *= (bw / fw).min(bh / fh).min(1.0);
            return geometry::resize(image, mode, width, height);
        }
        *longest = bw.max(bh);
        let shrink = (f64::from(*edge) / *longest).min(1.0);
        let side = |n: f64| ((n * shrink).round() as u32).max(1);
        geometry::resize(image, mode, side(bw), side(bh))
    }

    /// After an operation that cut or grew one side in proportion.
    fn reshaped(&mut self, before: u32, image: &DynamicImage) {
        if let Scale::Sketch { longest, .. } = self {
            let after = image.width().max(image.height());
            *longest *= f64::from(after) / f64::from(before.max(1));
        }
    }

    /// A recipe's size in pixels, on the pixels at hand.
    fn pixels(&self, n: u32, image: &DynamicImage) -> u32 {
        match self {
            Scale::Full => n,
            Scale::Sketch { longest, .. } => {
                let ratio = f64::from(image.width().max(image.height())) / longest.max(1.0);
                (f64::from(n) * ratio.min(1.0)).round() as u32
            }
        }
    }
}

/// The rename pattern filled: the pipeline's values first, then the item's
/// fields, each made safe for a file name.
fn output_name(
    pattern: &str,
    item: &SourceItem<'_>,
    stem: &str,
    image: &DynamicImage,
    recipe: &str,
) -> Result<String, GenerateError> {
    let name = template::fill(pattern, |name| {
        let value = match name {
            "stem" => stem.to_string(),
            "width" => image.width().to_string(),
            "height" => image.height().to_string(),
            "recipe" => recipe.to_string(),
            field => item.field(field)?,
        };
        Some(value.replace(|c: char| matches!(c, '/' | '\\') || c.is_control(), "_"))
    })
    .map_err(|e| GenerateError::permanent(format!("cannot name the output: {e}")))?;
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        return Err(GenerateError::permanent(format!(
            "cannot name the output: the pattern {pattern:?} gives an empty name"
        )));
    }
    Ok(name.to_string())
}

/// The format an output is written in.
pub(crate) enum Output {
    Jpeg { quality: u8 },
    Png,
    Webp,
}

pub(crate) fn read_source(source: &Path) -> Result<Vec<u8>, GenerateError> {
    let bytes = std::fs::read(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => GenerateError {
            class: ErrorClass::NeedsUser,
            message: format!(
                "the source file is gone: {} (was it moved or deleted after it was added?)",
                source.display()
            ),
        },
        std::io::ErrorKind::PermissionDenied => GenerateError {
            class: ErrorClass::NeedsUser,
            message: format!(
                "Outbox may not read {} (permission denied)",
                source.display()
            ),
        },
        std::io::ErrorKind::IsADirectory => {
            GenerateError::permanent(format!("{} is a folder, not an image", source.display()))
        }
        _ => GenerateError {
            class: ErrorClass::Transient,
            message: format!("cannot read {}: {e}", source.display()),
        },
    })?;
    if bytes.is_empty() {
        return Err(GenerateError::permanent("the file is empty (0 bytes)"));
    }
    Ok(bytes)
}

/// The format the bytes say, whatever the name says.
pub(crate) fn sniff_format(source: &Path, bytes: &[u8]) -> Result<ImageFormat, GenerateError> {
    image::guess_format(bytes).map_err(|_| {
        let named = source
            .extension()
            .map(|e| format!("its name ends in .{} but ", e.to_string_lossy()))
            .unwrap_or_default();
        GenerateError::permanent(format!(
            "not an image: {named}its content is not a format Outbox reads (JPEG, PNG, WebP, GIF, BMP, TIFF)"
        ))
    })
}

fn reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    reader
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<(), GenerateError> {
    if width == 0 || height == 0 {
        return Err(GenerateError::permanent(format!(
            "the image has no pixels ({width}×{height})"
        )));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(GenerateError::permanent(format!(
            "the image is too large to process safely ({width}×{height} pixels; the limit is {} megapixels and {MAX_SIDE} pixels a side)",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

fn decode_error(e: image::ImageError) -> GenerateError {
    match e {
        image::ImageError::Limits(_) => {
            GenerateError::permanent(format!("the image is too large to process safely ({e})"))
        }
        image::ImageError::Unsupported(_) => {
            GenerateError::permanent(format!("this kind of image is not supported: {e}"))
        }
        other => GenerateError::permanent(format!("the image is damaged or truncated: {other}")),
    }
}

pub(crate) fn dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), GenerateError> {
    let decoder = reader(bytes, format).into_decoder().map_err(decode_error)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h)?;
    Ok((w, h))
}

/// Decoded pixels with what the file said about them.
pub(crate) struct Decoded {
    pub image: DynamicImage,
    pub orientation: image::metadata::Orientation,
    pub icc: Option<Vec<u8>>,
}

/// Decodes with the `image` crate, within the limits.
pub(crate) fn decode_generic(bytes: &[u8], format: ImageFormat) -> Result<Decoded, GenerateError> {
    let mut decoder = reader(bytes, format).into_decoder().map_err(decode_error)?;
    let (w, h) = decoder.dimensions();
    // Refuse decompression bombs from the header, before any pixel is allocated.
    check_size(w, h)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    Ok(Decoded {
        image,
        orientation,
        icc,
    })
}

/// PNG and (lossless) WebP, with the `image` crate's encoders.
fn encode_with_image(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, GenerateError> {
    let mut out = Cursor::new(Vec::new());
    // The WebP encoder takes 8-bit pixels only.
    let eight_bit;
    let image = if format == ImageFormat::WebP
        && !matches!(
            image,
            DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_)
        ) {
        eight_bit = if image.color().has_alpha() {
            DynamicImage::ImageRgba8(image.to_rgba8())
        } else {
            DynamicImage::ImageRgb8(image.to_rgb8())
        };
        &eight_bit
    } else {
        image
    };
    image
        .write_to(&mut out, format)
        .map_err(|e| GenerateError::permanent(format!("cannot encode {format:?}: {e}")))?;
    Ok(out.into_inner())
}

/// JPEG has no transparency: transparent pixels become white, not black.
pub(crate) fn flatten_onto_white(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}
