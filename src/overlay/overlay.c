/* overlay.c - the model's handle, its errors, and the small helpers every
 * concept file uses: store codes turned into user errors, etcd node
 * accessors, random ids. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int ovl_init(ovl **out, const ovl_config *cfg)
{
	if (!cfg || !cfg->kv.get || !cfg->kv.create || !cfg->kv.cas ||
	    !cfg->kv.del || !cfg->kv.set)
		return OVL_EINVAL;
	ovl *o = calloc(1, sizeof(*o));
	if (!o)
		return OVL_EINTERNAL;
	o->kv = cfg->kv;
	snprintf(o->host, sizeof(o->host), "%s",
		 cfg->host_ip ? cfg->host_ip : "");
	o->datapath = cfg->datapath;
	o->wait_ms = cfg->wait_ms ? cfg->wait_ms : 10000;
	pthread_mutex_init(&o->upkeep_lock, NULL);
	*out = o;
	return OVL_OK;
}

void ovl_close(ovl *o)
{
	if (!o)
		return;
	pthread_mutex_destroy(&o->upkeep_lock);
	free(o->hosts);
	free(o->gone);
	free(o);
}

const char *ovl_host_ip(ovl *o)
{
	return o->host;
}

int ovl_fail(ovl_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

int ovl_kv_fail(ovl_err *err, int rc, const char *what)
{
	if (rc < 0)
		return ovl_fail(err, OVL_EUNAVAIL,
				"%s: the cluster store cannot be written now "
				"(no leader?)",
				what);
	return ovl_fail(err, OVL_EINTERNAL, "%s: store error %d", what, rc);
}

const char *ovl_node_value(json_t *node)
{
	return json_string_value(json_object_get(node, "value"));
}

uint64_t ovl_node_index(json_t *node)
{
	return (uint64_t)json_integer_value(
	    json_object_get(node, "modifiedIndex"));
}

json_t *ovl_node_children(json_t *node)
{
	static json_t *empty;
	json_t *kids = json_object_get(node, "nodes");
	if (json_is_array(kids))
		return kids;
	/* A shared empty array: jansson's reference counts are not atomic,
	 * so it is made once and never released. */
	if (!empty) {
		json_t *e = json_array();
		if (!__sync_bool_compare_and_swap(&empty, NULL, e))
			json_decref(e);
	}
	return empty;
}

const char *ovl_node_base(json_t *node)
{
	const char *k = json_string_value(json_object_get(node, "key"));
	const char *slash = k ? strrchr(k, '/') : NULL;
	return slash ? slash + 1 : (k ? k : "");
}

json_t *ovl_child_names(ovl *o, const char *dir)
{
	json_t *set = json_object(), *node = NULL;
	if (o->kv.get(o->kv.ctx, dir, 0, &node) == 0) {
		size_t i;
		json_t *ch;
		json_array_foreach(ovl_node_children(node), i, ch)
		    json_object_set_new(set, ovl_node_base(ch), json_true());
	}
	json_decref(node);
	return set;
}

json_t *ovl_node_json(json_t *node)
{
	const char *v = ovl_node_value(node);
	json_t *r = v ? json_loads(v, 0, NULL) : NULL;
	if (r && !json_is_object(r)) {
		json_decref(r);
		r = NULL;
	}
	return r;
}

int ovl_random_id(char out[65])
{
	unsigned char b[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof(b));
	close(fd);
	if (n != (ssize_t)sizeof(b))
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int ovl_valid_key_part(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n < 256 && !strchr(s, '/') && strcmp(s, ".") &&
	       strcmp(s, "..");
}
