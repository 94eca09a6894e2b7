/* repair.h - puts libraft 0.15's segment files back into a layout its
 * loader accepts, before raft_init reads them (canonical/raft#372).
 *
 * A log truncation that never ran leaves an old closed segment whose tail
 * overlaps the segment the new entries went to; libraft 0.15 then refuses
 * to start ("closed segment X is past last snapshot Y") or picks the wrong
 * file. See docs/reliability.md for what is repaired and what is not, and
 * repair.c for the upstream fix (v0.18.0). */
#ifndef OVLD_RAFT_REPAIR_H
#define OVLD_RAFT_REPAIR_H

#include <stddef.h>

enum {
	REPAIR_IOERR = -1,  /* could not read or change the directory */
	REPAIR_CLEAN = 0,   /* nothing to do: no file was touched */
	REPAIR_FIXED = 1,   /* stale segments were cut or moved away */
	REPAIR_REFUSED = 2, /* damage found but left as is (logged) */
};

/* Checks the closed segments in raft_dir (libraft's directory) and repairs
 * the layouts of canonical/raft#372: stale segments are moved into
 * raft_dir/repaired-<unix time>/, never deleted. Logs every action at
 * warning level, and one line with the recovery when it cannot repair.
 * Setting OVLD_RAFT_REPAIR=off in the environment skips it. */
int raftnode_repair_segments(const char *raft_dir);

#endif
