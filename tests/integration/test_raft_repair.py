#!/usr/bin/env python3
"""test_raft_repair - ovld repairs the segment layout canonical/raft#372
leaves, which libraft 0.15 refuses to load.

A real single-host ovld (--snapshot-count 100) writes a few hundred keys and
stops, leaving several closed segments and two snapshots. The closed log
from the latest snapshot on is re-cut (valid segments, same entries) so the
snapshot lies strictly inside a segment B followed by a segment C. Copies of
that data dir are then given the overlap an unfinished truncation leaves:
the segment S before B gets a stale tail (entries of an older key range),
so that S overlaps B's first entries (S.first < B.first <= S.last), as in
the fault run's 70006-70016 / 70014-80008 with snapshot 80003.

Scenarios (each on its own copy):
  healthy   the untouched dir starts, nothing is moved, no repair is logged;
  control   the overlap with the repair off (OVLD_RAFT_REPAIR=off): libraft
            refuses with "closed segment ... is past last snapshot ...";
  move      the overlap, repair on, snapshot covers S: S is moved into
            raft/repaired-*/, every key reads back with its value and
            modifiedIndex (store kept, then store rebuilt from Raft alone),
            new writes work, and a second restart repairs nothing;
  cut       the snapshots covering S removed, so S's good part is needed:
            the stale tail sits inside S's last batch, and S is rewritten
            up to B's first index - byte for byte the original S - with
            the store rebuilt from the Raft log (from index 1 when no
            snapshot is left);
  refuse    a gap (B removed): nothing is touched, one error line names the
            recovery, ovld does not start.
"""

import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402

N_KEYS = 450
SNAP_COUNT = 100
STALE = 3  # stale entries in the fabricated tail


# ---- libraft 0.15 segment files (format 1) --------------------------------

def crc32_msb(data):
    """libraft's checksum: CRC-32 0x04c11db7, MSB first, init 0."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04c11db7) if crc & 0x80000000 else crc << 1
            crc &= 0xffffffff
    return crc


def read_batches(path):
    """[(descriptor, data)] per batch, checking both checksums."""
    raw = open(path, "rb").read()
    assert struct.unpack_from("<Q", raw, 0)[0] == 1, path
    off, out = 8, []
    while off < len(raw):
        crc_h, crc_d, n = struct.unpack_from("<IIQ", raw, off)
        hdr = raw[off + 8:off + 16 + 16 * n]
        sizes = [struct.unpack_from("<I", hdr, 8 + 16 * i + 12)[0]
                 for i in range(n)]
        data = raw[off + 16 + 16 * n:off + 16 + 16 * n + sum(sizes)]
        assert crc32_msb(hdr) == crc_h and crc32_msb(data) == crc_d, path
        entries, pos = [], 0
        for i in range(n):
            entries.append((hdr[8 + 16 * i:8 + 16 * i + 16],
                            data[pos:pos + sizes[i]]))
            pos += sizes[i]
        out.append(entries)
        off += 16 + 16 * n + sum(sizes)
    return out


def encode_batch(entries):
    hdr = struct.pack("<Q", len(entries)) + b"".join(d for d, _ in entries)
    data = b"".join(x for _, x in entries)
    return struct.pack("<II", crc32_msb(hdr), crc32_msb(data)) + hdr + data


def encode_segment(batches):
    return struct.pack("<Q", 1) + b"".join(encode_batch(b) for b in batches)


def seg_name(first, last):
    return "%016d-%016d" % (first, last)


def closed_segments(raft_dir):
    out = []
    for f in os.listdir(raft_dir):
        parts = f.split("-")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            out.append((int(parts[0]), int(parts[1]), f))
    return sorted(out)


def snapshots(raft_dir):
    """[(index, name)] of snapshot data files with their .meta."""
    out = []
    for f in os.listdir(raft_dir):
        if f.startswith("snapshot-") and f.endswith(".meta"):
            out.append((int(f.split("-")[2]), f[:-len(".meta")]))
    return sorted(out)


# ---- fixture ----------------------------------------------------------------

def repartition(lab, raft_dir, after=3):
    """Makes the latest snapshot fall strictly inside a closed segment B
    with a closed successor C, as in the fault run (snapshot 80003 inside
    70014-80008, then 80009-80482): the closed log from the segment holding
    the snapshot on is re-cut into B (up to snapshot + after - 1) and C.
    Where libraft's snapshot barrier closed the segment depends on timing;
    this takes the timing out of the fixture."""
    segs = closed_segments(raft_dir)
    idx = snapshots(raft_dir)[-1][0]
    tail = [s for s in segs if s[1] >= idx]
    entries = []
    for first, last, name in tail:
        for batch in read_batches(os.path.join(raft_dir, name)):
            entries.append(batch)
    flat_first = tail[0][0]
    split = idx + after  # C's first index
    n_total = sum(len(b) for b in entries)
    if not lab.check(flat_first + n_total - 1 >= split,
                     "fixture: entries after snapshot %d" % idx):
        return False
    b_batches, c_batches, i = [], [], flat_first
    for batch in entries:
        k = max(0, min(len(batch), split - i))
        if k:
            b_batches.append(batch[:k])
        if k < len(batch):
            c_batches.append(batch[k:])
        i += len(batch)
    for _, _, name in tail:
        os.remove(os.path.join(raft_dir, name))
    last = flat_first + n_total - 1
    for first, end, batches in ((flat_first, split - 1, b_batches),
                                (split, last, c_batches)):
        with open(os.path.join(raft_dir, seg_name(first, end)), "wb") as f:
            f.write(encode_segment(batches))
    return True


class Layout:
    """Picks S, B, C in a repartitioned raft dir: B holds the latest
    snapshot's index, C follows B, S ends right before B."""

    def __init__(self, lab, raft_dir):
        self.ok = False
        segs = closed_segments(raft_dir)
        snaps = snapshots(raft_dir)
        self.snap = snaps[-1]
        idx = self.snap[0]
        b = [s for s in segs if s[0] <= idx < s[1]]
        if not lab.check(len(b) == 1, "a closed segment holds snapshot %d"
                         % idx, "segments %r" % segs):
            return
        self.B = b[0]
        c = [s for s in segs if s[0] == self.B[1] + 1]
        s = [x for x in segs if x[1] == self.B[0] - 1]
        donor = [x for x in segs if x[1] < (s[0][0] if s else 0) and
                 x[1] - x[0] + 1 >= STALE and x[0] > 1]
        if not lab.check(len(c) == 1 and len(s) == 1 and donor,
                         "segments before and after B exist",
                         "segments %r" % segs):
            return
        self.C, self.S, self.donor = c[0], s[0], donor[0]
        # The cut scenario drops the snapshots that cover S's last entry.
        self.uncovering = [x for x in snaps if x[0] + 1 >= self.B[0]]
        self.ok = True

    def stale_entries(self, raft_dir):
        """Entries of an older key range: applied at B's indexes they would
        change keys and indexes visibly, like an old leader's entries."""
        batches = read_batches(os.path.join(raft_dir, self.donor[2]))
        flat = [e for b in batches for e in b]
        return flat[:STALE]

    def overlap(self, raft_dir, merge_last_batch):
        """Replaces S with S + stale tail, named S.first-(B.first+STALE-1).
        With merge_last_batch the tail shares S's last batch (a mid-batch
        cut)."""
        path_s = os.path.join(raft_dir, self.S[2])
        batches = read_batches(path_s)
        stale = self.stale_entries(raft_dir)
        if merge_last_batch:
            batches[-1] = batches[-1] + stale
        else:
            batches.append(stale)
        name = seg_name(self.S[0], self.B[0] + STALE - 1)
        with open(os.path.join(raft_dir, name), "wb") as f:
            f.write(encode_segment(batches))
        os.remove(path_s)
        return name


# ---- checks -----------------------------------------------------------------

def write_keys(srv):
    want = {}
    h = srv.http()
    for i in range(N_KEYS):
        key = "/rep/k%d" % i
        value = "v%d-%s" % (i, "x" * (i % 7))
        st, _, doc = h.json("PUT", "/v2/keys" + key, form={"value": value})
        assert st in (200, 201), (st, doc)
        want[key] = (value, doc["node"]["modifiedIndex"])
    return want


def check_keys(lab, srv, want, what):
    h = srv.http()
    bad = []
    for key, (value, mi) in sorted(want.items()):
        st, _, doc = h.json("GET", "/v2/keys" + key)
        got = (doc.get("node", {}).get("value"),
               doc.get("node", {}).get("modifiedIndex")) if st == 200 \
            else (st, None)
        if got != (value, mi):
            bad.append((key, got, (value, mi)))
    lab.check(not bad, "%s: all %d keys with value and modifiedIndex"
              % (what, len(want)), "first mismatches: %r" % bad[:5])


def check_new_write(lab, srv, want, what):
    st, _, doc = srv.http().json("PUT", "/v2/keys/rep/after",
                                 form={"value": "after"})
    top = max(mi for _, mi in want.values())
    lab.check(st in (200, 201) and doc["node"]["modifiedIndex"] > top,
              "%s: a new write is accepted above index %d" % (what, top),
              "%r %r" % (st, doc))


def log_of(srv):
    with open(srv.log_paths[-1], "rb") as f:
        return f.read().decode(errors="replace")


def repaired_dirs(raft_dir):
    return sorted(f for f in os.listdir(raft_dir)
                  if f.startswith("repaired-"))


def copy_dir(lab, pristine, name, with_store=True):
    """The store's LMDB file is sparse (a map of gigabytes): copied with
    cp --sparse=always, or left out when the scenario rebuilds it."""
    dst = os.path.join(lab.dir, name)
    os.mkdir(dst)
    for part in os.listdir(pristine):
        if part == "store" and not with_store:
            continue
        subprocess.run(["cp", "-a", "--sparse=always",
                        os.path.join(pristine, part), dst], check=True)
    return dst


def start_expect_exit(srv, env=None, timeout=30.0):
    """Starts srv, which must exit by itself; returns its exit code."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        srv.start(wait=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        return srv.proc.wait(timeout)
    except Exception:
        srv.kill9()
        return None


# ---- scenarios --------------------------------------------------------------

def scenario_healthy(lab, pristine, want):
    d = copy_dir(lab, pristine, "healthy")
    raft = os.path.join(d, "raft")
    before = closed_segments(raft)
    srv = lab.ovld("healthy", data_dir=d,
                   extra_args=["--snapshot-count", str(SNAP_COUNT)]).start()
    check_keys(lab, srv, want, "healthy")
    srv.stop()
    after = closed_segments(raft)
    lab.check(set(before) <= set(after) and not repaired_dirs(raft),
              "healthy: no segment moved, no repaired-* dir",
              "before %r after %r" % (before, after))
    lab.check("repair:" not in log_of(srv), "healthy: nothing logged")


def scenario_control(lab, pristine, lay):
    d = copy_dir(lab, pristine, "control")
    raft = os.path.join(d, "raft")
    stale = lay.overlap(raft, merge_last_batch=False)
    srv = lab.ovld("control", data_dir=d,
                   extra_args=["--snapshot-count", str(SNAP_COUNT)])
    rc = start_expect_exit(srv, {"OVLD_RAFT_REPAIR": "off"})
    text = log_of(srv)
    lab.check(rc not in (None, 0) and "is past last snapshot" in text,
              "control: without the repair libraft refuses (%s overlaps %s)"
              % (stale, lay.B[2]), "exit %r, log:\n%s" % (rc, text[-800:]))
    lab.check(stale in os.listdir(raft) and not repaired_dirs(raft),
              "control: files untouched with the repair off")


def scenario_move(lab, pristine, lay, want, drop_store):
    tag = "move-rebuilt" if drop_store else "move"
    d = copy_dir(lab, pristine, tag, with_store=not drop_store)
    raft = os.path.join(d, "raft")
    stale = lay.overlap(raft, merge_last_batch=False)
    srv = lab.ovld(tag, data_dir=d,
                   extra_args=["--snapshot-count", str(SNAP_COUNT)])
    srv.start()
    check_keys(lab, srv, want, tag)
    rep = repaired_dirs(raft)
    lab.check(len(rep) == 1 and os.listdir(os.path.join(raft, rep[0]))
              == [stale] and stale not in os.listdir(raft),
              "%s: %s moved into raft/repaired-*/" % (tag, stale),
              "repaired %r, raft dir %r" % (rep, sorted(os.listdir(raft))))
    lab.check("repair: moved %s" % stale in log_of(srv),
              "%s: the move is logged" % tag)
    check_new_write(lab, srv, want, tag)
    srv.stop()
    if drop_store:
        return
    srv.start()
    check_keys(lab, srv, want, tag + " after a second restart")
    lab.check("repair:" not in log_of(srv) and repaired_dirs(raft) == rep,
              "%s: a second start repairs nothing" % tag)
    srv.stop()


def scenario_cut(lab, pristine, lay, want):
    d = copy_dir(lab, pristine, "cut", with_store=False)
    raft = os.path.join(d, "raft")
    original_s = open(os.path.join(raft, lay.S[2]), "rb").read()
    for _, snap in lay.uncovering:
        for f in (snap, snap + ".meta"):
            os.remove(os.path.join(raft, f))
    left = snapshots(raft)
    print("     cut: snapshots left %r (none: the log replays from 1)"
          % [x[0] for x in left], flush=True)
    stale = lay.overlap(raft, merge_last_batch=True)
    srv = lab.ovld("cut", data_dir=d,
                   extra_args=["--snapshot-count", str(SNAP_COUNT)])
    srv.start()
    check_keys(lab, srv, want, "cut (store rebuilt from Raft)")
    path_s = os.path.join(raft, lay.S[2])
    lab.check(os.path.exists(path_s) and
              open(path_s, "rb").read() == original_s,
              "cut: %s rewritten byte for byte from %s" % (lay.S[2], stale))
    rep = repaired_dirs(raft)
    lab.check(len(rep) == 1 and
              os.listdir(os.path.join(raft, rep[0])) == [stale],
              "cut: the stale %s kept in raft/repaired-*/" % stale)
    lab.check("repair: wrote %s" % lay.S[2] in log_of(srv),
              "cut: the cut is logged")
    check_new_write(lab, srv, want, "cut")
    srv.stop()


def scenario_refuse(lab, pristine, lay):
    d = copy_dir(lab, pristine, "refuse")
    raft = os.path.join(d, "raft")
    os.remove(os.path.join(raft, lay.B[2]))  # entries nobody has
    before = sorted(os.listdir(raft))
    srv = lab.ovld("refuse", data_dir=d,
                   extra_args=["--snapshot-count", str(SNAP_COUNT)])
    rc = start_expect_exit(srv)
    text = log_of(srv)
    lab.check(rc not in (None, 0) and "cannot be repaired safely" in text
              and "--join" in text,
              "refuse: one error line with the recovery, no start",
              "exit %r, log:\n%s" % (rc, text[-800:]))
    lab.check(sorted(os.listdir(raft)) == before,
              "refuse: no file touched")


def main():
    with ovldlab.Lab("raft-repair") as lab:
        if not ovldlab.skip_unless_binary(lab, ovldlab.ovld_bin(), "ovld"):
            lab.finish()
        src = lab.ovld("src", extra_args=["--snapshot-count",
                                          str(SNAP_COUNT)]).start()
        want = write_keys(src)
        src.stop()
        pristine = src.data_dir
        raft = os.path.join(pristine, "raft")
        t0 = time.monotonic()
        lab.check(len(snapshots(raft)) >= 2, "fixture has two snapshots",
                  "raft dir %r" % sorted(os.listdir(raft)))
        scenario_healthy(lab, pristine, want)
        lay = Layout(lab, raft) if repartition(lab, raft) else None
        print("     fixture raft dir: %s" % " ".join(
            sorted(f for f in os.listdir(raft) if f[0].isdigit() or
                   f.startswith("snapshot"))), flush=True)
        if lay and lay.ok:
            scenario_control(lab, pristine, lay)
            scenario_move(lab, pristine, lay, want, drop_store=False)
            scenario_move(lab, pristine, lay, want, drop_store=True)
            scenario_cut(lab, pristine, lay, want)
            scenario_refuse(lab, pristine, lay)
        print("     scenarios took %.1fs" % (time.monotonic() - t0))
    lab.finish()


if __name__ == "__main__":
    main()
