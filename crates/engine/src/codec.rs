//! The fast image path shared by outputs and previews: JPEG decoded by
//! libjpeg-turbo at reduced scale in the DCT domain when the result will be
//! smaller anyway ("shrink on load"), other formats by the `image` crate
//! within limits, SIMD resizing, libjpeg-turbo encoding with the colour
//! profile kept.

use crate::jpeg_meta::{has_adobe_marker, icc_profile, read_jpeg_exif, with_icc_profile};
use crate::pipeline::{check_size, decode_generic, Decoded, GenerateError};
use fast_image_resize::{images::Image as FirImage, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageFormat, RgbImage};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor, Subsamp};

/// Decodes `bytes`; when only `fit` pixels on the longest edge are needed, a
/// JPEG is decoded at the smallest DCT scale that still covers them.
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    fit: Option<u32>,
) -> Result<Decoded, GenerateError> {
    if format == ImageFormat::Jpeg {
        return Ok(Decoded {
            image: DynamicImage::ImageRgb8(decode_jpeg_scaled(bytes, fit)?),
            orientation: read_jpeg_exif(bytes).orientation(),
            icc: icc_profile(bytes),
        });
    }
    decode_generic(bytes, format)
}

/// Any JPEG libjpeg-turbo reads: colour, grey, CMYK and YCCK (print files,
/// which must not come out as their negative).
fn decode_jpeg_scaled(bytes: &[u8], fit: Option<u32>) -> Result<RgbImage, GenerateError> {
    let mut decompressor = Decompressor::new().map_err(turbo_error)?;
    let header = decompressor.read_header(bytes).map_err(turbo_error)?;
    let (w, h) = (dimension(header.width)?, dimension(header.height)?);
    // Refuse decompression bombs from the header, before any pixel exists.
    check_size(w, h)?;
    let scale = match fit {
        Some(edge) => {
            let longest = w.max(h) as usize;
            [
                ScalingFactor::ONE_EIGHTH,
                ScalingFactor::ONE_QUARTER,
                ScalingFactor::ONE_HALF,
            ]
            .into_iter()
            .find(|s| s.scale(longest) >= edge as usize)
            .unwrap_or(ScalingFactor::ONE)
        }
        None => ScalingFactor::ONE,
    };
    decompressor
        .set_scaling_factor(scale)
        .map_err(turbo_error)?;
    let scaled = header.scaled(scale);
    if matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
        let cmyk = turbo_decompress_as(&mut decompressor, bytes, &scaled, PixelFormat::CMYK)?;
        return cmyk_to_rgb(&cmyk, &scaled, has_adobe_marker(bytes));
    }
    turbo_decompress(&mut decompressor, bytes, &scaled)
}

/// Ink amounts to screen colour, the plain way (no press profile): each ink
/// and the black take away their share of the light. `inverted`: stored as
/// Adobe does (255 = no ink), as every file with an Adobe marker is.
fn cmyk_to_rgb(
    cmyk: &[u8],
    header: &turbojpeg::DecompressHeader,
    inverted: bool,
) -> Result<RgbImage, GenerateError> {
    let (w, h) = (dimension(header.width)?, dimension(header.height)?);
    let ink = |stored: u8| u32::from(if inverted { 255 - stored } else { stored });
    let rgb = cmyk
        .chunks_exact(4)
        .flat_map(|p| {
            let white = 255 - ink(p[3]);
            let light = |c: u8| ((255 - ink(c)) * white / 255) as u8;
            [light(p[0]), light(p[1]), light(p[2])]
        })
        .collect();
    RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| GenerateError::permanent("the decoder returned fewer pixels than it said"))
}

/// Decodes a small JPEG (an EXIF thumbnail) at full size.
pub(crate) fn decode_small_jpeg(bytes: &[u8], max_pixels: usize) -> Option<RgbImage> {
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if header.width * header.height > max_pixels {
        return None;
    }
    turbo_decompress(&mut decompressor, bytes, &header).ok()
}

fn turbo_decompress(
    decompressor: &mut Decompressor,
    bytes: &[u8],
    header: &turbojpeg::DecompressHeader,
) -> Result<RgbImage, GenerateError> {
    let (w, h) = (dimension(header.width)?, dimension(header.height)?);
    let pixels = turbo_decompress_as(decompressor, bytes, header, PixelFormat::RGB)?;
    RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| GenerateError::permanent("the decoder returned fewer pixels than it said"))
}

fn turbo_decompress_as(
    decompressor: &mut Decompressor,
    bytes: &[u8],
    header: &turbojpeg::DecompressHeader,
    format: PixelFormat,
) -> Result<Vec<u8>, GenerateError> {
    let pitch = format.size() * header.width;
    let mut image = turbojpeg::Image {
        pixels: vec![0; pitch * header.height],
        width: header.width,
        pitch,
        height: header.height,
        format,
    };
    decompressor
        .decompress(bytes, image.as_deref_mut())
        .map_err(turbo_error)?;
    Ok(image.pixels)
}

/// Shrinks (never enlarges) to fit `edge` on the longest side, Lanczos3.
/// Transparency is kept (and resized premultiplied, so edges do not darken).
pub(crate) fn fit_within(image: DynamicImage, edge: u32) -> Result<DynamicImage, GenerateError> {
    let edge = edge.max(1);
    let (w, h) = (image.width(), image.height());
    if w.max(h) <= edge {
        return Ok(image);
    }
    let ratio = f64::from(edge) / f64::from(w.max(h));
    let dw = ((f64::from(w) * ratio).round() as u32).clamp(1, edge);
    let dh = ((f64::from(h) * ratio).round() as u32).clamp(1, edge);
    resize_exact(image, dw, dh)
}

/// Resizes to exactly `dw`×`dh` (shape as asked), Lanczos3, with SIMD.
/// Transparency is kept (and resized premultiplied, so edges do not darken).
pub(crate) fn resize_exact(
    image: DynamicImage,
    dw: u32,
    dh: u32,
) -> Result<DynamicImage, GenerateError> {
    let (w, h) = (image.width(), image.height());
    if (w, h) == (dw, dh) {
        return Ok(image);
    }
    check_size(dw, dh)?;
    let (pixel_type, raw) = if image.color().has_alpha() {
        (PixelType::U8x4, image.into_rgba8().into_raw())
    } else {
        (PixelType::U8x3, image.into_rgb8().into_raw())
    };
    let resize_error =
        |e: &dyn std::fmt::Display| GenerateError::permanent(format!("cannot resize: {e}"));
    let source = FirImage::from_vec_u8(w, h, raw, pixel_type).map_err(|e| resize_error(&e))?;
    let mut target = FirImage::new(dw, dh, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(
        fast_image_resize::FilterType::Lanczos3,
    ));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|e| resize_error(&e))?;
    let pixels = target.into_vec();
    let short = || GenerateError::permanent("the resizer returned fewer pixels than asked");
    Ok(if pixel_type == PixelType::U8x4 {
        DynamicImage::ImageRgba8(image::RgbaImage::from_raw(dw, dh, pixels).ok_or_else(short)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(dw, dh, pixels).ok_or_else(short)?)
    })
}

/// JPEG (4:2:0) with libjpeg-turbo; transparency flattened onto white; the
/// colour profile, when there is one, embedded so colours stay as they were.
pub(crate) fn encode_jpeg(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>, GenerateError> {
    let rgb = crate::pipeline::flatten_onto_white(image);
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut compressor = turbojpeg::Compressor::new().map_err(turbo_error)?;
    compressor
        .set_quality(i32::from(quality.clamp(1, 100)))
        .map_err(turbo_error)?;
    compressor
        .set_subsamp(Subsamp::Sub2x2)
        .map_err(turbo_error)?;
    let jpeg = compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: rgb.as_raw().as_slice(),
            width,
            pitch: 3 * width,
            height,
            format: PixelFormat::RGB,
        })
        .map_err(|e| GenerateError::permanent(format!("cannot encode JPEG: {e}")))?;
    Ok(match icc {
        Some(icc) => with_icc_profile(&jpeg, icc),
        None => jpeg,
    })
}

fn dimension(n: usize) -> Result<u32, GenerateError> {
    u32::try_from(n).map_err(|_| GenerateError::permanent(format!("impossible image size {n}")))
}

fn turbo_error(e: turbojpeg::Error) -> GenerateError {
    // libjpeg-turbo's messages may end in a newline; the queue shows one line.
    let message = e.to_string();
    GenerateError::permanent(format!(
        "the image is damaged or truncated: {}",
        message.trim()
    ))
}
