/* proto.c - the shapes of Docker's plugin calls: which call a path names,
 * the fields the plugin needs from each body, and the replies. No I/O, so
 * the fuzzer and the unit tests drive it directly.
 *
 * Field names and types follow libnetwork's remote driver and remote IPAM
 * APIs (drivers/remote/api, ipams/remote/api). Docker's Go client ignores
 * fields it does not know, but refuses a reply that sets a field Docker
 * filled itself (CreateEndpoint's Interface), so replies carry only what
 * the plugin decides. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dk_int.h"

static const struct {
	const char *path;
	dk_call call;
} calls[] = {
    {"/Plugin.Activate", DK_ACTIVATE},
    {"/NetworkDriver.GetCapabilities", DK_NET_CAPS},
    {"/NetworkDriver.CreateNetwork", DK_NET_CREATE},
    {"/NetworkDriver.DeleteNetwork", DK_NET_DELETE},
    {"/NetworkDriver.CreateEndpoint", DK_EP_CREATE},
    {"/NetworkDriver.EndpointOperInfo", DK_EP_INFO},
    {"/NetworkDriver.Join", DK_JOIN},
    {"/NetworkDriver.Leave", DK_LEAVE},
    {"/NetworkDriver.DeleteEndpoint", DK_EP_DELETE},
    {"/NetworkDriver.DiscoverNew", DK_NOOP},
    {"/NetworkDriver.DiscoverDelete", DK_NOOP},
    {"/NetworkDriver.ProgramExternalConnectivity", DK_NOOP},
    {"/NetworkDriver.RevokeExternalConnectivity", DK_NOOP},
    {"/IpamDriver.GetCapabilities", DK_IPAM_CAPS},
    {"/IpamDriver.GetDefaultAddressSpaces", DK_IPAM_SPACES},
    {"/IpamDriver.RequestPool", DK_POOL_REQ},
    {"/IpamDriver.ReleasePool", DK_POOL_REL},
    {"/IpamDriver.RequestAddress", DK_ADDR_REQ},
    {"/IpamDriver.ReleaseAddress", DK_ADDR_REL},
};

dk_call dk_call_of(const char *path)
{
	if (!path)
		return DK_UNKNOWN;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (strcmp(path, calls[i].path) == 0)
			return calls[i].call;
	return DK_UNKNOWN;
}

int dk_call_is_ipam(dk_call c)
{
	return c >= DK_IPAM_CAPS;
}

/* Copies a string member; a missing or null one is "", any other type or
 * an overlong value is malformed (ids and addresses have fixed sizes). */
static int get_str(json_t *obj, const char *key, char *out, size_t n)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= n)
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* "10.0.0.2/24" -> "10.0.0.2"; the prefix of a pool comes from the pool. */
static void strip_prefix(char *s)
{
	char *slash = strchr(s, '/');
	if (slash)
		*slash = '\0';
}

static int parse_ipv4_data(json_t *root, dk_req *r)
{
	json_t *v4 = json_object_get(root, "IPv4Data");
	json_t *v6 = json_object_get(root, "IPv6Data");
	r->has_ipv6_data = json_is_array(v6) && json_array_size(v6) > 0;
	if (!v4 || json_is_null(v4))
		return 0;
	if (!json_is_array(v4))
		return -1;
	json_t *d0 = json_array_get(v4, 0);
	if (!d0)
		return 0;
	if (get_str(d0, "AddressSpace", r->address_space,
		    sizeof(r->address_space)) ||
	    get_str(d0, "Pool", r->pool, sizeof(r->pool)) ||
	    get_str(d0, "Gateway", r->gateway, sizeof(r->gateway)))
		return -1;
	strip_prefix(r->gateway);
	return 0;
}

/* Options[key] of a map of strings, or of its generic sub-map. */
static int get_option(json_t *opts, const char *key, char *out, size_t n)
{
	json_t *gen = json_object_get(opts, DK_GENERIC);
	out[0] = '\0';
	if (json_is_object(gen) && json_object_get(gen, key))
		return get_str(gen, key, out, n);
	return get_str(opts, key, out, n);
}

static int parse_options(json_t *root, dk_req *r)
{
	json_t *opts = json_object_get(root, "Options");
	if (!opts || json_is_null(opts))
		return 0;
	if (!json_is_object(opts))
		return -1;
	if (get_option(opts, DK_OPT_NETWORK, r->ovl_network,
		       sizeof(r->ovl_network)))
		return -1;
	const char *type =
	    json_string_value(json_object_get(opts, "RequestAddressType"));
	r->want_gateway =
	    type && strcmp(type, "com.docker.network.gateway") == 0;
	return 0;
}

static int parse_iface(json_t *root, dk_req *r)
{
	json_t *ifc = json_object_get(root, "Interface");
	if (!ifc || json_is_null(ifc))
		return 0;
	if (!json_is_object(ifc))
		return -1;
	if (get_str(ifc, "Address", r->address, sizeof(r->address)) ||
	    get_str(ifc, "MacAddress", r->mac, sizeof(r->mac)))
		return -1;
	strip_prefix(r->address);
	return 0;
}

static int parse_fields(json_t *root, dk_req *r)
{
	json_t *v6 = json_object_get(root, "V6");
	r->v6 = json_is_true(v6);
	if (get_str(root, "NetworkID", r->network_id, sizeof(r->network_id)) ||
	    get_str(root, "EndpointID", r->endpoint_id,
		    sizeof(r->endpoint_id)) ||
	    get_str(root, "SandboxKey", r->sandbox_key,
		    sizeof(r->sandbox_key)) ||
	    get_str(root, "PoolID", r->pool_id, sizeof(r->pool_id)))
		return -1;
	/* RequestPool names its preferred pool "Pool" at the top level;
	 * CreateNetwork has it inside IPv4Data. */
	if (get_str(root, "Pool", r->pool, sizeof(r->pool)) ||
	    get_str(root, "AddressSpace", r->address_space,
		    sizeof(r->address_space)))
		return -1;
	if (get_str(root, "Address", r->address, sizeof(r->address)))
		return -1;
	strip_prefix(r->address);
	return parse_ipv4_data(root, r) || parse_options(root, r) ||
	       parse_iface(root, r);
}

/* The ids Docker sends are 64 hex digits; anything else would end up in
 * store keys and interface names, so it is refused here. */
static int id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", id[i]))
			return 0;
	return 1;
}

static int needs_network(dk_call c)
{
	return c == DK_NET_CREATE || c == DK_NET_DELETE || c == DK_EP_CREATE ||
	       c == DK_EP_INFO || c == DK_JOIN || c == DK_LEAVE ||
	       c == DK_EP_DELETE;
}

/* An id is checked whether or not the call uses it, so nothing a parse
 * accepts holds an unclean one. */
static int check_ids(dk_call c, const dk_req *r, char *msg, size_t n)
{
	int need_ep =
	    needs_network(c) && c != DK_NET_CREATE && c != DK_NET_DELETE;
	if ((needs_network(c) || r->network_id[0]) && !id_ok(r->network_id)) {
		snprintf(msg, n, "bad or missing NetworkID");
		return -1;
	}
	if ((need_ep || r->endpoint_id[0]) && !id_ok(r->endpoint_id)) {
		snprintf(msg, n, "bad or missing EndpointID");
		return -1;
	}
	return 0;
}

int dk_req_parse(dk_call c, const char *body, size_t len, dk_req *r, char *msg,
		 size_t msg_len)
{
	memset(r, 0, sizeof(*r));
	if (c == DK_ACTIVATE)
		return 0; /* its body is empty or {} */
	if (len == 0 && !needs_network(c))
		return 0;
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		snprintf(msg, msg_len, "bad JSON: %s",
			 root ? "not an object" : jerr.text);
		json_decref(root);
		return -1;
	}
	int rc = parse_fields(root, r);
	json_decref(root);
	if (rc) {
		snprintf(msg, msg_len,
			 "bad request: a field has a wrong type "
			 "or is too long");
		return -1;
	}
	return check_ids(c, r, msg, msg_len);
}

char *dk_reply_json(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	return s ? s : strdup("{}");
}

/* IPAM's key is "Error", but dockerd's plugin client reads only "Err" from
 * a reply with an error status (anything else reaches the user as raw
 * JSON), so IPAM errors carry both. */
char *dk_reply_error(dk_call c, const char *msg)
{
	if (dk_call_is_ipam(c))
		return dk_reply_json(
		    json_pack("{ssss}", "Error", msg, "Err", msg));
	return dk_reply_json(json_pack("{ss}", "Err", msg));
}

char *dk_reply_activate(void)
{
	return dk_reply_json(
	    json_pack("{s[ss]}", "Implements", "NetworkDriver", "IpamDriver"));
}

/* Scope "global" needs a cluster store on 20.10 and 23 ("datastore for
 * scope global is not initialized"); "local" with ConnectivityScope
 * "global" works on 20.10 through 28, and ovld copies networks to the
 * other hosts itself. */
char *dk_reply_net_caps(void)
{
	return dk_reply_json(json_pack("{ssss}", "Scope", "local",
				       "ConnectivityScope", "global"));
}

/* No replay: dockerd would otherwise re-request every pool and address at
 * its start, and the claims in the store already survive restarts. */
char *dk_reply_ipam_caps(void)
{
	return dk_reply_json(json_pack("{sbsb}", "RequiresMACAddress", 0,
				       "RequiresRequestReplay", 0));
}

char *dk_reply_spaces(void)
{
	return dk_reply_json(
	    json_pack("{ssss}", "LocalDefaultAddressSpace", DK_ADDRESS_SPACE,
		      "GlobalDefaultAddressSpace", DK_ADDRESS_SPACE));
}

/* The gateway travels in Data, so dockerd takes it from there instead of
 * asking for it with a RequestAddress of its own. */
char *dk_reply_pool(const char *pool_id, const char *cidr,
		    const char *gateway_cidr)
{
	json_t *data = json_object();
	if (gateway_cidr && *gateway_cidr)
		json_object_set_new(data, "com.docker.network.gateway",
				    json_string(gateway_cidr));
	return dk_reply_json(json_pack("{ssssso}", "PoolID", pool_id, "Pool",
				       cidr, "Data", data));
}

char *dk_reply_address(const char *cidr)
{
	return dk_reply_json(json_pack("{sss{}}", "Address", cidr, "Data"));
}

char *dk_reply_endpoint(const char *mac)
{
	if (!mac)
		return dk_reply_json(json_pack("{s{}}", "Interface"));
	return dk_reply_json(
	    json_pack("{s{ss}}", "Interface", "MacAddress", mac));
}

/* No gateway and DisableGatewayService: otherwise Docker would add a
 * docker_gwbridge interface for outside access the overlay does not give. */
char *dk_reply_join(const char *src_name)
{
	return dk_reply_json(json_pack("{s{ssss}sb}", "InterfaceName",
				       "SrcName", src_name, "DstPrefix", "eth",
				       "DisableGatewayService", 1));
}

char *dk_reply_empty(void)
{
	return strdup("{}");
}

void dk_mac_of_ip(uint32_t ip, char out[18])
{
	snprintf(out, 18, "02:42:%02x:%02x:%02x:%02x", (ip >> 24) & 0xff,
		 (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}
