/* detach.c - taking an endpoint off its network: the record goes first
 * (compare-and-delete on the index it was read at, so a concurrent change
 * is noticed), then Docker's count, the address claim (unless Docker's
 * IPAM owns it) and the name claim, each deleted only while it still
 * holds this endpoint's id. For a local endpoint, detach then waits until
 * the datapath has removed its veth, so what follows sees it gone. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int missing(int rc, int missing_ok)
{
	return rc == OVL_ENOTFOUND && missing_ok ? OVL_OK : rc;
}

/* Deletes the record; 0, OVL_KV_NOT_FOUND when someone else did, or a
 * store code. A record changed meanwhile is read again. */
static int delete_record(ovl *o, const ovl_network *n, ovl_endpoint *e,
			 ovl_err *err)
{
	char key[256];
	snprintf(key, sizeof(key), OVL_EP "/%s/%s", n->id, e->id);
	for (int attempt = 0; attempt < 5; attempt++) {
		int rc = o->kv.del(o->kv.ctx, key, e->index, NULL, 0);
		if (rc != OVL_KV_TEST_FAILED)
			return rc;
		char id[65];
		snprintf(id, sizeof(id), "%s", e->id);
		if (ovl_ep_find(o, n, id, e, err) != OVL_OK)
			return OVL_KV_NOT_FOUND;
	}
	return OVL_KV_TEST_FAILED;
}

static void release_claims(ovl *o, const ovl_network *n, const ovl_endpoint *e)
{
	char key[512];
	ovl_count_add(o, n->id, -1);
	if (!e->ipam_external && e->ip) {
		ovl_ip_key(n->id, e->ip, key, sizeof(key));
		o->kv.del(o->kv.ctx, key, 0, e->id, 0);
	}
	snprintf(key, sizeof(key), OVL_EPNAME "/%s/%s", n->id, e->name);
	o->kv.del(o->kv.ctx, key, 0, e->id, 0);
}

static void wait_gone(ovl *o, const ovl_endpoint *e)
{
	char veth[16];
	if (o->datapath != OVL_DP_ON || strcmp(e->host, o->host) ||
	    (!e->netns[0] && !e->peer[0]))
		return;
	snprintf(veth, sizeof(veth), "ovv-%.8s", e->id);
	/* The record is gone and the claims released: the detach happened.
	 * A slow datapath removes the veth later; nothing to report. */
	ovl_wait_link(veth, 0, o->wait_ms);
}

int ovl_endpoint_detach(ovl *o, const char *network, const char *ref,
			int missing_ok, ovl_err *err)
{
	ovl_network n;
	ovl_endpoint e;
	if (!ref || !*ref)
		return ovl_fail(err, OVL_EINVAL, "no endpoint given");
	int rc = ovl_network_get(o, network, &n, err);
	if (rc == OVL_OK)
		rc = ovl_ep_find(o, &n, ref, &e, err);
	if (rc)
		return missing(rc, missing_ok);
	rc = delete_record(o, &n, &e, err);
	if (rc == OVL_KV_NOT_FOUND)
		return missing(ovl_fail(err, OVL_ENOTFOUND,
					"endpoint %s not found in network %s",
					ref, n.name),
			       missing_ok);
	if (rc == OVL_KV_TEST_FAILED)
		return ovl_fail(err, OVL_EBUSY,
				"endpoint %s kept changing while removing it, "
				"try again",
				ref);
	if (rc)
		return ovl_kv_fail(err, rc, "removing the endpoint");
	release_claims(o, &n, &e);
	wait_gone(o, &e);
	return OVL_OK;
}
