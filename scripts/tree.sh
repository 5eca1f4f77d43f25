#!/bin/sh
# Turn a series directory into a git tree of its base and back.
#
#   tree.sh tree   BASE SERIES_DIR TREE_DIR   pristine base + series as commits
#   tree.sh export BASE SERIES_DIR TREE_DIR   write SERIES_DIR from the tree
#   tree.sh rfc    RFC_DIR TREE_DIR           branch 'rfc' = 'series' + the RFC patches
#   tree.sh rfc-export RFC_DIR TREE_DIR       write RFC_DIR from branch 'rfc'
#   tree.sh fix    FIX_DIR TREE_DIR           branch 'fix-<name of FIX_DIR>' = 'base' + a
#                                             fix that is not part of the series
#   tree.sh apply  [SERIES_DIR] KERNEL        apply to a user's tree, all or nothing;
#                                             without SERIES_DIR the one for its version
#   tree.sh series KERNEL                     the series directory for a tree's version
#   tree.sh version KERNEL                    its base ("6.1"), if there is a series for it
#   tree.sh import KERNEL TREE_DIR            a copy of a user's tree + its series, as
#                                             commits 'base' and 'series' (make validate)
#   tree.sh source BASE                       the tarball of a base and its Debian version
#
# The base is Debian's linux-source-BASE tarball: in $LAB_CACHE/src (default
# cache/src) for the bases scripts/fetch-source.sh fetches (7.3), else in
# /usr/src from the installed package. Commits get fixed dates so that the
# round trip "tree, export" reproduces the same files byte for byte.
set -eu

die() { echo "tree.sh: error: $*" >&2; exit 1; }
say() { echo "tree.sh: $*" >&2; }

# Author of the synthetic base commit; not a person.
BASE_IDENT_NAME="Debian linux-source"
BASE_IDENT_MAIL="linux-source@localhost"
BASE_DATE="2000-01-01T00:00:00Z"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LAB_CACHE:-$ROOT/cache}/src
# The base of the series in series/; the others are in backports/<base>/.
SERIES_BASE=7.3

tarball() {
	for t in "$CACHE/linux-source-$1.tar.xz" "/usr/src/linux-source-$1.tar.xz"; do
		[ -f "$t" ] && { echo "$t"; return 0; }
	done
	die "linux-source-$1.tar.xz is neither in $CACHE nor in /usr/src: run 'make deps'"
}

# The Debian version of the package a tarball came from: the version file
# fetch-source.sh writes next to it, or what dpkg says of its package.
deb_version() {
	case $1 in
	"$CACHE"/*)
		f=$(dirname "$(readlink -f "$1")")/version
		[ -f "$f" ] || die "$1: no $f (fetch it again: sh scripts/fetch-source.sh)"
		cat "$f" ;;
	*)
		pkg=$(dpkg-query -S "$1" 2>/dev/null | sed -n 's/: .*//p' | head -n 1)
		[ -n "$pkg" ] || die "$1 belongs to no installed package"
		dpkg-query -W -f='${Version}' "$pkg" ;;
	esac
}

# What a tree made from a tarball depends on: the file (size, mtime,
# resolved path) and its Debian version. A new tarball means a new tree.
source_id() {
	echo "$(readlink -f "$1") $(stat -L -c '%s %Y' "$1") $(deb_version "$1")"
}

cmd_source() {
	tb=$(tarball "$1")
	echo "tarball=$tb"
	echo "package=linux-source-$1"
	echo "debian_version=$(deb_version "$tb")"
	echo "id=$(source_id "$tb")"
}

# The patches of a series directory, absolute paths, one per line, in order.
patches() {
	for p in "$1"/[0-9][0-9][0-9][0-9]-*.patch; do
		case "$p" in
		*/0000-cover-letter.patch) ;;
		*) if [ -f "$p" ]; then readlink -f "$p"; fi ;;
		esac
	done
}

# The free text of a cover letter: subject line, blank, body up to the shortlog.
cover_description() {
	awk '
		/^Subject: / { sub(/^Subject: \[[^]]*\] /, ""); subj = $0; insubj = 1; next }
		insubj && /^ / { subj = subj $0; next }
		{ insubj = 0 }
		subj != "" && !body && /^$/ { body = 1; print subj; print ""; next }
		body && /^[^ ].* \([0-9]+\):$/ { exit }
		body { print }
	' "$1" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

# The bases there is a series for: $SERIES_BASE in series/, others in backports/.
bases() {
	if ls "$ROOT"/series/0001-*.patch >/dev/null 2>&1; then echo "$SERIES_BASE"; fi
	for d in "$ROOT"/backports/*/; do
		ls "$d"0001-*.patch >/dev/null 2>&1 || continue
		basename "$d"
	done
}

# "VERSION.PATCHLEVEL" of a kernel tree, from its top Makefile.
tree_version() {
	if [ ! -f "$1/Makefile" ] || [ ! -f "$1/kernel/cpu.c" ]; then
		die "$1 is not a Linux source tree"
	fi
	v=$(sed -n 's/^VERSION = *//p' "$1/Makefile" | head -n 1)
	p=$(sed -n 's/^PATCHLEVEL = *//p' "$1/Makefile" | head -n 1)
	if [ -z "$v" ] || [ -z "$p" ]; then
		die "$1/Makefile: no VERSION/PATCHLEVEL"
	fi
	echo "$v.$p"
}

cmd_series() {
	ver=$(tree_version "$1")
	for b in $(bases); do
		if [ "$b" = "$ver" ]; then
			if [ "$b" = "$SERIES_BASE" ]; then echo "$ROOT/series"; else echo "$ROOT/backports/$b"; fi
			return 0
		fi
	done
	die "$1 is Linux $ver; there is a series for: $(bases | tr '\n' ' ' | sed 's/ $//')"
}

# Make the files in DIR one commit tagged 'base', by a fixed identity and date.
# No automatic gc: repacking the base's loose objects in the background
# would take minutes of CPU from the builds, for a tree made to be thrown
# away.
import_base() {
	git -C "$1" init -q -b base-import &&
		git -C "$1" config gc.auto 0 &&
		git -C "$1" config user.name "$BASE_IDENT_NAME" &&
		git -C "$1" config user.email "$BASE_IDENT_MAIL" &&
		git -C "$1" add -A -f &&
		GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
			git -C "$1" commit -q -m "$2" &&
		git -C "$1" tag base
}

# Commits made by git am take the identity of whoever runs it.
am_identity() {
	git -C "$1" config user.name "$(git config user.name || echo lab)"
	git -C "$1" config user.email "$(git config user.email || echo lab@localhost)"
}

cmd_import() {
	kernel=$1 dir=$2
	series=$(cmd_series "$kernel")
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	say "copying $kernel (without .git) to $dir"
	tar -C "$kernel" --exclude=.git -cf - . | tar -C "$dir.tmp" -xf -
	# Build output of the user's own builds is not source.
	make -s -C "$dir.tmp" mrproper >/dev/null 2>&1 || true
	import_base "$dir.tmp" "$kernel as found" ||
		{ rm -rf "$dir.tmp"; die "cannot import $kernel"; }
	am_identity "$dir.tmp"
	git -C "$dir.tmp" checkout -q -b series
	list=$(patches "$series")
	# shellcheck disable=SC2086
	if ! git -C "$dir.tmp" am -q $list >/dev/null 2>&1; then
		p=$(git -C "$dir.tmp" am --show-current-patch=raw 2>/dev/null | sed -n 's/^Subject: //p' | head -n 1)
		rm -rf "$dir.tmp"
		die "the series in $series does not apply to $kernel (stopped at: $p); nothing was built"
	fi
	mv "$dir.tmp" "$dir"
	say "$dir: base = $kernel, series = base + $(git -C "$dir" rev-list --count base..series) commits from $series"
}

cmd_tree() {
	base=$1 series=$2 dir=$3
	tb=$(tarball "$base")
	id=$(source_id "$tb")
	# A tree from another tarball (or from before the source was recorded)
	# is made again; check_series.py's worktree of it goes with it.
	if ! git -C "$dir" rev-parse -q --verify refs/tags/base >/dev/null 2>&1 ||
	   [ "$(git -C "$dir" config lab.source 2>/dev/null)" != "$id" ]; then
		rm -rf "$dir" "$dir.tmp" "$dir-compile"
		mkdir -p "$dir.tmp"
		say "extracting $tb (Debian $(deb_version "$tb"))"
		tar -xf "$tb" -C "$dir.tmp"
		mv "$dir.tmp/linux-source-$base" "$dir"
		rmdir "$dir.tmp"
		say "importing the base into git (one-time, about a minute)"
		import_base "$dir" "Linux $(make -s -C "$dir" kernelversion) (Debian linux-source-$base)" ||
			die "cannot import $tb into git in $dir"
		# Read by the lab (kernel.tree_source) for its reports.
		git -C "$dir" config lab.package "linux-source-$base"
		git -C "$dir" config lab.debianVersion "$(deb_version "$tb")"
		git -C "$dir" config lab.source "$id"
	fi
	am_identity "$dir"
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	git -C "$dir" checkout -q -f -B series base
	git -C "$dir" clean -q -fdx
	list=$(patches "$series")
	[ -n "$list" ] || die "no patches in $series"
	say "applying $(echo "$list" | wc -l) patches from $series"
	# Paths from patches() have no white space.
	# shellcheck disable=SC2086
	git -C "$dir" am -q --committer-date-is-author-date $list ||
		die "series does not apply to $base; 'git -C $dir am --show-current-patch=diff' shows where"
	if [ -f "$series/0000-cover-letter.patch" ]; then
		git -C "$dir" config branch.series.description "$(cover_description "$series/0000-cover-letter.patch")"
	fi
	say "$dir: branch 'series' = base + $(git -C "$dir" rev-list --count base..series) commits"
}

# am_branch DIR BRANCH START PATCH...: BRANCH = START + the patches. When
# they do not apply, the tree goes back to START, with no git am in
# progress and no BRANCH, and this returns 1.
am_branch() {
	d=$1 b=$2 s=$3
	shift 3
	git -C "$d" am --abort >/dev/null 2>&1 || true
	git -C "$d" checkout -q -f -B "$b" "$s"
	git -C "$d" am -q --committer-date-is-author-date "$@" && return 0
	git -C "$d" am --abort >/dev/null 2>&1 || true
	git -C "$d" checkout -q -f "$s"
	git -C "$d" branch -q -D "$b"
	return 1
}

cmd_rfc() {
	rfc=$1 dir=$2
	git -C "$dir" rev-parse -q --verify refs/heads/series >/dev/null || die "no tree in $dir: run 'make tree' first"
	list=$(patches "$rfc")
	[ -n "$list" ] || die "no patches in $rfc"
	am_identity "$dir"
	# shellcheck disable=SC2086
	am_branch "$dir" rfc series $list ||
		die "$rfc does not apply on top of the series in $dir ('git am -3' of it there shows where)"
	say "$dir: branch 'rfc' = series + $(git -C "$dir" rev-list --count series..rfc) commits"
}

# A fix the lab found outside the series (fixes/<name>/): on the pristine
# base, so that the lab compares the base with and without it.
cmd_fix() {
	fix=$1 dir=$2
	git -C "$dir" rev-parse -q --verify refs/tags/base >/dev/null || die "no tree in $dir: run 'make tree' first"
	list=$(patches "$fix")
	[ -n "$list" ] || die "no patches in $fix"
	branch=fix-$(basename "$fix")
	am_identity "$dir"
	# shellcheck disable=SC2086
	am_branch "$dir" "$branch" base $list ||
		die "$fix does not apply to the base in $dir ('git am -3' of it there shows where)"
	say "$dir: branch '$branch' = base + $(git -C "$dir" rev-list --count "base..$branch") commits"
}

# The RFC goes to the same people as the series (its cover letter's To/Cc).
cmd_rfc_export() {
	rfc=$1 dir=$2
	git -C "$dir" rev-parse -q --verify refs/heads/rfc >/dev/null || die "no branch rfc in $dir"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	gm() { (cd "$dir" && perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback "$@" 2>/dev/null); }
	git -C "$dir" -c core.abbrev=12 format-patch -q --no-signature -o "$tmp/plain" series..rfc >/dev/null
	set --
	while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--cc=$a"; done <<-END
	$(gm "$tmp"/plain/*.patch | sort)
	END
	git -C "$dir" -c core.abbrev=12 format-patch -q --no-signature --cover-letter --subject-prefix="RFC PATCH" \
		"$@" -o "$tmp/new" series..rfc >/dev/null
	mkdir -p "$rfc"
	# The cover letter's subject and text come from RFC_DIR/cover.txt:
	# the subject line, a blank line, the text.
	if [ -f "$rfc/cover.txt" ]; then
		awk -v cover="$rfc/cover.txt" '
			BEGIN { getline subj < cover; getline blank < cover
				while ((getline l < cover) > 0) body = body l "\n" }
			/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subj) }
			/^\*\*\* BLURB HERE \*\*\*$/ { printf "%s", body; next }
			{ print }
		' "$tmp/new/0000-cover-letter.patch" > "$tmp/cover" && mv "$tmp/cover" "$tmp/new/0000-cover-letter.patch"
	fi
	rm -f "$rfc"/[0-9][0-9][0-9][0-9]-*.patch
	cp "$tmp/new"/*.patch "$rfc"/
	say "wrote $(find "$tmp/new" -name '*.patch' | wc -l) files to $rfc"
}

cmd_export() {
	base=$1 series=$2 dir=$3
	git -C "$dir" rev-parse -q --verify refs/heads/series >/dev/null || die "no tree in $dir: run 'make tree' first"
	# The subject prefix of the cover letter, "PATCH v5" in "[PATCH v5 00/10]".
	prefix=$(sed -n 's/^Subject: \[\(.*\) 0\{1,\}\/[0-9]\{1,\}\].*/\1/p' "$series/0000-cover-letter.patch" 2>/dev/null | head -n 1)
	[ -n "$prefix" ] || prefix="PATCH"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp "$series"/*.patch "$tmp"/ 2>/dev/null || true
	# To: the maintainers of kernel/cpu.c; Cc: everybody else get_maintainer.pl
	# names for the series.
	git -C "$dir" -c core.abbrev=12 format-patch -q --no-signature -o "$tmp/plain" base..series >/dev/null
	gm() { (cd "$dir" && perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback "$@" 2>/dev/null); }
	to=$(gm -f kernel/cpu.c --no-l | sort)
	# Older bases (6.1) have no MAINTAINERS entry for kernel/cpu.c: the
	# backport goes to the same people as the upstream series.
	if [ -z "$to" ] && [ -f "$ROOT/series/0000-cover-letter.patch" ]; then
		to=$(sed -n '/^To: /,/^Cc: /{/^Cc: /d;s/^To: //;s/^ *//;s/,$//;p;}' \
			"$ROOT/series/0000-cover-letter.patch" | sort)
	fi
	# SERIES_DIR/extra-cc: people of earlier versions and threads, one
	# address a line, who are not in MAINTAINERS for these files.
	extra=""
	[ -f "$series/extra-cc" ] && extra=$(grep -v '^#' "$series/extra-cc" | sed '/^$/d')
	cc=$( { gm "$tmp"/plain/*.patch; printf '%s\n' "$extra"; } | sed '/^$/d' | sort -u |
		comm -23 - "$(printf '%s\n' "$to" > "$tmp/to" && echo "$tmp/to")")
	set --
	while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--to=$a"; done <<-END
	$to
	END
	while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--cc=$a"; done <<-END
	$cc
	END
	git -C "$dir" -c core.abbrev=12 format-patch -q --no-signature --cover-letter --cover-from-description=subject \
		--subject-prefix="$prefix" "$@" -o "$tmp/new" base..series >/dev/null
	# format-patch stamps the cover letter with the current time; keep the
	# date of the last patch so that the output is reproducible.
	for last in "$tmp/new"/*.patch; do :; done
	d=$(sed -n 's/^Date: //p' "$last" | head -n 1)
	sed -i "s/^Date: .*/Date: $d/" "$tmp/new/0000-cover-letter.patch"
	rm -f "$series"/[0-9][0-9][0-9][0-9]-*.patch
	cp "$tmp/new"/*.patch "$series"/
	say "wrote $(find "$tmp/new" -name '*.patch' | wc -l) files to $series"
}

cmd_apply() {
	series=$1 kernel=$2
	if [ ! -f "$kernel/Makefile" ] || [ ! -f "$kernel/kernel/cpu.c" ]; then
		die "$kernel is not a Linux source tree"
	fi
	list=$(patches "$series")
	[ -n "$list" ] || die "no patches in $series"
	# Check the whole series against a scratch copy of the touched files
	# first, so that a tree it does not fit is left untouched.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	echo "$list" | xargs sed -n 's|^--- a/||p; s|^+++ b/||p' | sort -u | while read -r f; do
		[ -f "$kernel/$f" ] || continue
		mkdir -p "$tmp/$(dirname "$f")"
		cp "$kernel/$f" "$tmp/$f"
	done
	git -C "$tmp" init -q
	for p in $list; do
		if ! out=$(git -C "$tmp" apply --verbose "$p" 2>&1); then
			echo "$out" | grep -E '^error:' >&2
			die "$(basename "$p") does not apply to $kernel; nothing was changed"
		fi
	done
	if git -C "$kernel" rev-parse --git-dir >/dev/null 2>&1 &&
	   [ "$(git -C "$kernel" rev-parse --show-toplevel)" = "$(cd "$kernel" && pwd -P)" ]; then
		# shellcheck disable=SC2086
		git -C "$kernel" am -q $list ||
			{ git -C "$kernel" am --abort; die "git am failed in $kernel; aborted, nothing changed"; }
		say "applied $(echo "$list" | wc -l) commits to $kernel"
	else
		for p in $list; do git -C "$kernel" apply "$p"; done
		say "applied $(echo "$list" | wc -l) patches to $kernel (not a git tree: files changed, no commits)"
	fi
}

[ $# -ge 1 ] || die "usage: tree.sh tree|export|apply ..."
cmd=$1; shift
case $cmd in
tree) [ $# -eq 3 ] || die "usage: tree.sh tree BASE SERIES_DIR TREE_DIR"; cmd_tree "$@" ;;
export) [ $# -eq 3 ] || die "usage: tree.sh export BASE SERIES_DIR TREE_DIR"; cmd_export "$@" ;;
rfc) [ $# -eq 2 ] || die "usage: tree.sh rfc RFC_DIR TREE_DIR"; cmd_rfc "$@" ;;
rfc-export) [ $# -eq 2 ] || die "usage: tree.sh rfc-export RFC_DIR TREE_DIR"; cmd_rfc_export "$@" ;;
fix) [ $# -eq 2 ] || die "usage: tree.sh fix FIX_DIR TREE_DIR"; cmd_fix "$@" ;;
apply)
	case $# in
	1) s=$(cmd_series "$1"); say "$1 is Linux $(tree_version "$1"): applying $s"; cmd_apply "$s" "$1" ;;
	2) cmd_apply "$@" ;;
	*) die "usage: tree.sh apply [SERIES_DIR] KERNEL" ;;
	esac ;;
series) [ $# -eq 1 ] || die "usage: tree.sh series KERNEL"; cmd_series "$@" ;;
version) [ $# -eq 1 ] || die "usage: tree.sh version KERNEL"; cmd_series "$1" >/dev/null; tree_version "$1" ;;
import) [ $# -eq 2 ] || die "usage: tree.sh import KERNEL TREE_DIR"; cmd_import "$@" ;;
source) [ $# -eq 1 ] || die "usage: tree.sh source BASE"; cmd_source "$@" ;;
*) die "unknown command '$cmd'" ;;
esac
