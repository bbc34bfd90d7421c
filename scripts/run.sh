#!/usr/bin/env bash
# Starts Outbox. Until the desktop window lands, this is the background
# worker: it delivers everything queued (with `outbox add`) and keeps
# watching for more. Ctrl-C stops it cleanly; work resumes on the next start.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
cargo build --release --bin outbox
echo "Outbox worker running. Queue images from another terminal with:"
echo "  $(pwd)/target/release/outbox add ~/Pictures/some-folder"
exec target/release/outbox run "$@"
