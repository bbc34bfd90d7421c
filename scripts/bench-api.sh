#!/usr/bin/env bash
# The local API's figures (docs/PERFORMANCE.md, "The local API"):
#
# 1. POST /v1/items of one 24 MP JPEG (multipart) → 202, against curl of the
#    same multipart body to a do-nothing loopback server (reads the body,
#    answers 202): what the API adds over moving the bytes.
# 2. 1,000 items by path: one POST /v1/items of 1,000 paths against
#    `outbox add` of the same files; and 1,000 POSTs of one path each on one
#    kept-alive connection.
#
# The queue is paused, so the worker does not compete for the two cores.
#   ./scripts/bench-api.sh            # release build, 9 repetitions
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox/target}"
cargo build --release -p outbox >/dev/null
BIN="$CARGO_TARGET_DIR/release/outbox"
REPS="${REPS:-9}"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME" "$work/out" "$work/small"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# A 24 MP photo-like JPEG (plasma: smooth areas and detail).
convert -size 6000x4000 plasma:fractal -quality 90 "$work/photo.jpg"
echo "24 MP JPEG: $(stat -c %s "$work/photo.jpg") bytes"

# The do-nothing server: reads the whole body, answers 202 with a small body.
cat >"$work/nothing.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        buf = memoryview(bytearray(1 << 22))
        while n > 0:
            got = self.rfile.readinto(buf[:min(n, len(buf))])
            if not got:
                break
            n -= got
        body = b'{"ok":true}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
python3 "$work/nothing.py" >"$work/nothing.port" &
pids+=($!)

start_serve() { # DATA → sets port and token
  local data=$1
  "$BIN" --data-dir "$data" dest add out --kind folder --path "$work/out" >/dev/null
  "$BIN" --data-dir "$data" pause >/dev/null
  "$BIN" --data-dir "$data" serve --port 0 >"$data.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^api: ' "$data.log" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's#^api: http://127.0.0.1:\([0-9]*\)/v1#\1#p' "$data.log")
  token=$(cat "$data/api-token")
}

# ---------------------------------------------------------------- 1
start_serve "$work/d1"
for _ in $(seq 50); do [ -s "$work/nothing.port" ] && break; sleep 0.05; done
nothing=$(cat "$work/nothing.port")
api_times=() ref_times=()
for i in $(seq "$REPS"); do
  # force: the same file again is queued again (else a duplicate, 200).
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" \
        -F "file=@$work/photo.jpg;type=image/jpeg" -F force=true "http://127.0.0.1:$port/v1/items")
  [ "${t%% *}" = 202 ] || { echo "API answered $t" >&2; exit 1; }
  api_times+=("${t#* }")
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
        -F "file=@$work/photo.jpg;type=image/jpeg" -F force=true "http://127.0.0.1:$nothing/")
  ref_times+=("${t#* }")
done
api=$(printf '%s\n' "${api_times[@]}" | median)
ref=$(printf '%s\n' "${ref_times[@]}" | median)
echo "POST one 24 MP JPEG → 202: API ${api}s, do-nothing server ${ref}s (medians of $REPS)"
echo "  API: ${api_times[*]}"
echo "  ref: ${ref_times[*]}"

# ---------------------------------------------------------------- 2
convert -size 64x64 plasma: "$work/small.png"
for i in $(seq -w 0 999); do cp "$work/small.png" "$work/small/s$i.png"; done
python3 - "$work/small" >"$work/paths.json" <<'EOF'
import json, os, sys
d = sys.argv[1]
print(json.dumps({"paths": sorted(os.path.join(d, f) for f in os.listdir(d)), "destination": "out"}))
EOF
add_times=() one_times=() many_times=()
for i in $(seq "$REPS"); do
  "$BIN" --data-dir "$work/a$i" dest add out --kind folder --path "$work/out" >/dev/null
  "$BIN" --data-dir "$work/a$i" pause >/dev/null
  s=$(date +%s%N)
  "$BIN" --data-dir "$work/a$i" add "$work/small" --to out >/dev/null
  add_times+=("$(awk -v a="$s" -v b="$(date +%s%N)" 'BEGIN {printf "%.3f", (b - a) / 1e9}')")

  start_serve "$work/b$i"
  t=$(curl -s -o "$work/answer.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "@$work/paths.json" "http://127.0.0.1:$port/v1/items")
  [ "${t%% *}" = 202 ] || { echo "API answered $t" >&2; exit 1; }
  queued=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/answer.json")
  [ "$queued" = 1000 ] || { echo "the API queued $queued of 1,000" >&2; exit 1; }
  one_times+=("${t#* }")
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
start_serve "$work/c"
# 1,000 requests of one path each, one kept-alive connection.
many=$(python3 - "$port" "$token" "$work/small" <<'EOF'
import http.client, json, os, sys, time
port, token, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
files = sorted(os.listdir(d))
start = time.perf_counter()
for f in files:
    body = json.dumps({"paths": [os.path.join(d, f)], "destination": "out"})
    c.request("POST", "/v1/items", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 202, r.status
print(f"{time.perf_counter() - start:.3f}")
EOF
)
add=$(printf '%s\n' "${add_times[@]}" | median)
one=$(printf '%s\n' "${one_times[@]}" | median)
echo "1,000 paths: one POST ${one}s, outbox add ${add}s (medians of $REPS); 1,000 POSTs of one path: ${many}s"
echo "  POST: ${one_times[*]}"
echo "  add:  ${add_times[*]}"
