/* probe.h - libraft's start-up file-system probe returns without waiting
 * for the kernel to tear down its test AIO context (see probe.c). */
#ifndef OVLD_RAFT_COMPAT_PROBE_H
#define OVLD_RAFT_COMPAT_PROBE_H

/* Around raft_init, on the thread that calls it: an io_destroy in between
 * finishes on a thread of its own. */
void raftnode_probe_begin(void);
void raftnode_probe_end(void);

/* How many contexts were handed over so far (for tests). */
unsigned long raftnode_probe_deferred(void);

#endif
