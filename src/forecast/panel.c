/*
 * panel.c -- panels of series: many series, each with an id, its values in
 * time order and their times.
 *
 * Implements:
 *  - the long ("panel") CSV reader: one row per series and time, columns
 *    found by name; records, numbers and dates come from src/data (csv.c,
 *    cell.c), so quoting, BOM, CRLF, "1,008.64" and the date formats are those
 *    of recur_table_read_csv;
 *  - the M4 competition's wide files (one series per row, padded with empty
 *    fields);
 *  - the cadence of the times: seasonal period, future times (calendar months
 *    continued as months), times as text in the file's precision.
 * Errors name the file and line: duplicate (id, time) rows, gaps in an
 * integer time index, missing values (unless dropped or filled), unknown
 * columns, an empty file.
 * Does not: resample irregular dates, or fill gaps in dates (a date series
 * with a missing day is read as it is).
 */
#include "core/core.h"
#include "data/data.h"
#include "forecast/forecast.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Precision of the times as text. */
enum { TX_INDEX, TX_YEAR, TX_MONTH, TX_DAY, TX_TIME };

typedef struct {
    char *id;
    double *y, *t; /* (n) values, times */
    size_t n;
} series;

/* The step between times, found from the median gap over every series. */
typedef struct {
    int known;
    int months;       /* > 0: calendar months per step (3 quarterly, 12 yearly) */
    double days;      /* else days per step (1/24 hourly) */
    int business;     /* daily steps and no time on a weekend: skip Saturdays and Sundays */
} cadence;

struct recur_panel {
    char *path;       /* the file read, for messages (NULL: built in memory) */
    int time_is_index;
    int text;         /* TX_*: how recur_panel_time_text writes a time */
    series *s;
    size_t n, cap;
    size_t *slot;     /* (nslot) hash of the ids: series index + 1, 0 = empty */
    size_t nslot;
    cadence cad;
};

/* ====== Ids ====== */

static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* Slot of id s[0..n): the one holding it, or the empty one where it goes. */
static size_t find_slot(const recur_panel *p, const char *s, size_t n)
{
    size_t mask = p->nslot - 1, i = (size_t)hash_id(s, n) & mask;
    while (p->slot[i]) {
        const char *id = p->s[p->slot[i] - 1].id;
        if (strlen(id) == n && memcmp(id, s, n) == 0) break;
        i = (i + 1) & mask;
    }
    return i;
}

/* Keeps the table at most half full. */
static int rehash(recur_panel *p, size_t need)
{
    if (p->nslot >= 2 * need) return 0;
    size_t ns = p->nslot ? p->nslot : 64;
    while (ns < 2 * need) ns *= 2;
    size_t *old = p->slot, on = p->nslot;
    if (!(p->slot = calloc(ns, sizeof *p->slot))) {
        p->slot = old;
        return -1;
    }
    p->nslot = ns;
    for (size_t i = 0; i < on; i++)
        if (old[i]) {
            const char *id = p->s[old[i] - 1].id;
            p->slot[find_slot(p, id, strlen(id))] = old[i];
        }
    free(old);
    return 0;
}

/* Index of id s[0..n), creating an empty series for a new one; -1 on no memory. */
static long intern(recur_panel *p, const char *s, size_t n)
{
    if (rehash(p, p->n + 1)) return -1;
    size_t k = find_slot(p, s, n);
    if (p->slot[k]) return (long)(p->slot[k] - 1);
    if (p->n == p->cap) {
        size_t c = p->cap ? 2 * p->cap : 16;
        series *q = realloc(p->s, c * sizeof *q);
        if (!q) return -1;
        p->s = q;
        p->cap = c;
    }
    series *e = &p->s[p->n];
    memset(e, 0, sizeof *e);
    if (!(e->id = malloc(n + 1))) return -1;
    memcpy(e->id, s, n);
    e->id[n] = '\0';
    p->slot[k] = ++p->n;
    p->cad.known = 0;
    return (long)(p->n - 1);
}

/* ====== Public: building ====== */

recur_status recur_panel_new(int time_is_index, recur_panel **out, recur_error *err)
{
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_panel_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return rc_error(err, RECUR_E_NOMEM, "recur_panel_new: out of memory");
    (*out)->time_is_index = time_is_index ? 1 : 0;
    (*out)->text = time_is_index ? TX_INDEX : TX_DAY;
    return RECUR_OK;
}

void recur_panel_free(recur_panel *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->s[i].id);
        free(p->s[i].y);
        free(p->s[i].t);
    }
    free(p->s);
    free(p->slot);
    free(p->path);
    free(p);
}

recur_status recur_panel_add(recur_panel *p, const char *id, const double *y, const double *time, size_t n,
                             recur_error *err)
{
    if (!p || !id || (!y && n)) return rc_error(err, RECUR_E_INVALID, "recur_panel_add: panel, id and values are required");
    if (!id[0]) return rc_error(err, RECUR_E_INVALID, "recur_panel_add: empty series id");
    if (n == 0) return rc_error(err, RECUR_E_DATA, "series \"%s\": no values", id);
    if (recur_panel_find(p, id) >= 0) return rc_error(err, RECUR_E_INVALID, "series \"%s\" is already in the panel", id);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            return rc_error(err, RECUR_E_DATA, "series \"%s\": value %zu is not a finite number", id, i + 1);
        if (time && (!isfinite(time[i]) || (i > 0 && !(time[i] > time[i - 1]))))
            return rc_error(err, RECUR_E_DATA, "series \"%s\": time %zu is not after time %zu", id, i + 1, i);
        if (time && p->time_is_index && i > 0 && time[i] != time[i - 1] + 1)
            return rc_error(err, RECUR_E_DATA, "series \"%s\": gap in the integer time index after %.17g", id,
                            time[i - 1]);
    }
    double *yc = malloc(n * sizeof *yc), *tc = malloc(n * sizeof *tc);
    long k = (yc && tc) ? intern(p, id, strlen(id)) : -1;
    if (k < 0) {
        free(yc);
        free(tc);
        return rc_error(err, RECUR_E_NOMEM, "series \"%s\": out of memory for %zu values", id, n);
    }
    memcpy(yc, y, n * sizeof *yc);
    for (size_t i = 0; i < n; i++) tc[i] = time ? time[i] : (double)(i + 1);
    p->s[k].y = yc;
    p->s[k].t = tc;
    p->s[k].n = n;
    return RECUR_OK;
}

static cadence find_cadence(const recur_panel *p);

/* Done reading: remember the file (for messages) and the cadence. */
static recur_status set_path(recur_panel *p, const char *path, recur_error *err)
{
    size_t n = strlen(path);
    p->cad = find_cadence(p);
    if (!(p->path = malloc(n + 1))) return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
    memcpy(p->path, path, n + 1);
    return RECUR_OK;
}

const char *rc_panel_path(const recur_panel *p) { return p && p->path ? p->path : "the panel"; }

/* ====== Long CSV ====== */

/* One parsed row, before grouping. */
typedef struct {
    size_t series, line;
    double t, y;      /* y NaN: missing */
} row;

static int cmp_row(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    if (a->series != b->series) return a->series < b->series ? -1 : 1;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

recur_panel_opts recur_panel_opts_default(void)
{
    recur_panel_opts o;
    o.id_column = NULL;
    o.time_column = NULL;
    o.value_column = NULL;
    o.missing = RECUR_MISSING_ERROR;
    return o;
}

/* Precision of a calendar time text: YYYY, YYYY-MM, a date, or with a time of day. */
static int text_precision(const char *s, size_t n, double day)
{
    if (n <= 4) return TX_YEAR;
    if (n == 7 && s[4] == '-') return TX_MONTH;
    return day != floor(day) ? TX_TIME : TX_DAY;
}

static recur_status parse_cell_error(const char *path, size_t line, const rc_csv *c, long col, const char *what,
                                     const char *txt, size_t len, recur_error *err)
{
    char shown[RC_SHOW_CAP], name[RC_SHOW_CAP];
    const char *h = rc_csv_header(c, (size_t)col);
    rc_show(shown, txt, len);
    rc_show(name, h, strlen(h));
    return rc_error(err, RECUR_E_PARSE, "%s:%zu: column \"%s\": %s (\"%s\")", path, line, name, what, shown);
}

/* Reads every record into rows (ids interned into p in first-appearance order). */
static recur_status read_rows(const char *path, rc_csv *c, recur_panel *p, long id_col, long t_col, long v_col,
                              recur_missing missing, row **out, size_t *nrows, recur_error *err)
{
    size_t n = 0, cap = 0, kind_line = 0, line, need = 0, nh = rc_csv_header_count(c);
    int got, kind = -1;
    row *r = NULL;
    recur_status rc = RECUR_OK;
    const char *one_id = rc_csv_header(c, (size_t)v_col);
    long cols[3] = {id_col, t_col, v_col};
    for (int j = 0; j < 3; j++)
        if (cols[j] >= 0 && (size_t)cols[j] + 1 > need) need = (size_t)cols[j] + 1;
    for (;;) {
        if ((rc = rc_csv_next(c, &got, &line, err)) || !got) break;
        size_t nf = rc_csv_count(c), len;
        const char *txt;
        while (nf > nh && (rc_csv_field(c, nf - 1, &len), len == 0)) nf--;
        if (nf != nh || nf < need) {
            rc = rc_error(err, RECUR_E_PARSE,
                          "%s:%zu: row has %zu field%s but the header has %zu; check for a lost comma or quote",
                          path, line, nf, nf == 1 ? "" : "s", nh);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            row *q = realloc(r, nc * sizeof *q);
            if (!q) goto nomem;
            r = q;
            cap = nc;
        }
        row *e = &r[n];
        e->line = line;
        long s;
        if (id_col >= 0) {
            txt = rc_csv_field(c, (size_t)id_col, &len);
            if (len == 0) {
                rc = parse_cell_error(path, line, c, id_col, "empty series id", txt, len, err);
                break;
            }
            s = intern(p, txt, len);
        } else {
            s = intern(p, one_id, strlen(one_id));
        }
        if (s < 0) goto nomem;
        e->series = (size_t)s;
        txt = rc_csv_field(c, (size_t)v_col, &len);
        int cell = rc_parse_number(txt, len, &e->y);
        if (cell == RC_CELL_MISSING && missing == RECUR_MISSING_ERROR) {
            char shown[RC_SHOW_CAP];
            rc_show(shown, txt, len);
            rc = rc_error(err, RECUR_E_DATA,
                          "%s:%zu: column \"%s\": missing value (\"%s\"); use --missing drop or --missing ffill",
                          path, line, rc_csv_header(c, (size_t)v_col), shown);
            break;
        }
        if (cell == RC_CELL_MISSING) {
            e->y = NAN;
        } else if (cell != RC_CELL_OK) {
            rc = parse_cell_error(path, line, c, v_col,
                                  cell == RC_CELL_INF ? "infinite value"
                                  : cell == RC_CELL_RANGE ? "number out of range" : "not a number",
                                  txt, len, err);
            break;
        }
        if (t_col < 0) {
            e->t = (double)(p->s[s].n + 1); /* file order: 1, 2, ... per series */
            p->s[s].n++;
        } else {
            int k;
            txt = rc_csv_field(c, (size_t)t_col, &len);
            const char *tname = rc_csv_header(c, (size_t)t_col);
            if (len == 0 || rc_parse_date(txt, len, rc_eq_ci(tname, strlen(tname), "year"), &e->t, &k)) {
                rc = parse_cell_error(path, line, c, t_col,
                                      len ? "not a date or step index (use YYYY-MM-DD, M/D/YYYY, YYYY-MM or an integer)"
                                          : "missing time", txt, len, err);
                break;
            }
            if (kind < 0) {
                kind = k;
                kind_line = line;
                p->time_is_index = k == RC_DATE_INDEX;
                p->text = k == RC_DATE_INDEX ? TX_INDEX : text_precision(txt, len, e->t);
            } else if (k != kind) {
                rc = parse_cell_error(path, line, c, t_col,
                                      k == RC_DATE_INDEX ? "a plain number where earlier rows have dates"
                                                         : "a date where earlier rows have step numbers",
                                      txt, len, err);
                (void)kind_line;
                break;
            } else if (k == RC_DATE_CALENDAR && p->text != TX_TIME && e->t != floor(e->t)) {
                p->text = TX_TIME;
            }
            if (k == RC_DATE_INDEX && e->t != floor(e->t)) {
                rc = parse_cell_error(path, line, c, t_col, "step index is not a whole number", txt, len, err);
                break;
            }
        }
        n++;
    }
    if (!rc && n == 0)
        rc = rc_error(err, RECUR_E_DATA, "%s: no data rows: the file has only its header (line %zu)", path,
                      rc_csv_header_line(c));
    if (rc) {
        free(r);
        return rc;
    }
    if (t_col < 0) p->time_is_index = 1, p->text = TX_INDEX;
    *out = r;
    *nrows = n;
    return RECUR_OK;
nomem:
    free(r);
    return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
}

/* Sorts the rows by series and time, checks them, and fills each series. */
static recur_status group_rows(const char *path, recur_panel *p, row *r, size_t n, recur_missing missing,
                               recur_error *err)
{
    qsort(r, n, sizeof *r, cmp_row);
    for (size_t i = 0; i < p->n; i++) p->s[i].n = 0;
    size_t a = 0;
    while (a < n) {
        size_t b = a, s = r[a].series;
        series *e = &p->s[s];
        while (b < n && r[b].series == s) b++;
        for (size_t i = a + 1; i < b; i++) {
            if (r[i].t == r[i - 1].t) {
                char tt[64];
                recur_panel_time_text(p, r[i].t, tt, sizeof tt);
                return rc_error(err, RECUR_E_DATA,
                                "%s:%zu: duplicate row for series \"%s\" at time %s (also on line %zu); remove one",
                                path, r[i].line, e->id, tt, r[i - 1].line);
            }
            if (p->time_is_index && r[i].t != r[i - 1].t + 1)
                return rc_error(err, RECUR_E_DATA,
                                "%s:%zu: series \"%s\" jumps from step %.0f to %.0f (line %zu): an integer time "
                                "index must have no gaps", path, r[i].line, e->id, r[i - 1].t, r[i].t,
                                r[i - 1].line);
        }
        if (!(e->y = malloc((b - a) * sizeof *e->y)) || !(e->t = malloc((b - a) * sizeof *e->t)))
            return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
        size_t k = 0;
        for (size_t i = a; i < b; i++) {
            double y = r[i].y;
            if (isnan(y)) {
                if (missing == RECUR_MISSING_DROP || k == 0) continue;
                y = e->y[k - 1];
            }
            e->y[k] = y;
            e->t[k++] = r[i].t;
        }
        if (k == 0)
            return rc_error(err, RECUR_E_DATA, "%s:%zu: series \"%s\" has only missing values", path, r[a].line,
                            e->id);
        e->n = k;
        a = b;
    }
    return RECUR_OK;
}

/* The value column when none is named: the only one left besides id and time. */
static recur_status only_other_column(const char *path, const rc_csv *c, long id_col, long t_col, long *v_col,
                                      recur_error *err)
{
    size_t left = 0;
    for (size_t i = 0; i < rc_csv_header_count(c); i++)
        if ((long)i != id_col && (long)i != t_col) {
            if (left++ == 0) *v_col = (long)i;
        }
    if (left == 1) return RECUR_OK;
    return rc_error(err, RECUR_E_INVALID, "%s: %s; name the value column (--column)", path,
                    left ? "the header has several value columns" : "the header has no value column");
}

recur_status recur_panel_read_csv(const char *path, const recur_panel_opts *o, recur_panel **out, recur_error *err)
{
    rc_csv *c = NULL;
    recur_panel *p = NULL;
    row *r = NULL;
    size_t n = 0;
    long id_col = -1, t_col = -1, v_col = -1;
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_csv: out is NULL");
    *out = NULL;
    if (!path || !o) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_csv: path and options are required");
    recur_status rc = rc_csv_open(path, &c, err);
    if (rc) return rc;
    if (o->id_column && (rc = rc_csv_column(c, o->id_column, "id", &id_col, err))) goto done;
    if (o->value_column) {
        if ((rc = rc_csv_column(c, o->value_column, "value", &v_col, err))) goto done;
        if ((rc = rc_csv_column(c, o->time_column, "time", &t_col, err))) goto done;
        if (t_col >= 0 && (t_col == v_col || t_col == id_col)) t_col = -1;
    } else {
        if ((rc = rc_csv_column(c, o->time_column, "time", &t_col, err))) goto done;
        if (t_col == id_col) t_col = -1;
        if ((rc = only_other_column(path, c, id_col, t_col, &v_col, err))) goto done;
    }
    if (id_col >= 0 && id_col == v_col) {
        rc = rc_error(err, RECUR_E_INVALID, "%s: the id column and the value column are both \"%s\"", path,
                      o->value_column);
        goto done;
    }
    if ((rc = recur_panel_new(1, &p, err))) goto done;
    if ((rc = read_rows(path, c, p, id_col, t_col, v_col, o->missing, &r, &n, err))) goto done;
    if ((rc = group_rows(path, p, r, n, o->missing, err))) goto done;
    if ((rc = set_path(p, path, err))) goto done;
    *out = p;
    p = NULL;
done:
    free(r);
    recur_panel_free(p);
    rc_csv_close(c);
    return rc;
}

/* ====== M4 wide files ====== */

recur_status recur_panel_read_wide(const char *path, recur_panel **out, recur_error *err)
{
    rc_csv *c = NULL;
    recur_panel *p = NULL;
    double *y = NULL;
    size_t cap = 0, line;
    int got;
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_wide: out is NULL");
    *out = NULL;
    if (!path) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_wide: path is NULL");
    recur_status rc = rc_csv_open(path, &c, err);
    if (!rc) rc = recur_panel_new(1, &p, err);
    while (!rc) {
        if ((rc = rc_csv_next(c, &got, &line, err)) || !got) break;
        size_t nf = rc_csv_count(c), len, n = 0;
        const char *txt = rc_csv_field(c, 0, &len);
        char id[256];
        if (len == 0 || len >= sizeof id) {
            rc = rc_error(err, RECUR_E_PARSE, "%s:%zu: the first field must be the series id (1-255 bytes)",
                          path, line);
            break;
        }
        memcpy(id, txt, len);
        id[len] = '\0';
        while (nf > 1 && (rc_csv_field(c, nf - 1, &len), len == 0)) nf--; /* the padding */
        size_t nv = nf > 1 ? nf - 1 : 1;
        if (nv > cap) {
            double *q = realloc(y, nv * sizeof *q);
            if (!q) {
                rc = rc_error(err, RECUR_E_NOMEM, "%s:%zu: out of memory", path, line);
                break;
            }
            y = q;
            cap = nv;
        }
        for (size_t j = 1; j < nf && !rc; j++) {
            txt = rc_csv_field(c, j, &len);
            int cell = rc_parse_number(txt, len, &y[n++]);
            if (cell == RC_CELL_OK) continue;
            char shown[RC_SHOW_CAP];
            rc_show(shown, txt, len);
            rc = rc_error(err, cell == RC_CELL_MISSING ? RECUR_E_DATA : RECUR_E_PARSE,
                          "%s:%zu: series \"%s\", value %zu (field %zu): %s (\"%s\")", path, line, id, j, j + 1,
                          cell == RC_CELL_MISSING ? "missing value (only the end of a row may be padded)" : "not a number",
                          shown);
        }
        if (rc) break;
        if (n == 0) {
            rc = rc_error(err, RECUR_E_DATA, "%s:%zu: series \"%s\" has no values", path, line, id);
            break;
        }
        if (recur_panel_find(p, id) >= 0) {
            rc = rc_error(err, RECUR_E_DATA, "%s:%zu: series \"%s\" appears twice", path, line, id);
            break;
        }
        rc = recur_panel_add(p, id, y, NULL, n, err);
    }
    if (!rc && recur_panel_count(p) == 0)
        rc = rc_error(err, RECUR_E_DATA, "%s: no series: the file has only its header", path);
    if (!rc) rc = set_path(p, path, err);
    if (!rc) {
        *out = p;
        p = NULL;
    }
    free(y);
    recur_panel_free(p);
    rc_csv_close(c);
    return rc;
}

recur_status recur_panel_read_any(const char *path, const recur_panel_opts *o, recur_panel **out, recur_error *err)
{
    rc_csv *c = NULL;
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_any: out is NULL");
    *out = NULL;
    if (!path || !o) return rc_error(err, RECUR_E_INVALID, "recur_panel_read_any: path and options are required");
    recur_status rc = rc_csv_open(path, &c, err);
    if (rc) return rc;
    int wide = rc_csv_header_count(c) >= 2 && strcmp(rc_csv_header(c, 0), "V1") == 0 &&
               strcmp(rc_csv_header(c, 1), "V2") == 0;
    rc_csv_close(c);
    return wide ? recur_panel_read_wide(path, out, err) : recur_panel_read_csv(path, o, out, err);
}

int recur_panel_levels(const char *path, double *levels, int cap, recur_error *err)
{
    rc_csv *c = NULL;
    int n = 0;
    if (!path || (!levels && cap > 0)) return rc_error(err, RECUR_E_INVALID, "recur_panel_levels: path is NULL"), -1;
    if (rc_csv_open(path, &c, err)) return -1;
    for (size_t i = 0; i < rc_csv_header_count(c) && n < cap; i++) {
        const char *h = rc_csv_header(c, i);
        char *end, want[80];
        if (!rc_eq_ci(h, 2, "lo")) continue;
        double L = strtod(h + 2, &end);
        if (end == h + 2 || *end || !(L > 0 && L < 100) || strlen(h) > 60) continue;
        snprintf(want, sizeof want, "hi%s", h + 2);
        for (size_t j = 0; j < rc_csv_header_count(c); j++)
            if (rc_eq_ci(rc_csv_header(c, j), strlen(rc_csv_header(c, j)), want)) {
                levels[n++] = L;
                break;
            }
    }
    rc_csv_close(c);
    return n;
}

/* ====== Queries ====== */

size_t recur_panel_count(const recur_panel *p) { return p ? p->n : 0; }
const char *recur_panel_id(const recur_panel *p, size_t s) { return p && s < p->n ? p->s[s].id : NULL; }
size_t recur_panel_length(const recur_panel *p, size_t s) { return p && s < p->n ? p->s[s].n : 0; }
const double *recur_panel_values(const recur_panel *p, size_t s) { return p && s < p->n ? p->s[s].y : NULL; }
const double *recur_panel_times(const recur_panel *p, size_t s) { return p && s < p->n ? p->s[s].t : NULL; }
int recur_panel_time_is_index(const recur_panel *p) { return p ? p->time_is_index : 1; }

long recur_panel_find(const recur_panel *p, const char *id)
{
    if (!p || !id || p->nslot == 0) return -1;
    size_t k = find_slot(p, id, strlen(id));
    return p->slot[k] ? (long)(p->slot[k] - 1) : -1;
}

/* ====== Cadence ====== */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median gap between consecutive times over every series (at most the first
 * 100000 gaps), and whether any time falls on a weekend. */
static cadence find_cadence(const recur_panel *p)
{
    cadence c = {1, 0, 1, 0};
    if (p->time_is_index) return c;
    size_t k = 0, cap = 0;
    for (size_t s = 0; s < p->n; s++) cap += p->s[s].n ? p->s[s].n - 1 : 0;
    if (cap > 100000) cap = 100000;
    double *gap = cap ? malloc(cap * sizeof *gap) : NULL;
    int weekend = 0;
    for (size_t s = 0; s < p->n; s++) {
        const series *e = &p->s[s];
        for (size_t i = 0; i < e->n; i++) {
            int wd = rc_weekday((long)floor(e->t[i]));
            if (wd == 0 || wd == 6) weekend = 1;
            if (i > 0 && gap && k < cap) gap[k++] = e->t[i] - e->t[i - 1];
        }
    }
    if (k == 0) {
        free(gap);
        return c;
    }
    qsort(gap, k, sizeof *gap, cmp_double);
    double g = gap[k / 2];
    free(gap);
    if (g >= 27.5) { /* months: 28-31 days; quarters 89-92; years 365-366 */
        c.months = (int)floor(g / 30.436875 + 0.5);
        if (c.months < 1) c.months = 1;
    } else if (g < 1) {
        c.days = floor(g * 86400 + 0.5) / 86400; /* whole seconds */
    } else {
        c.days = floor(g + 0.5);
        c.business = c.days == 1 && !weekend;
    }
    return c;
}

/* The readers store the cadence once the panel is complete; a panel built
 * with recur_panel_add has it found on each call (nothing is written, so
 * threads may share a panel). */
static cadence get_cadence(const recur_panel *p) { return p->cad.known ? p->cad : find_cadence(p); }

int recur_panel_infer_season(const recur_panel *p)
{
    if (!p || p->time_is_index || p->n == 0) return 1;
    cadence cd = get_cadence(p);
    const cadence *c = &cd;
    if (c->months == 1) return 12;
    if (c->months == 3) return 4;
    if (c->months > 0) return 1;
    if (fabs(c->days - 1.0 / 24) < 1e-6) return 24;
    if (c->days == 1) return c->business ? 5 : 7;
    if (c->days == 7) return 52;
    return 1;
}

/* Day `z` moved by k calendar months, the day of month kept (clamped to the month's length). */
static double add_months(double z, long k)
{
    long y;
    int m, d;
    double frac = z - floor(z);
    rc_civil_from_days((long)floor(z), &y, &m, &d);
    long mi = y * 12 + (m - 1) + k;
    y = mi >= 0 ? mi / 12 : -((-mi + 11) / 12);
    m = (int)(mi - y * 12) + 1;
    int last = rc_month_days(y, m);
    return (double)rc_days_from_civil(y, m, d > last ? last : d) + frac;
}

void recur_panel_future_times(const recur_panel *p, size_t s, int H, double *out)
{
    if (!p || s >= p->n || H <= 0 || !out) return;
    const series *e = &p->s[s];
    double last = e->t[e->n - 1];
    if (p->time_is_index) {
        for (int k = 0; k < H; k++) out[k] = last + k + 1;
        return;
    }
    cadence cd = get_cadence(p);
    const cadence *c = &cd;
    double t = last;
    for (int k = 0; k < H; k++) {
        if (c->months > 0) {
            out[k] = add_months(last, (long)c->months * (k + 1));
            continue;
        }
        if (c->days < 1) { /* sub-daily: on the grid of whole seconds */
            out[k] = floor((last + c->days * (k + 1)) * 86400 + 0.5) / 86400;
            continue;
        }
        t += c->days;
        while (c->business && (rc_weekday((long)floor(t)) == 0 || rc_weekday((long)floor(t)) == 6)) t += 1;
        out[k] = t;
    }
}

void recur_panel_time_text(const recur_panel *p, double time, char *buf, size_t cap)
{
    if (!buf || cap == 0) return;
    int tx = p ? p->text : TX_INDEX;
    if (tx == TX_INDEX || !isfinite(time)) {
        snprintf(buf, cap, "%.17g", time);
        return;
    }
    long y;
    int m, d;
    long day = (long)floor(time);
    rc_civil_from_days(day, &y, &m, &d);
    if (tx == TX_YEAR) {
        snprintf(buf, cap, "%04ld", y);
    } else if (tx == TX_MONTH) {
        snprintf(buf, cap, "%04ld-%02d", y, m);
    } else if (tx == TX_DAY) {
        snprintf(buf, cap, "%04ld-%02d-%02d", y, m, d);
    } else {
        long sec = (long)floor((time - (double)day) * 86400 + 0.5);
        if (sec >= 86400) sec = 86399;
        snprintf(buf, cap, "%04ld-%02d-%02d %02ld:%02ld:%02ld", y, m, d, sec / 3600, sec / 60 % 60, sec % 60);
    }
}
