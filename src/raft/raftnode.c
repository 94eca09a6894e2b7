/* raftnode.c - life cycle of this host's Raft member: init, start, close
 * and status. */
#include "node.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../url.h"
#include "compat/prefill.h"
#include "compat/probe.h"
#include "compat/repair.h"

#define TICK_MS 20

uint64_t raftnode_now_ms(raftnode *rn)
{
	return uv_now(rn->loop);
}

int64_t raftnode_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void copy_config(raftnode_config *dst, const raftnode_config *src)
{
	*dst = *src;
	dst->data_dir = dup_or_null(src->data_dir);
	dst->name = dup_or_null(src->name ? src->name : "default");
	dst->peer_url = dup_or_null(src->peer_url);
	dst->listen_peer_url = dup_or_null(
	    src->listen_peer_url ? src->listen_peer_url : src->peer_url);
	dst->client_urls =
	    dup_or_null(src->client_urls ? src->client_urls : "");
	dst->join = dup_or_null(src->join);
	dst->initial_cluster = dup_or_null(src->initial_cluster);
	dst->initial_cluster_state = dup_or_null(
	    src->initial_cluster_state ? src->initial_cluster_state : "new");
	dst->initial_cluster_token = dup_or_null(
	    src->initial_cluster_token ? src->initial_cluster_token : "ovld");
	if (!dst->heartbeat_ms)
		dst->heartbeat_ms = 50;
	if (!dst->election_ms)
		dst->election_ms = 300;
	if (!dst->max_voters)
		dst->max_voters = 5;
	if (!dst->snapshot_threshold)
		dst->snapshot_threshold = 10000;
	if (!dst->request_timeout_ms)
		dst->request_timeout_ms = 2000;
}

static void free_config(raftnode_config *c)
{
	free((char *)c->data_dir);
	free((char *)c->name);
	free((char *)c->peer_url);
	free((char *)c->listen_peer_url);
	free((char *)c->client_urls);
	free((char *)c->join);
	free((char *)c->initial_cluster);
	free((char *)c->initial_cluster_state);
	free((char *)c->initial_cluster_token);
}

/* Notices leader changes: counts them, and fails reads waiting on a
 * barrier that can no longer complete here. */
static void watch_leader(raftnode *rn)
{
	raft_id leader = 0;
	const char *addr;
	raft_leader(rn->raft, &leader, &addr);
	if (leader == rn->leader.id)
		return;
	if (leader != 0) {
		if (rn->raft->election_timeout != rn->cfg.election_ms)
			raft_set_election_timeout(rn->raft,
						  rn->cfg.election_ms);
		rn->stats.counters.leader_changes++;
		rn->leader.since_ns = raftnode_wall_ns();
		log_info("raft", "leader is now %016llx%s",
			 (unsigned long long)leader,
			 leader == rn->id ? " (this host)" : "");
	} else {
		log_info("raft", "no leader");
	}
	rn->leader.id = leader;
}

static void on_tick(uv_timer_t *t)
{
	raftnode *rn = t->data;
	if (rn->closing)
		return;
	watch_leader(rn);
	raftnode_pending_tick(rn);
	raftnode_read_tick(rn);
	membership_tick(rn);
	raftnode_follower_stats_sample(rn);
}

int raftnode_init(raftnode **out, uv_loop_t *loop, store *st,
		  const raftnode_config *cfg)
{
	raftnode_heap_install(); /* before raft allocates anything */
	raftnode *rn = calloc(1, sizeof(*rn));
	if (rn == NULL)
		return -1;
	rn->loop = loop;
	rn->st = st;
	rn->raft = &rn->own;
	copy_config(&rn->cfg, cfg);
	rn->start_ns = raftnode_wall_ns();
	/* Sequence numbers must not repeat across restarts: entries of an
	 * earlier life may still be applied after new requests are made. */
	rn->proposals.next_seq = (uint64_t)rn->start_ns;
	if (url_hostport(rn->cfg.peer_url, 2380, rn->raft_addr,
			 sizeof(rn->raft_addr)) != 0 ||
	    rn->cfg.transport == NULL) {
		log_error("raft", "peer URL %s: need scheme://HOST:PORT",
			  rn->cfg.peer_url);
		free_config(&rn->cfg);
		free(rn);
		return -1;
	}
	snprintf(rn->raft_dir, sizeof(rn->raft_dir), "%s/raft",
		 rn->cfg.data_dir);
	if (mkdir(rn->raft_dir, 0700) != 0 && errno != EEXIST) {
		log_error("raft", "cannot create %s: %s", rn->raft_dir,
			  strerror(errno));
		free_config(&rn->cfg);
		free(rn);
		return -1;
	}
	uv_timer_init(loop, &rn->tick);
	rn->tick.data = rn;
	uv_timer_init(loop, &rn->expiry.timer);
	rn->expiry.timer.data = rn;
	raftnode_batch_init(rn);
	raftnode_fsm_init(rn);
	*out = rn;
	return 0;
}

static int init_raft(raftnode *rn)
{
	/* libraft 0.15 cannot load the segments an unfinished truncation
	 * leaves (canonical/raft#372); a refusal is logged, raft_start then
	 * fails with libraft's own message. */
	raftnode_repair_segments(rn->raft_dir);
	raftnode_prefill_register(rn->raft_dir);
	int rv =
	    raft_uv_init(&rn->io, rn->loop, rn->raft_dir, rn->cfg.transport);
	if (rv != 0) {
		log_error("raft", "raft io in %s: %s", rn->raft_dir,
			  raft_strerror(rv));
		return -1;
	}
	raftnode_install_wrap_io(rn);
	raftnode_fsm_wrap_io(rn, &rn->io);
	/* A restart loads the newest snapshot whole before it can serve:
	 * reading it raw is several times faster than LZ4-decoding it
	 * (13 vs 50 ms for 100k keys), for more disk. */
	raft_uv_set_snapshot_compression(&rn->io, false);
	/* raft 0.15's uv backend fills in async_work but still says version
	 * 1, and raft_init then refuses our async (v3) snapshots. */
	if (rn->io.version < 2 && rn->io.async_work != NULL)
		rn->io.version = 2;
	raftnode_probe_begin(); /* its AIO context is torn down off the start
				   path */
	rv = raft_init(rn->raft, &rn->io, &rn->fsm, rn->id, rn->raft_addr);
	raftnode_probe_end();
	if (rv != 0) {
		log_error("raft", "init: %s", raft_errmsg(rn->raft));
		return -1;
	}
	raft_set_heartbeat_timeout(rn->raft, rn->cfg.heartbeat_ms);
	/* A cluster starting up (a restart of all hosts) has no leader, and
	 * nobody campaigns before an election timeout (1-2 s by default).
	 * Start with a short one; watch_leader restores the configured
	 * timeout as soon as a leader is known. */
	unsigned first = rn->cfg.election_ms / 5;
	if (first < 3 * rn->cfg.heartbeat_ms)
		first = 3 * rn->cfg.heartbeat_ms;
	if (first > rn->cfg.election_ms)
		first = rn->cfg.election_ms;
	raft_set_election_timeout(rn->raft, first);
	raft_set_snapshot_threshold(rn->raft, rn->cfg.snapshot_threshold);
	/* Entries kept behind a snapshot for followers that lag (etcd keeps
	 * 5000); a restart reads all of them, so not more. */
	raft_set_snapshot_trailing(rn->raft, 5000);
	raft_set_pre_vote(rn->raft, true);
	raft_set_max_catch_up_rounds(rn->raft, 100);
	raft_set_max_catch_up_round_duration(rn->raft, 50000);
	return 0;
}

/* Raft runs: the periodic work and the end of every turn begin. */
static void begin_serving(raftnode *rn)
{
	rn->raft_started = 1;
	uv_timer_start(&rn->tick, on_tick, TICK_MS, TICK_MS);
	raftnode_expiry_start(rn);
	raftnode_nudge_start(rn);
	log_info("raft", "started as %016llx at %s (cluster %016llx)",
		 (unsigned long long)rn->id, rn->raft_addr,
		 (unsigned long long)rn->cluster_id);
}

static int start_raft(raftnode *rn)
{
	int rv = raft_start(rn->raft);
	if (rv != 0) {
		const char *msg = raft_errmsg(rn->raft);
		log_error("raft", "start: %s",
			  msg && *msg ? msg : raft_strerror(rv));
		return -1;
	}
	begin_serving(rn);
	return 0;
}

int raftnode_attach(raftnode *rn, struct raft *r)
{
	if (rn->raft_started || r->fsm != &rn->fsm)
		return -1;
	rn->raft = r;
	rn->id = r->id;
	snprintf(rn->raft_addr, sizeof(rn->raft_addr), "%s", r->address);
	raftnode_fsm_wrap_io(rn, r->io); /* followers apply early, as here */
	begin_serving(rn);
	return 0;
}

/* After a preload: as a failed raft_start in raftnode_start would. */
static void start_preloaded(raftnode *rn)
{
	if (start_raft(rn) != 0)
		exit(1);
}

int raftnode_start(raftnode *rn)
{
	/* Identity first: the id must be known before raft_init. */
	if (membership_bootstrap_or_join(rn) != 0)
		return -1;
	if (raftnode_preload_begin(rn, start_preloaded) == 0)
		return 0; /* reads are served meanwhile (preload.c) */
	return start_raft(rn);
}

/* Exposed for membership_start.c, which runs init_raft once the id is
 * known. */
int raftnode_init_raft(raftnode *rn)
{
	return init_raft(rn);
}

/* libuv runs close callbacks in no promised order: free on the last. */
static void on_handle_closed(uv_handle_t *h)
{
	raftnode *rn = h->data;
	if (--rn->handles_open == 0) {
		log_info("raft", "closed");
		raftnode_batch_free(rn);
		raftnode_forward_free(rn);
		raftnode_install_free(rn);
		raftnode_commit_early_unwrap(&rn->early);
		void (*cb)(void *) = rn->close_cb;
		void *ctx = rn->close_ctx;
		free_config(&rn->cfg);
		free(rn);
		if (cb)
			cb(ctx);
	}
}

static void close_timers(raftnode *rn)
{
	rn->handles_open = 3;
	if (rn->nudge.check.loop) { /* started */
		rn->handles_open++;
		uv_close((uv_handle_t *)&rn->nudge.check, on_handle_closed);
	}
	uv_close((uv_handle_t *)&rn->tick, on_handle_closed);
	uv_close((uv_handle_t *)&rn->expiry.timer, on_handle_closed);
	uv_close((uv_handle_t *)&rn->batch.idle, on_handle_closed);
}

static void on_raft_closed(struct raft *r)
{
	raftnode *rn = r->data;
	raft_uv_close(&rn->io);
	close_timers(rn);
}

static void close_now(raftnode *rn)
{
	raftnode_pending_fail_all(rn, "etcdserver: server stopped");
	raftnode_read_fail_all(rn, "etcdserver: server stopped");
	raftnode_batch_fail_queued(rn, RAFT_SHUTDOWN);
	raftnode_preload_abandon(rn);
	if (rn->raft_started && rn->raft == &rn->own) {
		rn->raft->data = rn;
		raft_close(rn->raft, on_raft_closed);
	} else {
		close_timers(rn);
	}
}

static void on_transfer(struct raft_transfer *req)
{
	raftnode *rn = req->data;
	free(req);
	close_now(rn);
}

void raftnode_close(raftnode *rn, void (*cb)(void *ctx), void *ctx)
{
	if (rn->closing++)
		return;
	rn->close_cb = cb;
	rn->close_ctx = ctx;
	uv_timer_stop(&rn->tick);
	uv_timer_stop(&rn->expiry.timer);
	/* Hand leadership over so the others need not wait for an election. */
	if (rn->raft_started && raft_state(rn->raft) == RAFT_LEADER &&
	    rn->raft->configuration.n > 1) {
		struct raft_transfer *req = calloc(1, sizeof(*req));
		req->data = rn;
		if (raft_transfer(rn->raft, req, 0, on_transfer) == 0)
			return;
		free(req);
	}
	close_now(rn);
}

void raftnode_get_status(raftnode *rn, raftnode_status *out)
{
	*out = rn->stats.counters;
	out->id = rn->id;
	out->cluster_id = rn->cluster_id;
	out->start_time_ns = rn->start_ns;
	out->leader_since_ns = rn->leader.since_ns;
	if (!rn->raft_started) {
		out->state = RAFTNODE_UNAVAILABLE;
		return;
	}
	raft_id leader = 0;
	const char *addr;
	raft_leader(rn->raft, &leader, &addr);
	out->leader_id = leader;
	switch (raft_state(rn->raft)) {
	case RAFT_LEADER:
		out->state = RAFTNODE_LEADER;
		break;
	case RAFT_CANDIDATE:
		out->state = RAFTNODE_CANDIDATE;
		break;
	case RAFT_FOLLOWER:
		out->state = RAFTNODE_FOLLOWER;
		break;
	default:
		out->state = RAFTNODE_UNAVAILABLE;
	}
	out->term = rn->raft->current_term;
	out->commit_index = rn->raft->commit_index;
	out->last_applied = raft_last_applied(rn->raft);
}

int raftnode_has_leader(raftnode *rn)
{
	raft_id leader = 0;
	const char *addr;
	if (!rn->raft_started)
		return 0;
	raft_leader(rn->raft, &leader, &addr);
	return leader != 0;
}

int raftnode_is_ready(raftnode *rn)
{
	return raftnode_has_leader(rn) && rn->publish.done && rn->cluster_id;
}

void raftnode_metrics(void *ctx, char **buf, size_t *len, size_t *cap)
{
	raftnode *rn = ctx;
	size_t waiting = 0;
	for (pending *p = rn->proposals.oldest; p; p = p->next)
		waiting++;
	metrics_histogram(buf, len, cap, "ovld_raft_commit_duration_seconds",
			  "Time from proposing a command to applying it here.",
			  &rn->stats.commit_latency);
	metrics_sample(buf, len, cap, "ovld_raft_snapshots_taken_total",
		       "counter", "Snapshots written.",
		       rn->stats.snapshots_taken);
	metrics_sample(buf, len, cap, "ovld_raft_snapshots_restored_total",
		       "counter", "Snapshots restored.",
		       rn->stats.snapshots_restored);
	metrics_sample(buf, len, cap, "ovld_raft_members", "gauge",
		       "Servers in the Raft configuration.",
		       rn->raft_started ? rn->raft->configuration.n : 0);
	metrics_sample(buf, len, cap, "ovld_raft_pending_proposals", "gauge",
		       "Proposals waiting for an answer.", waiting);
	metrics_sample(buf, len, cap, "ovld_raft_read_barriers_total",
		       "counter",
		       "Quorum-read batches that needed a barrier (a Raft "
		       "entry).",
		       rn->stats.read_barriers);
}
