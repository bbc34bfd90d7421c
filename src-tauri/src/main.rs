// The desktop app's entry point; everything else is in the library so the
// end-to-end test and the binary share one definition.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    outbox_desktop::run()
}
