/* metrics.c - GET /metrics in Prometheus' text format: the HTTP counters
 * and latency histogram, store and Raft gauges, then every block that
 * another layer registered (api_add_metrics). */
#include <inttypes.h>

#include "internal.h"

static void metrics_http(api *a, abuf *b)
{
	static const char *const bounds[API_LAT_BUCKETS] = {
	    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	    "0.05",   "0.1",   "0.25",	 "0.5",	  "1",	  "2.5"};
	abuf_puts(b, "# HELP ovld_http_requests_total HTTP responses by "
		     "status code.\n# TYPE ovld_http_requests_total counter\n");
	for (int c = 0; c < API_MAX_STATUS; c++)
		if (a->http_codes[c])
			abuf_printf(b,
				    "ovld_http_requests_total{code=\"%d\"} "
				    "%" PRIu64 "\n",
				    c, a->http_codes[c]);
	abuf_puts(b, "# HELP ovld_http_request_duration_seconds Time to "
		     "answer a request (watches excluded).\n"
		     "# TYPE ovld_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < API_LAT_BUCKETS; i++) {
		cum += a->lat_buckets[i];
		abuf_printf(
		    b,
		    "ovld_http_request_duration_seconds_bucket{le=\"%s\"}"
		    " %" PRIu64 "\n",
		    bounds[i], cum);
	}
	cum += a->lat_buckets[API_LAT_BUCKETS];
	abuf_printf(b,
		    "ovld_http_request_duration_seconds_bucket{le=\"+Inf\"} "
		    "%" PRIu64 "\n"
		    "ovld_http_request_duration_seconds_sum %.6f\n"
		    "ovld_http_request_duration_seconds_count %" PRIu64 "\n",
		    cum, a->lat_sum, a->lat_count);
}

static void metric(abuf *b, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	abuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name,
		    help, name, type, name, v);
}

void api_metrics_send(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	abuf b;
	abuf_init(&b);
	metrics_http(a, &b);
	metric(&b, "ovld_watchers", "gauge", "Parked watches.",
	       a->hub.n_watchers);
	metric(&b, "ovld_store_index", "gauge", "Store (etcd) index.",
	       store_current_index(a->st));
	metric(&b, "ovld_store_keys", "gauge", "Nodes in the key space.",
	       store_key_count(a->st));
	metric(&b, "ovld_raft_term", "gauge", "Current Raft term.", st.term);
	metric(&b, "ovld_raft_commit_index", "gauge", "Raft commit index.",
	       st.commit_index);
	metric(&b, "ovld_raft_applied_index", "gauge", "Last applied entry.",
	       st.last_applied);
	metric(&b, "ovld_raft_is_leader", "gauge", "1 on the leader.",
	       st.state == RAFTNODE_LEADER);
	metric(&b, "ovld_raft_has_leader", "gauge", "1 when a leader is known.",
	       st.leader_id != 0);
	metric(&b, "ovld_raft_leader_changes_total", "counter",
	       "Leader changes seen.", st.leader_changes);
	metric(&b, "ovld_raft_proposals_ok_total", "counter",
	       "Proposals answered.", st.proposals_ok);
	metric(&b, "ovld_raft_proposals_failed_total", "counter",
	       "Proposals failed.", st.proposals_failed);
	for (size_t i = 0; i < a->n_blocks && abuf_ok(&b); i++)
		a->blocks[i].cb(a->blocks[i].ctx, &b.p, &b.len, &b.cap);
	if (!abuf_ok(&b)) {
		api_send_text(a, req, 500, "out of memory\n");
	} else {
		api_send(a, req, 200, "text/plain; version=0.0.4", b.p, b.len);
	}
	abuf_free(&b);
}
