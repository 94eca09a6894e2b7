/* ctl.c - the ctl object: the model and the Docker plugin behind the
 * sockets, the upkeep tick (heartbeats, endpoint collection) and the
 * Docker sync, which runs after network changes and every few seconds. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "internal.h"

#define WORKERS 4
#define UPKEEP_MS 1000
#define SYNC_DEBOUNCE_MS 100
/* dockerd drops its copy of a network on `docker network rm` whatever the
 * plugin answers (libnetwork honours only its own ForbiddenError), so a
 * copy of a network ovld keeps is put back by the next sync: keep it near. */
#define SYNC_EVERY_MS 1000

typedef struct upkeep_job {
	ctl_job job;
	ctl *c;
	ovl_cluster_view view;
	char (*ips)[64];
} upkeep_job;

typedef struct sync_job {
	ctl_job job;
	ctl *c;
} sync_job;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends the host part of each URL in a comma-separated list. */
static void add_hosts(const char *urls, char (*ips)[64], size_t *n, size_t cap)
{
	while (urls && *urls && *n < cap) {
		const char *p = strstr(urls, "://");
		p = p ? p + 3 : urls;
		size_t len = strcspn(p, ":/,");
		if (len > 0 && len < 64) {
			memcpy(ips[*n], p, len);
			ips[*n][len] = '\0';
			(*n)++;
		}
		urls = strchr(p, ',');
		if (urls)
			urls++;
	}
}

static void run_upkeep(ctl_job *j)
{
	upkeep_job *u = (upkeep_job *)j;
	ovl_gc_config gc = {.host_grace_s = u->c->cfg.endpoint_gc_s,
			    .netns_grace_s = u->c->cfg.netns_gc_s};
	ovl_upkeep(u->c->ovl, &u->view, &gc);
}

static void done_upkeep(ctl_job *j)
{
	upkeep_job *u = (upkeep_job *)j;
	u->c->upkeep_busy = 0;
	free(u->ips);
	free(u);
}

static void on_upkeep(uv_timer_t *t)
{
	ctl *c = t->data;
	if (c->upkeep_busy || c->closing)
		return;
	raftnode_status st;
	raftnode_get_status(c->rn, &st);
	raftnode_member *m = NULL;
	size_t nm = 0;
	if (raftnode_members(c->rn, &m, &nm) != 0)
		return;
	upkeep_job *u = calloc(1, sizeof(*u));
	size_t cap = 2 * nm + 1;
	if (u)
		u->ips = calloc(cap, sizeof(*u->ips));
	if (!u || !u->ips) {
		free(u);
		free(m);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < nm; i++) {
		add_hosts(m[i].peer_url, u->ips, &n, cap);
		add_hosts(m[i].client_urls, u->ips, &n, cap);
	}
	free(m);
	u->c = c;
	u->view.is_leader = st.state == RAFTNODE_LEADER;
	u->view.member_ips = (const char(*)[64])u->ips;
	u->view.n_members = n;
	u->view.now_ms = mono_ms();
	u->job.run = run_upkeep;
	u->job.done = done_upkeep;
	c->upkeep_busy = 1;
	ctl_pool_submit(&c->pool, &u->job);
}

static void run_sync(ctl_job *j)
{
	dk_sync(((sync_job *)j)->c->dk);
}

static void on_sync(uv_timer_t *t);

static void done_sync(ctl_job *j)
{
	ctl *c = ((sync_job *)j)->c;
	free(j);
	c->sync_busy = 0;
	if (c->sync_again && !c->closing) {
		c->sync_again = 0;
		uv_timer_start(&c->sync, on_sync, SYNC_DEBOUNCE_MS, 0);
	}
}

static void on_sync(uv_timer_t *t)
{
	ctl *c = t->data;
	if (c->closing)
		return;
	if (c->sync_busy) {
		c->sync_again = 1;
		return;
	}
	sync_job *s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->c = c;
	s->job.run = run_sync;
	s->job.done = done_sync;
	c->sync_busy = 1;
	ctl_pool_submit(&c->pool, &s->job);
	uv_timer_start(&c->sync, on_sync, SYNC_EVERY_MS, 0);
}

/* A change to any network record brings the sync forward. */
static void on_event(void *ctx, const store_event *ev)
{
	ctl *c = ctx;
	const char *k = ev->node.key;
	if (k && strncmp(k, OVL_NET "/", strlen(OVL_NET) + 1) == 0 &&
	    !c->sync_busy)
		uv_timer_start(&c->sync, on_sync, SYNC_DEBOUNCE_MS, 0);
	else if (k && strncmp(k, OVL_NET "/", strlen(OVL_NET) + 1) == 0)
		c->sync_again = 1;
}

int ctl_init(ctl **out, uv_loop_t *loop, store *st, raftnode *rn,
	     const ctl_config *cfg)
{
	ctl *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->loop = loop;
	c->st = st;
	c->rn = rn;
	c->cfg = *cfg;
	c->sub = -1;
	*out = c;
	/* the caller's strings need not outlive this call */
	snprintf(c->host_ip, sizeof(c->host_ip), "%s",
		 cfg->host_ip ? cfg->host_ip : "");
	c->cfg.host_ip = c->host_ip;
	const char **s[] = {&c->cfg.control_socket, &c->cfg.docker_plugin,
			    &c->cfg.docker_host};
	for (size_t i = 0; i < 3; i++)
		if (*s[i] && !(*s[i] = c->strings[i] = strdup(*s[i])))
			return -1;
	if (ctl_pool_init(&c->pool, loop, WORKERS) != 0 ||
	    ctl_bridge_init(&c->bridge, loop, st, rn) != 0)
		return -1;
	ovl_config oc = {.kv = ctl_bridge_kv(c->bridge),
			 .host_ip = cfg->host_ip,
			 .datapath = cfg->datapath,
			 .wait_ms = 10000};
	if (ovl_init(&c->ovl, &oc) != 0)
		return -1;
	if (cfg->docker_plugin || cfg->docker_sync) {
		dk_config dc = {.ovl = c->ovl,
				.docker_host = cfg->docker_host,
				.sync = cfg->docker_sync};
		if (dk_init(&c->dk, &dc) != 0)
			return -1;
	}
	return 0;
}

/* Serves one socket; a default path that cannot be served is skipped. */
static int open_socket(ctl *c, ctl_server **out, ctl_kind kind,
		       const char *path, int required)
{
	if (!path)
		return 0;
	if (ctl_server_open(out, c, kind, path, 0660) == 0)
		return 0;
	ctl_server_close(*out);
	*out = NULL;
	if (required)
		return -1;
	log_warn("ctl", "not serving %s (name a path with %s, or off)", path,
		 kind == CTL_DOCKER ? "--docker-plugin" : "--control-socket");
	return 0;
}

int ctl_start(ctl *c)
{
	if (open_socket(c, &c->control, CTL_CONTROL, c->cfg.control_socket,
			c->cfg.control_required) != 0 ||
	    open_socket(c, &c->docker, CTL_DOCKER, c->cfg.docker_plugin,
			c->cfg.docker_required) != 0)
		return -1;
	c->started = 1;
	uv_timer_init(c->loop, &c->upkeep);
	c->upkeep.data = c;
	/* A host without a datapath has no endpoints and writes no
	 * heartbeats: a store-only cluster's index moves only with its
	 * clients' writes, as etcd's does. */
	if (c->cfg.datapath)
		uv_timer_start(&c->upkeep, on_upkeep, UPKEEP_MS, UPKEEP_MS);
	uv_timer_init(c->loop, &c->sync);
	c->sync.data = c;
	if (c->dk && c->cfg.docker_sync) {
		c->sub = store_subscribe(c->st, on_event, c);
		uv_timer_start(&c->sync, on_sync, SYNC_DEBOUNCE_MS, 0);
	}
	return 0;
}

static void ctl_free(ctl *c)
{
	for (size_t i = 0; i < 3; i++)
		free(c->strings[i]);
	free(c);
}

static void timer_closed(uv_handle_t *h)
{
	ctl *c = h->data;
	if (++c->timers_closed == 2)
		ctl_free(c);
}

void ctl_close(ctl *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	if (c->sub > 0)
		store_unsubscribe(c->st, c->sub);
	ctl_server_close(c->control);
	ctl_server_close(c->docker);
	/* Workers blocked on the store get an error at once. */
	if (c->bridge)
		ctl_bridge_close(c->bridge);
	ctl_pool_close(&c->pool);
	if (c->dk)
		dk_close(c->dk);
	if (c->ovl)
		ovl_close(c->ovl);
	if (c->started) {
		uv_close((uv_handle_t *)&c->upkeep, timer_closed);
		uv_close((uv_handle_t *)&c->sync, timer_closed);
	} else {
		ctl_free(c);
	}
}
