//! The watermark operations: an image, or a line of text, laid over a corner
//! of the output at an opacity.

use crate::codec::resize_exact;
use crate::model::ErrorClass;
use crate::pipeline::{decode_generic, read_source, sniff_format, GenerateError};
use crate::recipe::Corner;
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::{DynamicImage, RgbaImage};
use std::path::Path;

/// The typeface of text watermarks: DejaVu Sans Bold (Bitstream Vera
/// licence, beside the file), bundled so a recipe renders the same anywhere.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// An image mark, scaled to `width` (a share of the output's width).
pub(crate) fn apply_image(
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

    let w = image.width();
    let mw = ((w as f32 * width).round() as u32).clamp(1, w);
    let mh = ((decoded.height() as f32 * mw as f32 / decoded.width().max(1) as f32).round() as u32)
        .clamp(1, image.height());
    let mark = resize_exact(DynamicImage::ImageRgba8(decoded.into_rgba8()), mw, mh)?.into_rgba8();
    Ok(overlay(image, mark, corner, opacity, margin))
}

/// A line of text in `colour`, its font size a share (`height`) of the
/// output's height, made smaller if it would not fit across.
pub(crate) fn apply_text(
    image: DynamicImage,
    text: &str,
    corner: Corner,
    height: f32,
    colour: [u8; 3],
    opacity: f32,
    margin: u32,
) -> Result<DynamicImage, GenerateError> {
    let font = FontRef::try_from_slice(FONT)
        .map_err(|e| GenerateError::permanent(format!("the bundled font is unreadable: {e}")))?;
    let room = image.width().saturating_sub(2 * margin).max(1) as f32;
    let mut px = (image.height() as f32 * height).max(1.0);
    let advance = line_width(&font, text, px);
    if advance > room {
        px = (px * room / advance).max(1.0);
    }
    let mark = render_line(&font, text, px, colour);
    Ok(overlay(image, mark, corner, opacity, margin))
}

fn line_width(font: &FontRef<'_>, text: &str, px: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars().filter(|c| !c.is_control()) {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// The text, anti-aliased, on a transparent canvas just large enough.
fn render_line(font: &FontRef<'_>, text: &str, px: f32, colour: [u8; 3]) -> RgbaImage {
    let scaled = font.as_scaled(PxScale::from(px));
    let width = line_width(font, text, px).ceil().max(1.0) as u32;
    let height = (scaled.ascent() - scaled.descent()).ceil().max(1.0) as u32;
    let mut canvas = RgbaImage::from_pixel(
        width,
        height,
        image::Rgba([colour[0], colour[1], colour[2], 0]),
    );
    let mut caret = 0.0;
    let mut previous = None;
    for c in text.chars().filter(|c| !c.is_control()) {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(caret, scaled.ascent()));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue; // a space
        };
        let bounds = outline.px_bounds();
        outline.draw(|x, y, coverage| {
            let (x, y) = (
                bounds.min.x as i64 + i64::from(x),
                bounds.min.y as i64 + i64::from(y),
            );
            if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) {
                if x < width && y < height {
                    let alpha = &mut canvas.get_pixel_mut(x, y).0[3];
                    *alpha = (*alpha).max((coverage.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        });
    }
    canvas
}

/// Lays `mark` over `corner`, `margin` pixels in, at `opacity`.
fn overlay(
    image: DynamicImage,
    mut mark: RgbaImage,
    corner: Corner,
    opacity: f32,
    margin: u32,
) -> DynamicImage {
    for pixel in mark.pixels_mut() {
        pixel.0[3] = (f32::from(pixel.0[3]) * opacity).round() as u8;
    }
    let (w, h) = (image.width(), image.height());
    let (mw, mh) = (mark.width().min(w), mark.height().min(h));
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
    if had_alpha {
        DynamicImage::ImageRgba8(canvas)
    } else {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).into_rgb8())
    }
}
