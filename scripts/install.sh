#!/usr/bin/env bash
# install.sh installs loaxad on a pole: the binary, the systemd unit and a
# first configuration, then enables and starts the service.
#
#   sudo scripts/install.sh --id xa-hung-loc-01 [--binary FILE] [--no-start]
#   sudo scripts/install.sh --console /dev/serial0 [--binary FILE]
#   sudo scripts/install.sh --root /mnt/sdcard --id ... --binary ...
#   sudo scripts/install.sh --binary FILE --reset-slots
#
#   --id ID       device id for a NEW /etc/loaxa/loaxa.toml; an existing
#                 configuration is never changed
#   --console DEV the technician's serial console (console.port) for a NEW
#                 configuration, e.g. /dev/serial0 or /dev/ttyGS0. With it
#                 --id may be left out: the board stays blank until a
#                 technician provisions it (loaxactl provision, docs/console.md)
#   --binary FILE the loaxad to install; default: the one built for this
#                 machine (bin/loaxad-linux-arm64 on a 64-bit Pi,
#                 bin/loaxad-linux-armhf on a 32-bit one, bin/loaxad on
#                 x86), looked for in ../bin and next to this script
#   --no-start    install and enable, but do not start or restart now
#   --reset-slots stop the service and remove DATA_DIR/ota (the update
#                 slots, their state and the replay protection), so that
#                 the binary installed now runs as the agent again
#   --root DIR    install into a system image mounted at DIR (an SD card
#                 being prepared): the unit is enabled there and nothing is
#                 started
#
# The unit runs `loaxad supervise`, which on a blank data directory installs
# /usr/local/bin/loaxad as the first update slot and runs it; over-the-air
# updates then fill the slots (docs/ota.md). Installing another binary later
# replaces the supervisor only: the agent keeps running the committed slot,
# unless --reset-slots is given.
#
# It is safe to run again: files that did not change are not rewritten
# (flash wears), the configuration is created only if there is none, and
# the service is restarted only if something changed.
# The unit and loaxa.toml.example are taken from this script's directory, so
# copying scripts/* and the binary to the pole is enough.
set -euo pipefail

usage() {
	sed -n '2,/^set -e/{/^#/{s/^# \{0,1\}//;p}}' "$0" >&2
	exit 2
}
die() {
	echo "install.sh: $*" >&2
	exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
argv="$0 $*"
id=
console=
binary=
start=true
reset_slots=false
root=
while [[ $# -gt 0 ]]; do
	case "$1" in
	--id) id=${2:?--id needs a value}; shift 2 ;;
	--id=*) id=${1#*=}; shift ;;
	--console) console=${2:?--console needs a value}; shift 2 ;;
	--console=*) console=${1#*=}; shift ;;
	--binary) binary=${2:?--binary needs a value}; shift 2 ;;
	--binary=*) binary=${1#*=}; shift ;;
	--no-start) start=false; shift ;;
	--reset-slots) reset_slots=true; shift ;;
	--root) root=${2:?--root needs a value}; shift 2 ;;
	--root=*) root=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) echo "install.sh: unknown argument '$1'" >&2; usage ;;
	esac
done

[[ $EUID -eq 0 ]] || die "must run as root: it writes /usr/local/bin, /etc/loaxa and /etc/systemd (try: sudo $argv)"

if [[ -n $root ]]; then
	[[ -d $root ]] || die "--root $root: no such directory"
	root=$(cd "$root" && pwd)
	start=false
fi

bin_dst=$root/usr/local/bin/loaxad
unit_dst=$root/etc/systemd/system/loaxad.service
conf_dir=$root/etc/loaxa
conf_dst=$conf_dir/loaxa.toml
unit_src=$here/loaxad.service
example=$here/loaxa.toml.example
[[ -f $unit_src ]] || die "$unit_src not found: copy it along with this script"
[[ -f $example ]] || die "$example not found: copy it along with this script"

# The id rule of the wire contract: 3-64 chars of a-z, 0-9, '-'.
if [[ -n $id && ! $id =~ ^[a-z0-9-]{3,64}$ ]]; then
	die "--id '$id' is not a device id (3-64 characters of a-z, 0-9 and '-')"
fi
if [[ -n $console && ! $console =~ ^/dev/[A-Za-z0-9/_.-]+$ ]]; then
	die "--console '$console' is not a serial device under /dev (e.g. /dev/serial0, /dev/ttyGS0)"
fi

# Decide everything that can fail before changing anything.
if [[ -f $conf_dst ]]; then
	have_id=$(sed -n 's/^[[:space:]]*id[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$conf_dst" | head -n 1)
	if [[ -n $id && $id != "$have_id" ]]; then
		die "$conf_dst already exists with id = \"$have_id\"; it is never overwritten. Edit it by hand, or run without --id."
	fi
	[[ -z $console ]] || die "$conf_dst already exists; it is never overwritten: set console.port there by hand, or run without --console."
elif [[ -z $id && -z $console ]]; then
	die "--id or --console is required: there is no $conf_dst yet, and the pole needs a device id or a console to be provisioned on"
fi

if [[ -z $binary ]]; then
	case "$(uname -m)" in
	aarch64 | arm64) names=(loaxad-linux-arm64) ;;
	armv7l | armv8l | armv6l) names=(loaxad-linux-armhf) ;;
	*) names=(loaxad) ;;
	esac
	for dir in "$here/../bin" "$here"; do
		[[ -f $dir/${names[0]} ]] && binary=$dir/${names[0]} && break
	done
	[[ -n $binary ]] || die "no ${names[0]} in $here/../bin or $here: build it (make build / make cross) or give --binary"
fi
[[ -f $binary ]] || die "--binary $binary: no such file"
# A binary for the wrong architecture would leave the pole without an agent
# after the restart: try it first. (Not for an image of another machine.)
if [[ -z $root ]] && ! ver=$("$binary" --version 2>&1); then
	die "$binary does not run on this machine ($(uname -m)): ${ver:-wrong architecture?}"
fi

changed=false

# install_file SRC DST MODE copies SRC to DST unless they are identical, by
# a rename so that a running agent or a power cut never sees half a file.
install_file() {
	local src=$1 dst=$2 mode=$3
	if [[ -f $dst ]] && cmp -s "$src" "$dst"; then
		return 0
	fi
	mkdir -p "$(dirname "$dst")"
	install -m "$mode" "$src" "$dst.new"
	sync "$dst.new" 2>/dev/null || sync
	mv -f "$dst.new" "$dst"
	echo "installed $dst"
	changed=true
}

install_file "$binary" "$bin_dst" 0755
bin_changed=$changed
install_file "$unit_src" "$unit_dst" 0644

# The update slots live in the data directory: /var/lib/loaxa unless the
# configuration's top-level data_dir says otherwise.
data_dir=
if [[ -f $conf_dst ]]; then
	data_dir=$(sed -n '/^[[:space:]]*\[/q; s/^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$conf_dst" | head -n 1)
fi
ota_dir=$root${data_dir:-/var/lib/loaxa}/ota
if $reset_slots; then
	if [[ -z $root ]] && command -v systemctl >/dev/null && systemctl is-active --quiet loaxad.service; then
		systemctl stop loaxad.service
	fi
	if [[ -d $ota_dir ]]; then
		rm -rf "$ota_dir"
		echo "removed $ota_dir: the installed binary becomes the first slot at the next start"
		changed=true
	fi
elif $bin_changed && [[ -d $ota_dir/slots ]]; then
	echo "note: the agent keeps running its committed update slot ($ota_dir); the new binary is the supervisor. Run again with --reset-slots to run it as the agent."
fi

# The unit's SupplementaryGroups= must all exist, or systemd refuses to
# start it. dialout and audio exist on every Debian; gpio exists on Raspberry
# Pi OS but not on plain Debian.
for g in gpio dialout audio; do
	if ! grep -q "^$g:" "$root/etc/group"; then
		if [[ -n $root ]]; then
			groupadd --system --prefix "$root" "$g"
		else
			groupadd --system "$g"
		fi
		echo "created group $g"
	fi
done

mkdir -p "$conf_dir"
chmod 0750 "$conf_dir"
if [[ ! -f $conf_dst ]]; then
	tmp=$(mktemp "$conf_dir/.loaxa.toml.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	sed -e "s/^id = \"\"/id = \"$id\"/" -e "/^\[console\]/,/^\[/ s|^port = \"\"|port = \"$console\"|" "$example" >"$tmp"
	grep -q "^id = \"$id\"\$" "$tmp" || die "$example has no 'id = \"\"' line to set"
	grep -q "^port = \"$console\"\$" "$tmp" || die "$example has no [console] 'port = \"\"' line to set"
	# 0600: the file holds the broker password and the command key.
	chmod 0600 "$tmp"
	sync "$tmp" 2>/dev/null || sync
	mv "$tmp" "$conf_dst"
	trap - EXIT
	if [[ -n $id ]]; then
		echo "created $conf_dst (id = \"$id\"); set mqtt.broker and the wiring there"
	else
		echo "created $conf_dst: a blank board with its console on $console; provision it with loaxactl provision"
	fi
	changed=true
else
	echo "kept $conf_dst (id = \"${have_id:-}\")"
fi

if [[ -n $root ]]; then
	systemctl --root="$root" enable loaxad.service
	echo "loaxad is enabled in $root and starts when that system boots"
	exit 0
fi

command -v systemctl >/dev/null || die "systemctl not found: loaxad needs systemd (files are installed)"
systemctl daemon-reload
if ! $start; then
	systemctl enable loaxad.service
	echo "loaxad is enabled; start it with: systemctl start loaxad"
	exit 0
fi
if $changed && systemctl is-active --quiet loaxad.service; then
	systemctl enable loaxad.service
	systemctl restart loaxad.service
else
	systemctl enable --now loaxad.service
fi
echo "loaxad is running; follow it with: journalctl -u loaxad -f"
