/* log.h - one line per event on stderr: "<level> <subsystem>: message".
 * journald adds the time; --log-level filters. */
#ifndef OVLD_LOG_H
#define OVLD_LOG_H

enum { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(int level);
/* Parses "debug", "info", "warn" or "error"; -1 if unknown. */
int log_parse_level(const char *name);
void log_write(int level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(sub, ...) log_write(LOG_LVL_DEBUG, sub, __VA_ARGS__)
#define log_info(sub, ...) log_write(LOG_LVL_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_write(LOG_LVL_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) log_write(LOG_LVL_ERROR, sub, __VA_ARGS__)

#endif
