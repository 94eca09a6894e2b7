/* cluster.c - the control API's cluster calls (docs/control-api.md):
 * the join token (GET /v1/cluster/token, POST /v1/cluster/token/rotate)
 * the CA's rotation (POST /v1/cluster/rotate-ca) and client certificates
 * (POST /v1/cluster/client-cert {"name"}). They
 * run on the loop thread, where the trust lives. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct token_req {
	ctl *c;
	int rotate;
	struct bcall *call;
} token_req;

static void on_token(void *ctx, int status, const char *text)
{
	token_req *r = ctx;
	ctl_bridge_done(r->call, status,
			status == 0 ? json_pack("{s:s}", "token", text)
				    : json_pack("{s:s}", "error", text));
}

static void token_on_loop(void *arg, struct bcall *call)
{
	token_req *r = arg;
	r->call = call;
	peer_trust_token(r->c->cfg.trust, r->rotate, on_token, r);
}

static void on_rotation(void *ctx, int status, const char *text)
{
	token_req *r = ctx;
	ctl_bridge_done(
	    r->call, status,
	    json_pack("{s:s}", status == 0 ? "status" : "error", text));
}

static void rotate_ca_on_loop(void *arg, struct bcall *call)
{
	token_req *r = arg;
	r->call = call;
	peer_trust_rotate_ca(r->c->cfg.trust, on_rotation, r);
}

typedef struct cert_req {
	ctl *c;
	const char *name;
} cert_req;

static void cert_on_loop(void *arg, struct bcall *call)
{
	cert_req *r = arg;
	char *key = NULL, *cert = NULL, *ca = NULL;
	if (peer_trust_client_cert(r->c->cfg.trust, r->name, &key, &cert,
				   &ca) == 0)
		ctl_bridge_done(call, 0,
				json_pack("{s:s,s:s,s:s}", "key", key, "cert",
					  cert, "ca", ca));
	else
		ctl_bridge_done(call, -1,
				json_pack("{s:s}", "error",
					  "this host cannot sign: it does not "
					  "hold the cluster CA's key"));
	free(key);
	free(cert);
	free(ca);
}

/* A v2 user name: what etcd accepts, and safe as a file name. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n < 64 && name[0] != '.' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
			    "WXYZ0123456789._-") == n;
}

static void answer(ctl_call *call, int code, json_t *doc, int fail_status)
{
	if (code != 0) {
		const char *why = NULL;
		json_unpack(doc, "{s:s}", "error", &why);
		json_t *e =
		    json_pack("{s:s,s:s}", "error", why ? why : "failed",
			      "code", "unavailable");
		json_decref(doc);
		doc = e;
	}
	call->status = code ? fail_status : 200;
	call->reply = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
}

void ctl_cluster_route(ctl *c, ctl_call *call, const char *what)
{
	json_t *doc = NULL;
	if (c->cfg.trust == NULL) {
		call->status = 404;
		call->reply = strdup("{\"error\":\"no such call\","
				     "\"code\":\"not_found\"}");
	} else if (!strcmp(what, "token") && !strcmp(call->method, "GET")) {
		token_req r = {.c = c};
		int code = ctl_bridge_run(c->bridge, token_on_loop, &r, &doc);
		answer(call, code, doc, 503);
	} else if (!strcmp(what, "token/rotate") &&
		   !strcmp(call->method, "POST")) {
		token_req r = {.c = c, .rotate = 1};
		int code = ctl_bridge_run(c->bridge, token_on_loop, &r, &doc);
		answer(call, code, doc, 503);
	} else if (!strcmp(what, "rotate-ca") &&
		   !strcmp(call->method, "POST")) {
		token_req r = {.c = c};
		int code =
		    ctl_bridge_run(c->bridge, rotate_ca_on_loop, &r, &doc);
		answer(call, code, doc, 409);
	} else if (!strcmp(what, "client-cert") &&
		   !strcmp(call->method, "POST")) {
		json_t *in = json_loadb(call->body ? call->body : "",
					call->body_len, 0, NULL);
		cert_req r = {.c = c, .name = NULL};
		json_unpack(in, "{s:s}", "name", &r.name);
		if (r.name == NULL || !name_ok(r.name)) {
			call->status = 400;
			call->reply = strdup(
			    "{\"error\":\"name: 1-63 letters, digits, '.', "
			    "'_' or '-'\",\"code\":\"invalid\"}");
		} else {
			int code =
			    ctl_bridge_run(c->bridge, cert_on_loop, &r, &doc);
			answer(call, code, doc, 503);
		}
		json_decref(in);
	} else {
		call->status = 404;
		call->reply = strdup("{\"error\":\"no such call\","
				     "\"code\":\"not_found\"}");
	}
}
