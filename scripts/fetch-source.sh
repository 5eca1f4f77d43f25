#!/bin/sh
# Fetch the Linux source tarball of a base that Debian 12 itself does not
# carry: linux-source-7.3 from trixie-backports, for the series in series/.
#
#   fetch-source.sh [BASE ...]      (default: every base listed in suite_of)
#   fetch-source.sh --uri           print the archive URI it would use
#
# No suite is added to the system. apt-get runs on a private
# sources.list, package lists and cache (in a temporary directory), with
# the archive URI of the machine's own bookworm entry in
# /etc/apt/sources.list.d/*.sources; the package is downloaded and
# unpacked with dpkg -x, not installed.
#
# Where the tarball goes: $LAB_CACHE/src (default: cache/src in this
# repository, ignored by git), as
#
#   cache/src/linux-source-7.3_7.3.4-1~bpo13+1/linux-source-7.3.tar.xz
#   cache/src/linux-source-7.3_7.3.4-1~bpo13+1/version     (7.3.4-1~bpo13+1)
#   cache/src/linux-source-7.3.tar.xz -> linux-source-7.3_7.3.4-1~bpo13+1/linux-source-7.3.tar.xz
#
# scripts/tree.sh looks there first, then in /usr/src. Not in build/:
# 'make clean' would throw 160 MB away that takes a download to get back.
# Not in /usr/src: that directory is dpkg's (linux-source-6.12 and -6.1
# put their tarballs there); a file no package owns would be overwritten
# without a word by a later 'apt-get install linux-source-7.3', and its
# recorded version would then be wrong. This way no root is needed either.
#
# The link is switched with a rename once the new version's directory is
# complete, so that a failed or interrupted download leaves the previous
# tarball (or none) in place, never half a file. Idempotent: when the
# suite's version is the one already there, nothing is downloaded; when
# the archive cannot be reached and a tarball is there, it is kept.
set -eu

die() { echo "fetch-source: error: $*" >&2; exit 1; }
say() { echo "fetch-source: $*"; }
warn() { echo "fetch-source: warning: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LAB_CACHE:-$ROOT/cache}/src
. "$ROOT/scripts/lib/apt-private.sh"

# The suite a base's linux-source package comes from; empty if the
# system's own packages have it (make deps installs those).
suite_of() {
	case $1 in
	7.3) echo trixie-backports ;;
	*) echo "" ;;
	esac
}
FETCHED_BASES="7.3"

fetch() {
	base=$1
	pkg=linux-source-$base
	suite=$(suite_of "$base")
	[ -n "$suite" ] || die "no suite to fetch $pkg from (bases fetched here: $FETCHED_BASES)"
	link=$CACHE/$pkg.tar.xz
	have=""
	if [ -f "$link" ] && [ -f "$(dirname "$(readlink -f "$link")")/version" ]; then
		have=$(cat "$(dirname "$(readlink -f "$link")")/version")
	fi

	mkdir -p "$CACHE"
	# In the cache directory, so that the final rename stays on one file system.
	tmp=$(mktemp -d "$CACHE/.fetch-$base.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM
	apt_private "$tmp" "$suite"
	if ! aptp update > "$tmp/update.log" 2>&1 ||
	   grep -Eq '^(E: |W: Failed to fetch)' "$tmp/update.log"; then
		if [ -n "$have" ]; then
			warn "cannot read $suite from $uri (see below); keeping $pkg $have"
			sed 's/^/  /' "$tmp/update.log" >&2
			return 0
		fi
		sed 's/^/  /' "$tmp/update.log" >&2
		die "apt-get update of $suite from $uri failed; nothing was changed"
	fi
	want=$(aptc policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -z "$want" ] || [ "$want" = "(none)" ]; then
		[ -n "$have" ] && { warn "$suite at $uri has no $pkg; keeping $have"; return 0; }
		die "$suite at $uri has no package $pkg; nothing was changed"
	fi
	if [ "$want" = "$have" ]; then
		say "$pkg $have: up to date ($link)"
		return 0
	fi
	say "downloading $pkg $want from $uri $suite${have:+ (replacing $have)}"
	if ! (cd "$tmp/deb" && aptp download "$pkg=$want") > "$tmp/download.log" 2>&1; then
		sed 's/^/  /' "$tmp/download.log" >&2
		die "apt-get download $pkg=$want failed; nothing was changed"
	fi
	set -- "$tmp"/deb/*.deb
	{ [ $# = 1 ] && [ -f "$1" ]; } || die "apt-get download left no single .deb in $tmp/deb; nothing was changed"
	deb=$1
	# The version comes from the package itself.
	got=$(dpkg-deb -f "$deb" Package Version | sed 's/^[^:]*: //' | tr '\n' ' ')
	[ "$got" = "$pkg $want " ] || die "$(basename "$deb") is '$got', expected '$pkg $want'; nothing was changed"
	dpkg -x "$deb" "$tmp/x" || die "dpkg -x $(basename "$deb") failed; nothing was changed"
	[ -f "$tmp/x/usr/src/$pkg.tar.xz" ] || die "$(basename "$deb") has no /usr/src/$pkg.tar.xz; nothing was changed"

	dir=${pkg}_$want
	mkdir "$tmp/$dir"
	mv "$tmp/x/usr/src/$pkg.tar.xz" "$tmp/$dir/"
	echo "$want" > "$tmp/$dir/version"
	publish "$tmp" "$dir" "$dir/$pkg.tar.xz" "$link" "$pkg"
	say "$pkg $want: $link"
}

if [ "${1:-}" = --uri ]; then
	uri=$(archive_uri)
	[ -n "$uri" ] || die "no deb822 entry for '$HOST_SUITE' in $SOURCES_DIR/*.sources"
	echo "$uri"
	exit 0
fi
# shellcheck disable=SC2086
[ $# -gt 0 ] || set -- $FETCHED_BASES
for b in "$@"; do
	# One at a time, each in its own subshell (its trap cleans its own
	# temporary directory).
	(fetch "$b")
done
