#!/usr/bin/env bash
# smoke-arm64.sh runs the arm64 agent under qemu against a real mosquitto and
# checks that it comes online and answers a ping: proof that the cross build
# links, starts on the target architecture and speaks the wire contract. It
# is not a test of the agent's logic (the Go tests are).
#
#   scripts/smoke-arm64.sh [BINARY]      default bin/loaxad-linux-arm64
#
# Every wait is bounded; every process it starts is stopped on exit, success,
# failure or Ctrl-C alike. Exit status 0 means PASS.
set -euo pipefail

BIN=${1:-bin/loaxad-linux-arm64}
ID=smoke-arm64
ROOT=loaxa/v1
# A Go binary under qemu user emulation starts in a few seconds; the bounds
# leave room for a loaded CI machine without letting a hang last forever.
ONLINE_TIMEOUT=${SMOKE_ONLINE_TIMEOUT:-90}
ACK_TIMEOUT=${SMOKE_ACK_TIMEOUT:-30}

fail() {
	echo "smoke-arm64: FAIL: $*" >&2
	exit 1
}

[[ -f $BIN ]] || fail "$BIN not found (make cross builds it)"
for tool in qemu-aarch64-static mosquitto mosquitto_pub mosquitto_sub file; do
	command -v "$tool" >/dev/null || fail "$tool not installed (scripts/deps.sh base cross installs it)"
done

file "$BIN"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/loaxa-smoke.XXXXXX")
pids=()

# stop ends every process this script started, politely first: the agent
# gets the chance to publish its offline status and close cleanly.
stop() {
	local p i
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}

cleanup() {
	local rc=$?
	stop
	if [[ $rc -ne 0 ]]; then
		for log in mosquitto.log agent.log; do
			[[ -s $tmp/$log ]] || continue
			echo "--- last lines of $log" >&2
			tail -n 30 "$tmp/$log" >&2
		done
		echo "smoke-arm64: FAIL" >&2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_open reports whether something accepts TCP connections on a port.
port_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Start mosquitto on a free port. A random port can be taken between the
# check and the bind, so a failed start is retried on another port.
port=
for ((try = 0; try < 20; try++)); do
	cand=$((20000 + RANDOM % 40000))
	port_open "$cand" && continue
	{
		echo "listener $cand 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence false"
		# Without it every QoS 1 round trip waits ~40 ms for Nagle.
		echo "set_tcp_nodelay true"
		echo "log_dest stderr"
		# As root, mosquitto would otherwise switch to the mosquitto user.
		[[ $EUID -eq 0 ]] && echo "user root"
	} >"$tmp/mosquitto.conf"
	mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
	mpid=$!
	for ((i = 0; i < 50; i++)); do
		port_open "$cand" && break
		kill -0 "$mpid" 2>/dev/null || break
		sleep 0.1
	done
	if port_open "$cand" && kill -0 "$mpid" 2>/dev/null; then
		pids+=("$mpid")
		port=$cand
		break
	fi
	kill "$mpid" 2>/dev/null || true
	wait "$mpid" 2>/dev/null || true
done
[[ -n $port ]] || fail "could not start mosquitto on a free port"
echo "smoke-arm64: mosquitto on 127.0.0.1:$port"

qemu=(qemu-aarch64-static)
# A dynamic binary needs the target's loader, and the loader and libc.so.6
# must come from one glibc build. libc6:arm64 (pulled in by the multiarch
# PortAudio/mpg123/Opus libraries) puts both where the binary looks for them,
# so no -L is needed. With -L /usr/aarch64-linux-gnu instead, qemu takes the
# loader from libc6-arm64-cross while ld.so.cache hands it the multiarch
# libc.so.6 of another Debian revision, and the program spins forever before
# main. -L is kept for hosts that only have the cross libc.
if file -L "$BIN" | grep -q 'dynamically linked' && [[ ! -e /lib/ld-linux-aarch64.so.1 ]]; then
	qemu+=(-L /usr/aarch64-linux-gnu)
fi
"${qemu[@]}" "$BIN" --sim --broker "tcp://127.0.0.1:$port" --id "$ID" \
	--data-dir "$tmp/data" >"$tmp/agent.log" 2>&1 </dev/null &
apid=$!
pids+=("$apid")

# Only for foreground use: a function run with & is a subshell, so $! would
# be the subshell's pid and killing it would leave mosquitto_sub running.
# Background processes are started directly (see the ack subscriber).
sub() { mosquitto_sub -h 127.0.0.1 -p "$port" "$@"; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$port" "$@"; }

# The retained status says online once the agent has connected.
deadline=$((SECONDS + ONLINE_TIMEOUT))
status=
until [[ $status == *'"online":true'* ]]; do
	kill -0 "$apid" 2>/dev/null || fail "the agent exited before coming online"
	((SECONDS < deadline)) || fail "no retained {\"online\":true} on $ROOT/dev/$ID/status within ${ONLINE_TIMEOUT}s (last: ${status:-nothing})"
	status=$(sub -t "$ROOT/dev/$ID/status" -C 1 -W 2 2>/dev/null || true)
	[[ $status == *'"online":true'* ]] || sleep 0.5
done
echo "smoke-arm64: online after $((SECONDS - deadline + ONLINE_TIMEOUT))s: $status"

# Acks are not retained, so the subscriber must be in place before the
# command goes out: it also listens on a probe topic, and the command is sent
# only once a probe has come back through it.
probe="smoke/probe/$$"
mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -v -t "$ROOT/dev/$ID/ack" -t "$probe" \
	>"$tmp/sub.out" 2>"$tmp/sub.err" &
pids+=("$!")
for ((i = 0; ; i++)); do
	((i < 50)) || fail "the ack subscriber never received its probe"
	pub -t "$probe" -m probe
	grep -q "^$probe " "$tmp/sub.out" && break
	sleep 0.2
done

cmd_id="smoke-$$"
pub -q 1 -t "$ROOT/dev/$ID/cmd" -m "{\"id\":\"$cmd_id\",\"cmd\":\"ping\"}"
deadline=$((SECONDS + ACK_TIMEOUT))
ack=
until [[ -n $ack ]]; do
	((SECONDS < deadline)) || fail "no ack for $cmd_id on $ROOT/dev/$ID/ack within ${ACK_TIMEOUT}s"
	sleep 0.2
	ack=$(grep "^$ROOT/dev/$ID/ack .*\"id\":\"$cmd_id\"" "$tmp/sub.out" || true)
done
echo "smoke-arm64: ack: ${ack#* }"
[[ $ack == *'"ok":true'* ]] || fail "ping was not acked with \"ok\":true"

echo "smoke-arm64: PASS"
