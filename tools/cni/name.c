/* name.c - CNI_ARGS ("A=B;C=D") and the endpoint name derived from it.
 *
 * ovld claims endpoint names per network cluster-wide, so the name must
 * tell containers apart across every host. Kubernetes pod names are unique
 * only within a namespace (two namespaces may both run "web-0"), so with
 * K8S_POD_NAMESPACE the name is "POD.NAMESPACE": a namespace is a DNS
 * label without dots, so the last dot splits it back and no two pods map
 * to one name. podman passes only K8S_POD_NAME (its container name, unique
 * per host like Docker's), which is used as is, as ovlctl and Docker do.
 * Without either, the container id names the endpoint. */
#include "cni.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int cni_arg_get(const char *args, const char *key, const char **val,
		size_t *vlen)
{
	size_t klen = strlen(key);
	const char *p = args;
	while (p && *p) {
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);
		if (len > 0 && (!eq || eq == p))
			return -1;
		if (eq && (size_t)(eq - p) == klen && !memcmp(p, key, klen)) {
			*val = eq + 1;
			*vlen = len - klen - 1;
			return 1;
		}
		p += len;
		if (*p == ';')
			p++;
	}
	return 0;
}

/* Docker's container name rule, which ovld's names follow too. */
static int valid_name(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

static int bad_args(cni_error *err, const char *args, const char *what)
{
	cni_fail(err, CNI_ERR_ENV, args, "CNI_ARGS: %s", what);
	return -1;
}

int cni_endpoint_name(const char *args, const char *container, char *out,
		      size_t outsz, cni_error *err)
{
	const char *pod = NULL, *ns = NULL;
	size_t plen = 0, nlen = 0;
	int hp = cni_arg_get(args, "K8S_POD_NAME", &pod, &plen);
	int hn = cni_arg_get(args, "K8S_POD_NAMESPACE", &ns, &nlen);
	if (hp < 0 || hn < 0)
		return bad_args(err, args, "not KEY=VALUE pairs joined by ';'");
	if (hp && plen == 0)
		hp = 0; /* an empty K8S_POD_NAME is as good as none */
	if (hn && (nlen == 0 || memchr(ns, '.', nlen)))
		hn = 0;
	int n;
	if (hp && hn)
		n = snprintf(out, outsz, "%.*s.%.*s", (int)plen, pod, (int)nlen,
			     ns);
	else if (hp)
		n = snprintf(out, outsz, "%.*s", (int)plen, pod);
	else
		n = snprintf(out, outsz, "%s", container);
	if (n < 0 || (size_t)n >= outsz)
		return bad_args(err, args, "the endpoint name is too long");
	if (!valid_name(out, (size_t)n))
		return bad_args(err, out,
				"the endpoint name (K8S_POD_NAME, else "
				"CNI_CONTAINERID) must match "
				"[a-zA-Z0-9][a-zA-Z0-9_.-]*");
	return 0;
}
