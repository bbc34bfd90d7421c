//! Any bytes, read as any format Outbox accepts, through the path a dropped
//! file takes to its preview: the EXIF thumbnail and the scaled decode, both
//! within the engine's limits. A panic, a crash or an allocation beyond
//! libFuzzer's `-rss_limit_mb` is a finding; an `Err` is the right answer to
//! bad bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outbox_engine::preview;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    // The first byte picks the decoder, so every decoder sees every input,
    // whatever its magic number says.
    let format = preview::FORMATS[usize::from(selector) % preview::FORMATS.len()];
    let _ = preview::exif_thumbnail(bytes);
    let _ = preview::preview(bytes, format, preview::DEFAULT_PREVIEW_SIZE);
});
