/* metrics.h - helpers for the Prometheus text blocks each layer hands to
 * the API's /metrics (api_add_metrics): append a sample to a growable
 * buffer, or a whole histogram. */
#ifndef OVLD_METRICS_H
#define OVLD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS 12

/* Latency histogram with fixed bounds from 0.5 ms to 2.5 s. */
typedef struct metrics_hist {
	uint64_t buckets[METRICS_BUCKETS + 1]; /* last: above every bound */
	uint64_t count;
	double sum_s;
} metrics_hist;

void metrics_hist_observe(metrics_hist *h, double seconds);

void metrics_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "# HELP", "# TYPE" and one sample. */
void metrics_sample(char **buf, size_t *len, size_t *cap, const char *name,
		    const char *type, const char *help, double value);
void metrics_histogram(char **buf, size_t *len, size_t *cap, const char *name,
		       const char *help, const metrics_hist *h);

/* The process block: resident memory, anonymous memory, open files. */
void metrics_process(void *ctx, char **buf, size_t *len, size_t *cap);

#endif
