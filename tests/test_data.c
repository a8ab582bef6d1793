/*
 * test_data.c -- the data path: CSV reading (RFC 4180 quirks, numbers, dates,
 * missing values, every error with its code and message), the real files in
 * tests/data with their persistence baselines, scalers, windows and the
 * dataset pipeline (splits, transforms and their exact inverses).
 * Run from the repository root: files are found as tests/data/NAME.csv.
 * Small CSVs are written to a fresh folder under /tmp and removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ====== Helpers ====== */

#define MAX_FILES 256
static char tmpdir[64];
static char written[MAX_FILES][160];
static int n_written;

/* Writes bytes to tmpdir/name (replacing it) and returns the path. */
static const char *tmp_write(const char *name, const char *bytes, size_t len)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int i = 0;
    while (i < n_written && strcmp(written[i], path) != 0) i++;
    if (i == n_written) {
        assert_true(n_written < MAX_FILES);
        memcpy(written[n_written++], path, sizeof path);
    }
    FILE *f = fopen(written[i], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return written[i];
}
#define W(name, lit) tmp_write((name), (lit), sizeof(lit) - 1)
#define WS(name, str) tmp_write((name), (str), strlen(str))

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/recur_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    for (int i = 0; i < n_written; i++) unlink(written[i]);
    rmdir(tmpdir);
    return 0;
}

static recur_status load(const char *path, const char *const *cols, int n, recur_missing miss, recur_table **t,
                         recur_error *e)
{
    recur_csv_opts o = recur_csv_opts_default();
    o.columns = cols;
    o.n_columns = n;
    o.missing = miss;
    memset(e, 0, sizeof *e);
    return recur_table_read_csv(path, &o, t, e);
}

static recur_status load1(const char *path, const char *col, recur_missing miss, recur_table **t, recur_error *e)
{
    const char *cols[1] = {col};
    return load(path, cols, 1, miss, t, e);
}

/* The call failed with `code`, err carries it, and the message holds `sub`. */
#define assert_fails(st, e, want, sub)                                                                        \
    do {                                                                                                      \
        recur_status st_ = (st);                                                                              \
        if (st_ != (want) || (e).code != (want) || !strstr((e).msg, (sub)))                                   \
            fail_msg("got status %d (err.code %d, \"%s\"), want %d with \"%s\"", (int)st_, (int)(e).code,      \
                     (e).msg, (int)(want), (sub));                                                            \
    } while (0)

#define assert_ok(st, e)                                                                                      \
    do {                                                                                                      \
        if ((st) != RECUR_OK) fail_msg("status %d: %s", (int)(st), (e).msg);                                  \
    } while (0)

#define assert_near(a, b, tol)                                                                                \
    do {                                                                                                      \
        double a_ = (a), b_ = (b);                                                                            \
        if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.10g, want %.10g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

/* Persistence baseline over rows [n_train, n): y_hat[t] = y[t - lag]. */
static void persistence(const double *y, size_t n, size_t lag, double *mae, double *rmse)
{
    size_t ntr = (size_t)ceil(0.8 * (double)n - 1e-9);
    double a = 0, s = 0;
    for (size_t t = ntr; t < n; t++) {
        double d = y[t] - y[t - lag];
        a += fabs(d);
        s += d * d;
    }
    *mae = a / (double)(n - ntr);
    *rmse = sqrt(s / (double)(n - ntr));
}

/* ====== CSV: RFC 4180 and layout quirks ====== */

static void test_csv_quotes(void **state)
{
    (void)state;
    const char *p = W("quotes.csv", "Date,Close,Note\n"
                                    "2020-01-01,\"1,008.64\",\"say \"\"hi\"\", twice\nover two lines\"\n"
                                    "2020-01-02,\"7,380,500\",plain\n"
                                    "\"2020-01-03\", \"12.5\" ,\"\"\"\"\n");
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(p, "close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 3);
    assert_int_equal(recur_table_cols(t), 1);
    assert_string_equal(recur_table_col_name(t, 0), "Close");
    const double *c = recur_table_col(t, 0);
    assert_near(c[0], 1008.64, 1e-12);
    assert_near(c[1], 7380500.0, 0);
    assert_near(c[2], 12.5, 0);
    assert_string_equal(recur_table_date_text(t, 0), "2020-01-01");
    assert_string_equal(recur_table_date_text(t, 2), "2020-01-03");
    /* the newline inside quotes is counted: the second row starts on line 4 */
    assert_int_equal(rc_table_line(t, 0), 2);
    assert_int_equal(rc_table_line(t, 1), 4);
    assert_int_equal(rc_table_line(t, 2), 5);
    recur_table_free(t);

    /* the quoted column itself, with "" escapes and an embedded comma, as a wanted text */
    p = W("quotes2.csv", "Date,\"Close, adj\"\n2020-01-01,\"1,5\"\n");
    assert_fails(load1(p, "close, adj", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "quotes2.csv:2: column \"Close, adj\": not a number (\"1,5\")");
}

static void test_csv_crlf_bom_no_final_newline(void **state)
{
    (void)state;
    const char *p = W("bom.csv", "\xEF\xBB\xBF"
                                 "Date,Close,Note\r\n2020-01-01,1,a\r\n2020-01-02,2,\"x\r\ny\"\r\n2020-01-03,3,z");
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 3);
    /* the BOM is not part of the first name, so "Date" is still found as the date column */
    assert_near(recur_table_day(t, 0), 18262, 0);
    assert_near(recur_table_col(t, 0)[1], 2, 0);
    assert_near(recur_table_col(t, 0)[2], 3, 0);
    assert_string_equal(recur_table_date_text(t, 2), "2020-01-03");
    assert_int_equal(rc_table_line(t, 2), 5); /* the CRLF inside quotes counts as one line */
    recur_table_free(t);

    /* lone CR line ends (old Mac), blank lines in the middle and at the end */
    p = W("cr.csv", "Date,Close\r2020-01-01,1\r\r2020-01-02,2\r   \r\n\n\n");
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2);
    assert_int_equal(rc_table_line(t, 1), 4);
    recur_table_free(t);
}

static void test_csv_header_names(void **state)
{
    (void)state;
    const char *p = W("hdr.csv", "  Date , CLOSE/Last\t,Adj Close\n2020-01-01,5,6\n2020-01-02,7,8\n");
    const char *cols[] = {"close/last", " adj close "};
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load(p, cols, 2, RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_cols(t), 2);
    assert_string_equal(recur_table_col_name(t, 0), "CLOSE/Last");
    assert_string_equal(recur_table_col_name(t, 1), "Adj Close");
    assert_near(recur_table_col(t, 1)[1], 8, 0);
    assert_null(recur_table_col(t, 2));
    assert_null(recur_table_col(t, -1));
    assert_null(recur_table_col_name(t, 2));
    recur_table_free(t);
}

static void test_csv_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double v;
    } ok[] = {
        {"1", 1},           {"-2.5e3", -2500},     {"+7", 7},          {".5", 0.5},
        {"5.", 5},          {"\"$1,234.5\"", 1234.5},  {"-$3", -3},        {"$-3", -3},
        {"\"1,000,000\"", 1e6}, {"\"1,008.64\"", 1008.64}, {"  42  ", 42}, {"1E-3", 1e-3},
        {"0.000001", 1e-6}, {"\"-123,456\"", -123456},   {"-0", 0},          {"\" 9 \"", 9},
    };
    char buf[4096];
    size_t o = (size_t)snprintf(buf, sizeof buf, "day,v\n");
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%zu,%s\n", i, ok[i].text);
    const char *p = WS("numbers.csv", buf);
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(p, "v", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), sizeof ok / sizeof ok[0]);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (recur_table_col(t, 0)[i] != ok[i].v)
            fail_msg("\"%s\" read as %.17g, want %.17g", ok[i].text, recur_table_col(t, 0)[i], ok[i].v);
    recur_table_free(t);
}

static void test_csv_not_a_number(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "12abc", "1,2", "1,0000", ",5", "1.2.3", "0x10", "--1",
                                      "e5",  "$",     "1e",  "1 2",    "12,34,567", "1,000.5,0", "n/a/"};
    recur_table *t = NULL;
    recur_error e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256], want[128];
        snprintf(buf, sizeof buf, "Date,Close\n2020-01-01,1\n2020-01-02,\"%s\"\n", bad[i]);
        const char *p = WS("nan.csv", buf);
        snprintf(want, sizeof want, "nan.csv:3: column \"Close\": not a number (\"%s\")", bad[i]);
        recur_status st = load1(p, "Close", RECUR_MISSING_ERROR, &t, &e);
        if (st != RECUR_E_PARSE || !strstr(e.msg, want)) fail_msg("\"%s\": status %d, \"%s\"", bad[i], st, e.msg);
        assert_null(t);
    }
    /* text that is not wanted is never parsed */
    const char *p = W("other.csv", "Date,Close,Note,Vol\n2020-01-01,1,abc,n/a\n2020-01-02,2,\"x,y\",\n");
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2);
    recur_table_free(t);
}

static void test_csv_long_text(void **state)
{
    (void)state;
    size_t n = 3u << 20; /* a 3 MB cell in a wanted column and a 3 MB line elsewhere */
    char *buf = malloc(2 * n + 256);
    assert_non_null(buf);
    size_t o = (size_t)sprintf(buf, "Date,Close,Note\n2020-01-01,1,");
    memset(buf + o, 'n', n), o += n;
    o += (size_t)sprintf(buf + o, "\n2020-01-02,2,short\n");
    const char *p = tmp_write("longline.csv", buf, o);
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2);
    recur_table_free(t);

    o = (size_t)sprintf(buf, "Date,Close\n2020-01-01,1\n2020-01-02,");
    memset(buf + o, '7', 40), o += 40;
    memset(buf + o, 'x', n), o += n;
    p = tmp_write("longcell.csv", buf, o);
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "longcell.csv:3: column \"Close\": not a number (\"7777777777777777777777777777777777777777...\")");
    assert_true(strlen(e.msg) < 300);
    free(buf);
}

static void test_csv_inf_and_range(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    const char *p = W("inf.csv", "Date,Close\n2020-01-01,1\n2020-01-02,-Infinity\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "inf.csv:3: column \"Close\": infinite value (\"-Infinity\")");
    p = W("inf2.csv", "Date,Close\n2020-01-01,inf\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_DROP, &t, &e), e, RECUR_E_PARSE, "inf2.csv:2:");
    p = W("range.csv", "Date,Close\n2020-01-01,1e999\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "range.csv:2: column \"Close\": number out of range (\"1e999\")");
}

/* ====== CSV: missing values ====== */

static void test_csv_missing_error(void **state)
{
    (void)state;
    static const char *const tokens[] = {"", "null", "NULL", "NaN", "nan", "NA", "N/A", "n/a", "#N/A", "  "};
    recur_table *t = NULL;
    recur_error e;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        char buf[128], want[160];
        snprintf(buf, sizeof buf, "Date,Close\n2020-01-01,1\n2020-01-02,%s\n2020-01-03,3\n", tokens[i]);
        const char *p = WS("miss.csv", buf);
        const char *shown = tokens[i][0] == ' ' ? "" : tokens[i];
        snprintf(want, sizeof want,
                 "miss.csv:3: column \"Close\": missing value (\"%s\"); use --missing drop or --missing ffill",
                 shown);
        recur_status st = load1(p, "Close", RECUR_MISSING_ERROR, &t, &e);
        if (st != RECUR_E_DATA || !strstr(e.msg, want)) fail_msg("\"%s\": status %d, \"%s\"", tokens[i], st, e.msg);
    }
    assert_fails(load1("tests/data/NSEI.csv", "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA,
                 "NSEI.csv:297: column \"Close\": missing value (\"null\"); use --missing drop or --missing ffill");
    assert_null(t);
}

static void test_csv_missing_drop(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1("tests/data/NSEI.csv", "Close", RECUR_MISSING_DROP, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2896);
    assert_int_equal(recur_table_n_missing(t), 26);
    for (size_t i = 0; i < recur_table_rows(t); i++) assert_true(isfinite(recur_table_col(t, 0)[i]));
    /* 2008-11-27 (line 297) is gone: 2008-11-26 is followed by 2008-11-28 */
    for (size_t i = 0; i < recur_table_rows(t); i++)
        if (strcmp(recur_table_date_text(t, i), "2008-11-26") == 0)
            assert_string_equal(recur_table_date_text(t, i + 1), "2008-11-28");
    recur_table_free(t);

    const char *p = W("alldrop.csv", "Date,Close\n2020-01-01,null\n2020-01-02,\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_DROP, &t, &e), e, RECUR_E_DATA,
                 "alldrop.csv: all 2 rows have missing values");
}

static void test_csv_missing_ffill(void **state)
{
    (void)state;
    /* newest first: filling runs in time order, so 01-03 copies 01-02, not 01-04;
     * 01-01 has nothing before it and is dropped */
    const char *p = W("ffill.csv", "Date,Open,Close\n"
                                   "2020-01-05,5,50\n"
                                   "2020-01-04,4,null\n"
                                   "2020-01-03,NaN,\n"
                                   "2020-01-02,2,20\n"
                                   "2020-01-01,N/A,10\n");
    const char *cols[] = {"Close", "Open"};
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load(p, cols, 2, RECUR_MISSING_FFILL, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 4);
    assert_int_equal(recur_table_n_missing(t), 3);
    assert_string_equal(recur_table_date_text(t, 0), "2020-01-02");
    const double *c = recur_table_col(t, 0), *o = recur_table_col(t, 1);
    const double want_c[] = {20, 20, 20, 50}, want_o[] = {2, 2, 4, 5};
    for (int i = 0; i < 4; i++) {
        assert_near(c[i], want_c[i], 0);
        assert_near(o[i], want_o[i], 0);
    }
    recur_table_free(t);

    assert_ok(load1("tests/data/NSEI.csv", "Close", RECUR_MISSING_FFILL, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2922);
    assert_int_equal(recur_table_n_missing(t), 26);
    for (size_t i = 0; i < recur_table_rows(t); i++)
        if (strcmp(recur_table_date_text(t, i), "2008-11-27") == 0)
            assert_near(recur_table_col(t, 0)[i], recur_table_col(t, 0)[i - 1], 0);
    recur_table_free(t);
}

/* ====== CSV: structural errors ====== */

static void test_csv_ragged(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    const char *p = W("ragged.csv", "Date,Open,Close,Volume\n2020-01-01,1,2,3\n2020-01-02,1\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "ragged.csv:3: row has 2 fields but the header has 4, so column \"Close\" (field 3) is missing");
    /* any other count can shift the columns, even when the wanted ones are there */
    p = W("ragged2.csv", "Date,Open,Close,Volume\n2020-01-01,1,2\n2020-01-02,1,3,4\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "ragged2.csv:2: row has 3 fields but the header has 4: a lost comma");
    p = W("ragged4.csv", "Date,Open,Close,Volume\n2020-01-01,1,2,3\n2020-01-02,1,008.64,4,5\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "ragged4.csv:3: row has 5 fields but the header has 4: a lost comma, or a comma inside an unquoted "
                 "value (like 1,008.64)");
    /* trailing empty fields are no shift */
    p = W("ragged5.csv", "Date,Open,Close,Volume\n2020-01-01,1,2,3,\n2020-01-02,1,3,4, ,\n");
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    assert_int_equal(recur_table_rows(t), 2);
    recur_table_free(t);
    /* the date column counts as wanted */
    p = W("ragged3.csv", "Close,Date\n1,2020-01-01\n2\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "ragged3.csv:3: row has 1 field but the header has 2, so column \"Date\" (field 2)");
}

static void test_csv_empty(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    const char *p = W("empty.csv", "");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA, "empty.csv: empty file");
    p = W("blank.csv", "\xEF\xBB\xBF\r\n\n  \n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA, "blank.csv: empty file");
    p = W("header.csv", "Date,Close\r\n\r\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA,
                 "header.csv: no data rows: the file has only its header (line 1)");
    p = W("header2.csv", "Date,Close");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA, "only its header");
}

static void test_csv_columns(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    assert_fails(load1("tests/data/AAPL.csv", "Price", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_INVALID,
                 "AAPL.csv: no column \"Price\"; the header has: \"Date\", \"Open\", \"High\", \"Low\", \"Close\", "
                 "\"Adj Close\", \"Volume\"");
    assert_fails(load("tests/data/AAPL.csv", NULL, 0, RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_INVALID,
                 "no columns asked for; the header has: \"Date\"");
    const char *p = W("twice.csv", "Date,close,CLOSE\n2020-01-01,1,2\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_INVALID,
                 "column \"Close\" is ambiguous: the header has it as field 2 and field 3");
    recur_csv_opts o = recur_csv_opts_default();
    const char *cols[] = {"Close"};
    o.columns = cols;
    o.n_columns = 1;
    o.date_column = "When";
    assert_fails(recur_table_read_csv("tests/data/AAPL.csv", &o, &t, &e), e, RECUR_E_INVALID,
                 "no date column \"When\"");
    o.missing = (recur_missing)7;
    assert_fails(recur_table_read_csv("tests/data/AAPL.csv", &o, &t, &e), e, RECUR_E_INVALID, "missing-value");
    assert_fails(recur_table_read_csv("tests/data/AAPL.csv", NULL, &t, &e), e, RECUR_E_INVALID, "required");
    /* an error with err == NULL still returns the code */
    assert_int_equal(recur_table_read_csv("tests/data/AAPL.csv", NULL, &t, NULL), RECUR_E_INVALID);
}

static void test_csv_unclosed_quote(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    const char *p = W("unclosed.csv", "Date,Close\n2020-01-01,1\n2020-01-02,\"2\n2020-01-03,3\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "unclosed.csv:3: quoted field is never closed");
    /* text after a closing quote is kept (as Python's csv does) and then fails as a number */
    p = W("afterquote.csv", "Date,Close\n2020-01-01,\"1\"x\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE, "not a number (\"1x\")");
}

static void test_csv_binary(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    const char *p = W("nul.csv", "Date,Close\n2020-01-01,1\n2020-01-02,2\0\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "nul.csv:3: NUL byte at offset 36");
    p = W("latin1.csv", "Date,Close,Name\n2020-01-01,1,Soci\xe9t\xe9\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "latin1.csv:2: invalid UTF-8 (byte 0xE9");
    p = W("overlong.csv", "Date,Close\n2020-01-01,\xc0\xaf\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE, "invalid UTF-8");
    p = W("surrogate.csv", "Date,Close\n2020-01-01,\xed\xa0\x80\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE, "invalid UTF-8");
    p = W("cut.csv", "Date,Close\n2020-01-01,1\xe2\x82");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE, "cut.csv:2: invalid UTF-8");
    p = W("utf16.csv", "\xff\xfe" "D\0a\0t\0e\0");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE, "UTF-16");
    /* valid UTF-8 outside the wanted columns is fine, in names too */
    p = W("utf8.csv", "Date,Close,Soci\xc3\xa9t\xc3\xa9\n2020-01-01,1,\xe2\x82\xac \xf0\x9f\x93\x88\n");
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    recur_table_free(t);
    /* random bytes: some error, never a crash (run under ASan/UBSan) */
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    char junk[4096];
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            junk[i] = (char)(s >> 56);
        }
        p = tmp_write("junk.csv", junk, sizeof junk);
        recur_status st = load1(p, "close", RECUR_MISSING_DROP, &t, &e);
        assert_int_not_equal(st, RECUR_OK);
        assert_null(t);
        assert_true(strlen(e.msg) > 0);
    }
}

static void test_csv_io(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    assert_fails(load1("tests/data/no_such_file.csv", "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_IO,
                 "tests/data/no_such_file.csv: cannot open: No such file or directory");
    assert_fails(load1("tests/data", "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_IO,
                 "tests/data: is a directory");
    /* over 1 GiB: refused from its size, before reading (a sparse file takes no disk) */
    const char *p = W("huge.csv", "Date,Close\n");
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)(1 << 30) + 1), 0);
    fclose(f);
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA,
                 "huge.csv: file is larger than 1 GiB");
    W("huge.csv", ""); /* give the space back now */
}

/* ====== CSV: dates and time order ====== */

static double day_of(const char *header, const char *text)
{
    char buf[256];
    recur_table *t = NULL;
    recur_error e;
    snprintf(buf, sizeof buf, "%s,v\n%s,1\n", header, text);
    const char *p = WS("date.csv", buf);
    if (load1(p, "v", RECUR_MISSING_ERROR, &t, &e) != RECUR_OK) fail_msg("\"%s\": %s", text, e.msg);
    double d = recur_table_day(t, 0);
    recur_table_free(t);
    return d;
}

static void test_csv_date_forms(void **state)
{
    (void)state;
    assert_near(day_of("Date", "1970-01-01"), 0, 0);
    assert_near(day_of("Date", "2010-01-04"), 14613, 0);
    assert_near(day_of("Date", "2000-02-29"), 11016, 0);
    assert_near(day_of("date", "2019-12-23 00:00:00+00:00"), 18253, 0); /* Tiingo */
    assert_near(day_of("timestamp", "2019-12-23T12:00:00Z"), 18253.5, 0);
    assert_near(day_of("Datetime", "2019-12-23 02:00:00+02:00"), 18253, 0);
    assert_near(day_of("time", "2019-12-23 06:00"), 18253.25, 0);
    assert_near(day_of("Date", "2019-12-23 00:00:00.5 -0130"), 18253 + (5400 + 0.5) / 86400.0, 1e-12);
    assert_near(day_of("Date", "1/3/2012"), 15342, 0);   /* M/D/YYYY */
    assert_near(day_of("Date", "01/03/2012"), 15342, 0); /* MM/DD/YYYY */
    assert_near(day_of("Date", "12/31/2016"), 17166, 0);
    assert_near(day_of("Date", "2012/01/03"), 15342, 0);
    assert_near(day_of("month", "1949-01"), -7670, 0);
    assert_near(day_of("Month", "1960-12"), -3318, 0);
    assert_near(day_of("year", "1871"), -36159, 0);
    assert_near(day_of("year", "\"1970\""), 0, 0);
    assert_near(day_of("day", "1860"), 1860, 0); /* an index, not a calendar date */
    assert_near(day_of("time", "1991.5"), 1991.5, 0);

    /* no date column: NaN days, no date text, file order kept */
    const char *p = W("nodate.csv", "a,v\n3,1\n1,2\n");
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(p, "v", RECUR_MISSING_ERROR, &t, &e), e);
    assert_true(isnan(recur_table_day(t, 0)));
    assert_null(recur_table_date_text(t, 0));
    assert_near(recur_table_col(t, 0)[0], 1, 0);
    recur_table_free(t);

    /* an explicit date column; "" turns auto-detection off */
    recur_csv_opts o = recur_csv_opts_default();
    const char *cols[] = {"v"};
    o.columns = cols;
    o.n_columns = 1;
    o.date_column = "a";
    assert_ok(recur_table_read_csv(p, &o, &t, &e), e);
    assert_near(recur_table_day(t, 0), 1, 0);
    assert_near(recur_table_col(t, 0)[0], 2, 0);
    recur_table_free(t);
    p = W("nodate2.csv", "Date,v\nnot a date,1\n");
    o.date_column = "";
    assert_ok(recur_table_read_csv(p, &o, &t, &e), e);
    assert_true(isnan(recur_table_day(t, 0)));
    recur_table_free(t);
}

static void test_csv_bad_dates(void **state)
{
    (void)state;
    static const char *const bad[] = {"2019-02-29", "2019-13-01", "2019-00-10", "13/45/2019", "2/30/2020",
                                      "yesterday",  "2019-01-01 25:00", "2019-01-01T", "2019-1-1-1", "19-01-01",
                                      "1/3/12",     "2019/01",    "2019-01-01 10:00 +25:00", "12:00"};
    recur_table *t = NULL;
    recur_error e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256], want[128];
        snprintf(buf, sizeof buf, "Date,Close\n2019-01-01,1\n%s,2\n", bad[i]);
        const char *p = WS("baddate.csv", buf);
        snprintf(want, sizeof want, "baddate.csv:3: column \"Date\": not a date (\"%s\")", bad[i]);
        recur_status st = load1(p, "Close", RECUR_MISSING_ERROR, &t, &e);
        if (st != RECUR_E_PARSE || !strstr(e.msg, want)) fail_msg("\"%s\": status %d, \"%s\"", bad[i], st, e.msg);
    }
    const char *p = W("nodate3.csv", "Date,Close\n2019-01-01,1\n,2\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_DROP, &t, &e), e, RECUR_E_PARSE,
                 "nodate3.csv:3: column \"Date\": missing date");
    p = W("mixed.csv", "Date,Close\n2019-01-01,1\n17,2\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_PARSE,
                 "mixed.csv:3: column \"Date\": \"17\" is a plain number, but line 2 has a calendar date");
}

static void test_days_from_civil(void **state)
{
    (void)state;
    /* walk every day of years 1..9999 and check each is one more than the last */
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long prev = rc_days_from_civil(1, 1, 1) - 1;
    assert_int_equal(prev + 1, -719162);
    for (long y = 1; y <= 9999; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= md[m - 1] + (m == 2 && leap); d++) {
                long k = rc_days_from_civil(y, m, d);
                if (k != prev + 1) fail_msg("%ld-%02d-%02d gives %ld after %ld", y, m, d, k, prev);
                prev = k;
            }
    }
    assert_int_equal(rc_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(rc_days_from_civil(9999, 12, 31), 2932896);
}

static void test_csv_time_order(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    /* newest first (Nasdaq): reversed */
    assert_ok(load1("tests/data/GOOG_nasdaq.csv", "Close/Last", RECUR_MISSING_ERROR, &t, &e), e);
    size_t n = recur_table_rows(t);
    assert_int_equal(n, 1967);
    assert_string_equal(recur_table_date_text(t, 0), "03/27/2014");
    assert_string_equal(recur_table_date_text(t, n - 1), "01/14/2022");
    assert_near(recur_table_col(t, 0)[0], 558.46, 0);
    assert_near(recur_table_col(t, 0)[n - 1], 2795.73, 0);
    assert_int_equal(rc_table_line(t, 0), 1968);
    recur_table_free(t);

    /* any order: sorted, each value stays with its date */
    const char *p = W("shuffled.csv", "Date,Close\n2020-01-03,3\n2020-01-01,1\n2020-01-04,4\n2020-01-02,2\n");
    assert_ok(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    for (size_t i = 0; i < 4; i++) {
        assert_near(recur_table_col(t, 0)[i], (double)(i + 1), 0);
        assert_near(recur_table_day(t, i), 18262 + (double)i, 0);
    }
    recur_table_free(t);

    /* repeated dates: both lines named, in any order of the rows */
    p = W("dup.csv", "Date,Close\n2020-01-02,1\n2020-01-03,2\n2020-01-02,3\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA,
                 "dup.csv:4: duplicate date \"2020-01-02\" (also on line 2)");
    p = W("dup2.csv", "Date,Close\n2020-01-01,1\n1/1/2020,2\n");
    assert_fails(load1(p, "Close", RECUR_MISSING_ERROR, &t, &e), e, RECUR_E_DATA,
                 "dup2.csv:3: duplicate date \"1/1/2020\" (also on line 2)");
}

/* ====== The real files ====== */

static void test_all_files_load(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *cols[4];
        int ncols;
        recur_missing miss;
        size_t rows;
        const char *first, *last;
    } f[] = {
        {"AAPL.csv", {"Open", "High", "Low", "Close"}, 4, RECUR_MISSING_ERROR, 2515, "2010-01-04", "2019-12-30"},
        {"NSEI.csv", {"Close", "Volume"}, 2, RECUR_MISSING_DROP, 2896, "2007-09-17", "2019-07-19"},
        {"GOOG_nasdaq.csv", {"close/last", "volume", "open"}, 3, RECUR_MISSING_ERROR, 1967, "03/27/2014",
         "01/14/2022"},
        {"AAPL_tiingo.csv", {"close", "adjClose", "splitFactor"}, 3, RECUR_MISSING_ERROR, 1258,
         "2019-12-23 00:00:00+00:00", "2024-12-20 00:00:00+00:00"},
        {"Google_Stock_Price_Train.csv", {"Open", "Close", "Volume"}, 3, RECUR_MISSING_ERROR, 1258, "1/3/2012",
         "12/30/2016"},
        {"Google_Stock_Price_Test.csv", {"Open", "Volume"}, 2, RECUR_MISSING_ERROR, 20, "1/3/2017", "1/31/2017"},
        {"eustockmarkets.csv", {"DAX", "SMI", "CAC", "FTSE"}, 4, RECUR_MISSING_ERROR, 1860, "1", "1860"},
        {"airpassengers.csv", {"passengers"}, 1, RECUR_MISSING_ERROR, 144, "1949-01", "1960-12"},
        {"sunspot_month.csv", {"sunspots"}, 1, RECUR_MISSING_ERROR, 3177, "1749-01", "2013-09"},
        {"co2.csv", {"co2"}, 1, RECUR_MISSING_ERROR, 468, "1959-01", "1997-12"},
        {"nile.csv", {"flow"}, 1, RECUR_MISSING_ERROR, 100, "1871", "1970"},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        char path[128];
        recur_table *t = NULL;
        recur_error e;
        snprintf(path, sizeof path, "tests/data/%s", f[k].file);
        if (load(path, f[k].cols, f[k].ncols, f[k].miss, &t, &e) != RECUR_OK) fail_msg("%s: %s", path, e.msg);
        if (recur_table_rows(t) != f[k].rows) fail_msg("%s: %zu rows", path, recur_table_rows(t));
        assert_int_equal(recur_table_cols(t), f[k].ncols);
        assert_string_equal(recur_table_date_text(t, 0), f[k].first);
        assert_string_equal(recur_table_date_text(t, f[k].rows - 1), f[k].last);
        for (size_t i = 1; i < f[k].rows; i++)
            if (!(recur_table_day(t, i) > recur_table_day(t, i - 1))) fail_msg("%s: row %zu out of order", path, i);
        for (int j = 0; j < f[k].ncols; j++)
            for (size_t i = 0; i < f[k].rows; i++) assert_true(isfinite(recur_table_col(t, j)[i]));
        recur_table_free(t);
    }
}

static void test_quirky_values(void **state)
{
    (void)state;
    recur_table *t = NULL;
    recur_error e;
    /* Google course file: 109 quoted "1,008.64" closes; Close drops from 1128.87 to 556.93 on 3/27/2014 */
    assert_ok(load1("tests/data/Google_Stock_Price_Train.csv", "Close", RECUR_MISSING_ERROR, &t, &e), e);
    size_t over = 0;
    for (size_t i = 0; i < recur_table_rows(t); i++) {
        if (recur_table_col(t, 0)[i] >= 1000) over++;
        if (strcmp(recur_table_date_text(t, i), "3/27/2014") == 0) {
            assert_near(recur_table_col(t, 0)[i - 1], 1128.87, 0);
            assert_near(recur_table_col(t, 0)[i], 556.93, 0);
        }
    }
    assert_int_equal(over, 109);
    recur_table_free(t);
    /* quoted volumes "7,380,500" */
    assert_ok(load1("tests/data/Google_Stock_Price_Train.csv", "Volume", RECUR_MISSING_ERROR, &t, &e), e);
    assert_near(recur_table_col(t, 0)[0], 7380500, 0);
    recur_table_free(t);
    /* Tiingo raw close: 499.23 then 129.04 on the split day */
    assert_ok(load1("tests/data/AAPL_tiingo.csv", "close", RECUR_MISSING_ERROR, &t, &e), e);
    for (size_t i = 0; i < recur_table_rows(t); i++)
        if (strncmp(recur_table_date_text(t, i), "2020-08-31", 10) == 0) {
            assert_near(recur_table_col(t, 0)[i - 1], 499.23, 0);
            assert_near(recur_table_col(t, 0)[i], 129.04, 0);
        }
    recur_table_free(t);
}

static void test_persistence_baselines(void **state)
{
    (void)state;
    /* the README table, 4 decimals shown, so 5e-5 */
    static const struct {
        const char *file, *col;
        recur_missing miss;
        size_t n;
        double mae, rmse;
    } b[] = {
        {"AAPL.csv", "Close", RECUR_MISSING_ERROR, 2515, 0.6009, 0.8285},
        {"AAPL.csv", "Adj Close", RECUR_MISSING_ERROR, 2515, 0.5819, 0.8037},
        {"NSEI.csv", "Close", RECUR_MISSING_DROP, 2896, 60.1990, 78.6353},
        {"GOOG_nasdaq.csv", "Close/Last", RECUR_MISSING_ERROR, 1967, 25.1016, 34.1856},
        {"AAPL_tiingo.csv", "close", RECUR_MISSING_ERROR, 1258, 2.1108, 2.8948},
        {"AAPL_tiingo.csv", "adjClose", RECUR_MISSING_ERROR, 1258, 2.1058, 2.8882},
        {"Google_Stock_Price_Train.csv", "Close", RECUR_MISSING_ERROR, 1258, 6.5935, 9.1970},
        {"eustockmarkets.csv", "DAX", RECUR_MISSING_ERROR, 1860, 48.2127, 62.9902},
        {"eustockmarkets.csv", "FTSE", RECUR_MISSING_ERROR, 1860, 39.8003, 51.9277},
        {"airpassengers.csv", "passengers", RECUR_MISSING_ERROR, 144, 45.8214, 53.3549},
        {"co2.csv", "co2", RECUR_MISSING_ERROR, 468, 1.1934, 1.3311},
        {"sunspot_month.csv", "sunspots", RECUR_MISSING_ERROR, 3177, 13.1039, 18.0593},
        {"nile.csv", "flow", RECUR_MISSING_ERROR, 100, 130.0000, 153.0856},
    };
    for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        char path[128];
        recur_table *t = NULL;
        recur_error e;
        double mae, rmse;
        snprintf(path, sizeof path, "tests/data/%s", b[k].file);
        if (load1(path, b[k].col, b[k].miss, &t, &e) != RECUR_OK) fail_msg("%s: %s", path, e.msg);
        assert_int_equal(recur_table_rows(t), b[k].n);
        persistence(recur_table_col(t, 0), b[k].n, 1, &mae, &rmse);
        if (fabs(mae - b[k].mae) > 5e-5 || fabs(rmse - b[k].rmse) > 5e-5)
            fail_msg("%s %s: MAE %.5f RMSE %.5f, want %.4f %.4f", b[k].file, b[k].col, mae, rmse, b[k].mae,
                     b[k].rmse);
        if (strcmp(b[k].file, "airpassengers.csv") == 0 || strcmp(b[k].file, "co2.csv") == 0) {
            persistence(recur_table_col(t, 0), b[k].n, 12, &mae, &rmse); /* seasonal naive */
            const double want_mae = b[k].n == 144 ? 41.4286 : 1.3820, want_rmse = b[k].n == 144 ? 46.3442 : 1.5017;
            assert_near(mae, want_mae, 5e-5);
            assert_near(rmse, want_rmse, 5e-5);
        }
        recur_table_free(t);
    }
}

/* ====== Scalers ====== */

static void test_scaler_minmax(void **state)
{
    (void)state;
    const double x[] = {1, 10, 3, -20, 2, 30, 4, 0}; /* (4, 2) */
    recur_scaler s;
    recur_error e;
    assert_ok(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 4, 2, &e), e);
    assert_int_equal(s.n, 2);
    assert_near(s.a[0], 1, 0);
    assert_near(s.b[0], 4, 0);
    assert_near(s.a[1], -20, 0);
    assert_near(s.b[1], 30, 0);
    assert_near(recur_scaler_apply(&s, 0, 1), 0, 0);
    assert_near(recur_scaler_apply(&s, 0, 4), 1, 0);
    assert_near(recur_scaler_apply(&s, 1, 5), 0.5, 0);
    assert_near(recur_scaler_apply(&s, 0, 7), 2, 1e-15); /* outside the range: not clipped */
    assert_near(recur_scaler_invert(&s, 1, 0.5), 5, 0);
    assert_true(isnan(recur_scaler_apply(&s, 2, 1)));
    assert_true(isnan(recur_scaler_invert(&s, -1, 1)));

    /* round trip on a real series */
    recur_table *t = NULL;
    assert_ok(load1("tests/data/AAPL.csv", "Close", RECUR_MISSING_ERROR, &t, &e), e);
    const double *c = recur_table_col(t, 0);
    assert_ok(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, c, recur_table_rows(t), 1, &e), e);
    for (size_t i = 0; i < recur_table_rows(t); i++) {
        double z = recur_scaler_apply(&s, 0, c[i]);
        assert_true(z >= 0 && z <= 1);
        assert_near(recur_scaler_invert(&s, 0, z), c[i], 1e-12);
    }
    recur_table_free(t);
}

static void test_scaler_standard(void **state)
{
    (void)state;
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9}; /* mean 5, population std 2 */
    recur_scaler s;
    recur_error e;
    assert_ok(recur_scaler_fit(&s, RECUR_SCALER_STANDARD, x, 8, 1, &e), e);
    assert_int_equal(s.kind, RECUR_SCALER_STANDARD);
    assert_near(s.a[0], 5, 1e-15);
    assert_near(s.b[0], 2, 1e-15);
    assert_near(recur_scaler_apply(&s, 0, 9), 2, 1e-15);
    for (int i = 0; i < 8; i++) assert_near(recur_scaler_invert(&s, 0, recur_scaler_apply(&s, 0, x[i])), x[i], 1e-14);
}

static void test_scaler_constant(void **state)
{
    (void)state;
    const double x[] = {7, 1, 7, 2, 7, 3}; /* (3, 2): column 0 constant */
    recur_scaler s;
    recur_error e;
    for (int kind = 0; kind < 2; kind++) {
        assert_ok(recur_scaler_fit(&s, (recur_scaler_kind)kind, x, 3, 2, &e), e);
        assert_near(recur_scaler_apply(&s, 0, 7), 0, 0);
        assert_near(recur_scaler_invert(&s, 0, 0), 7, 0);
        assert_true(isfinite(recur_scaler_apply(&s, 0, 8)));
        assert_near(recur_scaler_invert(&s, 0, recur_scaler_apply(&s, 0, 8)), 8, 0);
    }
    /* a single row is constant too */
    assert_ok(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 1, 2, &e), e);
    assert_near(recur_scaler_apply(&s, 1, 1), 0, 0);
}

static void test_scaler_errors(void **state)
{
    (void)state;
    double x[RECUR_SCALER_MAX + 1] = {0};
    recur_scaler s;
    recur_error e;
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 1, RECUR_SCALER_MAX + 1, &e), e, RECUR_E_INVALID,
                 "65 features; a scaler takes 1 to 64");
    assert_ok(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 1, RECUR_SCALER_MAX, &e), e);
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 1, 0, &e), e, RECUR_E_INVALID, "0 features");
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, x, 0, 1, &e), e, RECUR_E_DATA, "no rows");
    assert_fails(recur_scaler_fit(&s, (recur_scaler_kind)5, x, 1, 1, &e), e, RECUR_E_INVALID, "unknown scaler");
    assert_fails(recur_scaler_fit(NULL, RECUR_SCALER_MINMAX, x, 1, 1, &e), e, RECUR_E_INVALID, "required");
    const double wide[] = {-1e308, 1e308};
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_MINMAX, wide, 2, 1, &e), e, RECUR_E_DATA, "too wide to scale");
    const double big[] = {1e308, 1e308};
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_STANDARD, big, 2, 1, &e), e, RECUR_E_DATA, "too large to scale");
    x[3] = NAN;
    assert_fails(recur_scaler_fit(&s, RECUR_SCALER_STANDARD, x, 2, 2, &e), e, RECUR_E_DATA,
                 "row 1, feature 1 is not finite");
}

/* ====== Windows ====== */

static void test_window(void **state)
{
    (void)state;
    double s[10 * 2]; /* (10, 2): row r = (r, 100 + r) */
    for (int r = 0; r < 10; r++) s[2 * r] = r, s[2 * r + 1] = 100 + r;
    recur_float x[7 * 3 * 2], y[7 * 2];
    recur_error e;
    /* T 3, horizon 2, target column 1: t in [3, 9), the last target row is 9 + 1 - 1 = 9 */
    assert_ok(recur_window_make(s, 10, 2, 1, 3, 2, 3, 9, x, y, &e), e);
    for (int k = 0; k < 6; k++) {
        int t = 3 + k;
        for (int i = 0; i < 3; i++) {
            assert_near(x[(k * 3 + i) * 2 + 0], t - 3 + i, 0);
            assert_near(x[(k * 3 + i) * 2 + 1], 100 + t - 3 + i, 0);
        }
        assert_near(y[k * 2 + 0], 100 + t, 0);
        assert_near(y[k * 2 + 1], 100 + t + 1, 0);
    }
    /* edges */
    assert_ok(recur_window_make(s, 10, 2, 0, 3, 1, 3, 10, x, y, &e), e);
    assert_near(y[6], 9, 0);
    assert_ok(recur_window_make(s, 10, 2, 0, 3, 1, 5, 5, x, y, &e), e); /* no sample */
    assert_fails(recur_window_make(s, 10, 2, 0, 3, 2, 3, 10, x, y, &e), e, RECUR_E_INVALID,
                 "targets up to row 9 + horizon 2 run past the 10 rows");
    assert_fails(recur_window_make(s, 10, 2, 0, 3, 1, 2, 5, x, y, &e), e, RECUR_E_INVALID,
                 "first target row 2 has fewer than timestep 3 rows");
    assert_fails(recur_window_make(s, 10, 2, 2, 3, 1, 3, 5, x, y, &e), e, RECUR_E_INVALID, "target column 2");
    assert_fails(recur_window_make(s, 10, 2, 0, 0, 1, 3, 5, x, y, &e), e, RECUR_E_INVALID, "timestep 0");
    assert_fails(recur_window_make(s, 10, 2, 0, 3, 1, 6, 5, x, y, &e), e, RECUR_E_INVALID, "after last row");
}

/* ====== Dataset pipeline ====== */

static recur_table *aapl(const char *col)
{
    recur_table *t = NULL;
    recur_error e;
    if (load1("tests/data/AAPL.csv", col, RECUR_MISSING_ERROR, &t, &e) != RECUR_OK) fail_msg("%s", e.msg);
    return t;
}

static void test_pipeline_default(void **state)
{
    (void)state;
    recur_pipeline p = recur_pipeline_default();
    assert_int_equal(p.n_features, 1);
    assert_string_equal(p.features[0], "Close");
    assert_int_equal(p.target, 0);
    assert_int_equal(p.timestep, 60);
    assert_int_equal(p.horizon, 1);
    assert_near(p.test_fraction, 0.2, 0);
    assert_int_equal(p.transform, RECUR_TRANSFORM_NONE);
    assert_int_equal(p.scaler_kind, RECUR_SCALER_MINMAX);
}

static void test_dataset_aapl(void **state)
{
    (void)state;
    recur_table *t = aapl("Close");
    recur_pipeline p = recur_pipeline_default();
    recur_dataset d;
    recur_error e;
    assert_ok(recur_dataset_make(t, &p, &d, &e), e);
    const double *c = recur_table_col(t, 0);
    assert_int_equal(d.rows, 2515);
    assert_int_equal(d.n_train_rows, 2012); /* ceil(0.8 * 2515) although 0.8 * 2515 > 2012 in doubles */
    assert_int_equal(d.n_train, 2012 - 60);
    assert_int_equal(d.n_test, 503);
    assert_int_equal(d.T, 60);
    assert_int_equal(d.F, 1);
    assert_int_equal(d.horizon, 1);
    /* the scaler saw the training rows only */
    double lo = c[0], hi = c[0], tmax = 0;
    for (size_t i = 0; i < 2012; i++) lo = fmin(lo, c[i]), hi = fmax(hi, c[i]);
    for (size_t i = 2012; i < 2515; i++) tmax = fmax(tmax, c[i]);
    assert_near(p.scaler.a[0], lo, 0);
    assert_near(p.scaler.b[0], hi, 0);
    assert_near(d.test_above, tmax - hi, 1e-12);
    assert_true(d.test_above > 20); /* AAPL ends near 73, above the training max */
    assert_near(d.test_below, 0, 0);
    /* float32 values in [0, 1]: 1e-6 */
    for (int i = 0; i < 60; i++) assert_near(d.x_train[i], recur_scaler_apply(&p.scaler, 0, c[i]), 1e-6);
    assert_near(d.y_train[0], recur_scaler_apply(&p.scaler, 0, c[60]), 1e-6);
    assert_near(d.y_train[d.n_train - 1], recur_scaler_apply(&p.scaler, 0, c[2011]), 1e-6);
    /* the first test sample: window rows 1952..2011, target row 2012 */
    assert_int_equal(d.test_row[0], 2012);
    assert_int_equal(d.test_row[502], 2514);
    for (int i = 0; i < 60; i++) assert_near(d.x_test[i], recur_scaler_apply(&p.scaler, 0, c[1952 + i]), 1e-6);
    assert_near(d.y_test[0], recur_scaler_apply(&p.scaler, 0, c[2012]), 1e-6);
    assert_near(d.x_test[502 * 60 + 59], recur_scaler_apply(&p.scaler, 0, c[2513]), 1e-6);

    /* one prediction per test row: persistence through the pipeline gives the README numbers */
    double mae = 0, mse = 0;
    for (size_t k = 0; k < d.n_test; k++) {
        double pred, truth;
        recur_dataset_invert(t, &p, d.test_row[k], &d.x_test[k * 60 + 59], &pred);
        recur_dataset_invert(t, &p, d.test_row[k], &d.y_test[k], &truth);
        assert_near(truth, c[d.test_row[k]], 1e-5 * 73);
        mae += fabs(truth - pred), mse += (truth - pred) * (truth - pred);
    }
    assert_near(mae / 503, 0.6009, 1e-4);
    assert_near(sqrt(mse / 503), 0.8285, 1e-4);

    /* forecasting windows: row 2012 is the first test window, row 2515 is past the data */
    recur_float x[60];
    assert_ok(recur_dataset_window(t, &p, 2012, x, &e), e);
    assert_memory_equal(x, d.x_test, sizeof x);
    assert_ok(recur_dataset_window(t, &p, 2515, x, &e), e);
    assert_memory_equal(x, d.x_test + 502 * 60 + 1, 59 * sizeof x[0]);
    assert_near(x[59], recur_scaler_apply(&p.scaler, 0, c[2514]), 1e-6);
    assert_fails(recur_dataset_window(t, &p, 2516, x, &e), e, RECUR_E_INVALID, "row must be in 60..2515");
    assert_fails(recur_dataset_window(t, &p, 59, x, &e), e, RECUR_E_INVALID, "AAPL.csv: a window for row 59");

    recur_dataset_free(&d);
    assert_null(d.x_train);
    assert_int_equal(d.n_test, 0);
    recur_dataset_free(&d); /* twice is harmless: zeroed */
    recur_dataset_free(NULL);
    recur_table_free(t);
}

static void test_dataset_transforms(void **state)
{
    (void)state;
    recur_table *t = aapl("Close");
    const double *c = recur_table_col(t, 0);
    for (int tr = RECUR_TRANSFORM_DIFF; tr <= RECUR_TRANSFORM_LOGRETURN; tr++) {
        for (int kind = 0; kind < 2; kind++) {
            recur_pipeline p = recur_pipeline_default();
            recur_dataset d;
            recur_error e;
            p.transform = (recur_transform)tr;
            p.scaler_kind = (recur_scaler_kind)kind;
            assert_ok(recur_dataset_make(t, &p, &d, &e), e);
            assert_int_equal(d.n_train_rows, 2012);
            assert_int_equal(d.n_train, 2012 - 61); /* t0 = T + 1 */
            assert_int_equal(d.n_test, 503);
            /* the scaler saw z[1..2011] */
            double z[2515], lo = INFINITY, hi = -INFINITY, sum = 0;
            for (size_t r = 1; r < 2515; r++)
                z[r] = tr == RECUR_TRANSFORM_DIFF ? c[r] - c[r - 1] : log(c[r] / c[r - 1]);
            for (size_t r = 1; r < 2012; r++) lo = fmin(lo, z[r]), hi = fmax(hi, z[r]), sum += z[r];
            if (kind == RECUR_SCALER_MINMAX) {
                assert_near(p.scaler.a[0], lo, 0);
                assert_near(p.scaler.b[0], hi, 0);
            } else {
                assert_near(p.scaler.a[0], sum / 2011, 1e-15);
            }
            /* the first training window is z[1..60], its target z[61] */
            assert_near(d.x_train[0], recur_scaler_apply(&p.scaler, 0, z[1]), 1e-6);
            assert_near(d.y_train[0], recur_scaler_apply(&p.scaler, 0, z[61]), 1e-6);
            assert_near(d.x_test[0], recur_scaler_apply(&p.scaler, 0, z[1952]), 1e-6);
            /* the inverse of each true transformed target is the true level */
            for (size_t k = 0; k < d.n_test; k++) {
                double level;
                recur_dataset_invert(t, &p, d.test_row[k], &d.y_test[k], &level);
                if (fabs(level - c[d.test_row[k]]) > 1e-5)
                    fail_msg("transform %d scaler %d: row %zu inverts to %.9g, want %.9g", tr, kind,
                             d.test_row[k], level, c[d.test_row[k]]);
            }
            recur_float x[60];
            assert_ok(recur_dataset_window(t, &p, 2012, x, &e), e);
            assert_memory_equal(x, d.x_test, sizeof x);
            assert_fails(recur_dataset_window(t, &p, 60, x, &e), e, RECUR_E_INVALID, "row must be in 61..2515");
            recur_dataset_free(&d);
        }
    }
    recur_table_free(t);
}

static void test_dataset_horizon(void **state)
{
    (void)state;
    recur_table *t = aapl("Close");
    const double *c = recur_table_col(t, 0);
    for (int tr = 0; tr <= RECUR_TRANSFORM_LOGRETURN; tr++) {
        recur_pipeline p = recur_pipeline_default();
        recur_dataset d;
        recur_error e;
        p.horizon = 5;
        p.timestep = 10;
        p.transform = (recur_transform)tr;
        assert_ok(recur_dataset_make(t, &p, &d, &e), e);
        size_t off = tr ? 1 : 0;
        assert_int_equal(d.n_train, 2012 - 5 + 1 - (10 + off));
        assert_int_equal(d.n_test, 2515 - 5 + 1 - 2012);
        assert_int_equal(d.test_row[d.n_test - 1], 2510);
        for (size_t k = 0; k < d.n_test; k += 37) {
            double out[5];
            recur_dataset_invert(t, &p, d.test_row[k], &d.y_test[k * 5], out);
            for (int h = 0; h < 5; h++) assert_near(out[h], c[d.test_row[k] + (size_t)h], 1e-5);
        }
        recur_dataset_free(&d);
    }
    recur_table_free(t);
}

static void test_dataset_multifeature(void **state)
{
    (void)state;
    const char *cols[] = {"Open", "Close", "Volume"};
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load("tests/data/AAPL.csv", cols, 3, RECUR_MISSING_ERROR, &t, &e), e);
    recur_pipeline p = recur_pipeline_default();
    p.n_features = 3;
    p.target = 1;
    p.timestep = 5;
    recur_dataset d;
    assert_ok(recur_dataset_make(t, &p, &d, &e), e);
    assert_int_equal(d.F, 3);
    assert_int_equal(p.scaler.n, 3);
    assert_int_equal(d.n_train, 2012 - 5);
    const double *v = recur_table_col(t, 2);
    assert_near(d.x_train[(2 * 5 + 4) * 3 + 2], recur_scaler_apply(&p.scaler, 2, v[6]), 1e-6);
    assert_near(d.y_train[2], recur_scaler_apply(&p.scaler, 1, recur_table_col(t, 1)[7]), 1e-6);
    recur_dataset_free(&d);
    p.n_features = 2;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_INVALID,
                 "the table has 3 columns but the pipeline has 2");
    recur_table_free(t);
}

static void test_dataset_errors(void **state)
{
    (void)state;
    char buf[4096];
    size_t o;
    /* 50 rows with a day index, values -3..46 */
    o = (size_t)snprintf(buf, sizeof buf, "day,Close\n");
    for (int i = 0; i < 50; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%d,%d\n", i, i - 3);
    const char *path = tmp_write("short.csv", buf, o);
    recur_table *t = NULL;
    recur_error e;
    assert_ok(load1(path, "Close", RECUR_MISSING_ERROR, &t, &e), e);
    recur_pipeline p = recur_pipeline_default();
    recur_dataset d;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_DATA,
                 "short.csv: 50 rows give 40 training rows (test fraction 0.2), but timestep 60 + horizon 1 needs "
                 "at least 62 training rows; use a shorter --timestep");
    assert_null(d.x_train);
    p.timestep = 38; /* 38 + 1 + 1 = 40 training rows: just enough */
    assert_ok(recur_dataset_make(t, &p, &d, &e), e);
    assert_int_equal(d.n_train, 2);
    recur_dataset_free(&d);
    p.timestep = 39;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_DATA, "needs at least 41 training rows");
    p.timestep = 10;
    p.test_fraction = 0;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_DATA, "short.csv: 50 rows leave no test row");
    p.test_fraction = 0.2;
    p.horizon = 10; /* test targets t in [40, 50 - 10 + 1): one test row */
    assert_ok(recur_dataset_make(t, &p, &d, &e), e);
    assert_int_equal(d.n_test, 1);
    recur_dataset_free(&d);
    p.horizon = 11;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_DATA, "leave no test row");
    p.horizon = 1;
    p.test_fraction = 1;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_INVALID, "test fraction 1 must be in [0, 1)");
    p.test_fraction = NAN;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_INVALID, "test fraction");
    p.test_fraction = 0.2;
    /* log returns need positive values: values are -3..46, the first non-positive ones are rows 0..3 */
    p.transform = RECUR_TRANSFORM_LOGRETURN;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_DATA,
                 "short.csv:2: column \"Close\": value -3 is not positive, so it has no log return");
    p.transform = RECUR_TRANSFORM_DIFF;
    assert_ok(recur_dataset_make(t, &p, &d, &e), e);
    recur_dataset_free(&d);
    p.target = 1;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_INVALID, "target 1");
    p.target = 0;
    p.transform = (recur_transform)9;
    assert_fails(recur_dataset_make(t, &p, &d, &e), e, RECUR_E_INVALID, "unknown transform");
    assert_fails(recur_dataset_make(NULL, &p, &d, &e), e, RECUR_E_INVALID, "required");
    /* training rows spanning 1e-300 put a test value of 1 outside the float range once scaled */
    o = (size_t)snprintf(buf, sizeof buf, "day,Close\n");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%d,%s\n", i, i >= 16 ? "1" : i % 2 ? "1e-300" : "0");
    path = tmp_write("narrow.csv", buf, o);
    recur_table *n = NULL;
    assert_ok(load1(path, "Close", RECUR_MISSING_ERROR, &n, &e), e);
    recur_pipeline q = recur_pipeline_default();
    q.timestep = 2;
    assert_fails(recur_dataset_make(n, &q, &d, &e), e, RECUR_E_DATA,
                 "narrow.csv:18: column \"Close\": 1 scales to 1e+300, outside the float range");
    recur_table_free(n);
    /* a pipeline whose scaler was never fitted cannot cut forecast windows */
    recur_pipeline fresh = recur_pipeline_default();
    fresh.timestep = 5;
    recur_float x[5];
    assert_fails(recur_dataset_window(t, &fresh, 10, x, &e), e, RECUR_E_STATE, "not fitted");
    recur_table_free(t);
}

static void test_train_rows_rounding(void **state)
{
    (void)state;
    /* n_train_rows = ceil(0.8 n) for the README's files: 2012, 2317, 1574, 1007, 1007 */
    static const struct {
        const char *file, *col;
        recur_missing miss;
        size_t ntr;
    } f[] = {
        {"AAPL.csv", "Close", RECUR_MISSING_ERROR, 2012},
        {"NSEI.csv", "Close", RECUR_MISSING_DROP, 2317},
        {"GOOG_nasdaq.csv", "Close/Last", RECUR_MISSING_ERROR, 1574},
        {"AAPL_tiingo.csv", "close", RECUR_MISSING_ERROR, 1007},
        {"Google_Stock_Price_Train.csv", "Close", RECUR_MISSING_ERROR, 1007},
        {"nile.csv", "flow", RECUR_MISSING_ERROR, 80},
        {"airpassengers.csv", "passengers", RECUR_MISSING_ERROR, 116},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        char path[128];
        recur_table *t = NULL;
        recur_error e;
        recur_dataset d;
        snprintf(path, sizeof path, "tests/data/%s", f[k].file);
        assert_ok(load1(path, f[k].col, f[k].miss, &t, &e), e);
        recur_pipeline p = recur_pipeline_default();
        p.timestep = 12;
        assert_ok(recur_dataset_make(t, &p, &d, &e), e);
        if (d.n_train_rows != f[k].ntr)
            fail_msg("%s: %zu training rows, want %zu", f[k].file, d.n_train_rows, f[k].ntr);
        assert_int_equal(d.n_test, recur_table_rows(t) - f[k].ntr);
        recur_dataset_free(&d);
        recur_table_free(t);
    }
}

static void test_table_null_safe(void **state)
{
    (void)state;
    recur_table_free(NULL);
    assert_int_equal(recur_table_rows(NULL), 0);
    assert_int_equal(recur_table_cols(NULL), 0);
    assert_null(recur_table_col(NULL, 0));
    assert_true(isnan(recur_table_day(NULL, 0)));
    assert_null(recur_table_date_text(NULL, 0));
    assert_int_equal(recur_table_n_missing(NULL), 0);
    recur_table *t = aapl("Close");
    assert_true(isnan(recur_table_day(t, 2515)));
    assert_null(recur_table_date_text(t, 2515));
    recur_table_free(t);
    recur_csv_opts o = recur_csv_opts_default();
    assert_null(o.date_column);
    assert_null(o.columns);
    assert_int_equal(o.n_columns, 0);
    assert_int_equal(o.missing, RECUR_MISSING_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quotes),
        cmocka_unit_test(test_csv_crlf_bom_no_final_newline),
        cmocka_unit_test(test_csv_header_names),
        cmocka_unit_test(test_csv_numbers),
        cmocka_unit_test(test_csv_not_a_number),
        cmocka_unit_test(test_csv_long_text),
        cmocka_unit_test(test_csv_inf_and_range),
        cmocka_unit_test(test_csv_missing_error),
        cmocka_unit_test(test_csv_missing_drop),
        cmocka_unit_test(test_csv_missing_ffill),
        cmocka_unit_test(test_csv_ragged),
        cmocka_unit_test(test_csv_empty),
        cmocka_unit_test(test_csv_columns),
        cmocka_unit_test(test_csv_unclosed_quote),
        cmocka_unit_test(test_csv_binary),
        cmocka_unit_test(test_csv_io),
        cmocka_unit_test(test_csv_date_forms),
        cmocka_unit_test(test_csv_bad_dates),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_csv_time_order),
        cmocka_unit_test(test_all_files_load),
        cmocka_unit_test(test_quirky_values),
        cmocka_unit_test(test_persistence_baselines),
        cmocka_unit_test(test_scaler_minmax),
        cmocka_unit_test(test_scaler_standard),
        cmocka_unit_test(test_scaler_constant),
        cmocka_unit_test(test_scaler_errors),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_pipeline_default),
        cmocka_unit_test(test_dataset_aapl),
        cmocka_unit_test(test_dataset_transforms),
        cmocka_unit_test(test_dataset_horizon),
        cmocka_unit_test(test_dataset_multifeature),
        cmocka_unit_test(test_dataset_errors),
        cmocka_unit_test(test_train_rows_rounding),
        cmocka_unit_test(test_table_null_safe),
    };
    return cmocka_run_group_tests_name("data", tests, setup_tmp, teardown_tmp);
}
