#!/usr/bin/env bash
# Usage: scripts/s3-server.sh start DIR
#        scripts/s3-server.sh stop DIR
#
# A local S3-compatible server for tests: moto's `moto_server` (PyPI moto,
# the S3 part) on 127.0.0.1, on a free port.
#
# start: installs moto into a virtualenv if it is not there yet (kept in
#        $OUTBOX_MOTO_VENV, default ~/.cache/outbox-moto/venv-MOTO_VERSION-s3,
#        so that later runs start in about a second), starts `moto_server`
#        in the background, waits until it answers, and prints one JSON line:
#          {"endpoint":"http://127.0.0.1:PORT","pid":N}
#        DIR (created if missing) keeps the server's pid, port and log
#        (moto.pid, moto.port, moto.log).
# stop:  stops the server whose pid is in DIR/moto.pid, if it still runs.
#
# moto keeps everything in memory and accepts any access key and secret;
# a bucket must be created (S3 CreateBucket: PUT /BUCKET) before use.
set -euo pipefail

MOTO_VERSION="${OUTBOX_MOTO_VERSION:-5.2.5}"

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ "$#" -eq 2 ] || usage
action="$1"
dir="$2"

# A process that has exited but was never reaped (a zombie: this happens
# where the init process does not reap orphans) counts as stopped.
running() {
  local pid="$1" state
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
  [ "$state" != Z ] && [ "$state" != X ]
}

stop_server() {
  local pidfile="$dir/moto.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile" "$dir/moto.port"
}

case "$action" in
  stop)
    stop_server
    exit 0
    ;;
  start) ;;
  *) usage ;;
esac

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
stop_server # a server left over from an earlier start in the same DIR

# --- the virtualenv (reused when present) ---
venv="${OUTBOX_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-moto/venv-$MOTO_VERSION-s3}"
if [ ! -f "$venv/.outbox-complete" ]; then
  python="$(command -v python3 || true)"
  if [ -z "$python" ] || ! "$python" -m venv --help >/dev/null 2>&1; then
    echo "s3-server: installing python3-venv" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -q >&2
    $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends python3 python3-venv >&2
    python="$(command -v python3)"
  fi
  echo "s3-server: installing moto[s3]==$MOTO_VERSION (+flask) into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" >&2
  # Only the S3 extra plus what `moto_server` itself needs (what
  # moto[server] adds: flask, flask-cors): 140 MB and ~20-25 s instead of
  # moto[server]'s every-service 317 MB and ~65-75 s.
  if ! "$venv/bin/pip" install -q --disable-pip-version-check \
    "moto[s3]==$MOTO_VERSION" flask flask-cors >&2; then
    rm -rf "$venv"
    echo "s3-server: pip install failed" >&2
    exit 1
  fi
  touch "$venv/.outbox-complete"
fi

# --- a free port, the server, and a wait until it answers ---
free_port() {
  "$venv/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

for attempt in 1 2 3; do
  port="$(free_port)"
  : >"$dir/moto.log"
  # setsid + no stdin: the server outlives this script and its terminal.
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
    </dev/null >>"$dir/moto.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/moto.pid"
  up=""
  for _ in $(seq 1 300); do # up to 30 s
    if ! running "$pid"; then break; fi
    if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/moto-api/" % sys.argv[1], timeout=1).read()
PY
      up=1
      break
    fi
    sleep 0.1
  done
  if [ -n "$up" ]; then
    echo "$port" >"$dir/moto.port"
    printf '{"endpoint":"http://127.0.0.1:%s","pid":%s}\n' "$port" "$pid"
    exit 0
  fi
  stop_server
  echo "s3-server: moto did not start (attempt $attempt); its log:" >&2
  cat "$dir/moto.log" >&2
done
exit 1
