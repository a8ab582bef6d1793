/*
 * test_forecast.c -- forecasting evaluation: panels (long and wide CSV, every
 * reading error with its line, season inference, future times), baselines
 * and their intervals, scores, and the rolling-origin backtest against R's
 * forecast package figures.
 * Expected values are computed by hand in the comments, or come from R
 * (../shared/data/README.md). Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ====== Helpers ====== */

#define MAX_FILES 64
static char tmpdir[64];
static char written[MAX_FILES][160];
static int n_written;

static const char *tmp_write(const char *name, const char *text)
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
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return written[i];
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/recur_test_forecast_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    for (int i = 0; i < n_written; i++) unlink(written[i]);
    rmdir(tmpdir);
    return 0;
}

/* Reads a long CSV; returns the status, the panel in *p. */
static recur_status read_long(const char *path, const char *id, const char *time, const char *value,
                              recur_missing miss, recur_panel **p, recur_error *e)
{
    recur_panel_opts o = recur_panel_opts_default();
    o.id_column = id;
    o.time_column = time;
    o.value_column = value;
    o.missing = miss;
    memset(e, 0, sizeof *e);
    return recur_panel_read_csv(path, &o, p, e);
}

/* The call fails with `code` and a message containing `part`. */
static void expect_error(recur_status rc, const recur_error *e, recur_status code, const char *part)
{
    if (rc != code || !strstr(e->msg, part))
        fail_msg("want status %d with \"%s\"; got %d: %s", (int)code, part, (int)rc, e->msg);
}

/* ====== Panels ====== */

static void test_panel_long(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e;
    /* Rows of two series interleaved and out of order; quoted ids, CRLF, BOM. */
    const char *f = tmp_write("long.csv", "\xEF\xBB\xBFunique_id,ds,y\r\n"
                                          "\"B\",2,20\r\n"
                                          "A,1,1.5\r\n"
                                          "B,1,10\r\n"
                                          "A,3,\"1,003.5\"\r\n"
                                          "A,2,2.5\r\n");
    assert_int_equal(read_long(f, "unique_id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_count(p), 2);
    assert_string_equal(recur_panel_id(p, 0), "B"); /* first appearance */
    assert_string_equal(recur_panel_id(p, 1), "A");
    assert_int_equal(recur_panel_find(p, "A"), 1);
    assert_int_equal(recur_panel_find(p, "C"), -1);
    assert_int_equal(recur_panel_length(p, 1), 3);
    const double *y = recur_panel_values(p, 1), *t = recur_panel_times(p, 1);
    assert_true(y[0] == 1.5 && y[1] == 2.5 && y[2] == 1003.5);
    assert_true(t[0] == 1 && t[1] == 2 && t[2] == 3);
    assert_true(recur_panel_values(p, 0)[0] == 10 && recur_panel_values(p, 0)[1] == 20);
    assert_int_equal(recur_panel_time_is_index(p), 1);
    assert_int_equal(recur_panel_infer_season(p), 1);
    double fut[3];
    recur_panel_future_times(p, 1, 3, fut); /* n+1..n+H */
    assert_true(fut[0] == 4 && fut[1] == 5 && fut[2] == 6);
    char buf[32];
    recur_panel_time_text(p, fut[2], buf, sizeof buf);
    assert_string_equal(buf, "6");
    recur_panel_free(p);

    /* Without an id column: one series named after the value column; no time
     * column: file order, 1..n. */
    f = tmp_write("one.csv", "v\n3\n1\n2\n");
    assert_int_equal(read_long(f, NULL, NULL, "v", RECUR_MISSING_ERROR, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_count(p), 1);
    assert_string_equal(recur_panel_id(p, 0), "v");
    assert_true(recur_panel_values(p, 0)[0] == 3 && recur_panel_times(p, 0)[2] == 3);
    recur_panel_free(p);
}

static void test_panel_errors(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e;
    const char *f = tmp_write("dup.csv", "id,ds,y\nA,1,1\nA,2,2\nB,1,5\nA,2,3\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_DATA,
                 "dup.csv:5: duplicate row for series \"A\" at time 2 (also on line 3)");
    assert_null(p);
    f = tmp_write("gap.csv", "id,ds,y\nA,1,1\nA,2,2\nA,4,3\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_DATA,
                 "gap.csv:4: series \"A\" jumps from step 2 to 4");
    f = tmp_write("ok.csv", "id,ds,y\nA,1,1\nA,2,2\n");
    expect_error(read_long(f, "series", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_INVALID,
                 "no id column \"series\"; the header has: \"id\", \"ds\", \"y\"");
    expect_error(read_long(f, "id", "ds", "value", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_INVALID,
                 "no value column \"value\"");
    expect_error(read_long(f, "id", "when", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_INVALID,
                 "no time column \"when\"");
    f = tmp_write("miss.csv", "id,ds,y\nA,1,1\nA,2,\nA,3,3\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_DATA,
                 "miss.csv:3: column \"y\": missing value");
    /* ffill copies the previous value, drop removes the row. */
    assert_int_equal(read_long(f, "id", "ds", "y", RECUR_MISSING_FFILL, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_length(p, 0), 3);
    assert_true(recur_panel_values(p, 0)[1] == 1);
    recur_panel_free(p);
    assert_int_equal(read_long(f, "id", "ds", "y", RECUR_MISSING_DROP, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_length(p, 0), 2);
    assert_true(recur_panel_values(p, 0)[1] == 3 && recur_panel_times(p, 0)[1] == 3);
    recur_panel_free(p);
    p = NULL;
    f = tmp_write("empty.csv", "");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_DATA, "empty.csv: empty file");
    f = tmp_write("header.csv", "id,ds,y\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_DATA, "no data rows");
    f = tmp_write("bad.csv", "id,ds,y\nA,1,x1\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_PARSE,
                 "bad.csv:2: column \"y\": not a number (\"x1\")");
    f = tmp_write("short.csv", "id,ds,y\nA,1\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_PARSE,
                 "short.csv:2: row has 2 fields but the header has 3");
    f = tmp_write("frac.csv", "id,ds,y\nA,1.5,1\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_PARSE,
                 "frac.csv:2: column \"ds\": step index is not a whole number");
    f = tmp_write("mixed.csv", "id,ds,y\nA,1,1\nA,2020-01-02,1\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_PARSE, "mixed.csv:3:");
    f = tmp_write("noid.csv", "id,ds,y\n,1,1\n");
    expect_error(read_long(f, "id", "ds", "y", RECUR_MISSING_ERROR, &p, &e), &e, RECUR_E_PARSE,
                 "noid.csv:2: column \"id\": empty series id");
    assert_null(p);
}

static void test_panel_wide(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e = {0};
    /* M4 layout: quoted, the shorter row padded with empty fields. */
    const char *f = tmp_write("wide.csv", "\"V1\",\"V2\",\"V3\",\"V4\"\n"
                                          "\"H1\",\"605\",\"586\",\"586\"\n"
                                          "\"H2\",\"3124\",\"2990\",\n");
    assert_int_equal(recur_panel_read_wide(f, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_count(p), 2);
    assert_string_equal(recur_panel_id(p, 1), "H2");
    assert_int_equal(recur_panel_length(p, 0), 3);
    assert_int_equal(recur_panel_length(p, 1), 2);
    assert_true(recur_panel_values(p, 1)[1] == 2990 && recur_panel_times(p, 1)[1] == 2);
    recur_panel_free(p);
    p = NULL;
    f = tmp_write("wide_hole.csv", "V1,V2,V3,V4\nH1,1,,3\n");
    expect_error(recur_panel_read_wide(f, &p, &e), &e, RECUR_E_DATA,
                 "wide_hole.csv:2: series \"H1\", value 2 (field 3): missing value before the end of the row");
    f = tmp_write("wide_dup.csv", "V1,V2\nH1,1\nH1,2\n");
    expect_error(recur_panel_read_wide(f, &p, &e), &e, RECUR_E_DATA, "wide_dup.csv:3: series \"H1\" appears twice");
    f = tmp_write("wide_empty.csv", "V1,V2\n");
    expect_error(recur_panel_read_wide(f, &p, &e), &e, RECUR_E_DATA, "no series");
    assert_null(p);
}

/* One series of dates from the file text, returning its inferred season and
 * the text of the first two future times. */
static int season_of(const char *name, const char *text, char fut1[32], char fut2[32])
{
    recur_panel *p = NULL;
    recur_error e;
    const char *f = tmp_write(name, text);
    if (read_long(f, NULL, NULL, "y", RECUR_MISSING_ERROR, &p, &e)) fail_msg("%s", e.msg);
    double t[2];
    recur_panel_future_times(p, 0, 2, t);
    recur_panel_time_text(p, t[0], fut1, 32);
    recur_panel_time_text(p, t[1], fut2, 32);
    int m = recur_panel_infer_season(p);
    recur_panel_free(p);
    return m;
}

static void test_panel_season(void **state)
{
    (void)state;
    char a[32], b[32];
    /* Monthly, end of a year and the 31st clamped: 2019-11, 2019-12 -> 2020-01, 2020-02. */
    assert_int_equal(season_of("m.csv", "month,y\n2019-11,1\n2019-12,2\n", a, b), 12);
    assert_string_equal(a, "2020-01");
    assert_string_equal(b, "2020-02");
    /* Quarterly (first month of each quarter). */
    assert_int_equal(season_of("q.csv", "month,y\n2019-07,1\n2019-10,2\n", a, b), 4);
    assert_string_equal(a, "2020-01");
    assert_string_equal(b, "2020-04");
    /* Yearly: season 1. */
    assert_int_equal(season_of("yr.csv", "year,y\n1999,1\n2000,2\n", a, b), 1);
    assert_string_equal(a, "2001");
    /* Hourly: 24, next hours past midnight. */
    assert_int_equal(season_of("h.csv", "time,y\n2020-01-01 22:00,1\n2020-01-01 23:00,2\n", a, b), 24);
    assert_string_equal(a, "2020-01-02 00:00:00");
    assert_string_equal(b, "2020-01-02 01:00:00");
    /* Business days (no weekend in the data; Thu 2020-01-02, Fri 01-03): 5, Monday next. */
    assert_int_equal(season_of("bd.csv", "date,y\n2020-01-02,1\n2020-01-03,2\n", a, b), 5);
    assert_string_equal(a, "2020-01-06");
    assert_string_equal(b, "2020-01-07");
    /* Daily with a weekend day (2020-01-04 is a Saturday): 7. */
    assert_int_equal(season_of("d.csv", "date,y\n2020-01-03,1\n2020-01-04,2\n", a, b), 7);
    assert_string_equal(a, "2020-01-05");
    /* Weekly: 52. */
    assert_int_equal(season_of("w.csv", "date,y\n2020-01-01,1\n2020-01-08,2\n", a, b), 52);
    assert_string_equal(a, "2020-01-15");
    /* Month ends: 2020-01-31 + 1 month is 2020-02-29 (leap year), + 2 is 2020-03-31. */
    assert_int_equal(season_of("me.csv", "date,y\n2019-12-31,1\n2020-01-31,2\n", a, b), 12);
    assert_string_equal(a, "2020-02-29");
    assert_string_equal(b, "2020-03-31");
}

static void test_panel_add(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e = {0};
    const double y[3] = {1, 2, 3}, t[3] = {5, 6, 8}, bad[2] = {1, NAN};
    assert_int_equal(recur_panel_new(1, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_add(p, "a", y, NULL, 3, &e), RECUR_OK);
    expect_error(recur_panel_add(p, "a", y, NULL, 3, &e), &e, RECUR_E_INVALID, "already in the panel");
    expect_error(recur_panel_add(p, "b", y, t, 3, &e), &e, RECUR_E_DATA, "gap in the integer time index after 6");
    expect_error(recur_panel_add(p, "c", bad, NULL, 2, &e), &e, RECUR_E_DATA, "value 2 is not a finite number");
    expect_error(recur_panel_add(p, "d", y, NULL, 0, &e), &e, RECUR_E_DATA, "no values");
    /* Many ids: the hash table grows and every id is found again. */
    for (int i = 0; i < 500; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        assert_int_equal(recur_panel_add(p, id, y, NULL, 3, &e), RECUR_OK);
    }
    assert_int_equal(recur_panel_count(p), 501);
    assert_int_equal(recur_panel_find(p, "s377"), 378);
    assert_int_equal(recur_panel_find(p, "a"), 0);
    recur_panel_free(p);
    recur_panel_free(NULL);
}

/* AirPassengers from the repository copy: 144 months, season 12. */
static void test_panel_airpassengers(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e;
    assert_int_equal(read_long("tests/data/airpassengers.csv", NULL, NULL, "passengers", RECUR_MISSING_ERROR, &p, &e),
                     RECUR_OK);
    assert_int_equal(recur_panel_length(p, 0), 144);
    assert_true(recur_panel_values(p, 0)[0] == 112 && recur_panel_values(p, 0)[143] == 432);
    assert_int_equal(recur_panel_infer_season(p), 12);
    assert_int_equal(recur_panel_time_is_index(p), 0);
    char buf[32];
    recur_panel_time_text(p, recur_panel_times(p, 0)[143], buf, sizeof buf);
    assert_string_equal(buf, "1960-12");
    recur_panel_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panel_long),
        cmocka_unit_test(test_panel_errors),
        cmocka_unit_test(test_panel_wide),
        cmocka_unit_test(test_panel_season),
        cmocka_unit_test(test_panel_add),
        cmocka_unit_test(test_panel_airpassengers),
    };
    return cmocka_run_group_tests_name("forecast", tests, setup_tmp, teardown_tmp);
}
