#!/usr/bin/env python3
"""test_checker - self-tests of the fault harness's history checkers
(tests/faults/linearizability.py and checks.py). Pure python, no servers.

Hand-made linearizable and non-linearizable histories of the etcd v2
register (put, create, CAS on prevValue/prevIndex, delete, quorum get, with
ok/fail/unknown outcomes), the index, lost-write, event-log and watch
checks, and a randomized cross-check of the search against brute force
(every permutation and every subset of unknown writes) on small histories.
"""

import itertools
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))

import checks  # noqa: E402
import linearizability as lz  # noqa: E402
from linearizability import FAIL, OK, UNKNOWN, Op  # noqa: E402

passed, failed = 0, []


def expect(ok, what, detail=""):
    global passed
    if ok:
        passed += 1
        print("ok   %s" % what, flush=True)
    else:
        failed.append(what)
        print("FAIL %s %s" % (what, detail), flush=True)


# ---- history builders -------------------------------------------------------

def put(t0, t1, v, idx=None, prev="-", out=OK, p=0, key="k"):
    """prev: the answer's prevNode (value, index), None for "no prevNode",
    or "-" when the history does not say."""
    r = {}
    if out == OK:
        r = {"index": idx}
        if prev != "-":
            r["prev"] = prev
    return Op(p, key, "put", t0, t1 if out != UNKNOWN else None, out,
              value=v, result=r)


def create(t0, t1, v, idx=None, out=OK, code=105, p=0, key="k"):
    r = {"index": idx} if out == OK else {"code": code}
    return Op(p, key, "create", t0, t1 if out != UNKNOWN else None, out,
              value=v, result=r if out != UNKNOWN else {})


def answer(out, idx, prev, code):
    """The recorded result of a CAS or delete: its index and prevNode when
    ok, its error code when failed, nothing when unknown."""
    if out == OK:
        return {"index": idx} if prev is None else {"index": idx,
                                                     "prev": prev}
    return {"code": code} if out == FAIL else {}


def cas(t0, t1, v, pv=None, pi=0, idx=None, prev=None, out=OK, code=101,
        p=0, key="k"):
    r = answer(out, idx, prev, code)
    return Op(p, key, "cas", t0, t1 if out != UNKNOWN else None, out,
              value=v, prev_value=pv, prev_index=pi, result=r)


def delete(t0, t1, idx=None, prev=None, out=OK, code=100, p=0, key="k"):
    r = answer(out, idx, prev, code)
    return Op(p, key, "delete", t0, t1 if out != UNKNOWN else None, out,
              result=r)


def cad(t0, t1, pv, idx=None, prev=None, out=OK, code=101, p=0, key="k"):
    """compareAndDelete on prevValue."""
    op = delete(t0, t1, idx, prev, out, code, p, key)
    op.prev_value = pv
    return op


def get(t0, t1, v=None, idx=None, out=OK, ei=None, p=0, key="k"):
    if out == OK:
        r = {"value": v, "index": idx, "etcd_index": ei}
    else:
        r = {"code": 100, "etcd_index": ei} if out == FAIL else {}
    return Op(p, key, "get", t0, t1 if out != UNKNOWN else None, out,
              result=r)


def missing(t0, t1, p=0, key="k", ei=None):
    return get(t0, t1, out=FAIL, p=p, key=key, ei=ei)


def lin(ops):
    rs = lz.check(ops)
    return all(r.ok for r in rs), rs


# ---- hand-made histories ----------------------------------------------------

LINEARIZABLE = {
    "sequential put/get/delete": [
        put(0, 1, "a", 3), get(2, 3, "a", 3), delete(4, 5, 4, ("a", 3)),
        missing(6, 7)],
    "concurrent puts, reads agree on the later one": [
        put(0, 5, "a", 3, p=1), put(1, 4, "b", 4, p=2),
        get(6, 7, "b", 4), get(8, 9, "b", 4)],
    "concurrent puts, the one that ended first wins last": [
        put(0, 2, "a", 4, p=1), put(1, 5, "b", 3, p=2),
        get(6, 7, "a", 4)],
    "read concurrent with a put may see either": [
        put(0, 1, "a", 3), put(2, 6, "b", 4, p=1), get(3, 4, "a", 3, p=2),
        get(5, 7, "b", 4, p=3), get(8, 9, "b", 4)],
    "create, then create refused": [
        create(0, 1, "a", 3), create(2, 3, "b", out=FAIL, code=105)],
    "CAS on prevValue and prevIndex": [
        put(0, 1, "a", 3), cas(2, 3, "b", pv="a", idx=4, prev=("a", 3)),
        cas(4, 5, "c", pi=4, idx=5, prev=("b", 4)),
        cas(6, 7, "d", pi=4, out=FAIL), cas(8, 9, "e", pv="b", out=FAIL),
        get(10, 11, "c", 5)],
    "CAS on a missing key fails with 100": [
        cas(0, 1, "x", pv="a", out=FAIL, code=100), missing(2, 3)],
    "unknown write observed later must have happened": [
        put(0, 1, "a", 3), put(2, None, "b", out=UNKNOWN, p=1),
        get(5, 6, "b", 4), get(7, 8, "b", 4)],
    "unknown write that never happened": [
        put(0, 1, "a", 3), put(2, None, "b", out=UNKNOWN, p=1),
        get(5, 6, "a", 3), get(7, 8, "a", 3)],
    "unknown write that happened late (after other reads)": [
        put(0, 1, "a", 3), put(2, None, "b", out=UNKNOWN, p=1),
        get(5, 6, "a", 3), get(7, 8, "b", 9)],
    "unobserved unknown write explains a refused create": [
        put(0, None, "a", out=UNKNOWN, p=1),
        create(5, 6, "b", out=FAIL, code=105)],
    "unobserved unknown delete explains a missing key": [
        put(0, 1, "a", 3), delete(2, None, out=UNKNOWN, p=1),
        missing(5, 6)],
    "unknown CAS on an index nobody saw": [
        put(0, None, "a", out=UNKNOWN, p=1),
        cas(1, None, "b", pi=7, out=UNKNOWN, p=2), get(5, 6, "b", 8)],
    "read binds the index of an unknown write": [
        put(0, None, "a", out=UNKNOWN, p=1), get(2, 3, "a", 6),
        cas(4, 5, "b", pi=6, idx=7, prev=("a", 6)), get(6, 7, "b", 7)],
    "compareAndDelete on the current value, refused on another": [
        put(0, 1, "a", 3), cad(2, 3, "x", out=FAIL),
        cad(4, 5, "a", 4, ("a", 3)), missing(6, 7)],
    "two keys are independent": [
        put(0, 1, "a", 3, key="x"), put(0, 1, "b", 4, key="y"),
        get(2, 3, "a", 3, key="x"), get(2, 3, "b", 4, key="y")],
    "failed ops at equal boundaries count as concurrent": [
        put(0, 2, "a", 3), get(2, 3, "a", 3)],
}

NOT_LINEARIZABLE = {
    "stale read": [
        put(0, 1, "a", 3), put(2, 3, "b", 4), get(4, 5, "a", 3)],
    "read of a value never written": [
        put(0, 1, "a", 3), get(2, 3, "zz", 3)],
    "acknowledged write lost": [
        put(0, 1, "a", 3), missing(2, 3)],
    "two CAS succeed on the same prevValue": [
        put(0, 1, "a", 3), cas(2, 5, "b", pv="a", idx=4, p=1),
        cas(2, 5, "c", pv="a", idx=5, p=2)],
    "value seen before its write started": [
        get(0, 1, "a", 3), put(2, 3, "a", 3)],
    "two creates succeed": [
        create(0, 1, "a", 3), create(2, 3, "b", 4)],
    "CAS succeeds with a wrong prevIndex": [
        put(0, 1, "a", 3), cas(2, 3, "b", pi=2, idx=4)],
    "CAS refused although its compare holds": [
        put(0, 1, "a", 3), cas(2, 3, "b", pv="a", out=FAIL)],
    "read goes back after an unknown write was seen": [
        put(0, 1, "a", 3), put(2, None, "b", out=UNKNOWN, p=1),
        get(5, 6, "b", 4), get(7, 8, "a", 3)],
    "read index differs from the write's": [
        put(0, 1, "a", 3), get(2, 3, "a", 5)],
    "prevNode in a put answer is wrong": [
        put(0, 1, "a", 3), put(2, 3, "b", 4, prev=("x", 3))],
    "put answer claims no prevNode on an existing key": [
        put(0, 1, "a", 3), put(2, 3, "b", 4, prev=None)],
    "delete refused with 100 on an existing key": [
        put(0, 1, "a", 3), delete(2, 3, out=FAIL, code=100)],
    "unknown write cannot explain a refused create before it started": [
        create(0, 1, "b", out=FAIL, code=105),
        put(2, None, "a", out=UNKNOWN, p=1)],
    "compareAndDelete succeeds on a value the key does not hold": [
        put(0, 1, "a", 3), put(2, 3, "b", 4), cad(4, 5, "a", 5)],
    "compareAndDelete refused although the value matches": [
        put(0, 1, "a", 3), cad(2, 3, "a", out=FAIL)],
    "only one of two keys is broken": [
        put(0, 1, "a", 3, key="x"), get(2, 3, "a", 3, key="x"),
        put(0, 1, "b", 4, key="y"), missing(2, 3, key="y")],
}


def hand_made():
    for name, ops in LINEARIZABLE.items():
        ok, rs = lin(ops)
        expect(ok, "linearizable: %s" % name, repr(rs))
    for name, ops in NOT_LINEARIZABLE.items():
        ok, rs = lin(ops)
        expect(not ok, "violation found: %s" % name, repr(rs))
    ok, rs = lin(NOT_LINEARIZABLE["only one of two keys is broken"])
    bad = [r.key for r in rs if not r.ok]
    expect(bad == ["y"], "the violation is reported on the right key",
           repr(rs))


# ---- brute force cross-check -------------------------------------------------

def brute(ops):
    """Linearizable? by trying every subset of unknown operations and every
    order that respects real time."""
    ops = [o for o in ops if not (o.outcome == UNKNOWN and o.f == "get")]
    must = [o for o in ops if o.outcome != UNKNOWN]
    maybe = [o for o in ops if o.outcome == UNKNOWN]
    for n in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, n):
            chosen = must + list(extra)
            for perm in itertools.permutations(chosen):
                if _respects_time(perm) and _replays(perm):
                    return True
    return False


def _respects_time(perm):
    for i, a in enumerate(perm):
        for b in perm[i + 1:]:
            if b.complete is not None and b.complete < a.invoke:
                return False
    return True


def _replays(perm):
    st = (None, None)
    for op in perm:
        st = lz.step(st, op)
        if st is None:
            return False
    return True


def simulate(rng, n_ops, n_procs=3, p_unknown=0.25, p_mutate=0.4,
             span=10.0):
    """A history of one key made by running ops against a true register
    at random points of their intervals; then maybe one result is
    corrupted, so some histories are not linearizable."""
    ops, points = [], []
    for i in range(n_ops):
        t0 = rng.uniform(0, span)
        t1 = t0 + rng.uniform(0.1, 4)
        ops.append((t0, t1, rng.random() < p_unknown))
        points.append(rng.uniform(t0, t1))
    order = sorted(range(n_ops), key=lambda i: points[i])
    val, idx, nxt = None, None, 3
    out = [None] * n_ops
    seen = []
    log = []
    for i in order:
        t0, t1, unk = ops[i]
        f = rng.choice(["put", "create", "cas", "cas", "delete", "get",
                        "get"])
        v = "v%d" % i
        cond_v = cond_i = None
        if f == "cas":
            if seen and rng.random() < 0.5:
                cond_v = rng.choice(seen)[0]
            elif seen:
                cond_i = rng.choice(seen)[1]
            else:
                cond_v = "nope"
        applied = (not unk) or rng.random() < 0.5
        o = Op(i % n_procs, "k", f, t0, None if unk else t1,
               UNKNOWN if unk else OK, value=v if f in (
                   "put", "create", "cas") else None,
               prev_value=cond_v, prev_index=cond_i or 0)
        prev = (val, idx) if val is not None else None
        if f == "get":
            if val is None:
                o.outcome, o.result = FAIL, {"code": 100}
            else:
                o.result = {"value": val, "index": idx}
            if unk:
                o.outcome, o.result = UNKNOWN, {}
        elif not applied:
            pass  # an unknown write that never took effect
        elif f == "put" or (f == "create" and val is None) or (
                f == "cas" and val is not None and
                (cond_v is None or cond_v == val) and
                (cond_i is None or cond_i == idx)) or (
                f == "delete" and val is not None):
            action = {"put": "set", "create": "create",
                      "cas": "compareAndSwap", "delete": "delete"}[f]
            log.append({"index": nxt, "action": action, "key": "k",
                        "value": None if f == "delete" else v,
                        "prev": val})
            if f == "delete":
                val, idx = None, None
            else:
                val, idx = v, nxt
                seen.append((val, idx))
            if not unk:
                o.result = {"index": nxt, "prev": prev}
            nxt += 1
        else:
            code = {"create": 105, "cas": 101 if val is not None else 100,
                    "delete": 100}[f]
            if not unk:
                o.outcome, o.result = FAIL, {"code": code}
            else:
                o.outcome = UNKNOWN  # refused: same as never happened
        out[i] = o
    known = [o for o in out if o.outcome != UNKNOWN]
    if known and rng.random() < p_mutate:
        victim = rng.choice(known)
        if victim.f == "get" and victim.outcome == OK and seen:
            victim.result = dict(victim.result, value=rng.choice(seen)[0])
        elif victim.outcome == OK and victim.f != "get":
            victim.outcome, victim.result = FAIL, {"code": 101}
        elif victim.outcome == FAIL:
            victim.outcome = OK
            victim.result = {"value": "v0", "index": 3} \
                if victim.f == "get" else {"index": 50}
    simulate.log = log
    return out


def cross_check(n_hist=400, seed=7):
    rng = random.Random(seed)
    agree = disagree = n_bad = 0
    first = None
    for _ in range(n_hist):
        ops = simulate(rng, rng.randint(2, 6))
        want = brute(ops)
        got = lz.check_key("k", list(ops)).ok
        # the event log only removes choices: it may find more violations
        # (a corrupted answer the log contradicts), never fewer
        with_log = lz.check(list(ops), log=simulate.log)[0].ok
        if want == got and (want or not with_log):
            agree += 1
        else:
            disagree += 1
            first = first or (want, got, ops)
        n_bad += not want
    expect(disagree == 0, "search agrees with brute force on %d random "
           "histories (%d not linearizable)" % (n_hist, n_bad),
           "first disagreement: brute=%s search=%s\n  %s" % (
               first[0], first[1], "\n  ".join(map(repr, first[2])))
           if first else "")
    expect(n_bad > n_hist // 10 and n_bad < n_hist * 9 // 10,
           "the random histories mix both verdicts (%d/%d bad)" %
           (n_bad, n_hist))


def scale():
    """A long, concurrent, linearizable history with unknowns is checked
    quickly (the harness checks thousands of operations per key)."""
    rng = random.Random(11)
    ops = []
    for chunk in range(60):
        ops += simulate(rng, 40, n_procs=6, p_unknown=0.1, p_mutate=0)
    t = time.monotonic()
    bad = 0
    for chunk in range(60):
        part = ops[chunk * 40:(chunk + 1) * 40]
        for o in part:
            o.key = "k%d" % chunk
        if not lz.check_key(part[0].key, part).ok:
            bad += 1
    dt = time.monotonic() - t
    expect(bad == 0 and dt < 20, "60 concurrent 40-op histories with "
           "unknowns checked in %.2f s, all linearizable" % dt,
           "%d reported bad" % bad)
    n_ok = 0
    for seed in range(30):
        rng = random.Random(seed)
        ops = simulate(rng, 8, n_procs=4, p_unknown=0.4, p_mutate=0)
        n_ok += lz.check(ops, log=simulate.log)[0].ok
    expect(n_ok == 30, "true histories with 40%% unknowns pass with the "
           "event log (%d/30)" % n_ok)
    long = simulate(rng, 3000, n_procs=8, p_unknown=0.05, p_mutate=0,
                    span=3000 * 1.0)
    log = simulate.log
    t = time.monotonic()
    r = lz.check(long, log=log)[0]
    dt = time.monotonic() - t
    expect(r.ok and not r.exhausted and dt < 30,
           "one 3000-op history on one key (10%% unknown) checked with the "
           "event log in %.2f s" % dt, repr(r))
    bad = list(long)
    for i, o in enumerate(bad):
        if o.f == "get" and o.outcome == OK and i > 1500:
            o.result = dict(o.result, value=long[10].value or "x")
            break
    r = lz.check(bad, log=log)[0]
    expect(not r.ok, "a stale read deep in the 3000-op history is found",
           repr(r))


# ---- index, lost write, log and watch checks --------------------------------

def ev(i, action, key, value, prev="-"):
    e = {"index": i, "action": action, "key": key, "value": value}
    if prev != "-":
        e["prev"] = prev
    return e


def other_checks():
    good = [put(0, 1, "a", 3), put(2, 3, "b", 4), get(4, 5, "b", 4, ei=4)]
    expect(checks.check_indexes(good) == [], "indexes: fine history")
    dup = [put(0, 1, "a", 3), put(2, 3, "b", 3, key="j")]
    expect(checks.check_indexes(dup) != [], "indexes: duplicate found")
    back = [put(0, 1, "a", 5), put(2, 3, "b", 4, key="j")]
    expect(checks.check_indexes(back) != [],
           "indexes: index going back in real time found")
    conc = [put(0, 3, "a", 5), put(1, 4, "b", 4, key="j")]
    expect(checks.check_indexes(conc) == [],
           "indexes: concurrent writes may take either order")
    stale = [put(0, 1, "a", 5), get(2, 3, "x", 2, ei=4, key="j")]
    expect(checks.check_indexes(stale) != [],
           "indexes: read with an older X-Etcd-Index found")

    log = [ev(3, "set", "/k", "a", None), ev(4, "set", "/k", "b", "a"),
           ev(5, "delete", "/k", None, "b"), ev(6, "create", "/j", "c")]
    expect(checks.check_log(log) == [], "event log: fine log")
    expect(checks.check_log(log[:1] + log[2:]) != [],
           "event log: gap found")
    bad = [dict(e) for e in log]
    bad[2]["prev"] = "a"
    expect(checks.check_log(bad) != [], "event log: wrong prevNode found")

    ops = [put(0, 1, "a", 3, key="/k"), put(2, 3, "b", 4, key="/k"),
           delete(4, 5, 5, key="/k"), create(6, 7, "c", 6, key="/j")]
    expect(checks.check_lost(ops, log) == [], "lost writes: none lost")
    expect(checks.check_lost(ops, log[:1] + log[2:]) != [],
           "lost writes: missing acknowledged write found")
    wrong = list(log)
    wrong[1] = ev(4, "set", "/k", "B", "a")
    expect(checks.check_lost(ops, wrong) != [],
           "lost writes: value changed found")
    twice = log + [ev(7, "set", "/k", "b", None)]
    expect(checks.check_lost(ops, twice) != [],
           "lost writes: write applied twice found")
    refused = ops + [create(8, 9, "z", out=FAIL, key="/j")]
    expect(checks.check_lost(refused, log + [ev(7, "set", "/j", "z")]) != [],
           "lost writes: refused write that was applied found")

    expect(checks.check_logs_agree({"h1": log, "h2": list(log)}) == [],
           "logs agree: same logs")
    expect(checks.check_logs_agree({"h1": log, "h2": log[:-1]}) != [],
           "logs agree: shorter log found")
    expect(checks.check_logs_agree({"h1": log, "h2": log[2:]}) == [],
           "logs agree: a host restored from a snapshot keeps a suffix")
    alt = [dict(e) for e in log]
    alt[3]["value"] = "zz"
    expect(checks.check_logs_agree({"h1": log, "h2": alt[2:]}) != [],
           "logs agree: a differing event in the shared part found")
    gap = log[:1] + log[2:]  # index 4 missing
    expect(checks.check_watch("h1", gap, log, jumps=[(4, 5)]) == [],
           "watch: a gap announced by a 401 (the host's history starts "
           "at 5) is allowed")
    expect(checks.check_watch("h1", gap, log, jumps=[(4, 6)]) != [],
           "watch: a 401 that does not match the gap excuses nothing")

    expect(checks.check_watch("h1", log, log) == [], "watch: full stream")
    expect(checks.check_watch("h1", log[1:], log, from_index=4) == [],
           "watch: stream from a later index")
    expect(checks.check_watch("h1", log[:2] + log[3:], log) != [],
           "watch: gap found")
    expect(checks.check_watch("h1", log[:2] + log[1:], log) != [],
           "watch: duplicate found")
    expect(checks.check_watch("h1", [log[1], log[0]] + log[2:], log) != [],
           "watch: reordering found")
    expect(checks.check_watch("h1", log[:-1], log) != [],
           "watch: stream that stopped early found")
    alt = [dict(e) for e in log]
    alt[1]["value"] = "zz"
    expect(checks.check_watch("h1", alt, log) != [],
           "watch: different event found")


def main():
    t = time.monotonic()
    hand_made()
    other_checks()
    cross_check()
    scale()
    print("%d passed, %d failed (%.1f s)" % (passed, len(failed),
                                            time.monotonic() - t))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
