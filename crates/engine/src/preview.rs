//! Previews: from an image file's bytes to a small JPEG in memory, by the
//! fastest correct route.
//!
//! - A JPEG's embedded EXIF thumbnail, when there is one, is the first answer
//!   (a few milliseconds: no pixel of the photo is decoded).
//! - A JPEG is decoded at reduced scale in the DCT domain (libjpeg-turbo,
//!   1/2, 1/4 or 1/8: "shrink on load"), never at full size and then shrunk.
//! - Other formats are decoded with the `image` crate, within the same limits
//!   as outputs.
//!
//! Every route resizes with SIMD (`fast_image_resize`, Lanczos3), applies the
//! EXIF orientation, and encodes with libjpeg-turbo.

use crate::exif::read_jpeg_exif;
use crate::pipeline::{self, GenerateError};
use fast_image_resize::{images::Image as FirImage, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat, RgbImage};
use std::path::Path;
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

/// The longest edge of a preview unless asked otherwise.
pub const DEFAULT_PREVIEW_SIZE: u32 = 512;
const PREVIEW_QUALITY: i32 = 80;

/// A preview, encoded as JPEG, upright.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The preview of the file at `path`, at most `size` pixels on its longest edge.
pub fn preview_file(path: &Path, size: u32) -> Result<Preview, GenerateError> {
    let bytes = pipeline::read_source(path)?;
    let format = pipeline::sniff_format(path, &bytes)?;
    preview(&bytes, format, size)
}

/// The preview of an image's bytes, at most `size` pixels on its longest edge
/// (an image smaller than that keeps its size).
pub fn preview(bytes: &[u8], format: ImageFormat, size: u32) -> Result<Preview, GenerateError> {
    let size = size.max(1);
    let (pixels, orientation) = match format {
        ImageFormat::Jpeg => match decode_jpeg_scaled(bytes, size)? {
            Some(pixels) => (pixels, read_jpeg_exif(bytes).orientation()),
            None => decode_generic(bytes, format)?,
        },
        _ => decode_generic(bytes, format)?,
    };
    let fitted = fit_within(pixels, size)?;
    encode(upright(fitted, orientation))
}

/// The JPEG's embedded EXIF thumbnail, upright, if it has a usable one.
pub fn exif_thumbnail(jpeg: &[u8]) -> Option<Preview> {
    let exif = read_jpeg_exif(jpeg);
    let thumbnail = jpeg.get(exif.thumbnail.clone()?)?;
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(thumbnail).ok()?;
    // Thumbnails are at most 64 KB; anything big is not one.
    if header.width * header.height > 1 << 20 {
        return None;
    }
    let pixels = turbo_decompress(&mut decompressor, thumbnail, &header).ok()?;
    encode(upright(pixels, exif.orientation())).ok()
}

/// Decodes at the smallest DCT scale whose result still covers `size`.
/// `None` when libjpeg-turbo cannot give RGB (CMYK and YCCK files).
fn decode_jpeg_scaled(bytes: &[u8], size: u32) -> Result<Option<RgbImage>, GenerateError> {
    let mut decompressor = Decompressor::new().map_err(turbo_error)?;
    let header = decompressor.read_header(bytes).map_err(turbo_error)?;
    if matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
        return Ok(None);
    }
    let (w, h) = (dimension(header.width)?, dimension(header.height)?);
    // Refuse decompression bombs from the header, before any pixel exists.
    pipeline::check_size(w, h)?;
    let longest = w.max(h) as usize;
    let scale = [
        ScalingFactor::ONE_EIGHTH,
        ScalingFactor::ONE_QUARTER,
        ScalingFactor::ONE_HALF,
    ]
    .into_iter()
    .find(|s| s.scale(longest) >= size as usize)
    .unwrap_or(ScalingFactor::ONE);
    decompressor
        .set_scaling_factor(scale)
        .map_err(turbo_error)?;
    let scaled = header.scaled(scale);
    turbo_decompress(&mut decompressor, bytes, &scaled).map(Some)
}

fn turbo_decompress(
    decompressor: &mut Decompressor,
    bytes: &[u8],
    header: &turbojpeg::DecompressHeader,
) -> Result<RgbImage, GenerateError> {
    let (w, h) = (dimension(header.width)?, dimension(header.height)?);
    let mut image = turbojpeg::Image {
        pixels: vec![0; 3 * header.width * header.height],
        width: header.width,
        pitch: 3 * header.width,
        height: header.height,
        format: PixelFormat::RGB,
    };
    decompressor
        .decompress(bytes, image.as_deref_mut())
        .map_err(turbo_error)?;
    RgbImage::from_raw(w, h, image.pixels)
        .ok_or_else(|| GenerateError::permanent("the decoder returned fewer pixels than it said"))
}

fn decode_generic(
    bytes: &[u8],
    format: ImageFormat,
) -> Result<(RgbImage, Orientation), GenerateError> {
    let (image, orientation, _icc) = pipeline::decode(bytes, format)?;
    Ok((pipeline::flatten_onto_white(&image), orientation))
}

/// Shrinks (never enlarges) to fit `size` on the longest edge.
fn fit_within(image: RgbImage, size: u32) -> Result<RgbImage, GenerateError> {
    let (w, h) = image.dimensions();
    if w.max(h) <= size {
        return Ok(image);
    }
    let ratio = f64::from(size) / f64::from(w.max(h));
    let dw = ((f64::from(w) * ratio).round() as u32).clamp(1, size);
    let dh = ((f64::from(h) * ratio).round() as u32).clamp(1, size);
    let source = FirImage::from_vec_u8(w, h, image.into_raw(), PixelType::U8x3)
        .map_err(|e| GenerateError::permanent(format!("cannot resize: {e}")))?;
    let mut target = FirImage::new(dw, dh, PixelType::U8x3);
    Resizer::new()
        .resize(
            &source,
            &mut target,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(
                fast_image_resize::FilterType::Lanczos3,
            )),
        )
        .map_err(|e| GenerateError::permanent(format!("cannot resize: {e}")))?;
    RgbImage::from_raw(dw, dh, target.into_vec())
        .ok_or_else(|| GenerateError::permanent("the resizer returned fewer pixels than asked"))
}

fn upright(image: RgbImage, orientation: Orientation) -> RgbImage {
    if orientation == Orientation::NoTransforms {
        return image;
    }
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation);
    image.into_rgb8()
}

fn encode(image: RgbImage) -> Result<Preview, GenerateError> {
    let (width, height) = image.dimensions();
    let mut compressor = turbojpeg::Compressor::new().map_err(turbo_error)?;
    compressor
        .set_quality(PREVIEW_QUALITY)
        .map_err(turbo_error)?;
    let jpeg = compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: width as usize,
            pitch: 3 * width as usize,
            height: height as usize,
            format: PixelFormat::RGB,
        })
        .map_err(turbo_error)?;
    Ok(Preview {
        jpeg,
        width,
        height,
    })
}

fn dimension(n: usize) -> Result<u32, GenerateError> {
    u32::try_from(n).map_err(|_| GenerateError::permanent(format!("impossible image size {n}")))
}

fn turbo_error(e: turbojpeg::Error) -> GenerateError {
    GenerateError::permanent(format!("the image is damaged or truncated: {e}"))
}
