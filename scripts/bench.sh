#!/usr/bin/env bash
# Runs Outbox's benchmarks: the queue, then images (previews and outputs).
# Installs, only if missing, the reference tools the image bench compares
# against: libvips (vipsthumbnail), libjpeg-turbo's djpeg, ImageMagick, and
# GNU time (peak memory). Figures are printed; nothing about timing is asserted.
# Where the figures go and what they mean: docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

install_missing_apt libvips-tools libjpeg-turbo-progs imagemagick time

# The image bench spawns the release CLI (process against process).
cargo build --release -p outbox
cargo bench -p outbox-engine --bench queue
cargo bench -p outbox-engine --bench images
