#!/usr/bin/env bash
# Usage: scripts/with-keyring.sh CMD [ARGS...]
#
# Runs CMD inside a private D-Bus session bus (dbus-run-session) that has a
# real Secret Service (gnome-keyring-daemon, secrets component) with an
# unlocked default "login" collection, so that the `keyring` crate (and
# `secret-tool`) can store and read secrets without any prompt.
#
# The keyring files live in a throw-away directory that is removed on exit,
# so the user's own keyrings are never touched. Missing Debian packages are
# installed with apt (as root, or through sudo) before anything runs.
# The exit status is CMD's.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

if [ "${OUTBOX_WITH_KEYRING_INNER:-}" != 1 ]; then
  # --- outer part: install what is missing, then re-enter inside a bus ---
  as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
  }
  # dbus-bin: dbus-run-session; dbus-daemon: the bus it starts;
  # gnome-keyring: the Secret Service; libsecret-tools: secret-tool.
  missing=()
  for pkg in dbus-bin dbus-daemon dbus-session-bus-common gnome-keyring libsecret-tools; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "with-keyring: installing ${missing[*]}" >&2
    as_root apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  export OUTBOX_WITH_KEYRING_INNER=1
  exec dbus-run-session -- bash "$0" "$@"
fi

# --- inner part: runs inside dbus-run-session ---
unset OUTBOX_WITH_KEYRING_INNER
: "${DBUS_SESSION_BUS_ADDRESS:?with-keyring: no session bus (dbus-run-session failed?)}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/outbox-keyring.XXXXXX")"
mkdir -p "$scratch/data" "$scratch/runtime"
chmod 700 "$scratch/runtime"
keyring_pid=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$keyring_pid" ]; then
    kill "$keyring_pid" 2>/dev/null || true
    wait "$keyring_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# A fresh, private keyring directory: --unlock creates the "login" keyring
# with this password (and makes it the default collection), unlocked.
password="outbox-test"
# --foreground keeps the daemon a child of this shell, so that it is
# stopped and reaped here (a daemonized one is left as a zombie where the
# init process does not reap).
printf '%s' "$password" |
  XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/runtime" \
    gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null &
keyring_pid=$!

# Wait until the Secret Service answers on the bus and has an unlocked
# default collection (so storing never asks for a prompt).
ready=""
# NameHasOwner first: a call to org.freedesktop.secrets before the daemon
# owns that name would make the bus auto-start a second, locked one.
for _ in $(seq 1 50); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
    string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' &&
    out="$(dbus-send --session --print-reply --dest=org.freedesktop.secrets \
    /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias \
    string:default 2>/dev/null)" &&
    grep -q 'object path "/org/freedesktop/secrets/collection/' <<<"$out"; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "with-keyring: the Secret Service did not come up with a default collection" >&2
  exit 1
fi

# Run CMD (not exec, so that the trap stops the daemon and cleans up).
set +e
"$@"
status=$?
set -e
exit "$status"
