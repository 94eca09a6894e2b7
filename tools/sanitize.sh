#!/bin/sh
# tools/sanitize.sh - the CI sanitizer and fuzz pass (needs root for the
# namespace and loop-mount tests).
#
#  1. builds ovld, ovlctl, the CNI plugin ovl and the unit tests with ASan+UBSan
#     (-DOVLD_SANITIZE=ON) and runs every unit test with leak detection;
#  2. runs integration tests against the sanitized ovld: a short fault run
#     (its hosts end with SIGTERM, so LeakSanitizer runs at their exit, and
#     the harness fails on any sanitizer line in a host's log), then the
#     integration tests named in SANITIZE_TESTS, whose labs (ovldlab,
#     netlab) stop hosts with SIGTERM under OVLD_SANITIZED=1 and report any
#     sanitizer line of an ovld log; such a line fails the pass;
#  3. builds the libFuzzer targets (clang, -DOVLD_FUZZ=ON) and runs each
#     tests/fuzz/fuzz_*.c for FUZZ_SECONDS on a scratch copy of its seed
#     corpus (the repo's corpus is never written).
# Exits non-zero on any failure or sanitizer report.
#
# Environment: SANITIZE_BUILD, FUZZ_BUILD (build dirs), FUZZ_SECONDS (30),
# FAULT_ROUNDS (8), JOBS (2), SANITIZE_UNIT_EXCLUDE (ctest -E regex of unit
# tests to leave out; default none),
# SKIP_FUZZ=1, SKIP_INTEGRATION=1, SANITIZE_TESTS (integration test names
# without test_; default: all but checker, docker, package and faults).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${SANITIZE_BUILD:-$SRC/build-sanitize}
F=${FUZZ_BUILD:-$SRC/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FAULT_ROUNDS=${FAULT_ROUNDS:-8}
JOBS=${JOBS:-2}
EXCLUDE=${SANITIZE_UNIT_EXCLUDE:-^$}
# Every integration test that starts ovld, except those driving container
# runtimes (dockerd's and podman's timing; test_cni covers the control
# socket and the model under the sanitizers) and the package build; the
# fault harness ran above.
TESTS=${SANITIZE_TESTS:-$(cd "$SRC/tests/integration" && ls test_*.py |
	sed 's/^test_//; s/\.py$//' | grep -Ev '^(checker|docker|docker_plugin|mixed_runtimes|package|podman|faults)$')}

# halt_on_error: the first report fails the run; leaks are reported at exit.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="print_suppressions=0"

failures=""
fail() {
	echo "sanitize: FAILED: $1" >&2
	failures="$failures
  - $1"
}
step() {
	echo
	echo "=== $1 ($(date +%H:%M:%S))"
}

step "ASan+UBSan build in $B"
mkdir -p "$B" "$F"
if cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Debug -DOVLD_SANITIZE=ON \
	>"$B/configure.log" 2>&1; then
	units=$(cd "$SRC/tests/unit" && ls test_*.c | sed 's/\.c$//' |
		grep -Ev "$EXCLUDE")
	# shellcheck disable=SC2086 # one target per word
	if ! cmake --build "$B" -j"$JOBS" --target ovld ovlctl ovl $units; then
		fail "sanitizer build"
	fi
else
	cat "$B/configure.log" >&2
	fail "sanitizer configure"
fi

if [ -x "$B/ovld" ]; then
	step "unit tests under ASan+UBSan (excluding /$EXCLUDE/)"
	# a test that cannot run here exits 77: ctest counts it as skipped
	if ! (cd "$B" && ctest -R '^unit\.' -E "$EXCLUDE" --output-on-failure \
		--timeout 600); then
		fail "unit tests under sanitizers"
	fi

	if [ "${SKIP_INTEGRATION:-0}" != 1 ]; then
		export OVLD_BIN="$B/ovld" OVLCTL_BIN="$B/ovlctl" OVLD_SRC="$SRC" OVLD_SANITIZED=1
		step "fault run, $FAULT_ROUNDS rounds, sanitized ovld"
		# slower hosts under ASan: a longer election timeout
		python3 "$SRC/tests/faults/run.py" --rounds "$FAULT_ROUNDS" \
			--election 1000 --heartbeat 100 --clients 4
		case $? in
		0 | 77) ;; # 77: cannot run here (not root), it said SKIP
		*) fail "fault run under sanitizers" ;;
		esac
		for t in $TESTS; do
			step "integration test_$t, sanitized ovld"
			log=$(mktemp /tmp/ovld-sanitize-XXXXXX.log)
			python3 "$SRC/tests/integration/test_$t.py" >"$log" 2>&1
			rc=$?
			if [ "$rc" = 77 ]; then
				grep -m1 '^SKIP:' "$log"
				rm -f "$log"
			elif [ "$rc" != 0 ]; then
				tail -n 40 "$log"
				fail "test_$t under sanitizers (output: $log)"
			elif grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
				grep -E -A20 "Sanitizer|runtime error:" "$log" | head -n 60
				fail "sanitizer report in test_$t (output: $log)"
			else
				tail -n 1 "$log"
				rm -f "$log"
			fi
		done
	fi
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
	step "libFuzzer build in $F"
	if cmake -S "$SRC" -B "$F" -DCMAKE_BUILD_TYPE=Debug -DOVLD_FUZZ=ON \
		-DCMAKE_C_COMPILER=clang >"$F/configure.log" 2>&1; then
		targets=$(cd "$SRC/tests/fuzz" && ls fuzz_*.c 2>/dev/null |
			sed 's/\.c$//')
		for t in $targets; do
			cmake --build "$F" -j"$JOBS" --target "$t" ||
				fail "fuzz build $t"
		done
		scratch=$(mktemp -d /tmp/ovld-fuzz-XXXXXX)
		for t in $targets; do
			bin=$(find "$F" -name "$t" -type f -perm -u+x | head -n1)
			[ -n "$bin" ] || continue
			step "fuzz $t for ${FUZZ_SECONDS}s"
			mkdir -p "$scratch/$t"
			seeds="$SRC/tests/fuzz/corpus/$t"
			[ -d "$seeds" ] || seeds=""
			# new inputs go to the scratch dir (first); seeds are read
			# only; a crash leaves crash-* in the scratch dir.
			# shellcheck disable=SC2086 # seeds may be empty
			if ! (cd "$scratch" && OVLD_FUZZ_TMP="$scratch" \
				"$bin" -max_total_time="$FUZZ_SECONDS" \
				-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
				"$scratch/$t" $seeds); then
				fail "fuzz $t (artifacts in $scratch)"
				keep=1
			fi
		done
		[ -n "${keep:-}" ] || rm -rf "$scratch"
	else
		cat "$F/configure.log" >&2
		fail "fuzz configure (clang and libclang-rt-14-dev needed)"
	fi
fi

echo
if [ -n "$failures" ]; then
	echo "sanitize: FAILED:$failures"
	exit 1
fi
echo "sanitize: all passed"
