"""diffcore - the engine of the differential suite (test_differential.py).

A case is a list of steps (requests, async watches, sleeps) run against two
servers, a reference (real etcd) and a target (ovld, or a second etcd to
validate the harness), step by step in the same order. Every response is
normalized (indexes become deltas from a per-case base index, prefixes and
ports become symbols, children are sorted) and compared; ttl/expiration are
compared with a tolerance. Known, deliberate differences are explicit in
the steps that meet them (ref_path, cmp modes, `known` predicates).
"""

import datetime
import json
import os
import re
import time
import urllib.parse

import ovldlab

KEYS = "/v2/keys"
BIG = 2 ** 53


# ---- step constructors -------------------------------------------------

def R(method, path, q=None, f=None, body=None, ctype=None, headers=None,
      name=None, st=None, cmp="full", ref_path=None, known=None, repeat=1,
      chunked=False, expect100=False):
    """One request. q: query (dict, list of pairs or raw string); f: form
    body (dict or list of pairs); body/ctype: a raw body. st: status both
    sides must return. cmp: full | status | keys | text | none.
    chunked: chunked request body; expect100: curl's Expect: 100-continue
    handshake on a fresh connection (whether 100 came is compared)."""
    return dict(kind="req", method=method, path=path, q=q, f=f, body=body,
                ctype=ctype, headers=headers, name=name, st=st, cmp=cmp,
                ref_path=ref_path, known=known, repeat=repeat,
                chunked=chunked, expect100=expect100)


def GET(path, q=None, **kw):
    return R("GET", path, q=q, **kw)


def PUT(path, q=None, f=None, **kw):
    return R("PUT", path, q=q, f=f, **kw)


def POST(path, q=None, f=None, **kw):
    return R("POST", path, q=q, f=f, **kw)


def DEL(path, q=None, **kw):
    return R("DELETE", path, q=q, **kw)


def W(path, q=None, name="w", stream=0, known=None):
    """Starts a watch (GET ...wait=true) in the background; returns after
    its response headers arrived (the watcher is registered)."""
    q = dict(q or {})
    q.setdefault("wait", "true")
    if stream:
        q["stream"] = "true"
    return dict(kind="watch", path=path, q=q, name=name, stream=stream,
                known=known)


def C(name="w", st=200, timeout=10.0, known=None):
    """Collects the result of watch `name` (status, headers, events)."""
    return dict(kind="collect", name=name, st=st, timeout=timeout,
                known=known)


def S(seconds):
    return dict(kind="sleep", seconds=seconds)


def X(name="w"):
    """Cancels watch `name`: the client goes away (closes its socket)."""
    return dict(kind="cancel", name=name)


# Values computed per server from earlier answers of the same case.
def IDX(name, field="node.modifiedIndex", add=0):
    def f(ctx):
        return str(int(ctx.dig(name, field)) + add)
    return f


def HDR(name, add=0):
    def f(ctx):
        return str(int(ctx.headers[name]["x-etcd-index"]) + add)
    return f


def KEYOF(name, field="node.key"):
    """The v2 path of a key an earlier step returned (POST names)."""
    def f(ctx):
        return KEYS + ctx.dig(name, field)
    return f


class Case:
    def __init__(self, cid, desc, steps):
        self.cid, self.desc, self.steps = cid, desc, steps


# ---- per-server execution ----------------------------------------------

class SideCtx:
    """What one server answered so far in the current case."""

    def __init__(self, server, prefix, base):
        self.server = server
        self.prefix = prefix  # e.g. "/c012"
        self.base = base
        self.docs = {}
        self.headers = {}
        self.watches = {}

    def dig(self, name, field):
        v = self.docs[name]
        for part in field.split("."):
            v = v[part]
        return v

    def resolve(self, v):
        return v(self) if callable(v) else v

    def path(self, p):
        p = self.resolve(p)
        if p.startswith("~"):
            return KEYS + self.prefix + p[1:]
        return p


def _pairs(ctx, params):
    if params is None:
        return None
    if isinstance(params, str):
        return params
    items = params.items() if isinstance(params, dict) else params
    return [(k, ctx.resolve(v)) for k, v in items]


def _encode(ctx, params):
    p = _pairs(ctx, params)
    if p is None or isinstance(p, str):
        return p
    return urllib.parse.urlencode(p)


def build_request(ctx, step, use_ref_path):
    path = ctx.path(step["ref_path"] if use_ref_path and step.get("ref_path")
                    else step["path"])
    q = _encode(ctx, step.get("q"))
    if q:
        path += ("&" if "?" in path else "?") + q
    headers = dict(step.get("headers") or {})
    body = ctx.resolve(step.get("body"))
    if step.get("f") is not None:
        body = _encode(ctx, step["f"])
        headers.setdefault("Content-Type",
                           "application/x-www-form-urlencoded")
    if step.get("ctype"):
        headers["Content-Type"] = step["ctype"]
    if isinstance(body, str):
        body = body.encode()
    return step.get("method", "GET"), path, body, headers


def parse_body(raw):
    text = raw.decode(errors="replace")
    if not text.strip():
        return ""
    try:
        return json.loads(text)
    except ValueError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            return [json.loads(ln) for ln in lines]  # a stream
        except ValueError:
            return {"<text>": text.rstrip()}


def run_request(ctx, step, use_ref_path):
    method, path, body, headers = build_request(ctx, step, use_ref_path)
    got_100 = None
    if step.get("expect100"):
        got_100, status, hdrs, raw = ovldlab.expect_continue(
            "127.0.0.1", ctx.server.client_port, method, path, body or b"",
            headers)
    else:
        h = ctx.server.http()
        out = None
        for _ in range(max(1, step.get("repeat", 1))):
            out = h.request(method, path, body=body, headers=headers,
                            chunked=step.get("chunked", False))
        status, hdrs, raw = out
    doc = parse_body(raw)
    if step.get("name"):
        ctx.docs[step["name"]] = doc
        ctx.headers[step["name"]] = hdrs
    return dict(req="%s %s" % (method, path), status=status, headers=hdrs,
                doc=doc, raw=raw, method=method, got_100=got_100)


def start_watch(ctx, step):
    path = ctx.path(step["path"]) + "?" + _encode(ctx, step["q"])
    w = ctx.server.watch(path, stream_events=step["stream"], timeout=30.0)
    ctx.watches[step["name"]] = w
    return dict(req="GET %s (watch)" % path, status=w.status,
                headers=w.headers, doc=None, method="WATCH")


def collect_watch(ctx, step):
    w = ctx.watches[step["name"]]
    body = w.wait(step["timeout"])
    if body is None:
        w.cancel()
        return dict(req="collect %s" % step["name"], status=w.status,
                    headers=w.headers, doc="<watch did not fire>",
                    method="COLLECT")
    doc = parse_body(body)
    if w.stream_events:
        doc = w.events
    elif w.error:
        doc = "<error %s>" % w.error
    ctx.docs[step["name"]] = doc
    ctx.headers[step["name"]] = w.headers
    return dict(req="collect %s" % step["name"], status=w.status,
                headers=w.headers, doc=doc, method="COLLECT")


# ---- normalization -----------------------------------------------------

PADDED = re.compile(r"/(\d{20})(?=/|$)")
RFC3339Z = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z$")


class Normalizer:
    def __init__(self, ctx, ports, step=None):
        self.ctx = ctx
        self.ports = ports  # {port: symbol}
        self.step = step

    def idx(self, v):
        if not isinstance(v, int) or isinstance(v, bool):
            return v
        if v == 0 or v >= BIG:
            return v
        if self.step and self.step.get("cmp") == "noindex":
            return "<index>"
        return "B%+d" % (v - self.ctx.base)

    def text(self, s):
        if not isinstance(s, str):
            return s
        s = s.replace(KEYS + self.ctx.prefix, KEYS + "~")
        s = re.sub(re.escape(self.ctx.prefix) + r"(?=/|$|\W)", "~", s)
        s = PADDED.sub(lambda m: "/<%s>" % self.idx(int(m.group(1))), s)
        for port, sym in self.ports.items():
            s = s.replace(":%d" % port, ":<%s>" % sym)
        return s

    def numbers(self, s):
        return re.sub(r"\b\d{1,15}\b", lambda m: str(self.idx(int(
            m.group(0)))), s)

    def cause(self, code, s):
        s = self.text(s)
        if code == 401:
            # "[oldest kept/waitIndex]": the second echoes the request
            wi = self.param("waitIndex")
            m = re.search(r"\[(\d+)/(\d+)\]", s)
            if m and wi is not None and m.group(2) == str(wi):
                return (s[:m.start()] + "[%s/<waitIndex>]" % self.idx(
                    int(m.group(1))) + s[m.end():])
            return self.numbers(s)
        if code != 101:
            return s
        # "[pv != v] [pi != i]": only the index comparison holds indexes;
        # values are left alone even when they look like numbers.
        pv = self.param("prevValue")
        out = []
        for group in re.findall(r"\[[^\]]*\]", s):
            if pv and group.startswith("[%s != " % pv):
                out.append(group)
            else:
                out.append(self.numbers(group))
        return " ".join(out) if out else s

    def param(self, name):
        """A parameter of the current request, query or form body."""
        for src in ("f", "q"):
            p = _pairs(self.ctx, self.step.get(src)) if self.step else None
            if isinstance(p, list):
                for k, x in p:
                    if k == name:
                        return x
        return None

    def node(self, v):
        if isinstance(v, list):
            items = [self.node(x) for x in v]
            if all(isinstance(x, dict) for x in items):
                items.sort(key=lambda x: str(x.get("key", "")))
            return items
        if not isinstance(v, dict):
            return self.text(v)
        out = {}
        for k, x in v.items():
            if k in ("modifiedIndex", "createdIndex", "index"):
                out[k] = self.idx(x)
            elif k == "cause":
                out[k] = self.cause(v.get("errorCode"), x)
            elif k == "id" and isinstance(x, str):
                out[k] = "<id>"
            else:
                out[k] = self.node(x)
        return out

    def headers(self, res, step):
        h = res["headers"] or {}
        out = {}
        for name in ("x-etcd-cluster-id", "x-raft-index", "x-raft-term"):
            out[name] = name in h
        if "x-etcd-index" in h:
            try:
                out["x-etcd-index"] = self.idx(int(h["x-etcd-index"]))
            except ValueError:
                out["x-etcd-index"] = h["x-etcd-index"]
        ct = h.get("content-type")
        if ct is not None:
            out["content-type"] = ct.split(";")[0].strip().lower()
        if "allow" in h:
            out["allow"] = h["allow"]
        if "location" in h:
            out["location"] = self.text(h["location"])
        if res["method"] == "HEAD":
            out["content-length>0"] = int(h.get("content-length", "0")) > 0
        if res["method"] == "WATCH":
            out["chunked"] = h.get("transfer-encoding") == "chunked"
        if res.get("got_100") is not None:
            out["100-continue"] = res["got_100"]
        return out

    def result(self, res, step):
        mode = step.get("cmp", "full")
        out = {"status": res["status"]}
        if isinstance(mode, str) and mode.startswith("fields:"):
            mode = ("fields", mode[7:].split(","))
        if mode in ("status", "none"):
            return out
        out["headers"] = self.headers(res, step)
        doc = res["doc"]
        if mode == "keys":
            out["keys"] = sorted(key_paths(doc))
        elif isinstance(mode, tuple) and mode[0] == "fields":
            out["fields"] = {k: doc.get(k, "<absent>") if isinstance(
                doc, dict) else "<not an object>" for k in mode[1]}
        elif mode == "text":
            out["body"] = self.node(doc)
        elif res["method"] != "WATCH":
            out["body"] = self.node(doc)
        return out


OPTIONAL_KEYS = {"sendPkgRate", "sendBandwidthRate", "recvPkgRate",
                 "recvBandwidthRate", "uptime"}


def key_paths(doc, prefix=""):
    if not isinstance(doc, dict):
        return set()
    out = set()
    for k, v in doc.items():
        if k in OPTIONAL_KEYS:
            continue
        out.add(prefix + k)
        if isinstance(v, dict) and k not in ("followers",):
            out |= key_paths(v, prefix + k + ".")
    return out


# ---- comparison --------------------------------------------------------

def parse_time(s):
    m = RFC3339Z.match(s) if isinstance(s, str) else None
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = float(m.group(2) or 0)
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() + frac


def compare(a, b, path="", out=None):
    """Differences between normalized values a (ref) and b (target)."""
    out = [] if out is None else out
    key = path.rsplit(".", 1)[-1]
    if key == "ttl" and isinstance(a, int) and isinstance(b, int):
        if abs(a - b) > 2 or b <= 0:
            out.append("%s: ttl %r vs %r" % (path, a, b))
        return out
    if key == "expiration":
        ta, tb = parse_time(a), parse_time(b)
        if tb is None or ta is None or abs(ta - tb) > 3.0:
            out.append("%s: expiration %r vs %r" % (path, a, b))
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = path + "." + k if path else k
            if k not in b:
                out.append("%s: missing in target (ref %s)" % (p, short(
                    a[k])))
            elif k not in a:
                out.append("%s: extra in target (%s)" % (p, short(b[k])))
            else:
                compare(a[k], b[k], p, out)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append("%s: %d items vs %d" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, "%s[%d]" % (path, i), out)
        return out
    if a != b:
        out.append("%s: %s vs %s" % (path, short(a), short(b)))
    return out


def short(v, n=160):
    s = json.dumps(v, sort_keys=True)
    return s if len(s) <= n else s[:n] + "..."


# ---- the runner --------------------------------------------------------

class Runner:
    def __init__(self, lab, ref, tgt):
        self.lab, self.ref, self.tgt = lab, ref, tgt
        self.target_is_etcd = tgt.kind == "etcd"
        self.verbose = bool(os.environ.get("OVLD_DIFF_VERBOSE"))
        self.use_known = not self.target_is_etcd
        self.ports = {}
        for s, tag in ((ref, "ref"), (tgt, "tgt")):
            self.ports[s.client_port] = "client"
            self.ports[s.peer_port] = "peer"

    def base_index(self, server, prefix):
        st, hd, _ = server.http().request("GET", KEYS + prefix)
        return int(hd.get("x-etcd-index", "0"))

    def run_step(self, ctx, step, is_ref):
        kind = step["kind"]
        if kind == "req":
            use_ref_path = is_ref and not self.target_is_etcd
            return run_request(ctx, step, use_ref_path)
        if kind == "watch":
            return start_watch(ctx, step)
        if kind == "collect":
            return collect_watch(ctx, step)
        raise ValueError(kind)

    def run_case(self, n, case):
        prefix = "/c%03d" % n
        ra = SideCtx(self.ref, prefix, self.base_index(self.ref, prefix))
        rb = SideCtx(self.tgt, prefix, self.base_index(self.tgt, prefix))
        problems = []
        try:
            for i, step in enumerate(case.steps):
                if step["kind"] == "sleep":
                    time.sleep(step["seconds"])
                    continue
                if step["kind"] == "cancel":
                    for ctx in (ra, rb):
                        ctx.watches[step["name"]].cancel()
                    continue
                a = self.run_step(ra, step, True)
                b = self.run_step(rb, step, False)
                problems += self.judge(i, step, ra, rb, a, b)
        except Exception as e:
            problems.append("step raised %s: %s" % (type(e).__name__, e))
        finally:
            for ctx in (ra, rb):
                for w in ctx.watches.values():
                    w.cancel()
        return problems

    def judge(self, i, step, ra, rb, a, b):
        problems = []
        want = step.get("st")
        if step["kind"] == "watch":
            want = 200
        known = step.get("known")
        for who, res in (("ref", a), ("target", b)):
            if known and who == "target" and self.use_known:
                continue  # judged by the known difference below
            if want is not None and res["status"] != want:
                problems.append("step %d %s: %s status %s, contract says %s"
                                % (i, res["req"], who, res["status"], want))
        na = Normalizer(ra, self.ports, step).result(a, step)
        nb = Normalizer(rb, self.ports, step).result(b, step)
        diffs = compare(na, nb)
        if self.verbose:
            print("     step %d %s -> %s" % (i, a["req"], short(na, 2000)))
        if diffs and known and self.use_known:
            why, accept = known
            if accept(nb):
                print("     known difference (%s) at step %d" % (why, i))
                return problems
            diffs.append("(known difference %r did not match either)" % why)
        if diffs:
            problems.append("step %d %s:\n        %s\n        ref:    %s\n"
                            "        target: %s" % (
                                i, a["req"], "\n        ".join(diffs),
                                short(na, 600), short(nb, 600)))
        return problems

    def run(self, cases, only=None):
        seen = set()
        for n, case in enumerate(cases):
            assert case.cid not in seen, case.cid
            seen.add(case.cid)
            if only and not any(o in case.cid for o in only):
                continue
            problems = self.run_case(n, case)
            self.lab.check(not problems, "%s: %s" % (case.cid, case.desc),
                           "\n     ".join(problems))
