# shellcheck shell=sh
# Shared by fetch-source.sh and fetch-qemu.sh: apt on a private
# sources.list, package lists and cache, so that packages of another suite
# of the machine's own Debian archive can be downloaded (and unpacked with
# dpkg -x) without adding that suite to the system. The sourcing script
# defines die().

# The machine's own apt sources (deb822); FETCH_SOURCES_DIR for tests.
SOURCES_DIR=${FETCH_SOURCES_DIR:-/etc/apt/sources.list.d}
# The release whose entry names the archive: the lab's host is Debian 12.
HOST_SUITE=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# The first URI of the enabled deb822 "deb" entry whose Suites: line
# names $HOST_SUITE (the word itself, not bookworm-updates).
archive_uri() {
	set -- "$SOURCES_DIR"/*.sources
	[ -f "$1" ] || return 0
	awk -v want="$HOST_SUITE" '
		function flush() {
			if (found == "" && enabled != "no" && (" " types " ") ~ / deb / &&
			    (" " suites " ") ~ (" " want " ")) {
				split(uris, u, " "); found = u[1]
			}
			types = suites = uris = enabled = key = ""
		}
		FNR == 1 && NR != 1 { flush() }
		/^#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { if (key == "types") types = types " " $0
			   else if (key == "suites") suites = suites " " $0
			   else if (key == "uris") uris = uris " " $0
			   next }
		{
			key = tolower($0); sub(/:.*/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "suites") suites = val
			else if (key == "uris") uris = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush(); if (found != "") print found }
	' "$@"
}

# apt_private DIR SUITE: a private apt configuration in DIR for SUITE of
# the archive of the machine's bookworm entry; sets $uri. Then aptp and
# aptc are apt-get and apt-cache on it.
apt_private() {
	uri=$(archive_uri)
	[ -n "$uri" ] || die "no deb822 entry for '$HOST_SUITE' in $SOURCES_DIR/*.sources: cannot tell which Debian archive to use"
	[ -f "$KEYRING" ] || die "$KEYRING not found (package debian-archive-keyring)"
	APT_DIR=$1
	# apt drops to the _apt user to download: it must be able to enter.
	chmod 755 "$APT_DIR"
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/deb"
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$APT_DIR/deb"; fi
	echo "deb [signed-by=$KEYRING] $uri $2 main" > "$APT_DIR/sources.list"
}

# Only the host's architecture: the foreign ones the lab enables for
# kexec-tools would only add index downloads.
aptp() {
	apt-get -q -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" \
		-o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o Dir::Etc::sourceparts=- \
		-o Debug::NoLocking=1 -o "APT::Architectures=$(dpkg --print-architecture)" \
		-o Acquire::Languages=none "$@"
}

aptc() {
	apt-cache -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" \
		-o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o Dir::Etc::sourceparts=- \
		-o "APT::Architectures=$(dpkg --print-architecture)" "$@"
}

# publish TMPDIR NAME TARGET LINK PREFIX: move TMPDIR/NAME to CACHE/NAME,
# point LINK at TARGET (relative to CACHE) with one rename, so that a
# reader sees the old version or the new one, and remove the other
# versions (CACHE/PREFIX_*), which nothing points to any more.
publish() {
	rm -rf "${CACHE:?}/$2"
	mv "$1/$2" "$CACHE/$2"
	ln -sfn "$3" "$1/link"
	mv -T "$1/link" "$4"
	for old in "$CACHE/$5"_*; do
		[ "$old" = "$CACHE/$2" ] || rm -rf "$old"
	done
}
