/* json.c - networks and endpoints as the control socket returns them
 * (docs/control-api.md: NETWORK and ENDPOINT). */
#include <stdio.h>

#include "internal.h"

static void ip_or_empty(uint32_t ip, char out[16])
{
	if (ip)
		ovl_ip_format(ip, out);
	else
		out[0] = '\0';
}

json_t *ovl_network_json(const ovl_network *n)
{
	char subnet[32] = "", net[16], gw[16];
	if (n->prefix) {
		ovl_ip_format(n->subnet, net);
		snprintf(subnet, sizeof(subnet), "%s/%d", net, n->prefix);
	}
	ip_or_empty(n->gateway, gw);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:s, s:b}",
			 "id", n->id, "name", n->name, "driver", n->driver,
			 "scope", n->scope, "ovld", n->ovld, "subnet", subnet,
			 "gateway", gw, "vni", (json_int_t)n->vni, "created",
			 n->created, "in_delete", n->in_delete);
}

json_t *ovl_endpoint_json(const ovl_endpoint *e)
{
	char ip[16], gw[16], addr[40] = "";
	ip_or_empty(e->ip, ip);
	ip_or_empty(e->gateway, gw);
	if (e->ip)
		snprintf(addr, sizeof(addr), "%s/%d", ip, e->prefix);
	json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:s, "
	    "s:s, s:s, s:s}",
	    "id", e->id, "network", e->network, "network_id", e->network_id,
	    "name", e->name, "address", addr, "ip", ip, "prefix", e->prefix,
	    "gateway", gw, "mac", e->mac, "mtu", OVL_MTU, "host", e->host,
	    "netns", e->netns, "ifname", e->ifname, "runtime", e->runtime,
	    "container", e->container);
	json_t *more = json_pack("{s:s, s:s, s:b, s:b}", "peer", e->peer,
				 "sandbox", e->sandbox, "ipam_external",
				 e->ipam_external, "ovld", e->ovld);
	json_object_update(j, more);
	json_decref(more);
	return j;
}
