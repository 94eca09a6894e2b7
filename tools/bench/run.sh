#!/usr/bin/env bash
# run.sh - benchmark ovld against etcd 3.4 (v2 API) on this machine, one
# server at a time on the same ports and disk; prints a markdown table with
# both figures and the ratio ovld/etcd (see docs/benchmarks.md).
#
# Usage: tools/bench/run.sh [bench.py options]   e.g. --duration 10,
#   --systems etcd,ovld, --skip-cluster, --profile-single, --port 28100.
# OVLD_BIN picks the ovld binary; by default build-bench/ovld is built
# (Release) when missing. Needs wrk (apt-get install wrk), etcd, python3.
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

ovld=${OVLD_BIN:-$repo/build-bench/ovld}
if [ "$want_ovld" = 1 ] && [ ! -x "$ovld" ]; then
	echo "run.sh: building $ovld (Release)" >&2
	cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$repo/build-bench" --target ovld -j2 >/dev/null
fi

exec python3 "$here/bench.py" --ovld-bin "$ovld" "$@"
