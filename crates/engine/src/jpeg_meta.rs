//! Just enough of a JPEG's metadata segments, read without decoding anything:
//! from EXIF (APP1) the orientation and where the embedded thumbnail (that
//! cameras write) lies; the ICC colour profile (APP2), which can also be
//! written into a new JPEG. Malformed metadata is not an error: it reads as
//! "nothing known".

use image::metadata::Orientation;
use std::ops::Range;

/// What a JPEG's EXIF says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JpegExif {
    /// The raw EXIF orientation (1–8), if given.
    pub orientation: Option<u16>,
    /// Byte range of the embedded JPEG thumbnail within the file.
    pub thumbnail: Option<Range<usize>>,
}

impl JpegExif {
    pub fn orientation(&self) -> Orientation {
        self.orientation
            .and_then(|o| Orientation::from_exif(o as u8))
            .unwrap_or(Orientation::NoTransforms)
    }
}

const TAG_ORIENTATION: u16 = 0x0112;
const TAG_THUMBNAIL_OFFSET: u16 = 0x0201;
const TAG_THUMBNAIL_LENGTH: u16 = 0x0202;

/// Reads the EXIF of a JPEG file's bytes (nothing for other formats).
pub fn read_jpeg_exif(jpeg: &[u8]) -> JpegExif {
    let exif = segments(jpeg).find(|(marker, body)| {
        *marker == 0xE1
            && jpeg
                .get(body.clone())
                .is_some_and(|b| b.starts_with(b"Exif\0\0"))
    });
    match exif {
        Some((_, body)) => parse_tiff(jpeg, body.start + 6).unwrap_or_default(),
        None => JpegExif::default(),
    }
}

/// Whether the file carries Adobe's APP14 marker. CMYK and YCCK files that
/// have it store their inks inverted (255 = no ink), the way Photoshop,
/// ImageMagick, libvips and Pillow write them and libvips reads them.
pub fn has_adobe_marker(jpeg: &[u8]) -> bool {
    segments(jpeg).any(|(marker, body)| {
        marker == 0xEE && jpeg.get(body).is_some_and(|b| b.starts_with(b"Adobe"))
    })
}

const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
/// The most profile bytes one APP2 segment holds (65535 - 2 - 14).
const ICC_CHUNK: usize = 65519;

/// The ICC profile, reassembled from its APP2 chunks in order; `None` if
/// absent or if a chunk is missing.
pub fn icc_profile(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut count = 0;
    for (marker, body) in segments(jpeg) {
        let body = jpeg.get(body)?;
        if marker == 0xE2 && body.starts_with(ICC_SIGNATURE) && body.len() >= 14 {
            count = body[13];
            chunks.push((body[12], &body[14..]));
        }
    }
    if chunks.is_empty() || chunks.len() != usize::from(count) {
        return None;
    }
    chunks.sort_by_key(|(seq, _)| *seq);
    if chunks
        .iter()
        .enumerate()
        .any(|(i, (seq, _))| usize::from(*seq) != i + 1)
    {
        return None;
    }
    Some(
        chunks
            .into_iter()
            .flat_map(|(_, data)| data.iter().copied())
            .collect(),
    )
}

/// `jpeg` with `icc` written as APP2 segments right after its SOI marker
/// (where readers look for it). A profile too big for 255 chunks is left out.
pub fn with_icc_profile(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = icc.chunks(ICC_CHUNK).collect();
    let (Ok(count), true) = (u8::try_from(chunks.len()), jpeg.starts_with(&[0xFF, 0xD8])) else {
        return jpeg.to_vec();
    };
    let mut out = Vec::with_capacity(jpeg.len() + icc.len() + 18 * chunks.len());
    out.extend_from_slice(&jpeg[..2]);
    for (i, chunk) in chunks.iter().enumerate() {
        out.extend_from_slice(&[0xFF, 0xE2]);
        // Fits: a chunk is at most ICC_CHUNK bytes.
        out.extend_from_slice(&((2 + 14 + chunk.len()) as u16).to_be_bytes());
        out.extend_from_slice(ICC_SIGNATURE);
        out.extend_from_slice(&[i as u8 + 1, count]);
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The header segments of a JPEG (marker and body range), up to the first
/// scan; nothing for bytes that are not a JPEG.
fn segments(jpeg: &[u8]) -> impl Iterator<Item = (u8, Range<usize>)> + '_ {
    let mut at = if jpeg.starts_with(&[0xFF, 0xD8]) {
        Some(2)
    } else {
        None
    };
    std::iter::from_fn(move || {
        let mut here = at?;
        at = None;
        // Markers may be padded with extra 0xFF bytes.
        while *jpeg.get(here)? == 0xFF && *jpeg.get(here + 1)? == 0xFF {
            here += 1;
        }
        if *jpeg.get(here)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(here + 1)?;
        // Start of scan or end of image: the headers are over.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([
            *jpeg.get(here + 2)?,
            *jpeg.get(here + 3)?,
        ]));
        let body = here + 4..(here + 2 + length).max(here + 4);
        at = Some(here + 2 + length);
        Some((marker, body))
    })
}

struct Tiff<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = [*self.data.get(at)?, *self.data.get(at + 1)?];
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Short or long value of an IFD entry (type 3 or 4, count 1).
    fn entry_value(&self, entry: usize) -> Option<u32> {
        match self.u16(entry + 2)? {
            3 => self.u16(entry + 8).map(u32::from),
            4 => self.u32(entry + 8),
            _ => None,
        }
    }

    /// Calls `f(tag, entry_offset)` for each entry; returns the next IFD's offset.
    fn walk(&self, ifd: usize, mut f: impl FnMut(u16, usize)) -> Option<usize> {
        let count = usize::from(self.u16(ifd)?);
        for i in 0..count {
            let entry = ifd + 2 + 12 * i;
            f(self.u16(entry)?, entry);
        }
        Some(self.u32(ifd + 2 + 12 * count)? as usize)
    }
}

fn parse_tiff(jpeg: &[u8], start: usize) -> Option<JpegExif> {
    let data = jpeg.get(start..)?;
    let big_endian = match data.get(..4)? {
        [b'M', b'M', 0, 42] => true,
        [b'I', b'I', 42, 0] => false,
        _ => return None,
    };
    let tiff = Tiff { data, big_endian };
    let mut exif = JpegExif::default();
    let ifd1 = tiff.walk(tiff.u32(4)? as usize, |tag, entry| {
        if tag == TAG_ORIENTATION {
            exif.orientation = tiff.entry_value(entry).and_then(|v| u16::try_from(v).ok());
        }
    })?;
    if ifd1 != 0 {
        let (mut offset, mut length) = (None, None);
        tiff.walk(ifd1, |tag, entry| match tag {
            TAG_THUMBNAIL_OFFSET => offset = tiff.entry_value(entry),
            TAG_THUMBNAIL_LENGTH => length = tiff.entry_value(entry),
            _ => {}
        });
        if let (Some(offset), Some(length)) = (offset, length) {
            let range = start + offset as usize..start + offset as usize + length as usize;
            // Only a thumbnail that is really there and really a JPEG.
            if jpeg
                .get(range.clone())
                .is_some_and(|t| t.starts_with(&[0xFF, 0xD8]))
            {
                exif.thumbnail = Some(range);
            }
        }
    }
    Some(exif)
}
