"""test_datapath_netns_gc - a runtime that crashed or never detached must
not hold an address forever: ovld releases, by itself, a local endpoint
whose network namespace has been gone longer than --netns-gc seconds,
whichever way it was attached (a named namespace, a process's namespace),
through the same code as a detach. Endpoints whose namespace is still
there, and other hosts' endpoints, are left alone.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovldlab  # noqa: E402
from netlab import NetLab, Checks, wait_until  # noqa: E402

GRACE_S = 2


def endpoints(h):
    return h.ovlctl("endpoint", "ls")[1]


def scenario(lab, c):
    h1, h2 = lab.hosts
    rc, _, err = h1.ovlctl("network", "create", "--subnet",
                           "10.77.0.0/29", "nsgc")
    c.check(rc == 0, "create nsgc (a /29: five addresses)", err)
    keep, gone, remote = (lab.container("keep"), lab.container("gone"),
                          lab.container("remote"))
    sleeper = subprocess.Popen(["ip", "netns", "exec", gone, "sleep",
                                "600"])
    rc1, _, e1 = h1.ovlctl("attach", "nsgc", "kept", "--netns", keep)
    rc2, ip2, e2 = h1.ovlctl("attach", "nsgc", "byname", "--netns", gone)
    rc3, ip3, e3 = h1.ovlctl("attach", "nsgc", "bypid", "--pid",
                             str(sleeper.pid))
    rc4, _, e4 = h2.ovlctl("attach", "nsgc", "other", "--netns", remote)
    c.check(rc1 == rc2 == rc3 == rc4 == 0, "four endpoints attached",
            e1 + e2 + e3 + e4)
    rc, out, _ = h1.ovlctl("status")
    c.check(rc == 0 and "byname" in out and "ovlctl" in out,
            "status lists them with their runtime", out)

    sleeper.kill()
    sleeper.wait()
    subprocess.run(["ip", "netns", "del", gone])
    t0 = time.monotonic()
    time.sleep(GRACE_S / 2)
    c.check("byname" in endpoints(h1), "kept during the grace period")
    ok = wait_until(lambda: "byname" not in endpoints(h1) and
                    "bypid" not in endpoints(h1), 20, 0.2)
    c.check(ok, "both collected after the grace (%.1f s)" %
            (time.monotonic() - t0), endpoints(h1))
    out = endpoints(h2)
    c.check("kept" in out and "other" in out, "the others stay", out)
    c.check(len([l for l in h1.links().split("\n") if ": ovv-" in l]) == 1,
            "their veths are gone on h1",
            h1.links())
    # Their names and addresses are free again.
    again = lab.container("again")
    rc, ip, err = h1.ovlctl("attach", "nsgc", "byname", "--netns", again)
    c.check(rc == 0 and ip.strip() in (ip2.strip(), ip3.strip()),
            "name and address reusable", err + ip)


def main():
    ovldlab.require_root("network namespaces, VXLAN devices")
    c = Checks()
    with NetLab(2, ovld_args=["--netns-gc", str(GRACE_S)],
                checks=c) as lab:
        h1, h2 = lab.hosts
        h1.start()
        h2.start(join=h1.ip)
        scenario(lab, c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
