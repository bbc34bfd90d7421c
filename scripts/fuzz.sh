#!/usr/bin/env bash
# Fuzzes the decode-and-preview path with untrusted bytes for a bounded time
# (OUTBOX_FUZZ_SECONDS): run alone, a long campaign (default an hour); the
# test command runs it for 60 s. It starts from the kept corpus. A crash stops the
# run and leaves its input in fuzz/artifacts/preview/: copy it to
# fuzz/regressions/preview/, where the engine's tests replay it.
# cargo fuzz uses nightly-only compiler flags: RUSTC_BOOTSTRAP lets the
# stable toolchain accept them (its rust-std ships the ASan runtime).
# The instrumented build (release, ASan, coverage) shares nothing with the
# test build, and cold it takes longer than the whole suite: its target/
# lives outside the clone (OUTBOX_FUZZ_TARGET_DIR), kept between runs the
# way a CI cache keeps it, so a fresh clone rebuilds only Outbox's crates.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run \
  --target-dir "${OUTBOX_FUZZ_TARGET_DIR:-$HOME/.cache/outbox/fuzz-target}" \
  preview corpus/preview seeds/preview -- \
  -max_total_time="${OUTBOX_FUZZ_SECONDS:-3600}" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1
