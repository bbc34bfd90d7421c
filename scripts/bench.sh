#!/usr/bin/env bash
# Runs Outbox's benchmarks: the queue, then images (previews and outputs).
# Installs, only if missing, the reference tools the image bench compares
# against: libvips (vipsthumbnail), libjpeg-turbo's djpeg, ImageMagick, and
# GNU time (peak memory). Figures are printed; nothing about timing is asserted.
# Where the figures go and what they mean: docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

missing_bench=()
for pkg in libvips-tools libjpeg-turbo-progs imagemagick time; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing_bench+=("$pkg")
done
if [ ${#missing_bench[@]} -gt 0 ]; then
  echo "installing: ${missing_bench[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing_bench[@]}"
fi

# The image bench spawns the release CLI (process against process).
cargo build --release -p outbox
cargo bench -p outbox-engine --bench queue
cargo bench -p outbox-engine --bench images
