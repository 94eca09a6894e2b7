#!/usr/bin/env bash
# run.sh - benchmark ovld against etcd 3.4 (v2 API) on this machine, one
# server at a time on the same ports and disk; prints a markdown table with
# both figures and the ratio ovld/etcd (see docs/benchmarks.md).
#
# Usage: tools/bench/run.sh [bench.py options]   e.g. --duration 10,
#   --systems etcd,ovld, --skip-cluster, --profile-single, --port 28100.
# OVLD_BIN picks the ovld binary. By default ovld is built (Release) from the
# committed HEAD, exported with git archive into build-bench/head-src, so
# the figures belong to a commit and not to whatever is half-edited in the
# shared checkout; OVLD_FROM=worktree builds the checkout instead
# (cmake -S . -B build-bench). --peer-tls (3 hosts, peer mTLS against plain
# peers, beside etcd with and without peer TLS) also builds the ovld of
# OVLD_PLAIN_REV (default 88a6572, the last commit before the peer TLS
# work) into build-bench/plain, or uses OVLD_PLAIN_BIN.
# Needs wrk (apt-get install wrk), etcd, python3, openssl.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

for tool in wrk etcd python3; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found (apt-get install wrk etcd-server python3)" >&2
		exit 1
	}
done

want_ovld=1 peer_tls=0
for a in "$@"; do
	case "$a" in
	--systems=etcd | etcd) want_ovld=0 ;;
	--peer-tls) peer_tls=1 ;;
	esac
done

# Builds ovld from source dir $1 into build dir $2, quietly unless it fails.
build_ovld() {
	local log=$2/build.log
	mkdir -p "$2"
	if ! { cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release &&
		cmake --build "$2" --target ovld -j2; } >"$log" 2>&1; then
		tail -30 "$log" >&2
		echo "run.sh: ovld build failed (log: $log)" >&2
		exit 1
	fi
}

# Builds ovld at commit $1 into build-bench/$2 (sources exported with git
# archive into build-bench/$2-src, kept while the commit stays the same).
build_rev() {
	local rev src=$repo/build-bench/$2-src
	rev=$(git -C "$repo" rev-parse "$1^{commit}")
	if [ "$(cat "$src/.rev" 2>/dev/null)" != "$rev" ]; then
		echo "run.sh: building ovld from $2 ${rev:0:7}" >&2
		rm -rf "$src" && mkdir -p "$src"
		git -C "$repo" archive --format=tar "$rev" | tar -x -C "$src"
		echo "$rev" >"$src/.rev"
	fi
	build_ovld "$src" "$repo/build-bench/$2"
}

if [ -n "${OVLD_BIN:-}" ] || [ "$want_ovld" = 0 ]; then
	ovld=${OVLD_BIN:-none}
elif [ "${OVLD_FROM:-HEAD}" = worktree ]; then
	build_ovld "$repo" "$repo/build-bench"
	ovld=$repo/build-bench/ovld
else
	build_rev HEAD head
	ovld=$repo/build-bench/head/ovld
	rev=$(git -C "$repo" rev-parse --short=7 HEAD)
	export OVLD_REV=$rev
fi

# --peer-tls also runs the last ovld before the peer TLS work, whose peers
# speak plain TCP (ovld has no such mode on purpose).
plain=()
if [ "$peer_tls" = 1 ]; then
	if [ -n "${OVLD_PLAIN_BIN:-}" ]; then
		export OVLD_PLAIN_REV=${OVLD_PLAIN_REV:-$OVLD_PLAIN_BIN}
	else
		plain_rev=${OVLD_PLAIN_REV:-88a6572}
		build_rev "$plain_rev" plain
		OVLD_PLAIN_BIN=$repo/build-bench/plain/ovld
		OVLD_PLAIN_REV=$(git -C "$repo" rev-parse --short=7 "$plain_rev")
		export OVLD_PLAIN_REV
	fi
	plain=(--ovld-plain-bin "$OVLD_PLAIN_BIN")
fi

exec python3 "$here/bench.py" --ovld-bin "$ovld" "${plain[@]}" "$@"
