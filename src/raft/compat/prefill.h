/* prefill.h - libraft's new open segments are written with zeros once, so
 * its direct RWF_NOWAIT appends are not refused (see prefill.c, which also
 * says why no libraft release makes this unneeded). */
#ifndef OVLD_RAFT_PREFILL_H
#define OVLD_RAFT_PREFILL_H

/* From now on, a new empty open-* segment that libraft preallocates in
 * raft_dir gets written blocks. Up to 8 directories per process. */
void raftnode_prefill_register(const char *raft_dir);

#endif
