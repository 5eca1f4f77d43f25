#!/bin/sh
# Install what the project needs from Debian's packages, and fetch the
# source of the bases Debian 12 does not carry (scripts/fetch-source.sh:
# linux-source-7.3 from trixie-backports, unpacked into cache/src, not
# installed). debootstrap makes the chroot with Debian 13's LoongArch gcc
# that make static needs for 6.1 (scripts/make-chroot.sh; check_series.py
# runs it then, not here). Idempotent: does nothing when everything is
# there already.
# Installing needs root (apt-get); the fetch does not.
set -eu

PKGS="linux-source-6.12 linux-source-6.1 make gcc libc6-dev flex bison bc libelf-dev
libssl-dev ccache cpio xz-utils kmod binutils perl python3 python3-docutils python3-ply python3-git git
qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-riscv64-linux-gnu gcc-powerpc64le-linux-gnu
gcc-mips64el-linux-gnuabi64 kexec-tools gnuplot-nox shellcheck debootstrap
qemu-system-misc libc6-dev-riscv64-cross device-tree-compiler
qemu-system-ppc libc6-dev-ppc64el-cross
clang-19 lld-19 llvm-19"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Debian's arm64, armhf and ppc64el kexec-tools are unpacked for those
# guests (not installed): apt needs the foreign architectures' package lists.
foreign=""
for a in arm64 armhf ppc64el; do
	dpkg --print-foreign-architectures | grep -qx $a || foreign="$foreign $a"
done

fetch() { sh "$(dirname "$0")/fetch-source.sh"; }

if [ -z "$missing" ] && [ -z "$foreign" ]; then
	echo "deps: all installed"
	fetch
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: error: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
for a in $foreign; do dpkg --add-architecture "$a"; done
# The archive sometimes answers a foreign-architecture index with a size
# mismatch; a second try gets it.
for i in 1 2 3; do
	if apt-get update -q >/dev/null; then break; fi
	[ $i = 3 ] && { echo "deps: error: apt-get update failed three times" >&2; exit 1; }
	sleep 5
done
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		{ echo "deps: error: apt-get install failed" >&2; exit 1; }
fi
echo "deps: done"
fetch
