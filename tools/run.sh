#!/usr/bin/env bash
# run.sh - build and run ovld in one command: installs the dependencies,
# builds Release ovld and ovlctl (the README's overlay steps use it) into
# ./build and runs ovld with a single-node
# default configuration (name "default", data in ./default.ovld, etcd v2
# API on 127.0.0.1:2379). Extra arguments are passed on to ovld and win
# over the defaults, e.g. `./tools/run.sh --log-level debug`.
set -euo pipefail

cd "$(dirname "$0")/.."
./tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --target ovld ovlctl -j"$(nproc)"

exec ./build/ovld \
	--name default \
	--data-dir ./default.ovld \
	--listen-client-urls http://127.0.0.1:2379 \
	--advertise-client-urls http://127.0.0.1:2379 \
	"$@"
