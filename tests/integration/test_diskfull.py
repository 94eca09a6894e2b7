#!/usr/bin/env python3
"""test_diskfull - ovld on a full disk (needs root: loop mount).

One ovld whose data dir is on a small loop-mounted ext4. After some writes,
a filler file takes nearly all the free space and the test writes until
writes fail. Checks: a failed write is a clear etcd-style error (JSON with
errorCode, HTTP 5xx, within the client budget), never a hang or a crash;
reads go on while the disk is full; once the filler is deleted, writes work
again, and every acknowledged write is still there with its value and
index, also after a clean restart and after kill -9 + restart.
The mount and the image are always removed.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OVLDLAB_PORTS", "29000-29999")

import clusterlab as cl  # noqa: E402

IMAGE_MB = 48
VALUE = "x" * 60000  # big values fill the raft log and LMDB quickly


class LoopFs:
    """A small ext4 image mounted on a temporary directory."""

    def __init__(self, size_mb):
        self.dir = tempfile.mkdtemp(prefix="ovld-diskfull-")
        self.image = os.path.join(self.dir, "fs.img")
        self.mnt = os.path.join(self.dir, "mnt")
        self.size_mb = size_mb
        self.mounted = False

    def __enter__(self):
        os.mkdir(self.mnt)
        cl.sh("dd", "if=/dev/zero", "of=" + self.image, "bs=1M",
           "count=%d" % self.size_mb)
        cl.sh("mkfs.ext4", "-q", "-F", "-m", "0", self.image)
        cl.sh("mount", "-o", "loop", self.image, self.mnt)
        self.mounted = True
        return self

    def free(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def __exit__(self, *exc):
        if self.mounted:
            for _ in range(20):
                if cl.sh("umount", self.mnt, check=False).returncode == 0:
                    break
                time.sleep(0.2)
            self.mounted = False
        cl.sh("rm", "-rf", self.dir, check=False)
        return False


def fill(path, nbytes):
    """Writes a filler file of about nbytes (stops quietly when full)."""
    chunk = b"\0" * (1 << 20)
    done = 0
    with open(path, "wb") as f:
        try:
            while done < nbytes:
                n = min(len(chunk), nbytes - done)
                f.write(chunk[:n])
                done += n
            f.flush()
            os.fsync(f.fileno())
        except OSError:
            pass
    return done


def timed_put(srv, key, value, timeout=8.0):
    t = time.monotonic()
    st, hd, doc = cl.put(srv, key, value, timeout=timeout)
    return st, doc, time.monotonic() - t


def main():
    cl.require_root("a loop-mounted ext4 image")
    with cl.Lab("diskfull") as lab:
        try:
            with LoopFs(IMAGE_MB) as fs:
                try:
                    run(lab, fs)
                finally:
                    for s in lab.servers:
                        s.kill9()
        except Exception as e:  # noqa: BLE001
            lab.check(False, "disk-full test ran", repr(e))
        left = cl.sh("mount").stdout
        lab.check("ovld-diskfull-" not in left, "loop mount removed")
    lab.finish()


def run(lab, fs):
    data = os.path.join(fs.mnt, "data")
    srv = lab.ovld("d1", data_dir=data)
    srv.start(timeout=30)
    acked = {}
    for i in range(20):
        st, doc, _ = timed_put(srv, "/df/pre%02d" % i, "v%d" % i)
        if st in (200, 201):
            acked["/df/pre%02d" % i] = ("v%d" % i,
                                        doc["node"]["modifiedIndex"])
    lab.check(len(acked) == 20, "20 writes before the disk fills")
    filler = os.path.join(fs.mnt, "filler")
    n = fill(filler, max(0, fs.free() - (4 << 20)))
    print("     filler of %d bytes, %d bytes left on the filesystem" %
          (n, fs.free()), flush=True)

    errors, slow, n_full = [], [], 0
    first_fail = None
    for i in range(400):
        key = "/df/big%03d" % i
        st, doc, dt = timed_put(srv, key, VALUE + str(i))
        if dt > 6.0:
            slow.append((i, st, dt))
        if st in (200, 201):
            acked[key] = (VALUE + str(i), doc["node"]["modifiedIndex"])
            continue
        errors.append((st, doc, dt))
        first_fail = first_fail or (st, doc)
        n_full += 1
        if n_full >= 5 or not srv.alive():
            break
    print("     %d bytes left after the writes" % fs.free(), flush=True)
    lab.check(srv.alive(), "ovld is alive with a full disk",
              "exit status %s\n%s" % (srv.proc.poll(),
                                      srv.log_text(tail=40)))
    lab.check(bool(errors), "writes fail once the disk is full (%d "
              "acknowledged before)" % (len(acked) - 20))
    clear = all(st >= 500 and isinstance(doc, dict) and "errorCode" in doc
                and doc.get("message") for st, doc, _ in errors)
    lab.check(bool(errors) and clear, "each refusal is an etcd-style "
              "error (5xx, errorCode, message): %r" %
              ((first_fail[0], first_fail[1]) if first_fail else None,),
              repr(errors[:3]))
    lab.check(not slow, "no write hangs (all answered within 6 s)",
              repr(slow[:3]))
    if not srv.alive():
        return
    reads_ok = sum(1 for k, (v, _) in acked.items()
                   if (cl.get(srv, k, timeout=5.0)[2] or {}).get(
                       "node", {}).get("value") == v)
    lab.check(reads_ok == len(acked), "reads go on with a full disk "
              "(%d/%d acknowledged keys read back)" % (reads_ok, len(acked)))
    st, _, doc = cl.request(srv, "GET", "/health", timeout=5.0)
    print("     /health with a full disk: %s %s" % (st, doc), flush=True)

    os.unlink(filler)
    print("     filler removed: %d bytes free" % fs.free(), flush=True)
    ok = cl.wait_until(lambda: timed_put(srv, "/df/after", "a")[0] in
                       (200, 201), 30, 0.5)
    lab.check(ok, "writes work again once space returns",
              srv.log_text(tail=40))
    if ok:
        st, _, doc = cl.get(srv, "/df/after")
        acked["/df/after"] = ("a", doc["node"]["modifiedIndex"])
    verify(lab, srv, acked, "after space returned")
    srv.stop()
    srv.start(timeout=30)
    verify(lab, srv, acked, "after a clean restart")
    srv.kill9()
    srv.start(timeout=30)
    verify(lab, srv, acked, "after kill -9 and restart")
    st, _, _ = cl.put(srv, "/df/last", "z")
    lab.check(st == 201, "writes work after the restarts")


def verify(lab, srv, acked, when):
    t = cl.tree(srv, "/df") or {}
    bad = [k for k, (v, idx) in acked.items()
           if k not in t or t[k][0] != v or t[k][1] != idx]
    lab.check(not bad, "every acknowledged write is intact %s (%d keys)" %
              (when, len(acked)), "bad: %r" % bad[:5])


if __name__ == "__main__":
    main()
