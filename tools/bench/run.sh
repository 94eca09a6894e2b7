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
# (cmake -S . -B build-bench). Needs wrk (apt-get install wrk), etcd, python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

for tool in wrk etcd python3; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found (apt-get install wrk etcd-server python3)" >&2
		exit 1
	}
done

want_ovld=1
for a in "$@"; do
	case "$a" in --systems=etcd | etcd) want_ovld=0 ;; esac
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

if [ -n "${OVLD_BIN:-}" ] || [ "$want_ovld" = 0 ]; then
	ovld=${OVLD_BIN:-none}
elif [ "${OVLD_FROM:-HEAD}" = worktree ]; then
	build_ovld "$repo" "$repo/build-bench"
	ovld=$repo/build-bench/ovld
else
	rev=$(git -C "$repo" rev-parse HEAD)
	src=$repo/build-bench/head-src
	if [ "$(cat "$src/.rev" 2>/dev/null)" != "$rev" ]; then
		echo "run.sh: building ovld from HEAD ${rev:0:7}" >&2
		rm -rf "$src" && mkdir -p "$src"
		git -C "$repo" archive --format=tar "$rev" | tar -x -C "$src"
		echo "$rev" >"$src/.rev"
	fi
	build_ovld "$src" "$repo/build-bench/head"
	ovld=$repo/build-bench/head/ovld
	export OVLD_REV=${rev:0:7}
fi

exec python3 "$here/bench.py" --ovld-bin "$ovld" "$@"
