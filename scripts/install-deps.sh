#!/usr/bin/env bash
# Installs what building and testing Outbox needs, and only what is missing,
# on a Debian or Ubuntu machine. Sourced by run.sh and test.sh.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs, with apt, those of the given Debian packages that are missing.
install_missing_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}

# cmake and nasm build the bundled libjpeg-turbo (the turbojpeg crate).
install_missing_apt build-essential pkg-config cmake nasm

# Rust: the toolchain from rustup (Debian's cargo is too old for this code).
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "installing the Rust toolchain (rustup)"
  command -v curl >/dev/null 2>&1 || { as_root apt-get update -q; as_root apt-get install -y -q curl ca-certificates; }
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
for component in clippy rustfmt; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# The desktop app (Tauri 2 on WebKitGTK) and its web UI (TypeScript, Vite).
install_missing_apt libwebkit2gtk-4.1-dev libsoup-3.0-dev librsvg2-dev \
  libayatana-appindicator3-dev libssl-dev
command -v npm >/dev/null 2>&1 || install_missing_apt nodejs npm

# Builds the web UI into ui/dist, which the app embeds at compile time.
build_ui() {
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules ]; then
    npm --prefix ui ci --no-audit --no-fund
  fi
  npm --prefix ui run build
}
