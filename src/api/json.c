/* json.c - etcd v2 JSON rendering (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char hexdig[] = "0123456789abcdef";

static void put_u_escape(abuf *b, unsigned cp)
{
	char e[6] = {'\\',
		     'u',
		     hexdig[(cp >> 12) & 15],
		     hexdig[(cp >> 8) & 15],
		     hexdig[(cp >> 4) & 15],
		     hexdig[cp & 15]};
	abuf_put(b, e, 6);
}

/* Length of a valid UTF-8 sequence at s (1..4), 0 if invalid. Same
 * acceptance as Go's utf8.DecodeRune: no overlongs, no surrogates. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static void put_escaped_ascii(abuf *b, unsigned char c)
{
	switch (c) {
	case '"':
		abuf_put(b, "\\\"", 2);
		break;
	case '\\':
		abuf_put(b, "\\\\", 2);
		break;
	case '\n':
		abuf_put(b, "\\n", 2);
		break;
	case '\r':
		abuf_put(b, "\\r", 2);
		break;
	case '\t':
		abuf_put(b, "\\t", 2);
		break;
	default:
		put_u_escape(b, c);
	}
}

static int needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' ||
	       c == '&';
}

/* plain[c]: byte c is copied as it is (values are mostly plain ASCII, and
 * a table beats six comparisons per byte). */
static unsigned char plain[256];

static void plain_init(void)
{
	for (unsigned c = 0; c < 0x80; c++)
		plain[c] = !needs_escape((unsigned char)c);
}

void api_json_str(abuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;
	if (!plain['a'])
		plain_init();
	abuf_reserve(b, n + 2);
	abuf_putc(b, '"');
	while (i < n) {
		while (i < n && plain[u[i]])
			i++;
		if (i == n)
			break;
		unsigned char c = u[i];
		abuf_put(b, s + run, i - run);
		if (c < 0x80) {
			put_escaped_ascii(b, c);
			i++;
		} else {
			unsigned cp;
			size_t l = utf8_len(u + i, n - i, &cp);
			if (l == 0) {
				abuf_put(b, "\\ufffd", 6);
				l = 1;
			} else if (cp == 0x2028 || cp == 0x2029) {
				put_u_escape(b, cp);
			} else {
				abuf_put(b, s + i, l);
			}
			i += l;
		}
		run = i;
	}
	abuf_put(b, s + run, i - run);
	abuf_putc(b, '"');
}

void api_json_cstr(abuf *b, const char *s)
{
	api_json_str(b, s, strlen(s));
}

void api_json_time(abuf *b, int64_t unix_ns)
{
	int64_t sec = unix_ns / 1000000000, frac = unix_ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	abuf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
	if (frac) {
		char f[16];
		int len = 9;
		snprintf(f, sizeof(f), "%09" PRId64, frac);
		while (len > 0 && f[len - 1] == '0')
			len--;
		abuf_putc(b, '.');
		abuf_put(b, f, (size_t)len);
	}
	abuf_putc(b, 'Z');
}

/* Go prints the fraction of a unit with trailing zeros trimmed. */
static void put_frac_unit(abuf *b, uint64_t v, uint64_t unit, const char *name)
{
	abuf_printf(b, "%" PRIu64, v / unit);
	uint64_t f = v % unit;
	if (f) {
		char d[24];
		int w = 0;
		for (uint64_t u = unit; u > 1; u /= 10)
			w++;
		/* f < unit <= 1e9: w (<= 9) digits always fit. */
		for (int i = w - 1; i >= 0; i--, f /= 10)
			d[i] = (char)('0' + f % 10);
		while (w > 0 && d[w - 1] == '0')
			w--;
		abuf_putc(b, '.');
		abuf_put(b, d, (size_t)w);
	}
	abuf_puts(b, name);
}

void api_json_duration(abuf *b, int64_t ns)
{
	uint64_t u;
	if (ns < 0) {
		abuf_putc(b, '-');
		u = (uint64_t)0 - (uint64_t)ns;
	} else {
		u = (uint64_t)ns;
	}
	if (u == 0) {
		abuf_puts(b, "0s");
	} else if (u < 1000) {
		abuf_printf(b, "%" PRIu64 "ns", u);
	} else if (u < 1000000) {
		put_frac_unit(b, u, 1000, "\xc2\xb5s");
	} else if (u < 1000000000) {
		put_frac_unit(b, u, 1000000, "ms");
	} else {
		uint64_t s = u / 1000000000;
		if (s >= 3600)
			abuf_printf(b, "%" PRIu64 "h", s / 3600);
		if (s >= 60)
			abuf_printf(b, "%" PRIu64 "m", (s / 60) % 60);
		put_frac_unit(b, (s % 60) * 1000000000 + u % 1000000000,
			      1000000000, "s");
	}
}

int64_t api_json_ttl(int64_t expire_ns, int64_t now_ns)
{
	if (expire_ns <= now_ns)
		return 0;
	int64_t d = expire_ns - now_ns;
	return d / 1000000000 + (d % 1000000000 > 0);
}

static void put_u64_field(abuf *b, const char *name, uint64_t v)
{
	abuf_putc(b, ',');
	abuf_putc(b, '"');
	abuf_puts(b, name);
	abuf_put(b, "\":", 2);
	abuf_u64(b, v);
}

void api_json_node(abuf *b, const store_node *n, int64_t now_ns)
{
	size_t start = b->len;
	abuf_putc(b, '{');
	if (n->key) {
		abuf_puts(b, ",\"key\":");
		api_json_cstr(b, n->key);
	}
	if (!n->dir && n->value) {
		abuf_puts(b, ",\"value\":");
		api_json_str(b, n->value, n->value_len);
	}
	if (n->dir)
		abuf_puts(b, ",\"dir\":true");
	if (n->expire_ns) {
		abuf_puts(b, ",\"expiration\":\"");
		api_json_time(b, n->expire_ns);
		abuf_putc(b, '"');
		int64_t ttl = api_json_ttl(n->expire_ns, now_ns);
		if (ttl > 0)
			abuf_printf(b, ",\"ttl\":%" PRId64, ttl);
	}
	if (n->has_children && n->n_children > 0) {
		abuf_puts(b, ",\"nodes\":[");
		for (size_t i = 0; i < n->n_children; i++) {
			if (i)
				abuf_putc(b, ',');
			api_json_node(b, &n->children[i], now_ns);
		}
		abuf_putc(b, ']');
	}
	if (n->modified_index)
		put_u64_field(b, "modifiedIndex", n->modified_index);
	if (n->created_index)
		put_u64_field(b, "createdIndex", n->created_index);
	abuf_putc(b, '}');
	/* Every field was written with a leading comma; drop the first. */
	if (abuf_ok(b) && b->len > start + 2 && b->p[start + 1] == ',') {
		memmove(b->p + start + 1, b->p + start + 2, b->len - start - 2);
		b->len--;
		b->p[b->len] = '\0';
	}
}

void api_json_event(abuf *b, const store_event *ev, int64_t now_ns,
		    int no_value)
{
	abuf_puts(b, "{\"action\":");
	api_json_cstr(b, store_action_name(ev->action));
	if (no_value) {
		abuf_putc(b, '}');
		return;
	}
	abuf_puts(b, ",\"node\":");
	api_json_node(b, &ev->node, now_ns);
	if (ev->has_prev && ev->action != STORE_ACTION_GET &&
	    ev->action != STORE_ACTION_CREATE) {
		abuf_puts(b, ",\"prevNode\":");
		api_json_node(b, &ev->prev, now_ns);
	}
	abuf_putc(b, '}');
}

int api_json_error_status(int code)
{
	switch (code) {
	case 100:
		return 404;
	case 101:
	case 105:
		return 412;
	case 102:
	case 108:
		return 403;
	case 110:
		return 401;
	case 300:
	case 301:
		return 500;
	default:
		return 400;
	}
}

void api_json_error(abuf *b, int code, const char *cause, uint64_t index)
{
	abuf_printf(b, "{\"errorCode\":%d,\"message\":", code);
	api_json_cstr(b, store_error_message(code));
	if (cause && *cause) {
		abuf_puts(b, ",\"cause\":");
		api_json_cstr(b, cause);
	}
	abuf_puts(b, ",\"index\":");
	abuf_u64(b, index);
	abuf_putc(b, '}');
}
