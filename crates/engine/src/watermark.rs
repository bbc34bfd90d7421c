//! The watermark operation: an image laid over a corner of the output,
//! scaled to a share of its width, at an opacity.

use crate::codec::resize_exact;
use crate::model::ErrorClass;
use crate::pipeline::{decode_generic, read_source, sniff_format, GenerateError};
use crate::recipe::Corner;
use image::DynamicImage;
use std::path::Path;

pub(crate) fn apply(
    image: DynamicImage,
    mark: &Path,
    corner: Corner,
    width: f32,
    opacity: f32,
    margin: u32,
) -> Result<DynamicImage, GenerateError> {
    let cannot = |e: GenerateError| GenerateError {
        // The mark belongs to the recipe: the user fixes it, then retries.
        class: ErrorClass::NeedsUser,
        message: format!("the watermark {}: {}", mark.display(), e.message),
    };
    let bytes = read_source(mark).map_err(cannot)?;
    let format = sniff_format(mark, &bytes).map_err(cannot)?;
    let decoded = decode_generic(&bytes, format).map_err(cannot)?.image;

    let (w, h) = (image.width(), image.height());
    let mw = ((w as f32 * width).round() as u32).clamp(1, w);
    let mh = ((decoded.height() as f32 * mw as f32 / decoded.width().max(1) as f32).round() as u32)
        .clamp(1, h);
    let mut mark =
        resize_exact(DynamicImage::ImageRgba8(decoded.into_rgba8()), mw, mh)?.into_rgba8();
    for pixel in mark.pixels_mut() {
        pixel.0[3] = (f32::from(pixel.0[3]) * opacity).round() as u8;
    }
    let (left, top) = (margin.min(w - mw), margin.min(h - mh));
    let (right, bottom) = (w - mw - left, h - mh - top);
    let (x, y) = match corner {
        Corner::TopLeft => (left, top),
        Corner::TopRight => (right, top),
        Corner::BottomLeft => (left, bottom),
        Corner::BottomRight => (right, bottom),
    };
    let had_alpha = image.color().has_alpha();
    let mut canvas = image.into_rgba8();
    image::imageops::overlay(&mut canvas, &mark, i64::from(x), i64::from(y));
    Ok(if had_alpha {
        DynamicImage::ImageRgba8(canvas)
    } else {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).into_rgb8())
    })
}
