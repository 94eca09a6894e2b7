/* internal.h - what the files of src/pki share and pki.h does not export:
 * setting the thread's last error that pki_strerror() reports. */
#ifndef OVLD_PKI_INTERNAL_H
#define OVLD_PKI_INTERNAL_H

#include "pki.h"

/* Sets pki_strerror()'s text from a printf format; returns -1 so a caller
 * can `return pki_fail(...)`. Drops OpenSSL's error queue. */
int pki_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with ": <OpenSSL's reason>" from its error queue appended when
 * the queue holds one. */
int pki_fail_ssl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
