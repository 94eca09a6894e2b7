/* error.c - pki_strerror(): the last failure of this thread, kept in a
 * thread-local line so no function of src/pki needs an error argument. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[256];
static _Thread_local char last_warning[256];

void pki_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_warning, sizeof(last_warning), fmt, ap);
	va_end(ap);
}

const char *pki_take_warning(void)
{
	static _Thread_local char taken[256];
	if (last_warning[0] == '\0')
		return NULL;
	memcpy(taken, last_warning, sizeof(taken));
	last_warning[0] = '\0';
	return taken;
}

int pki_weak_signature(SSL_CTX *ctx, const char *what)
{
	unsigned long code = ERR_peek_last_error();
	if (ERR_GET_REASON(code) != SSL_R_CA_MD_TOO_WEAK &&
	    ERR_GET_REASON(code) != SSL_R_EE_KEY_TOO_SMALL)
		return 0;
	ERR_clear_error();
	SSL_CTX_set_security_level(ctx, 0);
	pki_warn("%s is signed with a weak digest or key (SHA-1?); serving "
		 "it anyway, as etcd does: replace it",
		 what);
	return 1;
}

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
