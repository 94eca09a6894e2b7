"""test_datapath_gc - host lifecycle and --datapath off on a 3-host netlab.

A host that dies (kill -9, still a member) keeps its endpoints until the
--endpoint-gc grace has passed after its heartbeat lapsed; then the leader
collects them: gone from the store and from the other hosts' kernels, and
the name is free again. A host running --datapath off serves the store but
never touches the kernel: an attach there fails cleanly and is rolled back.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovldlab  # noqa: E402
from netlab import NetLab, Checks, wait_until  # noqa: E402

GRACE_S = 3


def ov_links(h):
    return [l for l in h.links().split("\n") if ": ov" in l]


def silent_host(lab, c):
    h1, h2, h3 = lab.hosts
    rc, _, err = h1.ovlctl("network", "create", "gcnet")
    c.check(rc == 0, "create gcnet", err)
    a, b = lab.container("ga"), lab.container("gb")
    rc1, ip1, e1 = h1.ovlctl("attach", "gcnet", "alive", "--netns", a)
    rc3, ip3, e3 = h3.ovlctl("attach", "gcnet", "doomed", "--netns", b)
    c.check(rc1 == 0 and rc3 == 0, "endpoints on h1 and h3", e1 + e3)
    c.check(lab.ping(a, ip3.strip(), wait=2), "h1 -> h3 ping")
    t0 = time.monotonic()
    h3.stop(sig=9)
    time.sleep(2)
    c.check("doomed" in h1.ovlctl("endpoint", "ls")[1],
            "a dead host's endpoint is kept during the grace period")

    def collected():
        return ("doomed" not in h1.ovlctl("endpoint", "ls")[1] and
                "dst 192.168.205.12" not in h1.fdb())
    ok = wait_until(collected, 60, 0.5)
    c.check(ok, "collected after heartbeat TTL + grace (%.0f s)" %
            (time.monotonic() - t0))
    rc, _, err = h2.ovlctl("--host", h1.ip, "network", "ls")
    c.check(rc == 0, "store still served by h2 (datapath off)", err)
    rc, _, err = h1.ovlctl("attach", "gcnet", "doomed", "--netns",
                           lab.container("gc"))
    c.check(rc == 0, "the collected name can be used again", err)


def datapath_off(lab, c):
    h2 = lab.hosts[1]
    ns = lab.container("off")
    rc, _, err = h2.ovlctl("attach", "gcnet", "nodp", "--netns", ns,
                           timeout=60)
    c.check(rc != 0 and err.count("\n") == 1 and "datapath" in err,
            "attach on a --datapath off host fails with one line", err)
    c.check("nodp" not in h2.ovlctl("endpoint", "ls")[1],
            "...and leaves no record")
    c.check(not ov_links(h2), "no kernel state on the --datapath off host",
            str(ov_links(h2)))


def main():
    ovldlab.require_root("network namespaces, VXLAN devices")
    c = Checks()
    with NetLab(3, ovld_args=["--endpoint-gc", str(GRACE_S)],
                checks=c) as lab:
        h1, h2, h3 = lab.hosts
        h1.start()
        h2.start(join=h1.ip, extra=["--datapath", "off"])
        h3.start(join=h1.ip)
        silent_host(lab, c)
        datapath_off(lab, c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
