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

/* ====== Records (csv.c), for readers of other layouts (src/forecast) ======
 * The same file checks (UTF-8, NUL bytes, 1 GiB, BOM) and RFC 4180 records
 * as recur_table_read_csv, without its table. */
typedef struct rc_csv rc_csv;

/* Reads and checks the file and its header record; RECUR_E_DATA when empty. */
recur_status rc_csv_open(const char *path, rc_csv **out, recur_error *err);
void rc_csv_close(rc_csv *c);
size_t rc_csv_header_line(const rc_csv *c);
size_t rc_csv_header_count(const rc_csv *c);
const char *rc_csv_header(const rc_csv *c, size_t i);
/* Header index of column `want` (case-insensitive, trimmed) in *idx; `what`
 * names it in messages ("id", "value"). want NULL: the first date-like name
 * (date, timestamp, time, ..., or ds), -1 when none; "" : none (-1). Errors list
 * the header. */
recur_status rc_csv_column(const rc_csv *c, const char *want, const char *what, long *idx, recur_error *err);
/* Next non-blank record; *got = 0 at the end. *line: its first line. */
recur_status rc_csv_next(rc_csv *c, int *got, size_t *line, recur_error *err);
/* Fields of the current record, and field i trimmed (not NUL-terminated;
 * "" past the end). */
size_t rc_csv_count(const rc_csv *c);
const char *rc_csv_field(const rc_csv *c, size_t i, size_t *len);

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

/* Inverse of rc_days_from_civil. */
void rc_civil_from_days(long z, long *y, int *m, int *d);
/* 0 Sunday .. 6 Saturday for day z since 1970-01-01. */
int rc_weekday(long z);
/* Days in month m (1-12) of year y. */
int rc_month_days(long y, int m);

/* Text for a message: at most RC_SHOW_MAX bytes of s[0..n), cut on a UTF-8
 * character boundary with "..." after it; control characters shown as '?'. */
#define RC_SHOW_MAX 40
#define RC_SHOW_CAP 64
void rc_show(char dst[RC_SHOW_CAP], const char *s, size_t n);

/* ASCII case-insensitive: does s[0..n) equal the C string z? */
int rc_eq_ci(const char *s, size_t n, const char *z);

#endif
