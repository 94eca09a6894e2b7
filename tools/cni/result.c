/* result.c - the JSON the plugin prints: ADD's result in the shape of the
 * config's spec version, the spec's error object and VERSION's answer.
 *
 * No gateway and no routes: ovld's overlay is one flat L2 segment per
 * network and nothing answers at the network's gateway address, so the
 * connected route the kernel adds with the address is all a container
 * needs. A default route would point at a host that does not exist. */
#include "cni.h"

#include <string.h>

json_t *cni_version_json(void)
{
	json_t *list = json_array();
	for (int v = 0; v < CNI_V_NONE; v++)
		json_array_append_new(
		    list, json_string(cni_version_str((enum cni_ver)v)));
	return json_pack("{s:s, s:o}", "cniVersion",
			 cni_version_str(CNI_V_LATEST), "supportedVersions",
			 list);
}

json_t *cni_error_json(const char *version_str, const cni_error *err)
{
	json_t *o =
	    json_pack("{s:s, s:i, s:s}", "cniVersion",
		      version_str ? version_str : cni_version_str(CNI_V_LATEST),
		      "code", err->code, "msg", err->msg);
	if (o && err->details[0])
		json_object_set_new(o, "details", json_string(err->details));
	return o;
}

static int str_field(json_t *o, const char *key, const char **out)
{
	*out = json_string_value(json_object_get(o, key));
	return *out && **out ? 0 : -1;
}

int cni_ep_from_json(json_t *j, cni_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	json_t *mtu = json_object_get(j, "mtu");
	ep->mtu = json_is_integer(mtu) ? (int)json_integer_value(mtu) : 0;
	if (str_field(j, "ifname", &ep->ifname) < 0 ||
	    str_field(j, "mac", &ep->mac) < 0 ||
	    str_field(j, "address", &ep->address) < 0)
		return -1;
	ep->netns = json_string_value(json_object_get(j, "netns"));
	return 0;
}

static json_t *interface_json(const cni_ep *ep)
{
	json_t *o = json_pack("{s:s, s:s}", "name", ep->ifname, "mac", ep->mac);
	/* mtu is 1.1.0's field; older decoders ignore unknown keys */
	if (o && ep->mtu > 0)
		json_object_set_new(o, "mtu", json_integer(ep->mtu));
	if (o && ep->netns && *ep->netns)
		json_object_set_new(o, "sandbox", json_string(ep->netns));
	return o;
}

json_t *cni_result(enum cni_ver v, const cni_ep *ep)
{
	json_t *ip =
	    json_pack("{s:s, s:i}", "address", ep->address, "interface", 0);
	/* 0.3.x and 0.4.0 tag each address with its family; 1.0.0 dropped
	 * the field */
	if (ip && v < CNI_V100)
		json_object_set_new(ip, "version", json_string("4"));
	return json_pack("{s:s, s:[o], s:[o], s:{}}", "cniVersion",
			 cni_version_str(v), "interfaces", interface_json(ep),
			 "ips", ip, "dns");
}

/* ovld's error codes (docs/control-api.md) as CNI codes: the transient
 * ones as "try again later" so runtimes retry, the rest as ovl's own. */
int cni_code_from_ovld(int status, const char *code)
{
	static const struct {
		const char *ovld;
		int cni;
	} map[] = {
	    {"unavailable", CNI_ERR_TRY_AGAIN},
	    {"timeout", CNI_ERR_TRY_AGAIN},
	    {"busy", CNI_ERR_TRY_AGAIN},
	    {"exists", CNI_ERR_EXISTS},
	    {"full", CNI_ERR_FULL},
	    {"not_found", CNI_ERR_NO_NETWORK},
	    {"invalid", CNI_ERR_INVALID},
	};
	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].ovld) == 0)
			return map[i].cni;
	return status == 503 || status == 504 ? CNI_ERR_TRY_AGAIN
					      : CNI_ERR_OVLD;
}
