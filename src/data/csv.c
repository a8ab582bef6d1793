/*
 * csv.c -- reads a CSV file into a table of numeric columns in time order.
 *
 * Implements:
 *  - RFC 4180 records: quoted fields with "" escapes, commas and line breaks
 *    inside quotes, CRLF / LF / CR line ends, a UTF-8 byte-order mark, no final
 *    newline; blank (or whitespace-only) lines are skipped;
 *  - columns found by case-insensitive header name;
 both sides trimmed;
 *  - the date column: opts->date_column, or the first header named date,
 *    timestamp, time, datetime, day, month or year; cells parsed by cell.c
 *    (numbers with thousands separators, ISO and US dates, timestamps);
 *  - sorting into time order: stable, so newest-first files come out oldest
 *    first; a repeated date is an error that names both lines;
 *  - every row has the header's number of fields (trailing empty ones aside):
 *    a lost or unquoted comma ("1,008.64") shifts the columns, which would put
 *    a wrong number in a wanted column without any other sign.
 * Does not: guess the separator (always ','), read encodings other than UTF-8
 * (a file with NUL bytes or invalid UTF-8 anywhere is refused), parse columns
 * that were not asked for (their mess cannot fail a load), or stream: the whole
 * file, at most 1 GiB, is read into memory.
 * Missing values: the check runs in file order (the error names the first one);
 * DROP and FFILL run in time order. FFILL copies the previous kept row; rows
 * before the first complete row have nothing to copy and are dropped. Both
 * count in recur_table_n_missing.
 * opts->date_column "" means "no date column" (rows stay in file order).
 */
#include "core/core.h"
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CSV_MAX_BYTES ((size_t)1 << 30) /* refuse larger files */

struct recur_table {
    char *path;
    size_t rows;
    int cols;
    double *data;     /* (cols, rows): column j starts at data + j*rows */
    char **names;     /* (cols) header names as written, trimmed */
    double *day;      /* (rows) days since 1970-01-01; NULL without a date column */
    size_t *date_off; /* (rows) offset of each row's date text in date_text */
    char *date_text;
    size_t *line;     /* (rows) line of the file each row came from */
    size_t n_missing;
};

/* ====== Small helpers ====== */

typedef struct {
    size_t off, len;
} span;

/* p regrown (doubling) to hold `need` elements of `elem` bytes: p itself when
 * it is big enough, NULL on overflow or out of memory (p is then untouched). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) return NULL;
        c *= 2;
    }
    if (c > SIZE_MAX / elem) return NULL;
    void *q = realloc(p, c * elem);
    if (q) *cap = c;
    return q;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }
static int is_eol(char c) { return c == '\n' || c == '\r'; }

static span trim(const char *buf, span s)
{
    while (s.len > 0 && is_blank(buf[s.off])) s.off++, s.len--;
    while (s.len > 0 && is_blank(buf[s.off + s.len - 1])) s.len--;
    return s;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ====== Reading the file ====== */

static recur_status read_file(const char *path, char **out, size_t *out_len, recur_error *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    recur_status rc = RECUR_OK;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f) return rc_error(err, RECUR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0) { /* refuse early what the loop below would refuse late */
        if (S_ISDIR(st.st_mode)) {
            rc = rc_error(err, RECUR_E_IO, "%s: is a directory, not a CSV file", path);
            goto fail;
        }
        if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > CSV_MAX_BYTES) goto too_big;
    }
    for (;;) {
        if (len == cap) {
            if (cap > CSV_MAX_BYTES) goto too_big;
            size_t ncap = cap ? 2 * cap : 65536;
            if (ncap > CSV_MAX_BYTES + 1) ncap = CSV_MAX_BYTES + 1;
            char *q = realloc(buf, ncap + 1); /* +1: a NUL after the text */
            if (!q) {
                rc = rc_error(err, RECUR_E_NOMEM, "%s: out of memory reading %zu bytes", path, ncap);
                goto fail;
            }
            buf = q;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
        /* A NUL byte is refused anyway (check_encoding): stop reading there, so
         * that a binary stream such as /dev/zero is not read up to the limit. */
        if (memchr(buf + len - got, '\0', got)) break;
    }
    if (ferror(f)) {
        rc = rc_error(err, RECUR_E_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return RECUR_OK;
too_big:
    rc = rc_error(err, RECUR_E_DATA,
                  "%s: file is larger than 1 GiB; recur reads the whole file into memory, so cut it down first",
                  path);
fail:
    fclose(f);
    free(buf);
    return rc;
}

/* Offset of the first byte that is NUL or breaks UTF-8 (overlong forms,
 * surrogates and code points past U+10FFFF included), or len when all good. */
static size_t utf8_bad(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], cp, min;
        size_t n;
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (n > len - i - 1) return i;
        for (size_t k = 1; k <= n; k++) {
            unsigned d = s[i + k];
            if ((d & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

/* 1-based line of byte `off`, counting line ends the way the reader does. */
static size_t line_at(const char *buf, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n' || (buf[i] == '\r' && buf[i + 1] != '\n')) line++;
    return line;
}

static recur_status check_encoding(const char *path, const char *buf, size_t len, recur_error *err)
{
    const unsigned char *u = (const unsigned char *)buf;
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        return rc_error(err, RECUR_E_PARSE, "%s: file is UTF-16; save it as UTF-8 (or plain ASCII) CSV", path);
    size_t bad = utf8_bad(u, len);
    if (bad == len) return RECUR_OK;
    if (u[bad] == 0)
        return rc_error(err, RECUR_E_PARSE, "%s:%zu: NUL byte at offset %zu: this is not a text CSV file", path,
                        line_at(buf, bad), bad);
    return rc_error(err, RECUR_E_PARSE,
                    "%s:%zu: invalid UTF-8 (byte 0x%02X at offset %zu); save the file as UTF-8", path,
                    line_at(buf, bad), u[bad], bad);
}

/* ====== Records (RFC 4180) ====== */

typedef struct {
    const char *path;
    char *buf;
    size_t len, pos;
    size_t line;      /* physical line at pos, 1-based */
    span *f;          /* fields of the current record */
    size_t nf, capf;
} reader;

/* Steps over one line end at pos: CRLF, LF or a lone CR. */
static void eat_eol(reader *r)
{
    char c = r->buf[r->pos++];
    if (c == '\r' && r->pos < r->len && r->buf[r->pos] == '\n') r->pos++;
    r->line++;
}

/* Reads the next non-blank record into r->f; *got = 0 at the end of the file.
 * Quoted fields are unescaped in place, so each field is buf[off, off+len).
 * Text after a closing quote is kept as is, like Python's csv module. */
static recur_status next_record(reader *r, int *got, size_t *rec_line, recur_error *err)
{
    char *buf = r->buf;
    size_t len = r->len;
    *got = 0;
    for (;;) { /* skip blank and whitespace-only lines */
        size_t p = r->pos;
        while (p < len && is_blank(buf[p])) p++;
        if (p >= len) {
            r->pos = p;
            return RECUR_OK;
        }
        if (!is_eol(buf[p])) break;
        r->pos = p;
        eat_eol(r);
    }
    *rec_line = r->line;
    r->nf = 0;
    for (;;) {
        size_t p = r->pos;
        span s;
        while (p < len && is_blank(buf[p])) p++;
        if (p < len && buf[p] == '"') {
            size_t qline = r->line, w = p;
            s.off = p++;
            for (;;) {
                if (p >= len)
                    return rc_error(err, RECUR_E_PARSE,
                                    "%s:%zu: quoted field is never closed (the file ends inside it); "
                                    "a '\"' inside a quoted field must be written '\"\"'", r->path, qline);
                char c = buf[p];
                if (c == '"') {
                    if (p + 1 < len && buf[p + 1] == '"') {
                        buf[w++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (c == '\n' || (c == '\r' && !(p + 1 < len && buf[p + 1] == '\n'))) r->line++;
                buf[w++] = c;
                p++;
            }
            while (p < len && buf[p] != ',' && !is_eol(buf[p])) buf[w++] = buf[p++];
            s.len = w - s.off;
        } else {
            p = r->pos;
            s.off = p;
            while (p < len && buf[p] != ',' && !is_eol(buf[p])) p++;
            s.len = p - s.off;
        }
        span *f = grow(r->f, &r->capf, r->nf + 1, sizeof *f);
        if (!f)
            return rc_error(err, RECUR_E_NOMEM, "%s:%zu: out of memory (record with %zu fields)", r->path,
                            *rec_line, r->nf + 1);
        r->f = f;
        r->f[r->nf++] = s;
        r->pos = p;
        if (p < len && buf[p] == ',') {
            r->pos++;
            continue;
        }
        if (p < len) eat_eol(r);
        break;
    }
    *got = 1;
    return RECUR_OK;
}

/* The whole file read and checked (UTF-8, no NUL), positioned after any BOM. */
static recur_status open_reader(const char *path, reader *r, recur_error *err)
{
    r->path = path;
    recur_status rc = read_file(path, &r->buf, &r->len, err);
    if (rc) return rc;
    rc = check_encoding(path, r->buf, r->len, err);
    if (rc) {
        free(r->buf);
        r->buf = NULL;
        return rc;
    }
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    r->line = 1;
    return RECUR_OK;
}

/* ====== Header and columns ====== */

/* "Date", "Open", ... for messages, cut with ", ..." to fit `cap`. */
static void list_names(char *dst, size_t cap, char *const *names, size_t n)
{
    size_t o = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char name[RC_SHOW_CAP];
        rc_show(name, names[i], strlen(names[i]));
        size_t need = strlen(name) + 4;
        if (o + need + 6 > cap) {
            snprintf(dst + o, cap - o, "%s...", i ? ", " : "");
            return;
        }
        o += (size_t)snprintf(dst + o, cap - o, "%s\"%s\"", i ? ", " : "", name);
    }
}

static int is_date_name(const char *s)
{
    static const char *const names[] = {"date", "timestamp", "time", "datetime", "day", "month", "year"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (rc_eq_ci(s, strlen(s), names[i])) return 1;
    return 0;
}

/* Number of header names equal to `want` (trimmed, any case); the first two
 * matches go to *first and *second. */
static int find_column(char *const *names, size_t n, const char *want, long *first, long *second)
{
    span w = trim(want, (span){0, strlen(want)});
    int found = 0;
    *first = *second = -1;
    for (size_t i = 0; i < n; i++) {
        if (!rc_eq_ci(want + w.off, w.len, names[i])) continue;
        if (found == 0) *first = (long)i;
        else if (found == 1) *second = (long)i;
        found++;
    }
    return found;
}

/* ====== Rows as parsed (file order) ====== */

typedef struct {
    size_t n, cap;
    int cols;
    double *val;      /* (n, cols), NaN = missing */
    double *day;      /* (n) */
    size_t *line;     /* (n) */
    size_t *date_off; /* (n) */
    char *text;       /* date texts, NUL-separated */
    size_t text_len, text_cap;
    int date_kind;    /* of the first row; all rows must agree */
    size_t kind_line;
} rowbuf;

static void rowbuf_free(rowbuf *b)
{
    free(b->val);
    free(b->day);
    free(b->line);
    free(b->date_off);
    free(b->text);
}

static int rowbuf_reserve(rowbuf *b)
{
    if (b->n < b->cap) return 0;
    size_t c = b->cap ? b->cap : 256;
    while (c <= b->n) {
        if (c > SIZE_MAX / 2) return -1;
        c *= 2;
    }
    if (c > SIZE_MAX / sizeof(double) / (size_t)b->cols) return -1;
    double *v = realloc(b->val, c * (size_t)b->cols * sizeof *v);
    if (!v) return -1;
    b->val = v;
    double *d = realloc(b->day, c * sizeof *d);
    if (!d) return -1;
    b->day = d;
    size_t *l = realloc(b->line, c * sizeof *l);
    if (!l) return -1;
    b->line = l;
    size_t *t = realloc(b->date_off, c * sizeof *t);
    if (!t) return -1;
    b->date_off = t;
    b->cap = c;
    return 0;
}

typedef struct {
    const char *path;
    char **hname;      /* header names, trimmed */
    size_t nh;
    long *col;         /* (cols) header index of each wanted column */
    long date_col;     /* -1 without */
    int year_col;      /* the date column is named "year" */
    size_t need;       /* fields a row needs */
    recur_missing missing;
} layout;

/* Header name i for a message: one line, at most RC_SHOW_MAX bytes. */
static const char *disp(const layout *L, long i, char buf[RC_SHOW_CAP])
{
    rc_show(buf, L->hname[i], strlen(L->hname[i]));
    return buf;
}

/* Parses one data record's wanted cells into row b->n. */
static recur_status parse_row(const layout *L, reader *r, size_t line, rowbuf *b, recur_error *err)
{
    char shown[RC_SHOW_CAP], nb[RC_SHOW_CAP];
    if (r->nf < L->need) {
        long short_col = L->date_col >= 0 && (size_t)L->date_col >= r->nf ? L->date_col : -1;
        for (int j = 0; j < b->cols && short_col < 0; j++)
            if ((size_t)L->col[j] >= r->nf) short_col = L->col[j];
        if (short_col >= 0)
            return rc_error(err, RECUR_E_PARSE,
                            "%s:%zu: row has %zu field%s but the header has %zu, so column \"%s\" (field %ld) "
                            "is missing; check for a lost comma or quote",
                            L->path, line, r->nf, r->nf == 1 ? "" : "s", L->nh, disp(L, short_col, nb),
                            short_col + 1);
    }
    size_t nf = r->nf;
    while (nf > L->nh && trim(r->buf, r->f[nf - 1]).len == 0) nf--; /* trailing empty fields ("a,b,") */
    if (nf != L->nh)
        return rc_error(err, RECUR_E_PARSE,
                        "%s:%zu: row has %zu field%s but the header has %zu: a lost comma, or a comma inside an "
                        "unquoted value (like 1,008.64), shifts the columns; fix the row or quote the value",
                        L->path, line, nf, nf == 1 ? "" : "s", L->nh);
    if (rowbuf_reserve(b)) return rc_error(err, RECUR_E_NOMEM, "%s:%zu: out of memory", L->path, line);
    double *row = b->val + b->n * (size_t)b->cols;
    for (int j = 0; j < b->cols; j++) {
        span s = trim(r->buf, r->f[L->col[j]]);
        const char *txt = r->buf + s.off;
        int c = rc_parse_number(txt, s.len, &row[j]);
        if (c == RC_CELL_OK) continue;
        const char *name = disp(L, L->col[j], nb);
        rc_show(shown, txt, s.len);
        if (c == RC_CELL_MISSING) {
            if (L->missing == RECUR_MISSING_ERROR)
                return rc_error(err, RECUR_E_DATA,
                                "%s:%zu: column \"%s\": missing value (\"%s\"); use --missing drop or "
                                "--missing ffill", L->path, line, name, shown);
            row[j] = NAN;
        } else if (c == RC_CELL_INF) {
            return rc_error(err, RECUR_E_PARSE, "%s:%zu: column \"%s\": infinite value (\"%s\")", L->path,
                            line, name, shown);
        } else if (c == RC_CELL_RANGE) {
            return rc_error(err, RECUR_E_PARSE, "%s:%zu: column \"%s\": number out of range (\"%s\")",
                            L->path, line, name, shown);
        } else {
            return rc_error(err, RECUR_E_PARSE, "%s:%zu: column \"%s\": not a number (\"%s\")", L->path,
                            line, name, shown);
        }
    }
    b->line[b->n] = line;
    b->day[b->n] = NAN;
    b->date_off[b->n] = 0;
    if (L->date_col >= 0) {
        span s = trim(r->buf, r->f[L->date_col]);
        const char *txt = r->buf + s.off;
        const char *name = disp(L, L->date_col, nb);
        int kind;
        rc_show(shown, txt, s.len);
        if (s.len == 0)
            return rc_error(err, RECUR_E_PARSE, "%s:%zu: column \"%s\": missing date", L->path, line, name);
        if (rc_parse_date(txt, s.len, L->year_col, &b->day[b->n], &kind))
            return rc_error(err, RECUR_E_PARSE,
                            "%s:%zu: column \"%s\": not a date (\"%s\"); use YYYY-MM-DD, M/D/YYYY, YYYY-MM "
                            "or YYYY", L->path, line, name, shown);
        if (b->n == 0) {
            b->date_kind = kind;
            b->kind_line = line;
        } else if (kind != b->date_kind) {
            return rc_error(err, RECUR_E_PARSE,
                            "%s:%zu: column \"%s\": \"%s\" is %s, but line %zu has %s", L->path, line, name,
                            shown, kind == RC_DATE_INDEX ? "a plain number" : "a calendar date", b->kind_line,
                            kind == RC_DATE_INDEX ? "a calendar date" : "a plain number");
        }
        char *text = grow(b->text, &b->text_cap, b->text_len + s.len + 1, 1);
        if (!text) return rc_error(err, RECUR_E_NOMEM, "%s:%zu: out of memory", L->path, line);
        b->text = text;
        b->date_off[b->n] = b->text_len;
        memcpy(b->text + b->text_len, txt, s.len);
        b->text_len += s.len;
        b->text[b->text_len++] = '\0';
    }
    b->n++;
    return RECUR_OK;
}

/* ====== Time order and missing values ====== */

typedef struct {
    double day;
    size_t i;
} sort_key;

static int cmp_key(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    if (a->day != b->day) return a->day < b->day ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i); /* file order on ties: a stable sort */
}

/* perm[k] = file-order index of the k-th row in time order. Already increasing:
 * identity; strictly decreasing (newest first): reversed; else sorted. */
static recur_status time_order(const layout *L, const rowbuf *b, size_t *perm, recur_error *err)
{
    size_t n = b->n, inc = 1, dec = 1;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    if (L->date_col < 0) return RECUR_OK;
    for (size_t i = 1; i < n; i++) {
        if (!(b->day[i] > b->day[i - 1])) inc = 0;
        if (!(b->day[i] < b->day[i - 1])) dec = 0;
    }
    if (inc) return RECUR_OK;
    if (dec) {
        for (size_t i = 0; i < n; i++) perm[i] = n - 1 - i;
        return RECUR_OK;
    }
    sort_key *k = malloc(n * sizeof *k);
    if (!k) return rc_error(err, RECUR_E_NOMEM, "%s: out of memory sorting %zu rows", L->path, n);
    for (size_t i = 0; i < n; i++) k[i] = (sort_key){b->day[i], i};
    qsort(k, n, sizeof *k, cmp_key);
    for (size_t i = 0; i < n; i++) perm[i] = k[i].i;
    free(k);
    for (size_t i = 1; i < n; i++) {
        size_t p = perm[i - 1], q = perm[i];
        if (b->day[p] == b->day[q]) {
            char shown[RC_SHOW_CAP];
            const char *txt = b->text + b->date_off[q];
            rc_show(shown, txt, strlen(txt));
            return rc_error(err, RECUR_E_DATA, "%s:%zu: duplicate date \"%s\" (also on line %zu); remove one "
                            "of the two rows", L->path, b->line[q], shown, b->line[p]);
        }
    }
    return RECUR_OK;
}

static int row_has_nan(const double *row, int cols)
{
    for (int j = 0; j < cols; j++)
        if (isnan(row[j])) return 1;
    return 0;
}

/* Moves the parsed rows into t in time order, dropping or filling missing cells. */
static recur_status build_table(const layout *L, rowbuf *b, recur_table *t, recur_error *err)
{
    size_t n = b->n, cols = (size_t)b->cols;
    recur_status rc = RECUR_OK;
    size_t *perm = malloc(n * sizeof *perm);
    t->data = rc_calloc3(n, cols, sizeof *t->data);
    t->line = malloc(n * sizeof *t->line);
    if (L->date_col >= 0) {
        t->day = malloc(n * sizeof *t->day);
        t->date_off = malloc(n * sizeof *t->date_off);
    }
    if (!perm || !t->data || !t->line || (L->date_col >= 0 && (!t->day || !t->date_off))) {
        rc = rc_error(err, RECUR_E_NOMEM, "%s: out of memory for %zu rows", L->path, n);
        goto done;
    }
    rc = time_order(L, b, perm, err);
    if (rc) goto done;
    const double *prev = NULL;
    size_t k = 0;
    for (size_t s = 0; s < n; s++) {
        size_t i = perm[s];
        double *row = b->val + i * cols;
        if (row_has_nan(row, b->cols)) {
            t->n_missing++;
            if (L->missing == RECUR_MISSING_DROP || !prev) continue;
            for (size_t j = 0; j < cols; j++)
                if (isnan(row[j])) row[j] = prev[j];
        }
        for (size_t j = 0; j < cols; j++) t->data[j * n + k] = row[j];
        t->line[k] = b->line[i];
        if (t->day) {
            t->day[k] = b->day[i];
            t->date_off[k] = b->date_off[i];
        }
        prev = row;
        k++;
    }
    if (k == 0) {
        rc = rc_error(err, RECUR_E_DATA, "%s: all %zu rows have missing values in the wanted columns", L->path,
                      n);
        goto done;
    }
    if (k < n) { /* pack the columns to the kept row count */
        for (size_t j = 1; j < cols; j++) memmove(t->data + j * k, t->data + j * n, k * sizeof *t->data);
    }
    t->rows = k;
    t->date_text = b->text;
    b->text = NULL;
done:
    free(perm);
    return rc;
}

/* ====== Public ====== */

recur_csv_opts recur_csv_opts_default(void)
{
    recur_csv_opts o;
    o.date_column = NULL;
    o.missing = RECUR_MISSING_ERROR;
    o.columns = NULL;
    o.n_columns = 0;
    return o;
}

static recur_status resolve_layout(layout *L, const recur_csv_opts *o, recur_error *err)
{
    char avail[320];
    list_names(avail, sizeof avail, L->hname, L->nh);
    if (o->n_columns < 1 || !o->columns)
        return rc_error(err, RECUR_E_INVALID, "%s: no columns asked for; the header has: %s", L->path, avail);
    L->col = malloc((size_t)o->n_columns * sizeof *L->col);
    if (!L->col) return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", L->path);
    L->need = 0;
    for (int j = 0; j < o->n_columns; j++) {
        long first, second;
        int k = find_column(L->hname, L->nh, o->columns[j], &first, &second);
        if (k == 0)
            return rc_error(err, RECUR_E_INVALID, "%s: no column \"%s\"; the header has: %s", L->path,
                            o->columns[j], avail);
        if (k > 1)
            return rc_error(err, RECUR_E_INVALID,
                            "%s: column \"%s\" is ambiguous: the header has it as field %ld and field %ld",
                            L->path, o->columns[j], first + 1, second + 1);
        L->col[j] = first;
        if ((size_t)first + 1 > L->need) L->need = (size_t)first + 1;
    }
    L->date_col = -1;
    if (o->date_column && o->date_column[0]) {
        long first, second;
        int k = find_column(L->hname, L->nh, o->date_column, &first, &second);
        if (k == 0)
            return rc_error(err, RECUR_E_INVALID, "%s: no date column \"%s\"; the header has: %s", L->path,
                            o->date_column, avail);
        if (k > 1)
            return rc_error(err, RECUR_E_INVALID,
                            "%s: date column \"%s\" is ambiguous: the header has it as field %ld and field %ld",
                            L->path, o->date_column, first + 1, second + 1);
        L->date_col = first;
    } else if (!o->date_column) {
        for (size_t i = 0; i < L->nh && L->date_col < 0; i++)
            if (is_date_name(L->hname[i])) L->date_col = (long)i;
    }
    if (L->date_col >= 0) {
        L->year_col = rc_eq_ci(L->hname[L->date_col], strlen(L->hname[L->date_col]), "year");
        if ((size_t)L->date_col + 1 > L->need) L->need = (size_t)L->date_col + 1;
    }
    return RECUR_OK;
}

recur_status recur_table_read_csv(const char *path, const recur_csv_opts *o, recur_table **out,
                                  recur_error *err)
{
    reader r = {0};
    layout L = {0};
    rowbuf b = {0};
    recur_table *t = NULL;
    recur_status rc;
    int got;
    size_t line = 0, header_line = 0;

    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_table_read_csv: out is NULL");
    *out = NULL;
    if (!path || !o) return rc_error(err, RECUR_E_INVALID, "recur_table_read_csv: path and options are required");
    for (int j = 0; j < o->n_columns && o->columns; j++)
        if (!o->columns[j]) return rc_error(err, RECUR_E_INVALID, "recur_table_read_csv: column %d is NULL", j);
    if (o->missing != RECUR_MISSING_ERROR && o->missing != RECUR_MISSING_DROP && o->missing != RECUR_MISSING_FFILL)
        return rc_error(err, RECUR_E_INVALID, "recur_table_read_csv: unknown missing-value policy %d",
                        (int)o->missing);

    L.path = path;
    L.missing = o->missing;
    rc = open_reader(path, &r, err);
    if (rc) return rc;

    rc = next_record(&r, &got, &header_line, err);
    if (rc) goto fail;
    if (!got) {
        rc = rc_error(err, RECUR_E_DATA, "%s: empty file: no header line and no data", path);
        goto fail;
    }
    L.nh = r.nf;
    L.hname = calloc(L.nh, sizeof *L.hname);
    if (!L.hname) goto nomem;
    for (size_t i = 0; i < L.nh; i++) {
        span s = trim(r.buf, r.f[i]);
        if (!(L.hname[i] = dup_n(r.buf + s.off, s.len))) goto nomem;
    }
    rc = resolve_layout(&L, o, err);
    if (rc) goto fail;

    b.cols = o->n_columns;
    for (;;) {
        rc = next_record(&r, &got, &line, err);
        if (rc) goto fail;
        if (!got) break;
        rc = parse_row(&L, &r, line, &b, err);
        if (rc) goto fail;
    }
    if (b.n == 0) {
        rc = rc_error(err, RECUR_E_DATA, "%s: no data rows: the file has only its header (line %zu)", path,
                      header_line);
        goto fail;
    }

    t = calloc(1, sizeof *t);
    if (!t || !(t->path = dup_n(path, strlen(path)))) goto nomem;
    t->cols = b.cols;
    t->names = calloc((size_t)b.cols, sizeof *t->names);
    if (!t->names) goto nomem;
    for (int j = 0; j < b.cols; j++) {
        const char *h = L.hname[L.col[j]];
        if (!(t->names[j] = dup_n(h, strlen(h)))) goto nomem;
    }
    rc = build_table(&L, &b, t, err);
    if (rc) goto fail;
    *out = t;
    t = NULL;
    goto done;
nomem:
    rc = rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
fail:
    recur_table_free(t);
done:
    rowbuf_free(&b);
    for (size_t i = 0; L.hname && i < L.nh; i++) free(L.hname[i]);
    free(L.hname);
    free(L.col);
    free(r.f);
    free(r.buf);
    return rc;
}

void recur_table_free(recur_table *t)
{
    if (!t) return;
    for (int j = 0; t->names && j < t->cols; j++) free(t->names[j]);
    free(t->names);
    free(t->path);
    free(t->data);
    free(t->day);
    free(t->date_off);
    free(t->date_text);
    free(t->line);
    free(t);
}

size_t recur_table_rows(const recur_table *t) { return t ? t->rows : 0; }
int recur_table_cols(const recur_table *t) { return t ? t->cols : 0; }

const double *recur_table_col(const recur_table *t, int j)
{
    if (!t || j < 0 || j >= t->cols) return NULL;
    return t->data + (size_t)j * t->rows;
}

const char *recur_table_col_name(const recur_table *t, int j)
{
    if (!t || j < 0 || j >= t->cols) return NULL;
    return t->names[j];
}

double recur_table_day(const recur_table *t, size_t i)
{
    if (!t || !t->day || i >= t->rows) return NAN;
    return t->day[i];
}

const char *recur_table_date_text(const recur_table *t, size_t i)
{
    if (!t || !t->day || i >= t->rows) return NULL;
    return t->date_text + t->date_off[i];
}

size_t recur_table_n_missing(const recur_table *t) { return t ? t->n_missing : 0; }

const char *rc_table_path(const recur_table *t) { return t ? t->path : ""; }

size_t rc_table_line(const recur_table *t, size_t i)
{
    if (!t || i >= t->rows) return 0;
    return t->line[i];
}

/* ====== Records for the other readers (panels) ====== */

struct rc_csv {
    reader r;
    char **hname; /* (nh) header names, trimmed */
    size_t nh;
    size_t header_line;
};

void rc_csv_close(rc_csv *c)
{
    if (!c) return;
    for (size_t i = 0; c->hname && i < c->nh; i++) free(c->hname[i]);
    free(c->hname);
    free(c->r.f);
    free(c->r.buf);
    free(c);
}

recur_status rc_csv_open(const char *path, rc_csv **out, recur_error *err)
{
    int got;
    *out = NULL;
    rc_csv *c = calloc(1, sizeof *c);
    if (!c) return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
    recur_status rc = open_reader(path, &c->r, err);
    if (!rc) rc = next_record(&c->r, &got, &c->header_line, err);
    if (!rc && !got) rc = rc_error(err, RECUR_E_DATA, "%s: empty file: no header line and no data", path);
    if (rc) {
        rc_csv_close(c);
        return rc;
    }
    c->nh = c->r.nf;
    if (!(c->hname = calloc(c->nh, sizeof *c->hname))) goto nomem;
    for (size_t i = 0; i < c->nh; i++) {
        span s = trim(c->r.buf, c->r.f[i]);
        if (!(c->hname[i] = dup_n(c->r.buf + s.off, s.len))) goto nomem;
    }
    *out = c;
    return RECUR_OK;
nomem:
    rc_csv_close(c);
    return rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
}

size_t rc_csv_header_line(const rc_csv *c) { return c->header_line; }
size_t rc_csv_header_count(const rc_csv *c) { return c->nh; }
const char *rc_csv_header(const rc_csv *c, size_t i) { return i < c->nh ? c->hname[i] : ""; }

recur_status rc_csv_column(const rc_csv *c, const char *want, const char *what, long *idx, recur_error *err)
{
    char avail[320];
    long first, second;
    *idx = -1;
    if (!want) { /* the date names, and "ds" (the time column of long forecasting files) */
        for (size_t i = 0; i < c->nh && *idx < 0; i++)
            if (is_date_name(c->hname[i]) || rc_eq_ci(c->hname[i], strlen(c->hname[i]), "ds")) *idx = (long)i;
        return RECUR_OK;
    }
    if (!want[0]) return RECUR_OK;
    int k = find_column(c->hname, c->nh, want, &first, &second);
    list_names(avail, sizeof avail, c->hname, c->nh);
    if (k == 0)
        return rc_error(err, RECUR_E_INVALID, "%s: no %s column \"%s\"; the header has: %s", c->r.path, what, want,
                        avail);
    if (k > 1)
        return rc_error(err, RECUR_E_INVALID,
                        "%s: %s column \"%s\" is ambiguous: the header has it as field %ld and field %ld",
                        c->r.path, what, want, first + 1, second + 1);
    *idx = first;
    return RECUR_OK;
}

recur_status rc_csv_next(rc_csv *c, int *got, size_t *line, recur_error *err)
{
    return next_record(&c->r, got, line, err);
}

size_t rc_csv_count(const rc_csv *c) { return c->r.nf; }

const char *rc_csv_field(const rc_csv *c, size_t i, size_t *len)
{
    if (i >= c->r.nf) {
        *len = 0;
        return "";
    }
    span s = trim(c->r.buf, c->r.f[i]);
    *len = s.len;
    return c->r.buf + s.off;
}
