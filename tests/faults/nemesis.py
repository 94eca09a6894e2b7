"""nemesis - fault injection for an ovld cluster whose hosts live in network
namespaces (clusterlab.Netns + clusterlab.NsOvld). Needs root.

Faults (one at a time; heal() undoes whatever is active):
  kill             kill -9 a random host; restarted on heal
  kill-leader      kill -9 the leader
  kill-majority    kill -9 a majority (the cluster cannot commit)
  cut-minority     a random minority's switch ports down (link down)
  isolate-leader   the leader cut off from every peer (iptables DROP)
  split            no majority anywhere: 3 hosts all apart, 5 as 2/2/1
  loss             random packet loss between hosts (iptables statistic)
  slow             a narrow link on every host (tc tbf): queueing delay and
                   tail drops (this kernel has no sch_netem, so no netem
                   delay; see docs/reliability.md)
  pause            SIGSTOP a random host; SIGCONT on heal
  pause-leader     SIGSTOP the leader

Only the namespaces of the Netns given are touched."""

import os
import signal
import subprocess
import time

KINDS = ("kill", "kill-leader", "kill-majority", "cut-minority",
         "isolate-leader", "split", "loss", "slow", "pause", "pause-leader")


def _run(*argv):
    p = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=20)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.strip()))
    return p.stdout


class Nemesis:
    """hosts: NsOvld servers; net: their Netns (hosts[i] is net.hosts[i+1]).
    leader_fn() returns the current leader (or None)."""

    def __init__(self, net, hosts, rng, leader_fn, log=print):
        self.net, self.hosts, self.rng = net, hosts, rng
        self.leader_fn = leader_fn
        self.log = log
        self.active = None
        self.killed = set()   # indexes of hosts we killed
        self.paused = set()
        self.cut = set()
        self.filtered = False
        self.shaped = False
        self.counts = {k: 0 for k in KINDS}

    # -- helpers ----------------------------------------------------------

    def _ns(self, i):
        return self.net.hosts[i + 1][0]

    def _ip(self, i):
        return self.net.hosts[i + 1][1]

    def _iptables(self, i, *args):
        _run("ip", "netns", "exec", self._ns(i), "iptables", *args)

    def _leader_index(self):
        ld = self.leader_fn()
        return self.hosts.index(ld) if ld in self.hosts else \
            self.rng.randrange(len(self.hosts))

    def _minority(self):
        n = len(self.hosts)
        k = self.rng.randint(1, (n - 1) // 2)
        return self.rng.sample(range(n), k)

    def _drop_between(self, groups):
        """Each host drops packets from and to hosts outside its group."""
        where = {}
        for g, members in enumerate(groups):
            for i in members:
                where[i] = g
        for i in range(len(self.hosts)):
            for j in range(len(self.hosts)):
                if i != j and where[i] != where[j]:
                    self._iptables(i, "-A", "INPUT", "-s", self._ip(j),
                                   "-j", "DROP")
                    self._iptables(i, "-A", "OUTPUT", "-d", self._ip(j),
                                   "-j", "DROP")
        self.filtered = True

    # -- faults -----------------------------------------------------------

    def start(self, kind):
        self.counts[kind] += 1
        self.active = kind
        n = len(self.hosts)
        if kind == "kill":
            self._kill([self.rng.randrange(n)])
        elif kind == "kill-leader":
            self._kill([self._leader_index()])
        elif kind == "kill-majority":
            self._kill(self.rng.sample(range(n), n // 2 + 1))
        elif kind == "cut-minority":
            for i in self._minority():
                self.net.cut(i + 1)
                self.cut.add(i)
        elif kind == "isolate-leader":
            ld = self._leader_index()
            self._drop_between([[ld], [i for i in range(n) if i != ld]])
        elif kind == "split":
            order = list(range(n))
            self.rng.shuffle(order)
            groups = [[i] for i in order] if n <= 3 else \
                [order[:2], order[2:4], order[4:]]
            self._drop_between(groups)
        elif kind == "loss":
            p = "%.2f" % self.rng.uniform(0.2, 0.5)
            for i in range(n):
                for j in range(n):
                    if i != j:
                        self._iptables(i, "-A", "INPUT", "-s", self._ip(j),
                                       "-m", "statistic", "--mode",
                                       "random", "--probability", p,
                                       "-j", "DROP")
            self.filtered = True
        elif kind == "slow":
            rate = self.rng.choice(["64kbit", "128kbit", "256kbit"])
            for i in range(n):
                _run("ip", "netns", "exec", self._ns(i), "tc", "qdisc",
                     "add", "dev", "eth0", "root", "tbf", "rate", rate,
                     "burst", "4kb", "latency", "300ms")
            self.shaped = True
        elif kind in ("pause", "pause-leader"):
            i = self._leader_index() if kind == "pause-leader" else \
                self.rng.randrange(n)
            if self.hosts[i].alive():
                os.kill(self.hosts[i].proc.pid, signal.SIGSTOP)
                self.paused.add(i)
        else:
            raise ValueError("unknown fault %r" % kind)
        self.log("     fault %s%s" % (kind, self._detail()))

    def _detail(self):
        parts = []
        if self.killed:
            parts.append("killed " + ",".join(
                self.hosts[i].name for i in sorted(self.killed)))
        if self.paused:
            parts.append("paused " + ",".join(
                self.hosts[i].name for i in sorted(self.paused)))
        if self.cut:
            parts.append("cut " + ",".join(
                self.hosts[i].name for i in sorted(self.cut)))
        return (": " + "; ".join(parts)) if parts else ""

    def _kill(self, idxs):
        for i in idxs:
            if self.hosts[i].alive():
                self.hosts[i].kill9()
                self.killed.add(i)

    def heal(self, restart_timeout=40.0):
        """Undoes the active fault; restarts killed hosts and waits until
        they answer /health. Returns a list of problems (a host that did
        not come back)."""
        problems = []
        for i in sorted(self.paused):
            try:
                os.kill(self.hosts[i].proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused.clear()
        for i in sorted(self.cut):
            self.net.heal(i + 1)
        self.cut.clear()
        if self.filtered:
            for i in range(len(self.hosts)):
                self._iptables(i, "-F")
            self.filtered = False
        if self.shaped:
            for i in range(len(self.hosts)):
                subprocess.run(["ip", "netns", "exec", self._ns(i), "tc",
                                "qdisc", "del", "dev", "eth0", "root"],
                               capture_output=True)
            self.shaped = False
        restarted = []
        for i in sorted(self.killed):
            h = self.hosts[i]
            join = getattr(h, "join_args", [])
            h.extra_args = [a for a in h.extra_args if a not in join]
            h.start(wait=False)
            restarted.append(h)
        self.killed.clear()
        deadline = time.monotonic() + restart_timeout
        for h in restarted:
            try:
                h.wait_healthy(max(1.0, deadline - time.monotonic()))
            except RuntimeError as e:
                problems.append("%s after restart: %s" % (h.name, e))
        self.active = None
        return problems
