/* log.c - line-oriented logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int min_level = LOG_LVL_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(int level)
{
	min_level = level;
}

int log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void log_write(int level, const char *subsystem, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char line[2048];
	int n = snprintf(line, sizeof(line), "%s %s: ", level_names[level],
			 subsystem);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One fputs per line so concurrent writers never interleave. */
	size_t len = strlen(line);
	if (len + 1 < sizeof(line)) {
		line[len] = '\n';
		line[len + 1] = '\0';
	}
	fputs(line, stderr);
}
