#!/usr/bin/env python3
"""test_faults - the CI form of the fault harness (tests/faults/run.py).

A 3-host ovld cluster in network namespaces under random operations (PUT,
CAS on prevValue/prevIndex, create, DELETE, compareAndDelete, quorum GET)
while a nemesis kills, partitions, slows, drops packets and pauses hosts,
~50 rounds (a few minutes). Fails on any linearizability violation, index
anomaly, lost or doubly applied write, diverging event log or watch stream,
crash, unclean shutdown or sanitizer report. Needs root.

Environment: FAULT_ROUNDS (default 50), FAULT_HOSTS (3), FAULT_SEED
(default: time-based, printed), FAULT_OUT (JSON summary path), and
OVLD_BIN. The long run is documented in docs/reliability.md.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))

import run  # noqa: E402


def main():
    argv = ["--rounds", os.environ.get("FAULT_ROUNDS", "50"),
            "--hosts", os.environ.get("FAULT_HOSTS", "3")]
    if os.environ.get("FAULT_SEED"):
        argv += ["--seed", os.environ["FAULT_SEED"]]
    if os.environ.get("FAULT_OUT"):
        argv += ["--out", os.environ["FAULT_OUT"]]
    run.main(argv, title="faults")


if __name__ == "__main__":
    main()
