/* metrics.c - Prometheus text helpers and the process metrics block. */
#include "metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[METRICS_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void metrics_hist_observe(metrics_hist *h, double seconds)
{
	int i = 0;
	while (i < METRICS_BUCKETS && seconds > bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum_s += seconds;
}

void metrics_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = *cap - *len;
		int n = *buf ? vsnprintf(*buf + *len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			*len += n;
			return;
		}
		size_t want = *cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
		char *nb = realloc(*buf, want);
		if (nb == NULL)
			return; /* the sample is dropped, the rest stays */
		*buf = nb;
		*cap = want;
	}
}

void metrics_sample(char **buf, size_t *len, size_t *cap, const char *name,
		    const char *type, const char *help, double value)
{
	metrics_appendf(buf, len, cap, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n",
			name, help, name, type, name, value);
}

void metrics_histogram(char **buf, size_t *len, size_t *cap, const char *name,
		       const char *help, const metrics_hist *h)
{
	metrics_appendf(buf, len, cap, "# HELP %s %s\n# TYPE %s histogram\n",
			name, help, name);
	uint64_t cum = 0;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->buckets[i];
		metrics_appendf(buf, len, cap, "%s_bucket{le=\"%g\"} %llu\n",
				name, bounds[i], (unsigned long long)cum);
	}
	metrics_appendf(buf, len, cap,
			"%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
			"%s_count %llu\n",
			name, (unsigned long long)h->count, name, h->sum_s,
			name, (unsigned long long)h->count);
}

/* A "Name:   123 kB" line of /proc/self/status, in bytes. */
static double status_kb(const char *text, const char *field)
{
	const char *p = strstr(text, field);
	return p ? strtod(p + strlen(field), NULL) * 1024 : 0;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (d == NULL)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 2 ? n - 3 : 0; /* ".", ".." and the DIR itself */
}

void metrics_process(void *ctx, char **buf, size_t *len, size_t *cap)
{
	char text[4096];
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	metrics_sample(buf, len, cap, "process_resident_memory_bytes", "gauge",
		       "Resident memory (VmRSS).", status_kb(text, "VmRSS:"));
	metrics_sample(buf, len, cap, "ovld_process_anon_memory_bytes", "gauge",
		       "Anonymous resident memory (RssAnon).",
		       status_kb(text, "RssAnon:"));
	metrics_sample(buf, len, cap, "process_open_fds", "gauge",
		       "Open file descriptors.", open_fds());
}
