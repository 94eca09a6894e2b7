/* client.c - how ovlctl reaches the local ovld: JSON calls on its control
 * socket (docs/control-api.md) and plain GETs on its etcd client API,
 * both through the shared blocking HTTP client (src/httpc.h), which turns
 * a daemon that is down or stuck into an error within the timeout. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "ovlctl.h"

int ovlctl_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("Error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int ovlctl_flag_value(int argc, char **argv, int *i, const char *name,
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
		return ovlctl_fail("flag needs an argument: %s", a), -1;
	*dst = argv[++*i];
	return 1;
}

const char *ovlctl_jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void ovlctl_url_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;
	for (; *s && k + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[k++] = (char)ch;
		} else {
			out[k++] = '%';
			out[k++] = hex[ch >> 4];
			out[k++] = hex[ch & 15];
		}
	}
	out[k] = '\0';
}

/* The server's {"error": ...} text, or the status when there is none. */
static int server_error(int status, const char *resp)
{
	json_t *doc = resp ? json_loads(resp, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(doc, "error"));
	int rc = msg ? ovlctl_fail("%s", msg)
		     : ovlctl_fail("ovld answered %d: %s", status,
				   resp && *resp ? resp : "(no body)");
	json_decref(doc);
	return rc;
}

int ovlctl_ctl_call(ctl *c, const char *method, const char *path, json_t *body,
		    int timeout_ms, json_t **out)
{
	char *req = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char *resp = NULL;
	int status = 0;
	int rc = httpc_request(
	    c->socket, method, path, req ? "application/json" : NULL, req,
	    req ? strlen(req) : 0, timeout_ms, &status, &resp, NULL);
	free(req);
	if (rc != 0)
		return ovlctl_fail(
		    "cannot reach ovld: %s (is it running? --socket "
		    "PATH picks another control socket)",
		    httpc_strerror());
	if (status < 200 || status > 299) {
		rc = server_error(status, resp);
		free(resp);
		return rc;
	}
	json_t *doc = resp ? json_loads(resp, 0, NULL) : NULL;
	free(resp);
	if (!doc)
		return ovlctl_fail("ovld's answer to %s %s is not JSON", method,
				   path);
	if (out)
		*out = doc;
	else
		json_decref(doc);
	return 0;
}

int ovlctl_api_http(ctl *c, const char *method, const char *path, int *status,
		    char **body)
{
	return httpc_request(c->api, method, path, NULL, NULL, 0, 5000, status,
			     body, NULL);
}

json_t *ovlctl_api_get_json(ctl *c, const char *path)
{
	int status = 0;
	char *body = NULL;
	json_t *doc = NULL;
	if (ovlctl_api_http(c, "GET", path, &status, &body) == 0 &&
	    status == 200)
		doc = json_loads(body, 0, NULL);
	free(body);
	return doc;
}
