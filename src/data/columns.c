/*
 * columns.c -- which of several candidate columns a CSV file's header has,
 * so that a program can accept the names common exports give one quantity
 * (a daily close is "Close" at Yahoo, "Close/Last" at Nasdaq, "close" at
 * Tiingo) without reading the file's data.
 */
#include "core/core.h"
#include "data/data.h"

#include <stdio.h>
#include <string.h>

recur_status recur_csv_pick_column(const char *path, const char *const *names, int n, char *found, size_t cap,
                                   int *which, recur_error *err)
{
    if (!path || !names || n < 1 || !which)
        return rc_error(err, RECUR_E_INVALID, "recur_csv_pick_column: path, names and which are required");
    *which = -1;
    if (found && cap) found[0] = '\0';
    rc_csv *c = NULL;
    recur_status st = rc_csv_open(path, &c, err);
    if (st) return st;
    size_t nh = rc_csv_header_count(c);
    for (int k = 0; k < n && *which < 0; k++)
        for (size_t i = 0; i < nh; i++) {
            const char *h = rc_csv_header(c, i);
            if (h && names[k] && rc_eq_ci(h, strlen(h), names[k])) {
                *which = k;
                if (found && cap) snprintf(found, cap, "%s", h);
                break;
            }
        }
    rc_csv_close(c);
    return RECUR_OK;
}
