#!/usr/bin/env bash
# Usage: scripts/azurite-server.sh install
#        scripts/azurite-server.sh start DIR
#        scripts/azurite-server.sh stop DIR
#
# A local Azure Blob server for tests: Azurite (npm), in memory, on
# 127.0.0.1, on a free port, with the well-known development account.
#
# install: puts azurite into $OUTBOX_AZURITE_DIR (default
#          ~/.cache/outbox-azurite-VERSION) if it is not there yet.
# start:   installs, starts it in the background, waits until it answers,
#          and prints one JSON line:
#            {"endpoint":"http://127.0.0.1:PORT/devstoreaccount1","pid":N}
#          DIR keeps its pid and log.
# stop:    stops the server whose pid is in DIR/azurite.pid.
set -euo pipefail

VERSION="${OUTBOX_AZURITE_VERSION:-3.35.0}"
ACCOUNT=devstoreaccount1
usage() { echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2; }
[ "$#" -ge 1 ] || usage
action=$1
install_dir="${OUTBOX_AZURITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-azurite-$VERSION}"
bin="$install_dir/node_modules/.bin/azurite-blob"

install() {
  [ -x "$bin" ] && return 0
  echo "azurite-server: installing azurite@$VERSION into $install_dir" >&2
  mkdir -p "$install_dir"
  npm install --no-audit --no-fund --prefix "$install_dir" "azurite@$VERSION" >&2
  [ -x "$bin" ]
}

stop_server() {
  local pidfile="$1/azurite.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "$action" in
  install) install; exit 0 ;;
  stop) [ "$#" -eq 2 ] || usage; stop_server "$2"; exit 0 ;;
  start) [ "$#" -eq 2 ] || usage ;;
  *) usage ;;
esac

dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stop_server "$dir"
install
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# setsid + no stdin, stdout or stderr of ours: the server outlives this
# script, and whoever reads this script's output gets its end.
cd "$dir"
setsid "$bin" --blobHost 127.0.0.1 --blobPort "$port" \
  --inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry \
  </dev/null >"$dir/azurite.log" 2>&1 &
echo $! >"$dir/azurite.pid"
for _ in $(seq 1 300); do # up to 30 s
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    printf '{"endpoint":"http://127.0.0.1:%s/%s","pid":%s}\n' "$port" "$ACCOUNT" "$(cat "$dir/azurite.pid")"
    exit 0
  fi
  kill -0 "$(cat "$dir/azurite.pid")" 2>/dev/null || break
  sleep 0.1
done
echo "azurite-server: azurite did not start; its log:" >&2
cat "$dir/azurite.log" >&2
stop_server "$dir"
exit 1
