//! Just enough EXIF for previews, read straight from a JPEG's APP1 segment
//! without decoding anything: the orientation, and where the embedded
//! thumbnail (that cameras write) lies in the file. Malformed EXIF is not an
//! error: it reads as "nothing known".

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
    match exif_segment(jpeg) {
        Some(tiff_start) => parse_tiff(jpeg, tiff_start).unwrap_or_default(),
        None => JpegExif::default(),
    }
}

/// The offset of the TIFF header inside the first `Exif\0\0` APP1 segment.
fn exif_segment(jpeg: &[u8]) -> Option<usize> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        // Markers may be padded with extra 0xFF bytes.
        while *jpeg.get(at)? == 0xFF && *jpeg.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        // Start of scan or end of image: the headers are over.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]));
        let body = at + 4;
        if marker == 0xE1 && jpeg.get(body..body + 6)? == b"Exif\0\0" {
            return Some(body + 6);
        }
        at = at + 2 + length;
    }
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
