/* static.c - a fixed address or MAC for the container, when the runtime
 * asks for one: podman's --ip and --mac-address arrive as CNI_ARGS IP= and
 * MAC= (the convention of the static and host-local IPAM plugins), and
 * Kubernetes-style runtimes fill runtimeConfig's "ips" and "mac" when the
 * conflist declares those capabilities. ovld claims the address
 * cluster-wide like any other, so a taken one is refused (code 101). */
#include "cni.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* An IPv4 address, with or without "/prefix" (CNI passes CIDRs); IPv6 is
 * refused: ovld's networks are IPv4. */
static int take_ip(const char *s, size_t n, cni_req *req, cni_error *err)
{
	char buf[INET_ADDRSTRLEN];
	size_t len = strcspn(s, "/");
	if (len > n)
		len = n;
	if (len == 0 || len >= sizeof(buf)) {
		cni_fail(err, CNI_ERR_FIELD, NULL,
			 "a fixed address must be IPv4 (ovld networks are)");
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1) {
		cni_fail(err, CNI_ERR_FIELD, buf,
			 "fixed address %s is not IPv4 (ovld networks are)",
			 buf);
		return -1;
	}
	snprintf(req->ip, sizeof(req->ip), "%s", buf);
	return 0;
}

static int take_mac(const char *s, size_t n, cni_req *req, cni_error *err)
{
	unsigned b[6];
	char buf[18], end;
	if (n == 17) {
		memcpy(buf, s, 17);
		buf[17] = '\0';
		if (sscanf(buf, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
			   &b[2], &b[3], &b[4], &b[5], &end) == 6) {
			memcpy(req->mac, buf, sizeof(buf));
			return 0;
		}
	}
	cni_fail(err, CNI_ERR_FIELD, NULL,
		 "fixed MAC %.*s is not xx:xx:xx:xx:xx:xx",
		 (int)(n > 32 ? 32 : n), s);
	return -1;
}

/* CNI_ARGS IP=A[,B...] and MAC=M: one address per container here. */
static int from_args(const char *args, cni_req *req, cni_error *err)
{
	const char *v;
	size_t n;
	int r = cni_arg_get(args, "IP", &v, &n);
	if (r > 0 && memchr(v, ',', n)) {
		cni_fail(err, CNI_ERR_FIELD, NULL,
			 "CNI_ARGS IP has several addresses; ovl gives one");
		return -1;
	}
	if (r > 0 && take_ip(v, n, req, err) < 0)
		return -1;
	r = cni_arg_get(args, "MAC", &v, &n);
	return r > 0 ? take_mac(v, n, req, err) : 0;
}

static int from_runtime_config(json_t *rc, cni_req *req, cni_error *err)
{
	json_t *ips = json_object_get(rc, "ips");
	json_t *mac = json_object_get(rc, "mac");
	if ((ips && !json_is_array(ips)) || (mac && !json_is_string(mac))) {
		cni_fail(err, CNI_ERR_CONFIG, NULL,
			 "runtimeConfig: ips must be a list, mac a string");
		return -1;
	}
	if (json_array_size(ips) > 1) {
		cni_fail(err, CNI_ERR_FIELD, NULL,
			 "runtimeConfig asks for several addresses; ovl gives "
			 "one");
		return -1;
	}
	const char *ip = json_string_value(json_array_get(ips, 0));
	if (json_array_size(ips) == 1 && !ip) {
		cni_fail(err, CNI_ERR_CONFIG, NULL,
			 "runtimeConfig: ips must hold strings");
		return -1;
	}
	if (ip && take_ip(ip, strlen(ip), req, err) < 0)
		return -1;
	const char *m = json_string_value(mac);
	return m ? take_mac(m, strlen(m), req, err) : 0;
}

int cni_parse_static(json_t *conf, const char *args, cni_req *req,
		     cni_error *err)
{
	json_t *rc = json_object_get(conf, "runtimeConfig");
	if (rc && !json_is_object(rc)) {
		cni_fail(err, CNI_ERR_CONFIG, NULL,
			 "runtimeConfig must be an object");
		return -1;
	}
	if (rc && from_runtime_config(rc, req, err) < 0)
		return -1;
	/* runtimeConfig, when it names one, wins over CNI_ARGS */
	char ip[sizeof(req->ip)], mac[sizeof(req->mac)];
	memcpy(ip, req->ip, sizeof(ip));
	memcpy(mac, req->mac, sizeof(mac));
	if (from_args(args, req, err) < 0)
		return -1;
	if (ip[0])
		memcpy(req->ip, ip, sizeof(ip));
	if (mac[0])
		memcpy(req->mac, mac, sizeof(mac));
	return 0;
}
