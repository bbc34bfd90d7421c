#!/usr/bin/env bash
# Runs Outbox's benchmarks: the queue, images (previews and outputs),
# uploads, and the desktop app under Xvfb (`scripts/bench.sh desktop` runs
# only that one).
# Installs, only if missing, the reference tools the image bench compares
# against: libvips (vipsthumbnail), libjpeg-turbo's djpeg, ImageMagick, and
# GNU time (peak memory). Figures are printed; nothing about timing is asserted.
# Where the figures go and what they mean: docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

desktop() {
  install_missing_apt xvfb xauth webkit2gtk-driver curl
  command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked
  build_ui
  # The dev profile: the engine and every dependency are optimised there
  # (Cargo.toml), only the thin shell is not, and the build is the tests' own.
  # A private Secret Service: the local API's token lives in the keychain.
  scripts/with-keyring.sh cargo bench --profile dev -p outbox-desktop --bench desktop
}
if [ "${1:-}" = desktop ]; then
  desktop
  exit
fi

install_missing_apt libvips-tools libjpeg-turbo-progs imagemagick time curl

# The image bench spawns the release CLI (process against process).
cargo build --release -p outbox
cargo bench -p outbox-engine --bench queue
cargo bench -p outbox-engine --bench images
cargo bench -p outbox-engine --bench upload
desktop
