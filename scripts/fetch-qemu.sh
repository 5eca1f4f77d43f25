#!/bin/sh
# Fetch QEMU 10 and its firmware from bookworm-backports, unpacked next to
# the system's QEMU, not installed over it:
#
#   fetch-qemu.sh            download and unpack (nothing if up to date)
#   fetch-qemu.sh --root     print the directory of the unpacked QEMU
#
# The packages (qemu-system-* for the lab's architectures, its data,
# SeaBIOS and OpenSBI) are downloaded with apt on a private configuration
# (scripts/lib/apt-private.sh) and unpacked with dpkg -x into
#
#   cache/qemu/bookworm-backports_<version>/      usr/bin/qemu-system-*, usr/share/...
#   cache/qemu/bookworm-backports_<version>/versions   "package version" per line
#   cache/qemu/bookworm-backports -> bookworm-backports_<version>
#
# The lab runs it with 'lab.py run --qemu backports' (make QEMU=backports):
# its binaries, with -L at its own data and firmware. The binaries link
# against the libraries of the system's QEMU 7.2, which make deps installs.
# The link is switched once the new directory is complete: a failed
# download leaves the previous one (or none) in place.
set -eu

die() { echo "fetch-qemu: error: $*" >&2; exit 1; }
say() { echo "fetch-qemu: $*"; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LAB_CACHE:-$ROOT/cache}/qemu
SUITE=bookworm-backports
PKGS="qemu-system-x86 qemu-system-arm qemu-system-misc qemu-system-riscv
qemu-system-ppc qemu-system-mips qemu-system-data qemu-system-common
seabios opensbi"
. "$ROOT/scripts/lib/apt-private.sh"

link=$CACHE/$SUITE
if [ "${1:-}" = --root ]; then
	[ -x "$link/usr/bin/qemu-system-x86_64" ] || die "$link: no QEMU unpacked there (run sh scripts/fetch-qemu.sh)"
	readlink -f "$link"
	exit 0
fi
[ $# = 0 ] || die "usage: fetch-qemu.sh [--root]"

mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
apt_private "$tmp" "$SUITE"
if ! aptp update > "$tmp/update.log" 2>&1 || grep -Eq '^(E: |W: Failed to fetch)' "$tmp/update.log"; then
	sed 's/^/  /' "$tmp/update.log" >&2
	die "apt-get update of $SUITE from $uri failed; nothing was changed"
fi
want=""
for p in $PKGS; do
	v=$(aptc policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	{ [ -n "$v" ] && [ "$v" != "(none)" ]; } || die "$SUITE at $uri has no package $p; nothing was changed"
	want="$want$p $v
"
done
qv=$(printf '%s' "$want" | sed -n 's/^qemu-system-x86 //p')
dir=${SUITE}_${qv#*:}
if [ -f "$CACHE/$dir/versions" ] && [ "$(cat "$CACHE/$dir/versions")" = "$(printf '%s' "$want")" ]; then
	say "QEMU $qv from $SUITE: up to date ($CACHE/$dir)"
	ln -sfn "$dir" "$tmp/link" && mv -T "$tmp/link" "$link"
	exit 0
fi
say "downloading QEMU $qv and firmware from $uri $SUITE"
# shellcheck disable=SC2046
set -- $(printf '%s' "$want" | sed 's/ /=/')
if ! (cd "$tmp/deb" && aptp download "$@") > "$tmp/download.log" 2>&1; then
	sed 's/^/  /' "$tmp/download.log" >&2
	die "apt-get download failed; nothing was changed"
fi
mkdir "$tmp/$dir"
for deb in "$tmp"/deb/*.deb; do
	dpkg -x "$deb" "$tmp/$dir" || die "dpkg -x $(basename "$deb") failed; nothing was changed"
done
[ -x "$tmp/$dir/usr/bin/qemu-system-x86_64" ] || die "no qemu-system-x86_64 in the packages; nothing was changed"
"$tmp/$dir/usr/bin/qemu-system-x86_64" -version > "$tmp/qv" 2>&1 ||
	die "the unpacked qemu-system-x86_64 does not run (missing libraries? make deps): $(head -n 3 "$tmp/qv")"
printf '%s' "$want" > "$tmp/$dir/versions"
publish "$tmp" "$dir" "$dir" "$link" "$SUITE"
say "$(head -n 1 "$tmp/qv"): $link"
