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

mod early;
mod many;
mod sketch;

pub(crate) use early::EarlyPreviews;

pub use many::{preview_many, PreviewEvent};
pub use sketch::{sketch, trial, Sample};

use crate::codec;
use crate::jpeg_meta::read_jpeg_exif;
use crate::pipeline::{self, Decoded, GenerateError};
use image::{DynamicImage, ImageFormat};
use std::path::Path;

/// The longest edge of a preview unless asked otherwise.
pub const DEFAULT_PREVIEW_SIZE: u32 = 512;
const PREVIEW_QUALITY: u8 = 80;
/// The formats Outbox reads: the `image` crate's features it is built with.
pub const FORMATS: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
];
/// EXIF thumbnails are at most 64 KB; anything with more pixels is not one.
const MAX_THUMBNAIL_PIXELS: usize = 1 << 20;

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
/// (an image smaller than that keeps its size). The colour profile is kept
/// and declared in the preview.
pub fn preview(bytes: &[u8], format: ImageFormat, size: u32) -> Result<Preview, GenerateError> {
    let size = size.max(1);
    let Decoded {
        image,
        orientation,
        icc,
    } = codec::decode(bytes, format, Some(size))?;
    let mut image = codec::fit_within(image, size)?;
    image.apply_orientation(orientation);
    encode(&image, icc.as_deref())
}

/// The preview of pixels already decoded and upright (an output's, say).
pub fn from_pixels(
    image: DynamicImage,
    size: u32,
    icc: Option<&[u8]>,
) -> Result<Preview, GenerateError> {
    encode(&codec::fit_within(image, size.max(1))?, icc)
}

/// The JPEG's embedded EXIF thumbnail, upright, if it has a usable one.
pub fn exif_thumbnail(jpeg: &[u8]) -> Option<Preview> {
    let exif = read_jpeg_exif(jpeg);
    let thumbnail = jpeg.get(exif.thumbnail.clone()?)?;
    let pixels = codec::decode_small_jpeg(thumbnail, MAX_THUMBNAIL_PIXELS)?;
    let mut image = DynamicImage::ImageRgb8(pixels);
    image.apply_orientation(exif.orientation());
    encode(&image, None).ok()
}

impl crate::byte_cache::Weigh for Preview {
    fn bytes(&self) -> usize {
        self.jpeg.len()
    }
}

fn encode(image: &DynamicImage, icc: Option<&[u8]>) -> Result<Preview, GenerateError> {
    Ok(Preview {
        jpeg: codec::encode_jpeg(image, PREVIEW_QUALITY, icc)?,
        width: image.width(),
        height: image.height(),
    })
}
