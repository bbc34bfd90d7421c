//! A JPEG's EXIF segment made by hand (orientation, embedded thumbnail), for
//! the image tests and the image benchmark.

/// A little-endian TIFF block: IFD0 with the orientation, and IFD1 pointing
/// at `thumbnail` (appended after the IFDs) when given.
pub fn exif_tiff(orientation: u16, thumbnail: Option<&[u8]>) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes()); // IFD0 right after the header
    t.extend(1u16.to_le_bytes()); // one entry
    t.extend(0x0112u16.to_le_bytes());
    t.extend(3u16.to_le_bytes()); // SHORT
    t.extend(1u32.to_le_bytes());
    t.extend(u32::from(orientation).to_le_bytes());
    let ifd1 = 8 + 2 + 12 + 4;
    t.extend((if thumbnail.is_some() { ifd1 } else { 0u32 }).to_le_bytes());
    if let Some(thumb) = thumbnail {
        let data = ifd1 + 2 + 2 * 12 + 4;
        t.extend(2u16.to_le_bytes());
        let length = u32::try_from(thumb.len()).expect("a thumbnail under 4 GB");
        for (tag, value) in [(0x0201u16, data), (0x0202, length)] {
            t.extend(tag.to_le_bytes());
            t.extend(4u16.to_le_bytes()); // LONG
            t.extend(1u32.to_le_bytes());
            t.extend(value.to_le_bytes());
        }
        t.extend(0u32.to_le_bytes());
        t.extend(thumb);
    }
    t
}

/// `jpeg` with an APP1 EXIF segment holding `tiff` right after SOI.
pub fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let length = u16::try_from(2 + 6 + tiff.len()).expect("an EXIF segment under 64 KB");
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(length.to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}
