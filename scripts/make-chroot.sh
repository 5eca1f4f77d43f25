#!/bin/sh
# Make a Debian chroot for the compilers Debian 12 does not have:
#
#   make-chroot.sh NAME SUITE PACKAGE...   make cache/chroot/NAME (nothing if
#                                          it is there, made with these)
#
# scripts/check_series.py runs it for an architecture whose .conf names a
# chroot (lab/arch/loongarch64.conf: chroot_suite, chroot_packages; NAME
# is the architecture). The chroot is debootstrap --variant=minbase of
# SUITE from the machine's own Debian archive (the URI of its bookworm
# entry, scripts/lib/apt-private.sh; no suite is added to the system),
# with what the kernel's make <defconfig>, olddefconfig, prepare and
# single-object builds need (KERNEL_PKGS below) and PACKAGE... (the cross
# compiler):
#
#   cache/chroot/NAME/               the chroot (about 600 MB)
#   cache/chroot/NAME/.lab-chroot    suite, archive and packages it was made with
#
# cache/, not build/: 'make clean' keeps it. It is made in a temporary
# directory next to it and renamed once complete, so that a failed
# download leaves the previous chroot (or none) in place, never half of
# one. debootstrap runs in a mount namespace of its own (unshare -m):
# the /proc it mounts in the chroot goes away with it. The lab runs make
# there the same way, with the project bound at the same path inside
# (lab/labtool/kernel.py: make_cmd()), and leaves no mount behind.
# Needs root (debootstrap, mount); debootstrap is Debian 12's package
# (make deps installs it).
set -eu

die() { echo "make-chroot: error: $*" >&2; exit 1; }
say() { echo "make-chroot: $*"; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LAB_CACHE:-$ROOT/cache}/chroot
# The kernel's host tools: fixdep, kconfig (flex, bison), bc for the
# timeconst header, perl for the header and syscall scripts.
KERNEL_PKGS="make gcc libc6-dev bc flex bison perl"
. "$ROOT/scripts/lib/apt-private.sh"

[ $# -ge 3 ] || die "usage: make-chroot.sh NAME SUITE PACKAGE..."
name=$1 suite=$2
shift 2
case $name in */* | .* | "") die "$name: not a chroot name" ;; esac
dest=$CACHE/$name
# shellcheck disable=SC2086
pkgs=$(printf '%s\n' $KERNEL_PKGS "$@" | sort -u | tr '\n' ' ')
pkgs=${pkgs% }

uri=$(archive_uri)
[ -n "$uri" ] || die "no deb822 entry for '$HOST_SUITE' in $SOURCES_DIR/*.sources: cannot tell which Debian archive to use"
want="suite $suite
archive $uri
packages $pkgs"
if [ -f "$dest/.lab-chroot" ] && [ "$(cat "$dest/.lab-chroot")" = "$want" ]; then
	say "$suite chroot: up to date ($dest)"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "making $dest needs root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (make deps installs it)"
command -v unshare >/dev/null || die "unshare is not installed (package util-linux)"
[ -f "$KEYRING" ] || die "$KEYRING not found (package debian-archive-keyring)"

mkdir -p "$CACHE"
# In the cache directory, so that the final rename stays on one file system.
tmp=$(mktemp -d "$CACHE/.make-$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
elapsed() { s=$(($(date +%s) - start)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
say "making the $suite chroot $dest (debootstrap --variant=minbase from $uri): $pkgs"
# debootstrap's own stages, and a count of the packages it downloads;
# every line goes to the log.
{
	rc=0
	unshare --mount --propagation private debootstrap --variant=minbase --components=main \
		--keyring="$KEYRING" --include="$(echo "$pkgs" | tr ' ' ,)" \
		"$suite" "$tmp/$name" "$uri" || rc=$?
	echo "$rc" > "$tmp/rc"
} 2>&1 | tee "$tmp/debootstrap.log" | {
	n=0
	while IFS= read -r line; do
		case $line in
		"I: Retrieving "?*" "?*)
			n=$((n + 1))
			[ $((n % 25)) != 0 ] || say "  $n packages downloaded ($(elapsed))" ;;
		"I: Retrieving "* | "I: Validating "* | "I: Extracting "* | "I: Checking "* | "I: Valid "*) ;;
		# One package ("Unpacking bash..."), not a stage ("Unpacking the base system...").
		"I: Unpacking "*" "* | "I: Configuring "*" "*) say "  ${line#I: } ($(elapsed))" ;;
		"I: Unpacking "* | "I: Configuring "*) ;;
		"I: Found additional "* | "I: Chosen extractor "*) ;;
		"I: "* | "E: "* | "W: "*) say "  ${line#I: } ($(elapsed))" ;;
		esac
	done
}
if [ "$(cat "$tmp/rc")" != 0 ]; then
	echo "make-chroot: the last lines debootstrap wrote:" >&2
	tail -n 15 "$tmp/debootstrap.log" | sed 's/^/  /' >&2
	if [ -f "$tmp/$name/debootstrap/debootstrap.log" ]; then
		echo "make-chroot: the end of its debootstrap/debootstrap.log:" >&2
		tail -n 15 "$tmp/$name/debootstrap/debootstrap.log" | sed 's/^/  /' >&2
	fi
	die "debootstrap of $suite from $uri failed; nothing was changed"
fi
for p in $pkgs; do
	dpkg-query --admindir="$tmp/$name/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || die "$p is not installed in the new chroot; nothing was changed"
done
chroot "$tmp/$name" make --version > /dev/null 2>&1 || die "make does not run in the new chroot; nothing was changed"
# The downloaded packages: installed, no longer needed.
rm -f "$tmp/$name"/var/cache/apt/archives/*.deb
printf '%s\n' "$want" > "$tmp/$name/.lab-chroot"
# Out of the way first (a chroot made with other packages), then in.
if [ -e "$dest" ]; then mv -T "$dest" "$tmp/old"; fi
mv -T "$tmp/$name" "$dest"
say "$suite chroot: $dest, $(du -sm "$dest" | cut -f1) MB, made in $(elapsed):" \
	"$(dpkg-query --admindir="$dest/var/lib/dpkg" -W -f='${Package} ${Version}, ' "$@" | sed 's/, $//')"
