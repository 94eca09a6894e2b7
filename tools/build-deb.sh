#!/bin/sh
# build-deb.sh - build the ovld Debian package from this checkout's committed
# tree (git archive HEAD), so stray build dirs and uncommitted edits never
# end up in it. dpkg-buildpackage wants debian/ at the source root, so the
# tree is exported to a temporary directory with packaging/debian copied to
# debian/. Usage: tools/build-deb.sh [OUTDIR]   (default: ./dist)
# Set OVLD_DEB_WORKTREE=1 to package the working tree instead of HEAD.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/dist}
version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ovld-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
tree=$tmp/ovld-$version

export_tree() {
	mkdir -p "$tree"
	if [ "${OVLD_DEB_WORKTREE:-0}" = 1 ]; then
		# Tracked and untracked-but-not-ignored files, as git sees them.
		(cd "$src" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 cp --parents -t "$tree" 2>/dev/null) || true
	else
		git -C "$src" archive --format=tar HEAD | tar -x -C "$tree"
	fi
	if [ ! -d "$tree/packaging/debian" ]; then
		echo "build-deb.sh: packaging/debian is not in the exported tree" \
			"(commit it, or set OVLD_DEB_WORKTREE=1)" >&2
		exit 1
	fi
	rm -rf "$tree/debian"
	cp -a "$tree/packaging/debian" "$tree/debian"
}

export_tree
jobs=$(nproc 2>/dev/null || echo 1)
(cd "$tree" &&
	DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
		dpkg-buildpackage -us -uc -b)
mkdir -p "$out"
for f in "$tmp"/ovld_"$version"_*.deb "$tmp"/ovld-dbgsym_"$version"_*.deb \
	"$tmp"/ovld_"$version"_*.buildinfo "$tmp"/ovld_"$version"_*.changes; do
	if [ -e "$f" ]; then cp "$f" "$out"/; fi
done
ls "$out"/ovld_"$version"_*.deb
