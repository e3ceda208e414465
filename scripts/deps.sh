#!/usr/bin/env bash
# deps.sh installs the Debian packages loaxa needs to build, test and run, and
# only those that are missing: on a machine that has them it takes well under
# a second, never calls apt-get and never needs root, so every make target
# can call it.
#
#   scripts/deps.sh [GROUP...]      GROUP: base (default), cross, bench, all
#
#   base   cgo audio libraries, a broker and MQTT clients, audio tools for tests
#   bench  JACK (jackd2): its dummy driver is the real-time-paced output the
#          PortAudio CPU benchmark plays to (ALSA's file/null device is not
#          paced, so its CPU figures mean nothing)
#   cross  arm64 and armhf cross compilers, qemu, and the target-architecture
#          -dev packages the cgo cross build links against (adds the arm64 and
#          armhf dpkg architectures)
#
# MULTIARCH NOTES (Debian 12 "bookworm", checked on the project's machines)
#   - The target -dev packages (portaudio19-dev, libmpg123-dev, libopus-dev and
#     what they pull in: libasound2-dev, libjack-jackd2-dev, pkgconf) are
#     "Multi-Arch: same": the amd64, arm64 and armhf copies install side by
#     side and nothing native is removed (apt runs with --no-remove, so a
#     resolution that would remove a host package fails instead of breaking
#     the host build).
#   - libc6-dev:arm64 / libc6-dev:armhf are NOT installed, on purpose. They
#     drag in linux-libc-dev, libtirpc-dev, libkrb5-3 and libssl3 for the
#     target, and a Multi-Arch: same package must have exactly the same
#     version for every architecture. A host whose linux-libc-dev or libssl3
#     came from bookworm-security while the foreign lists lack that suite (or
#     lag behind it) then cannot co-install them: apt answers "libc6-dev:arm64
#     : Depends: linux-libc-dev:arm64 but it is not going to be installed".
#     (Seen here: the mirror's armhf security index failed its size check,
#     so apt-get update kept no security lists for the new architectures.)
#     The cross compilers do not need them: they read the target libc from
#     libc6-dev-arm64-cross / libc6-dev-armhf-cross (/usr/aarch64-linux-gnu,
#     /usr/arm-linux-gnueabihf), and the runtime libc6:arm64 that
#     libportaudio2:arm64 depends on has no such fan-out.
#   - pkgconf:arm64 provides /usr/bin/aarch64-linux-gnu-pkg-config, but the
#     Makefile sets PKG_CONFIG_LIBDIR itself so the build does not depend on it.
#
# Not root: uses sudo when it is there, otherwise prints the command to run
# and fails. Not Debian (no dpkg-query): prints the list and carries on, for
# developers on other systems who install the equivalents themselves.
set -euo pipefail

BASE_PKGS=(
	# ca-certificates: go mod download fetches over HTTPS.
	ca-certificates gcc pkg-config
	portaudio19-dev libmpg123-dev libopus-dev libopusfile-dev
	mosquitto mosquitto-clients
	socat sox ffmpeg espeak-ng alsa-utils
	# jackd2: its dummy driver is a sound card paced in real time that a
	# test can stop mid-play (a wedged or unplugged USB card).
	jackd2
)

BENCH_PKGS=(jackd2)

# FOREIGN_ARCHES are the Raspberry Pi OS architectures: 64-bit (Pi 3/4/5,
# CM4) and 32-bit (older images and Pi 2).
FOREIGN_ARCHES=(arm64 armhf)
CROSS_PKGS=(qemu-user-static file
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
# No libc6-dev here: see MULTIARCH NOTES above.
CROSS_FOREIGN_PKGS=(portaudio19-dev libmpg123-dev libopus-dev)

usage() {
	echo "usage: $0 [base|cross|all]..." >&2
	exit 2
}

want=()
want_cross=false
groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(base)
for g in "${groups[@]}"; do
	case "$g" in
	base) want+=("${BASE_PKGS[@]}") ;;
	cross) want_cross=true ;;
	bench) want+=("${BENCH_PKGS[@]}") ;;
	all)
		want+=("${BASE_PKGS[@]}" "${BENCH_PKGS[@]}")
		want_cross=true
		;;
	-h | --help) usage ;;
	*)
		echo "deps.sh: unknown group '$g'" >&2
		usage
		;;
	esac
done
if $want_cross; then
	want+=("${CROSS_PKGS[@]}")
	for a in "${FOREIGN_ARCHES[@]}"; do
		for p in "${CROSS_FOREIGN_PKGS[@]}"; do
			want+=("$p:$a")
		done
	done
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install the equivalents of: ${want[*]}" >&2
	exit 0
fi

NATIVE=$(dpkg --print-architecture)

# installed reports whether a package is fully installed ("ii"; a
# half-configured one counts as missing). A bare name must be installed for
# the native architecture (or be Architecture: all): an arm64 copy alone does
# not let the host build link.
installed() {
	local status arch
	while IFS='|' read -r status arch; do
		[[ $status == ii* ]] || continue
		# dpkg-query answers name:arch only for that arch.
		[[ $1 == *:* || $arch == "$NATIVE" || $arch == all ]] && return 0
	done < <(dpkg-query -W -f='${db:Status-Abbrev}|${Architecture}\n' "$1" 2>/dev/null)
	return 1
}

missing_arches=()
if $want_cross; then
	have_arches=" $NATIVE $(dpkg --print-foreign-architectures | tr '\n' ' ') "
	for a in "${FOREIGN_ARCHES[@]}"; do
		[[ "$have_arches" == *" $a "* ]] || missing_arches+=("$a")
	done
fi

missing=()
for p in "${want[@]}"; do
	installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 && ${#missing_arches[@]} -eq 0 ]]; then
	exit 0
fi

as_root=()
if [[ $EUID -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		as_root=(sudo)
	else
		echo "deps.sh: missing packages, and this is not root and there is no sudo. As root, run:" >&2
		for a in "${missing_arches[@]}"; do
			echo "  dpkg --add-architecture $a" >&2
		done
		echo "  apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
for a in "${missing_arches[@]}"; do
	"${as_root[@]}" dpkg --add-architecture "$a"
done
# Package lists are refreshed only now that something is missing (and always
# after adding an architecture, whose lists cannot be there yet).
# A mirror caught mid-sync fails one index and makes apt-get update exit
# non-zero while every other list is fresh; the install below then either
# works with what it has or fails with a clear message, so a failed update is
# retried once and then only warned about.
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q; then
	sleep 5
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		echo "deps.sh: apt-get update reported errors (above); installing from the lists it has" >&2
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-remove "${missing[@]}"

still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if [[ ${#still[@]} -gt 0 ]]; then
	echo "deps.sh: still not installed after apt-get: ${still[*]}" >&2
	exit 1
fi
