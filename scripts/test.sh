#!/usr/bin/env bash
# Runs every test of Outbox (and the house rules: formatting, lints).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

# The app's end-to-end test drives the real window: a private X server,
# WebKit's WebDriver, and tauri-driver in front of it. strace: the storage
# tests watch the syncs of a commit and kill the worker at one.
install_missing_apt xvfb xauth webkit2gtk-driver strace
command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked

# The UI: strict type check, unit tests (Vitest), then the build the app embeds.
build_ui
npm --prefix ui test

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# The destination tests start real servers (WordPress on PHP and MariaDB,
# moto for S3, Azurite for Azure). Their scripts install what is missing; a start and stop here
# does that once, up front, so tests running in parallel never race apt or pip.
# Azurite (Azure Blob) comes from npm.
warm=$(mktemp -d)
trap 'rm -rf "$warm"' EXIT
scripts/wordpress-server.sh start "$warm/wp" >/dev/null
scripts/wordpress-server.sh stop "$warm/wp"
scripts/s3-server.sh start "$warm/s3" >/dev/null
scripts/s3-server.sh stop "$warm/s3"

# Credentials live in the OS keychain: the tests get a real Secret Service
# (gnome-keyring) in a private D-Bus session.
scripts/with-keyring.sh cargo test --workspace

# Untrusted images: the fuzzer on the decode-and-preview path for a bounded
# time (a crash fails the suite and leaves its input in fuzz/artifacts/).
OUTBOX_FUZZ_SECONDS="${OUTBOX_FUZZ_SECONDS:-120}" scripts/fuzz.sh
