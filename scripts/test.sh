#!/usr/bin/env bash
# Runs every test of Outbox (and the house rules: formatting, lints).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
