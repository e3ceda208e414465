#!/usr/bin/env bash
# bench-mp3.sh measures the CPU time audio/mpg123 takes to decode MP3 against
# `ffmpeg -f null` (and the mpg123 command line, if installed) on the same
# file in the same run, and prints the figures that docs/benchmarks.md
# records under "MP3 decode".
#
#   scripts/bench-mp3.sh [RUNS]        default 15 runs of each decoder
#
#   BENCH_MP3_TONE=1 scripts/bench-mp3.sh
#                                      also runs on a pure 1 kHz tone file
#
# The benchmark file is 600 s of 128 kbit/s stereo 44.1 kHz MP3: pink noise,
# independent in each channel, mixed with a 440 Hz tone. Pure tones compress
# into frames that are cheaper to decode than music; the noise keeps every
# subband busy, so this file errs on the expensive side. The first run
# encodes it (about 20 s of CPU) and caches it in ${TMPDIR:-/tmp}.
#
# CPU time is user + system time from the kernel's rusage of each child
# process, start-up included; the figures are medians over the runs. The
# machine should be otherwise idle: other load inflates CPU time too.
set -euo pipefail

cd "$(dirname "$0")/.."
if ! command -v go >/dev/null; then
	PATH=/usr/local/go/bin:$PATH
fi
RUNS=${1:-15}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || {
	echo "bench-mp3: RUNS must be a positive number, got '$RUNS'" >&2
	exit 2
}
for tool in go ffmpeg pkg-config; do
	command -v "$tool" >/dev/null || {
		echo "bench-mp3: $tool not found (Debian packages: golang from go.dev, ffmpeg, pkg-config)" >&2
		exit 1
	}
done

echo "# MP3 decode benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu:        $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "go:         $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
echo "libmpg123:  $(pkg-config --modversion libmpg123)"
echo "ffmpeg:     $(ffmpeg -hide_banner -version | head -1)"
if command -v mpg123 >/dev/null; then
	echo "mpg123:     $(mpg123 --version | head -1)"
else
	echo "mpg123:     command line not installed; its column is skipped"
fi

# bench runs the Go benchmark on the file in $1 (empty: the generated one)
# and prints its figures.
bench() {
	local out
	out=$(LOAXA_BENCH_MP3=$1 go test -run '^$' -bench '^BenchmarkDecodeVsFFmpeg$' \
		-benchtime "${RUNS}x" -count 1 -v ./audio/mpg123)
	grep -E 'bench_test.go' <<<"$out" | sed 's/^ *bench_test.go:[0-9]*: /  /'
	grep -E '^BenchmarkDecodeVsFFmpeg-[0-9]+[[:space:]]' <<<"$out" | awk '{
		for (i = 5; i < NF; i += 2) v[$(i+1)] = $i
		printf "  ffmpeg -f null          %6.0f ms CPU\n", v["ffmpeg-cpu-ms"]
		printf "  audio/mpg123 (process)  %6.0f ms CPU  %.2fx ffmpeg  (decode loop alone %.0f ms; %.2f ms CPU per s of audio)\n",
			v["ours-cpu-ms"], v["x-ffmpeg"], v["ours-loop-cpu-ms"], v["ours-cpu-ms/audio-s"]
		if ("mpg123cli-cpu-ms" in v)
			printf "  mpg123 -t               %6.0f ms CPU  %.2fx ffmpeg\n", v["mpg123cli-cpu-ms"], v["mpg123cli-x-ffmpeg"]
	}'
}

echo
echo "## 600 s, 128 kbit/s stereo 44.1 kHz, pink noise + 440 Hz tone; median of $RUNS runs"
bench ""

if [[ ${BENCH_MP3_TONE:-} == 1 ]]; then
	tone=${TMPDIR:-/tmp}/loaxa-bench-600s-sine1k-128k.mp3
	if [[ ! -f $tone ]]; then
		ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i sine=frequency=1000:duration=600:sample_rate=44100 \
			-ac 2 -c:a libmp3lame -b:a 128k "$tone.tmp.mp3"
		mv "$tone.tmp.mp3" "$tone"
	fi
	echo
	echo "## 600 s, 128 kbit/s stereo 44.1 kHz, pure 1 kHz tone; median of $RUNS runs"
	bench "$tone"
fi
