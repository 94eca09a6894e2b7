/* stats.c - etcd's /v2/stats/self, /v2/stats/leader and /v2/stats/store
 * from raftnode's status and this host's request counters. */
#include <inttypes.h>
#include <stdlib.h>

#include "internal.h"
#include "json.h"

static const char *state_name(int s)
{
	switch (s) {
	case RAFTNODE_LEADER:
		return "StateLeader";
	case RAFTNODE_CANDIDATE:
		return "StateCandidate";
	default:
		return "StateFollower";
	}
}

void api_stats_self_send(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_member *list;
	size_t n;
	const char *name = "";
	raftnode_get_status(a->rn, &st);
	if (api_members_load(a, &list, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (list[i].id == st.id)
			name = list[i].name;
	int64_t now = api_now_ns();
	abuf b;
	abuf_init(&b);
	abuf_puts(&b, "{\"name\":");
	api_json_cstr(&b, name);
	abuf_printf(&b, ",\"id\":\"%" PRIx64 "\",\"state\":\"%s\"", st.id,
		    state_name(st.state));
	abuf_puts(&b, ",\"startTime\":\"");
	api_json_time(&b, st.start_time_ns);
	abuf_printf(&b, "\",\"leaderInfo\":{\"leader\":\"%" PRIx64 "\"",
		    st.leader_id);
	if (st.leader_id && st.leader_since_ns) {
		abuf_puts(&b, ",\"uptime\":\"");
		api_json_duration(&b, now - st.leader_since_ns);
		abuf_puts(&b, "\",\"startTime\":\"");
		api_json_time(&b, st.leader_since_ns);
		abuf_putc(&b, '"');
	}
	abuf_printf(&b,
		    "},\"recvAppendRequestCnt\":%" PRIu64
		    ",\"sendAppendRequestCnt\":%" PRIu64 "}",
		    st.recv_append_count, st.send_append_count);
	if (n)
		free(list);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

void api_stats_leader_send(api *a, h2o_req_t *req)
{
	raftnode_follower *fs = NULL;
	size_t n = 0;
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	if (raftnode_follower_stats(a->rn, &fs, &n) != 0) {
		api_send_message(a, req, 403, "not current leader");
		return;
	}
	abuf b;
	abuf_init(&b);
	abuf_printf(&b, "{\"leader\":\"%" PRIx64 "\",\"followers\":{", st.id);
	for (size_t i = 0; i < n; i++) {
		const raftnode_follower *f = &fs[i];
		abuf_printf(&b,
			    "%s\"%" PRIx64 "\":{\"latency\":{\"current\":%g,"
			    "\"average\":%g,\"standardDeviation\":%g,"
			    "\"minimum\":%g,\"maximum\":%g},\"counts\":{"
			    "\"fail\":%" PRIu64 ",\"success\":%" PRIu64 "}}",
			    i ? "," : "", f->id, f->latency_current_ms,
			    f->latency_average_ms, f->latency_stddev_ms,
			    f->latency_min_ms, f->latency_max_ms, f->fail,
			    f->success);
	}
	abuf_puts(&b, "}}");
	free(fs);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

void api_stats_store_send(api *a, h2o_req_t *req)
{
	static const char *const names[API_STAT_COUNT] = {
	    "getsSuccess",
	    "getsFail",
	    "setsSuccess",
	    "setsFail",
	    "deleteSuccess",
	    "deleteFail",
	    "updateSuccess",
	    "updateFail",
	    "createSuccess",
	    "createFail",
	    "compareAndSwapSuccess",
	    "compareAndSwapFail",
	    "compareAndDeleteSuccess",
	    "compareAndDeleteFail",
	    "expireCount",
	};
	abuf b;
	abuf_init(&b);
	abuf_putc(&b, '{');
	for (int i = 0; i < API_STAT_COUNT; i++)
		abuf_printf(&b, "\"%s\":%" PRIu64 ",", names[i], a->stats[i]);
	abuf_printf(&b, "\"watchers\":%zu}", a->hub.n_watchers);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}
