#!/usr/bin/env bash
# Starts the Outbox desktop app (building it first). It shares its queue with
# the `outbox` command line; closing the window while work remains keeps it
# in the tray until the queue is idle.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
build_ui
cargo build --release -p outbox-desktop -p outbox
exec target/release/outbox-desktop "$@"
