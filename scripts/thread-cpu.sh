#!/usr/bin/env bash
# CPU time and wake-ups of each thread of a running process, over a window,
# from the kernel's scheduler counters (/proc/PID/task/TID/schedstat: time
# on the CPU in ns, and the times the thread was given the CPU). Exact to
# the nanosecond, unlike /proc/PID/stat's clock ticks, and it does not slow
# the process down the way perf's counters do. Usage:
#   bash scripts/thread-cpu.sh PID [SECONDS]          (default 15)
# During a run of BenchmarkAudioCPU, for example (docs/benchmarks.md):
#   bash scripts/thread-cpu.sh "$(pgrep -n '^loaxad')" 15
set -euo pipefail
pid=${1:?usage: thread-cpu.sh PID [SECONDS]}
secs=${2:-15}
snap() {
  for t in /proc/"$pid"/task/*; do
    read -r run _ slices < "$t/schedstat" || continue
    echo "${t##*/} $(cat "$t/comm" 2>/dev/null || echo '?') $run $slices"
  done | sort
}
a=$(snap)
sleep "$secs"
b=$(snap)
echo "thread  name  cpu-ms/s  wake-ups/s   (over ${secs} s, process $pid)"
join <(echo "$a") <(echo "$b") | awk -v s="$secs" '
  { ms = ($6 - $3) / 1e6 / s; w = ($7 - $4) / s; tot += ms; tw += w
    if (ms > 0 || w > 0) printf "%s  %s  %.2f  %.1f\n", $1, $2, ms, w }
  END { printf "all  -  %.2f  %.1f\n", tot, tw }'
