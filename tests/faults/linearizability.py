"""linearizability - a Wing-Gong/Lowe linearizability checker for histories
of etcd v2 operations on single keys (stdlib only).

Each key is a register with compare-and-swap; keys are independent, so the
history is checked one key at a time (P-compositionality). The search is
Lowe's just-in-time linearization with memoization of (set of linearized
operations, register state).

Operations (class Op) carry their invoke and complete times and an outcome:
  ok       the server answered with success; result holds what it said
  fail     the server answered with a definite etcd error (1xx: the command
           was applied and refused, or was never a write), code in result
  unknown  a timeout, a transport error or a 5xx: a write may or may not
           have taken effect, at any time after its invocation.

Register state is (value, modifiedIndex); value None means "no key", and
modifiedIndex None means "not known" (the key was last written by an
operation whose answer was lost), which matches any prevIndex/read index.

Unknown writes are handled soundly in two passes. Values are unique per
write, so a read (or a prevNode) that shows an unknown write's value proves
the write happened before that read ended: such writes become required with
that read's end as their deadline. Unknown writes nobody observed are left
out in the first, fast pass; a linearization found without them is a valid
one (they simply did not happen). Only if that pass fails is the history
searched again with them as optional operations (may take effect any time
after their invocation, or never), and only that verdict is final.
"""

import bisect
import itertools

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
WRITES = ("put", "create", "cas", "delete")

# etcd codes that mean "refused, state unchanged" for these operations.
E_NOT_FOUND, E_TEST_FAILED, E_NODE_EXIST = 100, 101, 105

_ids = itertools.count(1)


class Op:
    """One client operation on one key.

    f: put | create | cas | delete | get
    value: the value written (put/create/cas); unique per write
    prev_value / prev_index: CAS (or compareAndDelete) conditions (None / 0
      when not given)
    result (ok): index = node.modifiedIndex; value (get); prev = (value,
      modifiedIndex) of prevNode or None; etcd_index = X-Etcd-Index
    result (fail): code = etcd errorCode
    """

    __slots__ = ("id", "process", "key", "f", "value", "prev_value",
                 "prev_index", "invoke", "complete", "outcome", "result",
                 "host")

    def __init__(self, process, key, f, invoke, complete=None,
                 outcome=UNKNOWN, value=None, prev_value=None, prev_index=0,
                 result=None, host=None):
        self.id = next(_ids)
        self.process, self.key, self.f = process, key, f
        self.value, self.prev_value, self.prev_index = (value, prev_value,
                                                        prev_index)
        self.invoke, self.complete = invoke, complete
        self.outcome = outcome
        self.result = result or {}
        self.host = host

    def to_dict(self):
        return {s: getattr(self, s) for s in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        op = cls(d["process"], d["key"], d["f"], d["invoke"], d["complete"],
                 d["outcome"], d.get("value"), d.get("prev_value"),
                 d.get("prev_index") or 0, d.get("result"), d.get("host"))
        return op

    def __repr__(self):
        args = []
        if self.value is not None:
            args.append("v=%r" % self.value)
        if self.prev_value is not None:
            args.append("prevValue=%r" % self.prev_value)
        if self.prev_index:
            args.append("prevIndex=%d" % self.prev_index)
        end = "inf" if self.complete is None else "%.3f" % self.complete
        return "#%d p%s %s %s(%s) [%.3f, %s] %s %s" % (
            self.id, self.process, self.key, self.f, ", ".join(args),
            self.invoke, end, self.outcome, self.result)


# ---- the model --------------------------------------------------------------

def _prev_matches(state, prev):
    """prevNode in a successful answer must be the register's content."""
    val, idx = state
    if prev is None:
        return val is None
    pval, pidx = prev
    return val == pval and (idx is None or pidx is None or idx == pidx)


def _compare_can_pass(state, op):
    val, idx = state
    if val is None:
        return False
    if op.prev_value is not None and val != op.prev_value:
        return False
    if op.prev_index and idx is not None and idx != op.prev_index:
        return False
    return True


def _compare_can_fail(state, op):
    val, idx = state
    if val is None:
        return False
    if op.prev_value is not None and val != op.prev_value:
        return True
    # an unknown index may differ from any prevIndex
    return bool(op.prev_index) and (idx is None or idx != op.prev_index)


def step(state, op):
    """The register state after op takes effect in state, or None when op
    cannot take effect there with the outcome it had."""
    val, idx = state
    f, out, r = op.f, op.outcome, op.result
    if out == OK:
        new_idx = r.get("index")
        if f == "get":
            if val != r.get("value"):
                return None
            if idx is not None and new_idx is not None and idx != new_idx:
                return None
            return (val, new_idx if idx is None else idx)
        if "prev" in r and not _prev_matches(state, r["prev"]):
            return None
        if f == "put":
            return (op.value, new_idx)
        if f == "create":
            return (op.value, new_idx) if val is None else None
        if f == "cas":
            return (op.value, new_idx) if _compare_can_pass(state, op) \
                else None
        if f == "delete":
            return (None, None) if _compare_can_pass(state, op) else None
        raise ValueError("unknown op %r" % f)
    if out == FAIL:
        code = r.get("code")
        if code == E_NOT_FOUND:
            return state if val is None else None
        if code == E_NODE_EXIST and f == "create":
            return state if val is not None else None
        if code == E_TEST_FAILED and f in ("cas", "delete"):
            return state if _compare_can_fail(state, op) else None
        return state  # other refusals leave the register alone
    # unknown: if it takes effect at all, it succeeded (at an index the
    # event log may have told)
    new_idx = r.get("index")
    if f == "put":
        return (op.value, new_idx)
    if f == "create":
        return (op.value, new_idx) if val is None else None
    if f == "cas":
        return (op.value, new_idx) if _compare_can_pass(state, op) else None
    if f == "delete":
        return (None, None) if _compare_can_pass(state, op) else None
    return state


# ---- the search -------------------------------------------------------------

class _Entry:
    __slots__ = ("op", "bit", "is_call", "match", "prev", "next",
                 "optional", "optional_delete", "order")

    def __init__(self, op, bit, is_call, optional=False):
        self.op, self.bit, self.is_call = op, bit, is_call
        self.optional = optional
        self.optional_delete = False
        self.order = None
        self.match = self.prev = self.next = None


def _build(ops, deadlines, optional):
    """A doubly-linked list of call/return entries (with a head sentinel).

    Calls sort before returns at equal times (treated as concurrent).
    Returns of operations without a known end come after all others:
    required ones first, optional ones last."""
    events = []
    INF = float("inf")
    for bit, op in enumerate(ops):
        call = _Entry(op, 1 << bit, True)
        opt = op in optional
        ret = _Entry(op, 1 << bit, False, optional=opt)
        call.match, ret.match = ret, call
        end = deadlines.get(op.id, op.complete)
        if opt and op.f == "delete" and op.outcome == UNKNOWN and \
                op.prev_value is None and not op.prev_index:
            call.optional_delete = True
            call.order = (INF if end is None else end, op.id)
        events.append(((op.invoke, 0, 0), call))
        if end is None:
            events.append(((INF, 1, 2 if opt else 1), ret))
        else:
            events.append(((end, 1, 0), ret))
    events.sort(key=lambda e: e[0])
    head = _Entry(None, 0, False)
    cur = head
    for _, e in events:
        cur.next, e.prev = e, cur
        cur = e
    return head


def _lift(e):
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev
    r = e.match
    r.prev.next = r.next
    if r.next is not None:
        r.next.prev = r.prev


def _unlift(e):
    r = e.match
    r.prev.next = r
    if r.next is not None:
        r.next.prev = r
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


class Result:
    def __init__(self, key, ok, why="", ops=(), exhausted=False):
        # ok is None when the search ran out of budget: no verdict
        self.key, self.ok, self.why = key, None if exhausted else ok, why
        self.ops = list(ops)
        self.exhausted = exhausted  # search budget ran out: no verdict

    def __repr__(self):
        return "Result(%r, ok=%s%s%s)" % (
            self.key, self.ok,
            ", exhausted" if self.exhausted else "",
            (", " + self.why) if self.why else "")


class Budget:
    """Search steps left, shared by the searches of one check."""

    def __init__(self, steps):
        self.left = steps

    def spend(self):
        self.left -= 1
        return self.left >= 0


def search(ops, initial=(None, None), deadlines=None, optional=(),
           budget=None, finals=None):
    """Searches a linearization of ops (one key). Returns (ok, info):
    ok True/False, or None when the budget ran out; info is the list of
    operations still unlinearized at the deepest point on failure.

    deadlines: op id -> latest end time, for ops whose own end is unknown.
    optional: ops that may also never take effect; one that has not been
    linearized when its end comes is skipped (a decision undone on
    backtracking like any other).
    finals: a set to collect every state the register can end in; the
    search is then exhaustive instead of stopping at the first success."""
    budget = budget or Budget(2_000_000)
    head = _build(ops, deadlines or {}, set(optional))
    state, done = initial, 0
    cache = set()
    calls = []  # (call entry, state before, skipped?)
    entry = head.next
    deepest, stuck = -1, []
    while True:
        if head.next is None:  # everything linearized (or skipped)
            if finals is None:
                return True, []
            finals.add(state)
            entry = None
        elif not budget.spend():
            return None, []
        elif entry.is_call:
            new = step(state, entry.op)
            if new is not None and entry.optional_delete and \
                    _earlier_twin(head, entry):
                new = None
            if new is not None and _push(cache, calls, entry, state, new,
                                         done, False):
                state, done = new, done | entry.bit
                entry = head.next
                continue
            entry = entry.next
            continue
        elif entry.optional and _push(cache, calls, entry.match, state,
                                      state, done, True):
            done |= entry.bit
            entry = head.next
            continue
        elif len(calls) > deepest:
            deepest = len(calls)
            stuck = _pending(head)
        while True:  # backtrack to the last choice that has a sibling
            if not calls:
                return (bool(finals), stuck) if finals is not None \
                    else (False, stuck)
            call, state, skipped = calls.pop()
            done &= ~call.bit
            _unlift(call)
            if not skipped:
                entry = call.next
                break


def _earlier_twin(head, entry):
    """Unknown deletes of one key are interchangeable: of those that could
    take effect now, only the one with the earliest deadline is tried (any
    linearization using another can swap the two)."""
    e = head.next
    while e is not None and e.is_call:
        if e is not entry and e.optional_delete and \
                e.order < entry.order:
            return True
        e = e.next
    return False


def _push(cache, calls, call, state, new, done, skipped):
    key = (done | call.bit, new)
    if key in cache:
        return False
    cache.add(key)
    calls.append((call, state, skipped))
    _lift(call)
    return True


def _pending(head):
    out, e = [], head.next
    while e is not None and len(out) < 12:
        if e.is_call:
            out.append(e.op)
        e = e.next
    return out


def _observed_values(ops):
    """value -> earliest end time of an ok operation that shows it (a read,
    a prevNode, or a successful compare on that value)."""
    seen = {}

    def note(v, t):
        if v is not None and t is not None:
            seen[v] = min(seen.get(v, t), t)
    for op in ops:
        if op.outcome != OK:
            continue
        r = op.result
        if op.f == "get":
            note(r.get("value"), op.complete)
        if r.get("prev") is not None:
            note(r["prev"][0], op.complete)
        if op.f == "cas" and op.prev_value is not None:
            note(op.prev_value, op.complete)
    return seen


def _copy(op, **result):
    c = Op.from_dict(op.to_dict())
    c.id = op.id
    c.result = dict(op.result, **result)
    return c


class LogIndex:
    """What the server's event log tells about unknown writes, and index
    bounds from the acknowledged writes of all keys (the store index is
    one counter for the whole key space, ordered like the Raft log).

    log: events (dicts with index, action, key, value) of the whole run;
    ops: the whole history."""

    def __init__(self, log, ops, apply_window=None):
        # An unconditional delete's event does not name its client; its
        # window ends apply_window s after its invocation (an assumption
        # that can only make the check stricter).
        self.apply_window = apply_window
        self.by_value = {}
        self.deletes = {}
        for ev in log:
            if ev["value"] is not None and ev["action"] not in (
                    "delete", "compareAndDelete", "expire"):
                self.by_value[(ev["key"], ev["value"])] = ev
            else:
                self.deletes.setdefault(ev["key"], []).append(ev["index"])
        acked = [(op.result["index"], op.complete) for op in ops
                 if op.outcome == OK and op.f in WRITES and
                 isinstance(op.result.get("index"), int)]
        claimed = {i for op in ops for i in [op.result.get("index")]
                   if op.outcome == OK and op.f == "delete"}
        for k in self.deletes:
            self.deletes[k] = [i for i in self.deletes[k]
                               if i not in claimed]
        # suffix minimum of end times by index: an event with index i was
        # applied before any acknowledged write with a larger index ended.
        acked.sort()
        self._idx = [i for i, _ in acked]
        self._sufmin = [0.0] * len(acked)
        m = float("inf")
        for j in range(len(acked) - 1, -1, -1):
            m = min(m, acked[j][1])
            self._sufmin[j] = m
        by_end = sorted((t, i) for i, t in acked)
        self._ends = [t for t, _ in by_end]
        self._pmax, m = [], 0
        for _, i in by_end:
            m = max(m, i)
            self._pmax.append(m)

    def deadline_after(self, index):
        j = bisect.bisect_right(self._idx, index)
        return self._sufmin[j] if j < len(self._sufmin) else None

    def floor_before(self, t):
        """Largest index acknowledged before time t (0 if none)."""
        j = bisect.bisect_left(self._ends, t)
        return self._pmax[j - 1] if j else 0


def _min_end(*ts):
    ts = [t for t in ts if t is not None]
    return min(ts) if ts else None


def check_key(key, ops, budget=2_000_000, logidx=None):
    """Checks one key's operations. Returns a Result.

    Without logidx, unknown writes are resolved by the search alone (fine
    for short histories). With a LogIndex (the server's event log), an
    unknown write is known to have happened, at its index and before the
    first acknowledged write with a larger index ended, or to have never
    happened; the log itself is verified by the checks in checks.py."""
    ops = [op for op in ops
           if not (op.outcome == UNKNOWN and op.f not in WRITES)]
    ops.sort(key=lambda o: o.invoke)
    seen = _observed_values(ops)
    deadlines, unobserved, maybe, kept = {}, [], [], []
    for op in ops:
        if op.outcome != UNKNOWN:
            kept.append(op)
            continue
        if op.f != "delete" and op.value in seen and \
                seen[op.value] < op.invoke:
            return Result(key, False, "value %r seen before its write "
                          "%r was invoked" % (op.value, op), [op])
        if logidx is not None:
            op = _resolve(op, logidx, seen, deadlines, maybe)
            if op is not None:
                kept.append(op)
            continue
        kept.append(op)
        if op.f == "delete":
            maybe.append(op)
        elif op.value in seen:
            deadlines[op.id] = seen[op.value]
        else:
            unobserved.append(op)
    drop = set(unobserved)
    bud = Budget(budget)
    ok, info = search([op for op in kept if op not in drop],
                      deadlines=deadlines, optional=maybe, budget=bud)
    if ok:
        return Result(key, True)
    # No quick linearization: search exhaustively, one quiescent segment
    # at a time, carrying every state a segment can end in. This bounds
    # the work by the concurrency, not the history's length, and points at
    # the segment where the violation is.
    bud = Budget(budget)
    optional = maybe + unobserved
    states = {(None, None)}
    for seg in segments(kept, deadlines):
        finals = set()
        for st in states:
            ok, info = search(seg, st, deadlines, optional, bud, finals)
            if ok is None:
                return Result(key, True, "search budget exhausted",
                              exhausted=True)
        if not finals:
            return Result(key, False, "no linearization of these %d "
                          "operations from any of the states %s" %
                          (len(seg), sorted(states, key=repr)[:4]),
                          seg[:20])
        states = finals
    return Result(key, True)


def segments(ops, deadlines):
    """Splits ops (sorted by invocation) where no operation is pending:
    every op of a segment starts after all ops of earlier segments ended
    (their deadline, for ops with no end; never, for ops with neither)."""
    out, cur, reach = [], [], None
    inf = float("inf")
    for op in ops:
        if cur and op.invoke > reach:
            out.append(cur)
            cur, reach = [], None
        end = deadlines.get(op.id, op.complete)
        end = inf if end is None else end
        cur.append(op)
        reach = end if reach is None else max(reach, end)
    if cur:
        out.append(cur)
    return out


def _resolve(op, logidx, seen, deadlines, maybe):
    """An unknown write with the event log's help: None when it never took
    effect, else the op (maybe with its index), its deadline set."""
    if op.f == "delete":
        floor = logidx.floor_before(op.invoke)
        cands = [i for i in logidx.deletes.get(op.key, []) if i > floor]
        if not cands:
            return None
        d = logidx.deadline_after(max(cands))
        if logidx.apply_window is not None:
            d = _min_end(d, op.invoke + logidx.apply_window)
        if d is not None:
            deadlines[op.id] = d
        maybe.append(op)
        return op
    ev = logidx.by_value.get((op.key, op.value))
    if ev is None:
        return None
    op = _copy(op, index=ev["index"])
    d = _min_end(seen.get(op.value), logidx.deadline_after(ev["index"]))
    if d is not None:
        deadlines[op.id] = d
    return op


def check(ops, budget=2_000_000, log=None, apply_window=None):
    """Checks a whole history (many keys): a list of Results, one per key.
    log: the server's event log for the run, if known. budget: search
    steps per key, at least 200 per operation."""
    logidx = LogIndex(log, ops, apply_window) if log is not None else None
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    return [check_key(k, v, max(budget, 200 * len(v)), logidx)
            for k, v in sorted(by_key.items())]
