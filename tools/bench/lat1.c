/* lat1.c - one keep-alive connection, one PUT at a time, each timed.
 *
 * The "PUT, 1 conn" rows come from here, not from wrk: on this machine
 * wrk 4.1's latency histogram for single-connection PUTs to ovld disagreed
 * with the syscall timestamps of the same run (mean 545 us and p99 12.8 ms
 * in wrk's summary; 184 us and 0.38 ms between each request's write and its
 * response's read in strace -tt; docs/benchmarks.md). Timing the requests
 * here, with CLOCK_MONOTONIC around write and read, is easy to check.
 *
 * Not src/httpc: that client closes each connection; this times keep-alive.
 *
 * usage: lat1 PORT PREFIX NKEYS VSIZE SECONDS
 * Prints one line "BENCHJSON {...}" with the fields kv.lua prints. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response with a Content-Length body; returns its status. */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	char *end = NULL;
	while (end == NULL) {
		if (have + 1 >= cap)
			return -1;
		ssize_t r = read(fd, buf + have, cap - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	size_t head = (size_t)(end + 4 - buf), body = 0;
	for (char *l = strstr(buf, "\r\n"); l && l < end;
	     l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
			body = strtoul(l + 17, NULL, 10);
	while (have < head + body) {
		if (head + body >= cap)
			return -1;
		ssize_t r = read(fd, buf + have, cap - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return atoi(buf + 9); /* "HTTP/1.1 200" */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);
	return n == 0 ? 0 : v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr,
			"usage: lat1 PORT PREFIX NKEYS VSIZE SECONDS\n");
		return 2;
	}
	int port = atoi(argv[1]);
	const char *prefix = argv[2];
	unsigned nkeys = (unsigned)atoi(argv[3]);
	size_t vsize = (size_t)atoi(argv[4]);
	uint64_t dur = (uint64_t)atoi(argv[5]) * 1000000;
	int fd = connect_to(port);
	if (fd < 0 || nkeys == 0) {
		perror("lat1: connect");
		return 1;
	}
	size_t cap = 4096 + vsize * 2, n = 0, max = 1 << 22;
	char *req = malloc(cap), *resp = malloc(cap);
	char *value = malloc(vsize + 1);
	uint64_t *lat = malloc(max * sizeof(*lat));
	if (!req || !resp || !value || !lat)
		return 1;
	memset(value, 'v', vsize);
	value[vsize] = '\0';
	unsigned errs = 0, seed = 12345;
	uint64_t t_start = now_us(), sum = 0;
	while (now_us() - t_start < dur && n < max) {
		seed = seed * 1103515245u + 12345u;
		int len = snprintf(
		    req, cap,
		    "PUT %s/k%u HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		    "Content-Type: application/x-www-form-urlencoded\r\n"
		    "Content-Length: %zu\r\n\r\nvalue=%s",
		    prefix, (seed >> 8) % nkeys, port, vsize + 6, value);
		uint64_t t0 = now_us();
		int status = write_all(fd, req, (size_t)len) == 0
				 ? read_response(fd, resp, cap)
				 : -1;
		uint64_t dt = now_us() - t0;
		if (status < 0) {
			fprintf(stderr, "lat1: connection failed\n");
			return 1;
		}
		errs += status >= 400;
		lat[n++] = dt;
		sum += dt;
	}
	uint64_t elapsed = now_us() - t_start;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("BENCHJSON {\"requests\":%zu,\"duration_us\":%llu,\"bytes\":0,"
	       "\"err_connect\":0,\"err_read\":0,\"err_write\":0,"
	       "\"err_status\":%u,\"err_timeout\":0,\"lat_mean_us\":%.1f,"
	       "\"lat_max_us\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,"
	       "\"p99_us\":%llu,\"p999_us\":%llu}\n",
	       n, (unsigned long long)elapsed, errs,
	       n ? (double)sum / (double)n : 0.0,
	       (unsigned long long)(n ? lat[n - 1] : 0),
	       (unsigned long long)pct(lat, n, 50),
	       (unsigned long long)pct(lat, n, 90),
	       (unsigned long long)pct(lat, n, 99),
	       (unsigned long long)pct(lat, n, 99.9));
	close(fd);
	return 0;
}
