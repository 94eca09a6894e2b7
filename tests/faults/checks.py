"""checks - the history checks besides linearizability (stdlib only).

  indexes      every acknowledged write has its own modifiedIndex, indexes
               grow with real time (a write that starts after another ended
               gets a larger index), and a read that starts after a write
               ended reports X-Etcd-Index >= that write's index.
  lost writes  every acknowledged write is in the final event log, at its
               index, with its key, action and value; no write appears twice.
  event log    the log is gapless and replays: each event's prevNode is what
               the previous event on that key left behind.
  watches      each host's watch stream is a gapless, in-order run of the
               event log, identical to it event by event, reaching its end.
  logs agree   every host serves the same event log.

Each check returns a list of human-readable problems (empty when fine).
Events are dicts: index, action, key, value (None for deletes), and
prev (value or None) when the event had a prevNode."""

import bisect

from linearizability import FAIL, OK, UNKNOWN, WRITES


def acked_writes(ops):
    return [op for op in ops if op.f in WRITES and op.outcome == OK]


def check_indexes(ops):
    problems = []
    acked = acked_writes(ops)
    by_index = {}
    for op in acked:
        idx = op.result.get("index")
        if not isinstance(idx, int) or idx <= 0:
            problems.append("acknowledged write without an index: %r" % op)
            continue
        if idx in by_index:
            problems.append("index %d acknowledged twice: %r and %r" %
                            (idx, by_index[idx], op))
        by_index[idx] = op
    # real-time order: prefix maximum of indexes by completion time
    done = sorted((op.complete, op.result["index"]) for op in acked
                  if isinstance(op.result.get("index"), int))
    ends = [t for t, _ in done]
    pmax, m = [], 0
    for _, idx in done:
        m = max(m, idx)
        pmax.append(m)

    def before(t):
        i = bisect.bisect_left(ends, t)  # strictly earlier ends
        return pmax[i - 1] if i else 0
    for op in acked:
        idx = op.result.get("index")
        if isinstance(idx, int) and before(op.invoke) >= idx:
            problems.append("write %r got index %d although a write that "
                            "ended before it started had %d" %
                            (op, idx, before(op.invoke)))
    for op in ops:
        if op.f != "get" or op.outcome == UNKNOWN:
            continue
        ei = op.result.get("etcd_index")
        if isinstance(ei, int) and before(op.invoke) > ei:
            problems.append("quorum read %r saw X-Etcd-Index %d below %d, "
                            "acknowledged before it started" %
                            (op, ei, before(op.invoke)))
    return problems


def check_log(log):
    """The event log itself: strictly increasing, gapless, replayable."""
    problems = []
    last = {}
    prev_idx = None
    for ev in log:
        i = ev["index"]
        if prev_idx is not None and i != prev_idx + 1:
            problems.append("event log jumps from %d to %d" % (prev_idx, i))
        prev_idx = i
        k = ev["key"]
        if "prev" in ev and k in last and ev["prev"] != last[k]:
            problems.append("event %d on %s has prevNode %r but the key "
                            "held %r" % (i, k, ev["prev"], last[k]))
        last[k] = ev["value"] if ev["action"] not in ("delete", "expire",
                                                     "compareAndDelete") \
            else None
    return problems


_ACTIONS = {"put": ("set", "update"), "create": ("create",),
            "cas": ("compareAndSwap",),
            "delete": ("delete", "compareAndDelete")}


def check_lost(ops, log):
    problems = []
    by_index = {ev["index"]: ev for ev in log}
    writes_of = {}
    for ev in log:
        if ev["value"] is not None:
            writes_of.setdefault((ev["key"], ev["value"]), []).append(ev)
    for op in acked_writes(ops):
        ev = by_index.get(op.result.get("index"))
        if ev is None:
            problems.append("acknowledged write lost (index %s not in the "
                            "log): %r" % (op.result.get("index"), op))
            continue
        want = _ACTIONS[op.f]
        if ev["key"] != op.key or ev["action"] not in want or \
                (op.f != "delete" and ev["value"] != op.value):
            problems.append("acknowledged write %r does not match event %r"
                            % (op, ev))
    for op in ops:
        if op.f in ("put", "create", "cas") and op.value is not None:
            evs = writes_of.get((op.key, op.value), [])
            if len(evs) > 1:
                problems.append("write applied %d times: %r (indexes %s)" %
                                (len(evs), op, [e["index"] for e in evs]))
            if evs and op.outcome == FAIL:
                problems.append("write refused with %s but applied at %d: %r"
                                % (op.result.get("code"), evs[0]["index"],
                                   op))
    return problems


def check_logs_agree(logs):
    """logs: {host: [events]}. Every host must serve the same events for
    the indexes it keeps, and keep a suffix of the log: all of it, or
    (after a snapshot restore, which carries a shorter history) the last
    part, up to the same last index."""
    problems = []
    names = sorted(logs)
    if not names or not any(logs.values()):
        return ["no event log collected"]
    seen = {}
    last = max(evs[-1]["index"] for evs in logs.values() if evs)
    for n in names:
        evs = logs[n]
        if not evs:
            problems.append("%s serves no events" % n)
            continue
        if evs[-1]["index"] != last:
            problems.append("%s's log ends at %d, others at %d" %
                            (n, evs[-1]["index"], last))
        for a, b in zip(evs, evs[1:]):
            if b["index"] != a["index"] + 1:
                problems.append("%s's log jumps from %d to %d" %
                                (n, a["index"], b["index"]))
                break
        for ev in evs:
            other = seen.setdefault(ev["index"], (n, ev))
            if other[1] != ev:
                problems.append("%s and %s differ at index %d: %r vs %r" %
                                (other[0], n, ev["index"], other[1], ev))
                break
    return problems


def check_watch(host, seen, log, from_index=None, jumps=()):
    """seen: the events host's watch delivered, in order. It must be the
    slice of log starting at from_index (or its first event) and running to
    the end of log, with nothing missing, reordered or duplicated. jumps:
    (asked, oldest kept) for each 401 the watch got: the one gap etcd
    allows, announced to the client, after which it resumes there."""
    allowed = {(a, b) for a, b in jumps}
    problems = []
    if not log:
        return ["%s: empty event log" % host] if seen else []
    by_index = {ev["index"]: ev for ev in log}
    start = from_index if from_index is not None else log[0]["index"]
    expect = start
    for ev in seen:
        i = ev["index"]
        if i < expect:
            problems.append("%s: watch delivered %d again or out of order "
                            "(expected %d)" % (host, i, expect))
            continue
        if i > expect and not _announced(allowed, expect, i):
            problems.append("%s: watch skipped %d..%d" % (host, expect,
                                                          i - 1))
        want = by_index.get(i)
        if want is None or _strip(want) != _strip(ev):
            problems.append("%s: watch event %r differs from the log's %r" %
                            (host, ev, want))
        expect = i + 1
    end = log[-1]["index"]
    if expect <= end:
        problems.append("%s: watch stopped at %d, the log goes to %d" %
                        (host, expect - 1, end))
    return problems


def _announced(allowed, expect, got):
    """A gap from expect to got is fine only if the watch asked for expect
    and a 401 said the history now starts at got."""
    return (expect, got) in allowed


def _strip(ev):
    return (ev["index"], ev["action"], ev["key"], ev["value"])


def summary_counts(ops):
    out = {}
    for op in ops:
        k = "%s.%s" % (op.f, op.outcome)
        out[k] = out.get(k, 0) + 1
    return out


__all__ = ["check_indexes", "check_log", "check_lost", "check_logs_agree",
           "check_watch", "summary_counts", "acked_writes", "OK", "FAIL",
           "UNKNOWN"]
