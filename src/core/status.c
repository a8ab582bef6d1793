/*
 * status.c -- status codes, their static text, and the error-filling helper.
 * The library never prints: messages travel to the caller in recur_error.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *recur_status_str(recur_status code)
{
    switch (code) {
    case RECUR_OK: return "ok";
    case RECUR_E_INVALID: return "invalid argument";
    case RECUR_E_NOMEM: return "out of memory";
    case RECUR_E_IO: return "input/output error";
    case RECUR_E_PARSE: return "parse error";
    case RECUR_E_FORMAT: return "bad model file";
    case RECUR_E_STATE: return "call out of order";
    case RECUR_E_DIVERGED: return "training diverged";
    case RECUR_E_INTERRUPTED: return "interrupted";
    case RECUR_E_DATA: return "unusable data";
    }
    return "unknown status";
}

const char *recur_version(void) { return RECUR_VERSION; }

int recur_version_number(void) { return RECUR_VERSION_NUMBER; }

recur_status rc_error(recur_error *err, recur_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void *rc_calloc3(size_t n, size_t m, size_t size)
{
    if (n == 0 || m == 0 || size == 0) return calloc(1, 1);
    if (n > SIZE_MAX / m) return NULL;
    if (n * m > SIZE_MAX / size) return NULL;
    return calloc(n * m, size);
}

double rc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
