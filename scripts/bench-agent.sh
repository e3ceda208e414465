#!/usr/bin/env bash
# Agent footprint: stripped binary sizes (amd64, arm64, armhf) and the idle
# RSS of loaxad on simulated hardware connected to a local mosquitto, and the
# command-to-relay latency benchmark. Run from the repository root:
#   bash scripts/bench-agent.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "== binary size (stripped: -trimpath -ldflags '-s -w', cgo on)"
CGO_ENABLED=1 go build -tags nolibopusfile -trimpath -ldflags "-s -w" -o "$tmp/loaxad-amd64" ./cmd/loaxad
printf '%-24s %8d bytes\n' "loaxad linux/amd64" "$(stat -c %s "$tmp/loaxad-amd64")"
for b in bin/loaxad-linux-arm64 bin/loaxad-linux-armhf; do
  if [ -f "$b" ]; then printf '%-24s %8d bytes\n' "$(basename "$b")" "$(stat -c %s "$b")"; else echo "$b: missing (run make cross)"; fi
done

echo "== idle RSS of loaxad --sim against mosquitto (sampled after 15 s)"
# A free port: one that nothing answers on.
for _ in $(seq 50); do
  port=$((20000 + RANDOM % 20000))
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || break
done
cat > "$tmp/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
CONF
[ "$(id -u)" = 0 ] && echo "user root" >> "$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
mpid=$!
pids+=($mpid)
# Wait until mosquitto listens (or has died), at most 10 s.
for ((i = 0; i < 100; i++)); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  kill -0 "$mpid" 2>/dev/null || { echo "bench-agent: mosquitto exited:" >&2; cat "$tmp/mosquitto.log" >&2; exit 1; }
  sleep 0.1
done
"$tmp/loaxad-amd64" --sim --broker "tcp://127.0.0.1:$port" --id bench-idle --data-dir "$tmp/data" 2>"$tmp/agent.log" &
agent=$!
pids+=($agent)
sleep 15
rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
threads=$(awk '/Threads/ {print $2}' /proc/$agent/status)
echo "loaxad idle: VmRSS ${rss} kB, peak VmHWM ${hwm} kB, ${threads} threads"

echo "== command to relay through mosquitto (1000 commands)"
go test -run '^$' -bench CommandToRelay -benchtime 1000x ./agent/ | grep -E 'Benchmark|^ok'
