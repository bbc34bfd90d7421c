//! The shape-changing recipe operations: resize to a box, crop or pad to an
//! aspect ratio. Always centred; sizes rounded to whole pixels, never 0.

use crate::codec::resize_exact;
use crate::pipeline::GenerateError;
use crate::recipe::ResizeMode;
use image::{DynamicImage, GenericImageView, Rgba, RgbaImage};

pub(crate) fn resize(
    image: DynamicImage,
    mode: ResizeMode,
    width: u32,
    height: u32,
) -> Result<DynamicImage, GenerateError> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let (bw, bh) = (f64::from(width), f64::from(height));
    let scaled = |s: f64| {
        (
            (w * s).round().max(1.0) as u32,
            (h * s).round().max(1.0) as u32,
        )
    };
    match mode {
        ResizeMode::Exact => resize_exact(image, width, height),
        ResizeMode::Fit => {
            // Never enlarged: a small image stays as it is.
            let (dw, dh) = scaled((bw / w).min(bh / h).min(1.0));
            resize_exact(image, dw.min(width), dh.min(height))
        }
        ResizeMode::Fill => {
            let (dw, dh) = scaled((bw / w).max(bh / h));
            let covered = resize_exact(image, dw.max(width), dh.max(height))?;
            Ok(centre_crop(&covered, width, height))
        }
    }
}

/// The largest centred region with the aspect ratio `aw`:`ah`.
pub(crate) fn crop_to_aspect(image: &DynamicImage, aw: u32, ah: u32) -> DynamicImage {
    let (w, h) = (u64::from(image.width()), u64::from(image.height()));
    let (aw, ah) = (u64::from(aw.max(1)), u64::from(ah.max(1)));
    let (cw, ch) = if w * ah > h * aw {
        ((h * aw / ah).max(1), h)
    } else {
        (w, (w * ah / aw).max(1))
    };
    centre_crop(image, cw as u32, ch as u32)
}

/// The image centred on a canvas of aspect `aw`:`ah` filled with
/// `background`; transparent pixels show the background.
pub(crate) fn pad_to_aspect(
    image: &DynamicImage,
    aw: u32,
    ah: u32,
    background: [u8; 3],
) -> DynamicImage {
    let (w, h) = (u64::from(image.width()), u64::from(image.height()));
    let (aw, ah) = (u64::from(aw.max(1)), u64::from(ah.max(1)));
    let (cw, ch) = if w * ah > h * aw {
        (w, (w * ah).div_ceil(aw))
    } else {
        ((h * aw).div_ceil(ah), h)
    };
    let [r, g, b] = background;
    let mut canvas = RgbaImage::from_pixel(cw as u32, ch as u32, Rgba([r, g, b, 255]));
    image::imageops::overlay(
        &mut canvas,
        &image.to_rgba8(),
        ((cw - w) / 2) as i64,
        ((ch - h) / 2) as i64,
    );
    DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).into_rgb8())
}

fn centre_crop(image: &DynamicImage, cw: u32, ch: u32) -> DynamicImage {
    let (w, h) = image.dimensions();
    let (cw, ch) = (cw.min(w), ch.min(h));
    image.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch)
}
