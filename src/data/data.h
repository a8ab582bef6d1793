/*
 * data.h -- internal links between the files of src/data (not installed).
 * The table remembers where it came from so that later errors (too few rows,
 * a non-positive value under log returns) can name the file and the line.
 * cell.c turns one cell's text into a number or a date for csv.c.
 */
#ifndef RECUR_DATA_H
#define RECUR_DATA_H

#include "recur.h"

#include <stddef.h>

/* Path the table was read from, as given to recur_table_read_csv. */
const char *rc_table_path(const recur_table *t);
/* Line of the file that row i (time order) came from; 0 when out of range. */
size_t rc_table_line(const recur_table *t, size_t i);

/* ====== Cells (cell.c) ====== */

enum { RC_CELL_OK, RC_CELL_MISSING, RC_CELL_BAD, RC_CELL_INF, RC_CELL_RANGE };

/* A trimmed cell s[0..n) to a finite double in *v. Returns RC_CELL_OK,
 * RC_CELL_MISSING (empty, null, NaN, NA, N/A, #N/A in any case), RC_CELL_BAD
 * (not a number), RC_CELL_INF (inf, infinity) or RC_CELL_RANGE (overflow). */
int rc_parse_number(const char *s, size_t n, double *v);

enum { RC_DATE_CALENDAR, RC_DATE_INDEX };

/* A trimmed, non-empty date cell to days since 1970-01-01 (time of day as a
 * fraction), kind RC_DATE_CALENDAR; or a plain number kept as its own value,
 * kind RC_DATE_INDEX. year_col: the column is named "year", so a plain integer
 * of up to 4 digits is a year. Returns 0, or -1 when it is neither. */
int rc_parse_date(const char *s, size_t n, int year_col, double *day, int *kind);

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (m 1-12, d 1-31). */
long rc_days_from_civil(long y, int m, int d);

/* Text for a message: at most RC_SHOW_MAX bytes of s[0..n), cut on a UTF-8
 * character boundary with "..." after it; control characters shown as '?'. */
#define RC_SHOW_MAX 40
#define RC_SHOW_CAP 64
void rc_show(char dst[RC_SHOW_CAP], const char *s, size_t n);

/* ASCII case-insensitive: does s[0..n) equal the C string z? */
int rc_eq_ci(const char *s, size_t n, const char *z);

#endif
