/* error.c - pki_strerror(): the last failure of this thread, kept in a
 * thread-local line so no function of src/pki needs an error argument. */
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[256];

const char *pki_strerror(void)
{
	return last_error[0] ? last_error : "no pki error";
}

static void set_error(const char *fmt, va_list ap)
{
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
}

int pki_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return -1;
}

/* The earliest queued error is the root cause; later ones wrap it. */
static void append_ssl_reason(void)
{
	unsigned long code = ERR_peek_error();
	if (code == 0)
		return;
	const char *reason = ERR_reason_error_string(code);
	char generic[128];
	if (!reason) {
		ERR_error_string_n(code, generic, sizeof(generic));
		reason = generic;
	}
	size_t used = strlen(last_error);
	snprintf(last_error + used, sizeof(last_error) - used, ": %s", reason);
}

int pki_fail_ssl(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(fmt, ap);
	va_end(ap);
	append_ssl_reason();
	ERR_clear_error();
	return -1;
}
