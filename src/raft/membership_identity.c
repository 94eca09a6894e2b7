/* membership_identity.c - this host's Raft id and cluster id, saved in
 * raft_dir/ovld-identity, so that a restart needs no --join or
 * --initial-cluster and comes back as the same member. */
#include <stdio.h>
#include <unistd.h>

#include "membership.h"

static void identity_path(raftnode *rn, char *out, size_t len)
{
	snprintf(out, len, "%s/ovld-identity", rn->raft_dir);
}

int membership_identity_load(raftnode *rn)
{
	char path[4200];
	identity_path(rn, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	unsigned long long id = 0, cluster = 0;
	int n = fscanf(f, "id=%llx\ncluster=%llx\n", &id, &cluster);
	fclose(f);
	if (n != 2 || id == 0)
		return -1;
	rn->id = id;
	rn->cluster_id = cluster;
	return 0;
}

int membership_identity_save(raftnode *rn)
{
	char path[4200], tmp[4300];
	identity_path(rn, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "id=%016llx\ncluster=%016llx\n", (unsigned long long)rn->id,
		(unsigned long long)rn->cluster_id);
	int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	fclose(f);
	if (!ok || rename(tmp, path) != 0)
		return -1;
	return 0;
}
