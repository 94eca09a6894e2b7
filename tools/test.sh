#!/usr/bin/env bash
# test.sh - the whole test suite in one command: installs the dependencies,
# builds everything into ./build (RelWithDebInfo) and runs ctest (cmocka
# unit tests and the python integration tests against real ovld and etcd
# processes). ctest's summary ends the output; the exit code is ctest's.
# Extra arguments go to ctest, e.g. `./tools/test.sh -R differential`.
set -euo pipefail

cd "$(dirname "$0")/.."
./tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

# Integration tests pick loopback ports in this range; a CI run is alone
# on its machine, developers may set their own.
export OVLDLAB_PORTS=${OVLDLAB_PORTS:-24000-24999}
status=0
ctest --test-dir build --output-on-failure --timeout 900 "$@" || status=$?
exit "$status"
