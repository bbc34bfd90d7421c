#!/usr/bin/env bash
# Runs every test of Outbox (and the house rules: formatting, lints), in
# stages, and prints a table of the stages and their times at the end.
#
#   ./scripts/test.sh                  # everything
#   ./scripts/test.sh engine           # only the stages named (any of them):
#     install ui fmt clippy build engine cli app fuzz
#   ./scripts/test.sh build app        # e.g. only the real app under Xvfb
#   ./scripts/test.sh cli -- killed_thirty   # nextest test-name filters after --
#
# Builds are kept between runs in a cache folder outside the clone
# (CARGO_TARGET_DIR, by default ~/.cache/outbox/target), so a second run
# after a small change recompiles only what changed. Tests run with
# cargo-nextest, each in its own process, two at a time (.config/nextest.toml
# says which run alone and why). The real servers (moto for S3, Azurite for
# Azure, WordPress, a Secret Service) start once for the run; each test has
# its own bucket, container, WordPress user and post, and keychain entries.
# See docs/TESTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox/target}"
# The fuzzing stage's bound; scripts/fuzz.sh alone runs the long campaign.
export OUTBOX_FUZZ_SECONDS="${OUTBOX_FUZZ_SECONDS:-60}"

all_stages=(install ui fmt clippy build engine cli app fuzz)
stages=()
filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; filters=("$@"); break ;;
    *) stages+=("$1"); shift ;;
  esac
done
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")
for s in "${stages[@]}"; do
  [[ " ${all_stages[*]} " == *" $s "* ]] || { echo "unknown stage: $s (stages: ${all_stages[*]})" >&2; exit 2; }
done
wanted() { [[ " ${stages[*]} " == *" $1 "* ]]; }

# The table of stages, printed whatever happens.
times=()
run_start=$(date +%s)
print_table() {
  local status=$?
  [ "$failed" -eq 0 ] || status=1
  echo
  echo "stage      seconds  result"
  for row in "${times[@]}"; do echo "$row"; done
  printf '%-10s %7d  %s\n' total "$(($(date +%s) - run_start))" "$([ $status -eq 0 ] && echo ok || echo FAILED)"
  stop_servers
}
trap print_table EXIT

# A failed stage is recorded and the next ones still run; the run fails at
# the end. A failed install or build stops it: nothing after can pass.
failed=0
stage() {
  local name=$1 started result=ok
  shift
  wanted "$name" || return 0
  echo "=== $name"
  started=$(date +%s)
  "$@" || result=FAILED
  times+=("$(printf '%-10s %7d  %s' "$name" "$(($(date +%s) - started))" "$result")")
  if [ "$result" != ok ]; then
    failed=1
    case "$name" in install | build) exit 1 ;; esac
  fi
}

install_tools() {
  # The real app: a private X server, WebKit's WebDriver, tauri-driver.
  # strace: the storage tests watch a commit's syncs. ImageMagick, libvips
  # and Pillow: the images made by other tools.
  install_missing_apt xvfb xauth webkit2gtk-driver strace imagemagick libvips-tools python3-pil xclip
  command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked
  command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  # The servers' own installs (apt, pip, npm), once, before tests run in
  # parallel and could race them.
  local warm
  warm=$(mktemp -d)
  scripts/wordpress-server.sh start "$warm/wp" >/dev/null
  scripts/wordpress-server.sh stop "$warm/wp"
  scripts/s3-server.sh start "$warm/s3" >/dev/null
  scripts/s3-server.sh stop "$warm/s3"
  scripts/azurite-server.sh install
  rm -rf "$warm"
}

# Strict type check, unit tests (Vitest), then the build the app embeds.
ui_tests() { build_ui && npm --prefix ui test; }

# One build of every test binary (the app included: the end-to-end tests
# drive the binary built here).
build_tests() { cargo nextest run --workspace --no-run; }

# The real servers start once for the run, when a stage first needs them;
# each test makes its own bucket, container, or WordPress user and post.
servers_dir=""
make_servers_dir() { [ -n "$servers_dir" ] || servers_dir=$(mktemp -d); }
start_s3() {
  [ -z "${OUTBOX_TEST_S3_ENDPOINT:-}" ] || return 0
  make_servers_dir
  local s3
  s3=$(scripts/s3-server.sh start "$servers_dir/s3")
  OUTBOX_TEST_S3_ENDPOINT=$(sed -n 's/.*"endpoint":"\([^"]*\)".*/\1/p' <<<"$s3")
  export OUTBOX_TEST_S3_ENDPOINT
}
start_azurite() {
  [ -z "${OUTBOX_TEST_AZURITE_ENDPOINT:-}" ] || return 0
  make_servers_dir
  local azure
  azure=$(scripts/azurite-server.sh start "$servers_dir/azure")
  OUTBOX_TEST_AZURITE_ENDPOINT=$(sed -n 's/.*"endpoint":"\([^"]*\)".*/\1/p' <<<"$azure")
  export OUTBOX_TEST_AZURITE_ENDPOINT
}
start_object_stores() { start_s3 && start_azurite; }
start_wordpress() {
  [ -z "${OUTBOX_TEST_WORDPRESS_DIR:-}" ] || return 0
  make_servers_dir
  scripts/wordpress-server.sh start "$servers_dir/wp" >/dev/null
  export OUTBOX_TEST_WORDPRESS_DIR="$servers_dir/wp"
}
stop_servers() {
  [ -n "$servers_dir" ] || return 0
  [ ! -d "$servers_dir/s3" ] || scripts/s3-server.sh stop "$servers_dir/s3" || true
  [ ! -d "$servers_dir/azure" ] || scripts/azurite-server.sh stop "$servers_dir/azure" || true
  [ ! -d "$servers_dir/wp" ] || scripts/wordpress-server.sh stop "$servers_dir/wp" || true
  rm -rf "$servers_dir"
  servers_dir=""
}

# Tests under a real Secret Service (gnome-keyring in a private D-Bus session).
nextest() { scripts/with-keyring.sh cargo nextest run --workspace --no-fail-fast "$@" "${filters[@]}"; }
# The real app's binaries; everything else of the shell and the command
# line is the `cli` stage.
app='package(outbox-desktop) & (binary(desktop) | binary(desktop_crash) | binary(desktop_damaged) | binary(desktop_settings))'
engine_tests() { start_object_stores && nextest -E 'package(outbox-engine)'; }
cli_tests() { start_wordpress && nextest -E "!package(outbox-engine) & !($app)"; }
# The real app's settings tests add a WordPress and an S3 destination
# through the form: the run's site and moto, started once (a test run alone
# starts its own).
app_tests() { start_wordpress && start_s3 && nextest -E "$app"; }

stage install install_tools
stage ui ui_tests
stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets -- -D warnings
stage build build_tests
stage engine engine_tests
stage cli cli_tests
stage app app_tests
# Untrusted images: the fuzzer on the decode-and-preview path for a bounded
# time (a crash fails the suite and leaves its input in fuzz/artifacts/).
stage fuzz scripts/fuzz.sh
exit "$failed"
