/* common.c - helpers shared by ovlctl's commands: errors, IPv4 parsing,
 * ids, reading networks back from Docker's records, this host's address. */
#include "../../src/url.h"
#include "ovlctl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("Error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int ip_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

void ip_format(uint32_t ip, char out[16])
{
	struct in_addr a = {.s_addr = htonl(ip)};
	inet_ntop(AF_INET, &a, out, 16);
}

uint32_t prefix_mask(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int cidr_parse(const char *s, uint32_t *net, int *prefix)
{
	char buf[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 0 || p > 32)
		return -1;
	if (ip_parse(buf, net) != 0)
		return -1;
	*prefix = (int)p;
	*net &= prefix_mask(*prefix);
	return 0;
}

int random_id(char out[65])
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
		sprintf(out + 2 * i, "%02x", b[i]);
	return 0;
}

/* "10.0.0.1/24" or "10.0.0.1" -> host-order address. */
static uint32_t gw_parse(const char *s)
{
	char buf[32];
	uint32_t ip = 0;
	if (!s)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	return ip_parse(buf, &ip) == 0 ? ip : 0;
}

static void net_from_overlay(ctl *c, netinfo *n)
{
	char key[256];
	json_t *node = NULL;
	snprintf(key, sizeof(key), P_OVERLAY "/%s", n->id);
	if (kv_get(&c->kv, key, 0, &node) != 0)
		return;
	json_t *o = json_loads(kv_node_value(node) ?: "", 0, NULL);
	json_t *sn = json_array_get(json_object_get(o, "subnets"), 0);
	if (sn) {
		cidr_parse(json_string_value(json_object_get(sn, "SubnetIP")),
			   &n->subnet, &n->prefix);
		n->gateway =
		    gw_parse(json_string_value(json_object_get(sn, "GwIP")));
		n->vni =
		    (uint32_t)json_integer_value(json_object_get(sn, "Vni"));
	}
	json_decref(o);
	json_decref(node);
}

/* Fills n from a network/<id> node. -1 if it is not a network record. */
static int net_from_node(json_t *node, netinfo *n)
{
	memset(n, 0, sizeof(*n));
	json_t *r = json_loads(kv_node_value(node) ?: "", 0, NULL);
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *name = json_string_value(json_object_get(r, "name"));
	if (!id || !name) {
		json_decref(r);
		return -1;
	}
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->driver, sizeof(n->driver), "%s",
		 json_string_value(json_object_get(r, "networkType")) ?: "");
	snprintf(n->scope, sizeof(n->scope), "%s",
		 json_string_value(json_object_get(r, "scope")) ?: "global");
	n->ovld = json_is_true(json_object_get(r, "ovld"));
	n->record = r;
	n->index = kv_node_index(node);
	return 0;
}

void net_free(netinfo *n)
{
	json_decref(n->record);
	n->record = NULL;
}

int net_list(ctl *c, netinfo **out, size_t *cnt)
{
	json_t *dir = NULL;
	*out = NULL;
	*cnt = 0;
	int err = kv_get(&c->kv, P_NET, 1, &dir);
	if (err == KV_NOT_FOUND)
		return 0;
	if (err != 0)
		return fail("%s", kv_last_error());
	json_t *kids = kv_node_children(dir);
	netinfo *v = calloc(json_array_size(kids) + 1, sizeof(*v));
	size_t i, k = 0;
	json_t *ch;
	json_array_foreach(kids, i, ch)
	{
		if (net_from_node(ch, &v[k]) == 0)
			k++;
	}
	json_decref(dir);
	*out = v;
	*cnt = k;
	return 0;
}

int net_lookup(ctl *c, const char *ref, netinfo *out)
{
	netinfo *v;
	size_t n;
	if (net_list(c, &v, &n) != 0)
		return 1;
	int found = -1, prefix_hits = 0, prefix_at = -1;
	for (size_t i = 0; i < n && found < 0; i++)
		if (strcmp(v[i].id, ref) == 0 || strcmp(v[i].name, ref) == 0)
			found = (int)i;
	for (size_t i = 0; i < n && found < 0; i++)
		if (strncmp(v[i].id, ref, strlen(ref)) == 0) {
			prefix_hits++;
			prefix_at = (int)i;
		}
	if (found < 0 && prefix_hits == 1)
		found = prefix_at;
	for (size_t i = 0; i < n; i++)
		if ((int)i != found)
			net_free(&v[i]);
	if (found >= 0) {
		*out = v[found];
		net_from_overlay(c, out);
	}
	free(v);
	return found >= 0 ? 0 : fail("No such network: %s", ref);
}

int self_host_ip(ctl *c, char out[64])
{
	if (c->host_ip) {
		snprintf(out, 64, "%s", c->host_ip);
		return 0;
	}
	/* The member whose id /v2/stats/self reports; its peer URL carries
	 * the address ovld advertises (and uses as VTEP). */
	json_t *self = kv_get_json(&c->kv, "/v2/stats/self");
	json_t *mem = kv_get_json(&c->kv, "/v2/members");
	const char *id = json_string_value(json_object_get(self, "id"));
	size_t i;
	json_t *m;
	int ok = 0;
	json_array_foreach(json_object_get(mem, "members"), i, m)
	{
		const char *mid = json_string_value(json_object_get(m, "id"));
		json_t *peer =
		    json_array_get(json_object_get(m, "peerURLs"), 0);
		if (id && mid && strcmp(id, mid) == 0 && json_is_string(peer)) {
			url_host(json_string_value(peer), out, 64);
			ok = 1;
		}
	}
	json_decref(self);
	json_decref(mem);
	if (!ok)
		return fail("cannot tell this host's address from ovld at "
			    "%s:%d (use --host IP)",
			    c->kv.host, c->kv.port);
	return 0;
}

int count_add(ctl *c, const char *nid, int delta)
{
	char key[256], val[64];
	snprintf(key, sizeof(key), P_COUNT "/%s", nid);
	for (int attempt = 0; attempt < 100; attempt++) {
		json_t *node = NULL;
		int err = kv_get(&c->kv, key, 0, &node);
		if (err == KV_NOT_FOUND) {
			snprintf(val, sizeof(val), "{\"Count\":%d}",
				 delta > 0 ? delta : 0);
			err = kv_create(&c->kv, key, val, NULL);
			if (err != KV_EXISTS)
				return err;
			continue;
		}
		if (err != 0)
			return err;
		json_t *v = json_loads(kv_node_value(node) ?: "", 0, NULL);
		long long cnt =
		    json_integer_value(json_object_get(v, "Count")) + delta;
		json_decref(v);
		snprintf(val, sizeof(val), "{\"Count\":%lld}",
			 cnt < 0 ? 0 : cnt);
		err = kv_cas(&c->kv, key, val, kv_node_index(node), NULL);
		json_decref(node);
		if (err != KV_TEST_FAILED)
			return err;
	}
	return KV_TEST_FAILED;
}

int flag_value(int argc, char **argv, int *i, const char *name,
	       const char **dst)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*dst = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return fail("flag needs an argument: %s", a), -1;
	*dst = argv[++*i];
	return 1;
}
