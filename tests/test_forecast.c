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
#include "forecast/forecast.h"

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

/* |a - b| <= tol, with both values in the message otherwise. */
#define assert_near(a, b, tol)                                                                          \
    do {                                                                                                \
        double a_ = (a), b_ = (b);                                                                      \
        if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.17g, want %.17g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

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
                 "wide_hole.csv:2: series \"H1\", value 2 (field 3): missing value (only the end of a row may be padded)");
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

/* ====== Baselines ====== */

#define Z95 1.959963984540054 /* qnorm(0.975) */

static void test_norm_quantile(void **state)
{
    (void)state;
    /* R: qnorm(0.975), qnorm(0.9), qnorm(1e-10), qnorm(0.02) (the region edge). */
    assert_near(rc_norm_quantile(0.975), Z95, 1e-15);
    assert_near(rc_norm_quantile(0.9), 1.2815515655446004, 1e-15);
    assert_near(rc_norm_quantile(1e-10), -6.361340902404056, 1e-13);
    assert_near(rc_norm_quantile(0.02), -2.053748910631823, 1e-14);
    assert_near(rc_norm_quantile(0.5), 0, 1e-16);
    assert_true(isnan(rc_norm_quantile(1.5)));
}

/* History 1, 3, 2, 5 (T = 4), season 2, 3 steps, a 95% interval. */
static void test_baselines(void **state)
{
    (void)state;
    const double y[4] = {1, 3, 2, 5}, lv = 95;
    double f[3], lo[3], hi[3];
    recur_error e = {0};
    /* naive: 5, 5, 5; diffs 2, -1, 3: sigma^2 = 14/3; sigma_h = sigma sqrt(h). */
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_NAIVE, y, 4, 2, 3, &lv, 1, f, lo, hi, &e), RECUR_OK);
    for (int h = 1; h <= 3; h++) {
        assert_near(f[h - 1], 5, 0);
        assert_near(hi[h - 1], 5 + Z95 * sqrt(14.0 / 3) * sqrt(h), 1e-12);
        assert_near(lo[h - 1], 5 - Z95 * sqrt(14.0 / 3) * sqrt(h), 1e-12);
    }
    /* snaive m = 2: y3, y4, y3 = 2, 5, 2; residuals y3-y1 = 1, y4-y2 = 2:
     * sigma^2 = 5/2; sigma_h = sigma sqrt(floor((h-1)/2) + 1) = sigma, sigma, sigma sqrt 2. */
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_SNAIVE, y, 4, 2, 3, &lv, 1, f, lo, hi, &e), RECUR_OK);
    assert_true(f[0] == 2 && f[1] == 5 && f[2] == 2);
    assert_near(hi[1] - f[1], Z95 * sqrt(2.5), 1e-12);
    assert_near(hi[2] - f[2], Z95 * sqrt(2.5) * sqrt(2), 1e-12);
    /* drift: b = (5-1)/3; f = 5 + h b; residuals 2-b, -1-b, 3-b = 2/3, -7/3, 5/3:
     * sum of squares 78/9 over T - 2 = 2; sigma_h = sigma sqrt(h (1 + h/4)). */
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_DRIFT, y, 4, 2, 3, &lv, 1, f, lo, hi, &e), RECUR_OK);
    assert_near(f[0], 5 + 4.0 / 3, 1e-12);
    assert_near(f[2], 9, 1e-12);
    assert_near(hi[2] - f[2], Z95 * sqrt(78.0 / 18) * sqrt(3 * (1 + 3.0 / 4)), 1e-12);
    /* mean: 11/4; residuals -1.75, .25, -.75, 2.25: sum of squares 8.75 over
     * T - 1 = 3; sigma_h = sigma sqrt(1 + 1/4). */
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_MEAN, y, 4, 2, 3, &lv, 1, f, lo, hi, &e), RECUR_OK);
    assert_near(f[1], 2.75, 1e-15);
    assert_near(f[1] - lo[1], Z95 * sqrt(8.75 / 3) * sqrt(1.25), 1e-12);
    /* Two levels, level-major; NULL bands are fine. */
    const double two[2] = {80, 95};
    double lo2[6], hi2[6];
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_NAIVE, y, 4, 1, 3, two, 2, f, lo2, hi2, &e), RECUR_OK);
    assert_near(hi2[0] - 5, 1.2815515655446004 * sqrt(14.0 / 3), 1e-12);
    assert_near(hi2[3] - 5, Z95 * sqrt(14.0 / 3), 1e-12);
    assert_int_equal(recur_baseline_forecast(RECUR_BASE_NAIVE, y, 4, 1, 3, two, 2, f, NULL, NULL, &e), RECUR_OK);
    /* Errors: snaive needs a season of history; levels in (0, 100). */
    expect_error(recur_baseline_forecast(RECUR_BASE_SNAIVE, y, 4, 12, 3, NULL, 0, f, NULL, NULL, &e), &e,
                 RECUR_E_DATA, "4 values, season 12");
    expect_error(recur_baseline_forecast(RECUR_BASE_DRIFT, y, 1, 1, 3, NULL, 0, f, NULL, NULL, &e), &e,
                 RECUR_E_DATA, "drift needs 2 values");
    const double bad = 100;
    expect_error(recur_baseline_forecast(RECUR_BASE_MEAN, y, 4, 1, 3, &bad, 1, f, lo, hi, &e), &e,
                 RECUR_E_INVALID, "level 100");
    assert_string_equal(recur_baseline_name(RECUR_BASE_SNAIVE), "snaive");
}

/* ====== Scores ====== */

static void test_scores(void **state)
{
    (void)state;
    recur_scorer *s = NULL;
    recur_error e = {0};
    const double train[4] = {1, 3, 2, 5};
    /* MASE scale, m = 1: (2 + 1 + 3)/3 = 2; m = 2: (|2-1| + |5-3|)/2 = 1.5;
     * m >= n falls back to 1. */
    assert_near(recur_mase_scale(train, 4, 1), 2, 0);
    assert_near(recur_mase_scale(train, 4, 2), 1.5, 0);
    assert_near(recur_mase_scale(train, 4, 12), 2, 0);
    assert_true(isnan(recur_mase_scale(train, 1, 1)));

    /* Series A: actual 2, 4, 0; forecast 1, 4, 1; band [0,3], [5,6], [0,0.5].
     * |e| = 1, 0, 1: MAE 2/3, RMSE sqrt(2/3); MAPE over the non-zero actuals
     * (1/2 + 0)/2 = 25%; sMAPE 200/3 (1/3 + 0 + 1/1) = 800/9; MASE (2/3)/2;
     * coverage 2 of 3. */
    const double ya[3] = {2, 4, 0}, fa[3] = {1, 4, 1}, la[3] = {0, 5, 0}, ha[3] = {3, 6, 0.5};
    assert_int_equal(recur_scorer_new(3, &s, &e), RECUR_OK);
    assert_int_equal(recur_scorer_series(s, 2, &e), RECUR_OK);
    assert_int_equal(recur_scorer_add(s, 0, ya, fa, la, ha, 3, &e), RECUR_OK);
    recur_scores r = recur_scorer_result(s, -1);
    assert_int_equal(r.n, 3);
    assert_near(r.mae, 2.0 / 3, 1e-15);
    assert_near(r.rmse, sqrt(2.0 / 3), 1e-15);
    assert_near(r.mape, 25, 1e-12);
    assert_near(r.smape, 800.0 / 9, 1e-12);
    assert_near(r.mase, 1.0 / 3, 1e-15);
    assert_near(r.coverage, 2.0 / 3, 1e-15);

    /* Series B (scale 4): actual 10, forecast 12 at step 1 only, no band.
     * Pooled: MAE (2 + 2)/4 = 1; sMAPE mean(800/9, 200*2/22); MASE mean(1/3, 2/4);
     * coverage still 2 of 3 (B has no band). Step 1: MAE (1 + 2)/2;
     * sMAPE mean(200/3, 400/22); MASE mean(1/2, 2/4). */
    const double yb = 10, fb = 12;
    assert_int_equal(recur_scorer_series(s, 4, &e), RECUR_OK);
    assert_int_equal(recur_scorer_add(s, 1, &yb, &fb, NULL, NULL, 1, &e), RECUR_OK);
    r = recur_scorer_result(s, -1);
    assert_int_equal(r.n, 4);
    assert_near(r.mae, 1, 1e-15);
    assert_near(r.smape, (800.0 / 9 + 400.0 / 22) / 2, 1e-12);
    assert_near(r.mase, (1.0 / 3 + 0.5) / 2, 1e-15);
    assert_near(r.coverage, 2.0 / 3, 1e-15);
    r = recur_scorer_result(s, 0);
    assert_int_equal(r.n, 2);
    assert_near(r.mae, 1.5, 1e-15);
    assert_near(r.smape, (200.0 / 3 + 400.0 / 22) / 2, 1e-12);
    assert_near(r.mase, 0.5, 1e-15);
    r = recur_scorer_result(s, 2); /* step 3: only A, actual 0: MAPE undefined, sMAPE 200 */
    assert_true(isnan(r.mape));
    assert_near(r.smape, 200, 1e-12);
    const double nan = NAN;
    expect_error(recur_scorer_add(s, 0, ya, &nan, NULL, NULL, 1, &e), &e, RECUR_E_DATA,
                 "step 1: the forecast is not a finite number");
    expect_error(recur_scorer_add(s, 2, ya, fa, NULL, NULL, 1, &e), &e, RECUR_E_STATE, "series 2 was not added");
    recur_scorer_free(s);
}

/* ====== Backtests ====== */

/* A classic series: the repository copy in tests/data when there is one, else
 * ../shared/data/classic; NULL (and a visible SKIP) when neither exists. */
static recur_panel *classic(const char *name, const char *column)
{
    char path[256];
    recur_panel *p = NULL;
    recur_error e;
    snprintf(path, sizeof path, "tests/data/%s.csv", name);
    if (access(path, R_OK) != 0) snprintf(path, sizeof path, "../shared/data/classic/%s.csv", name);
    if (access(path, R_OK) != 0) {
        print_message("SKIP: %s not found (tests/data or ../shared/data/classic)\n", name);
        return NULL;
    }
    if (read_long(path, NULL, NULL, column, RECUR_MISSING_ERROR, &p, &e)) fail_msg("%s", e.msg);
    return p;
}

/* Backtest with F 0.2, stride 1, refit never, expanding; returns it. */
static recur_backtest *run_bt(const recur_panel *p, int H, int season, const recur_method *model)
{
    recur_backtest_opts o = recur_backtest_opts_default();
    recur_backtest *b = NULL;
    recur_error e = {0};
    o.horizon = H;
    o.season = season;
    if (recur_backtest_run(p, &o, model, &b, &e)) fail_msg("%s", e.msg);
    return b;
}

/* R forecast 8.20, rolling origin (../shared/data/README.md): MAE (and MASE)
 * of naive and seasonal naive at step h. */
static void check_r(const char *name, const char *column, int season, int h, size_t origins, double naive,
                    double snaive, double snaive_mase)
{
    recur_panel *p = classic(name, column);
    if (!p) return;
    recur_backtest *b = run_bt(p, h, season, NULL);
    assert_int_equal(recur_backtest_origins(b), origins);
    assert_int_equal(recur_backtest_n_methods(b), 4);
    assert_string_equal(recur_backtest_method(b, 0), "naive");
    assert_string_equal(recur_backtest_method(b, 1), "snaive");
    recur_scores n = recur_backtest_scores(b, 0, h - 1), s = recur_backtest_scores(b, 1, h - 1);
    assert_int_equal(n.n, origins);
    /* The table gives 4-6 significant digits. */
    assert_near(n.mae, naive, 0.6 * pow(10, floor(log10(naive)) - 4));
    assert_near(s.mae, snaive, 0.6 * pow(10, floor(log10(snaive)) - 4));
    if (!isnan(snaive_mase)) assert_near(s.mase, snaive_mase, 0.0006);
    recur_backtest_free(b);
    recur_panel_free(p);
}

static void test_backtest_r(void **state)
{
    (void)state;
    /* AirPassengers, F 0.2, H 1, season 12: ntr = floor(115.2) = 115, origins
     * 115..143 = 29; naive 44.7241 (MASE 1.5203), snaive 41.3103 (MASE 1.4043). */
    recur_panel *p = classic("airpassengers", "passengers");
    assert_non_null(p);
    recur_backtest *b = run_bt(p, 1, 12, NULL);
    assert_int_equal(recur_backtest_origins(b), 29);
    assert_int_equal(recur_backtest_season(b), 12);
    recur_scores n = recur_backtest_scores(b, 0, -1), s = recur_backtest_scores(b, 1, -1);
    assert_near(n.mae, 44.7241, 5e-5);
    assert_near(n.mase, 1.5203, 5e-5);
    assert_near(s.mae, 41.3103, 5e-5);
    assert_near(s.mase, 1.4043, 5e-5);
    assert_int_equal(recur_backtest_best(b), 1); /* snaive beats naive, drift and mean */
    recur_backtest_path path = recur_backtest_first_series(b, 0);
    assert_int_equal(path.n_origins, 29);
    assert_int_equal(path.first, 115);
    assert_near(path.mean[0], recur_panel_values(p, 0)[114], 0); /* naive from origin 115: value 115 */
    recur_backtest_free(b);
    recur_panel_free(p);
    /* The season inferred from the monthly dates is the same 12. */
    p = classic("airpassengers", "passengers");
    b = run_bt(p, 1, 0, NULL);
    assert_int_equal(recur_backtest_season(b), 12);
    assert_near(recur_backtest_scores(b, 1, -1).mae, 41.3103, 5e-5);
    recur_backtest_free(b);
    recur_panel_free(p);
    /* The rest of the README's table. At h = 12 both methods forecast y_t. */
    check_r("airpassengers", "passengers", 12, 12, 18, 50.6667, 50.6667, NAN);
    check_r("co2", "co2", 12, 1, 94, 1.18798, 1.38543, NAN);
    check_r("nottem", "temperature", 12, 1, 48, 4.0625, 2.32917, 0.835);
    check_r("ukgas", "gas", 4, 1, 22, 380.145, 40.3091, 1.619);
}

/* A model that knows the future plus 1: MAE exactly 1 at every step; it
 * records the windows it is fitted on. */
typedef struct {
    int fits;
    size_t start[8][2], end[8][2];
} oracle;

static recur_status oracle_fit(void *ctx, const recur_panel *p, const size_t *start, const size_t *end, recur_error *err)
{
    oracle *o = ctx;
    (void)err;
    for (size_t s = 0; s < recur_panel_count(p) && s < 2; s++) o->start[o->fits][s] = start[s], o->end[o->fits][s] = end[s];
    o->fits++;
    return RECUR_OK;
}

static recur_status oracle_predict(void *ctx, const recur_panel *p, size_t s, size_t n, int H, const double *levels,
                                   int n_levels, double *mean, double *lo, double *hi, recur_error *err)
{
    (void)ctx, (void)err;
    const double *y = recur_panel_values(p, s);
    for (int k = 0; k < H; k++) {
        mean[k] = y[n + (size_t)k] + 1;
        for (int l = 0; l < n_levels && lo; l++) {
            lo[l * H + k] = mean[k] - levels[l] / 100; /* 95: [y + 0.05, y + 1.95]: never covers */
            hi[l * H + k] = mean[k] + levels[l] / 100;
        }
    }
    return RECUR_OK;
}

static void test_backtest_protocol(void **state)
{
    (void)state;
    recur_panel *p = NULL;
    recur_error e = {0};
    double a[20], c[10];
    for (int i = 0; i < 20; i++) a[i] = i;
    for (int i = 0; i < 10; i++) c[i] = 100 - i;
    assert_int_equal(recur_panel_new(1, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_add(p, "a", a, NULL, 20, &e), RECUR_OK);
    assert_int_equal(recur_panel_add(p, "c", c, NULL, 10, &e), RECUR_OK);
    oracle orc = {0};
    recur_method m = {.name = "model", .ctx = &orc, .fit = oracle_fit, .predict = oracle_predict};
    recur_backtest_opts o = recur_backtest_opts_default();
    recur_backtest *b = NULL;
    const double lv[2] = {80, 95};
    /* F 0.5, H 2, stride 2, refit every 2 origins, sliding window.
     * a: n 20, ntr 10, origins 10, 12, ..., 18 (5); c: n 10, ntr 5, origins 5, 7 (2).
     * Fits before rounds 0, 2, 4: a ends 10, 14, 18; c ends 5, 7, 7 (its last
     * origin); sliding starts are end - ntr. */
    o.horizon = 2;
    o.season = 1;
    o.test_fraction = 0.5;
    o.stride = 2;
    o.refit = 2;
    o.sliding = 1;
    o.levels = lv;
    o.n_levels = 2;
    assert_int_equal(recur_backtest_run(p, &o, &m, &b, &e), RECUR_OK);
    assert_int_equal(recur_backtest_origins(b), 7);
    assert_int_equal(orc.fits, 3);
    assert_true(orc.end[0][0] == 10 && orc.end[1][0] == 14 && orc.end[2][0] == 18);
    assert_true(orc.start[0][0] == 0 && orc.start[1][0] == 4 && orc.start[2][0] == 8);
    assert_true(orc.end[0][1] == 5 && orc.end[1][1] == 7 && orc.end[2][1] == 7);
    assert_true(orc.start[2][1] == 2);
    assert_int_equal(recur_backtest_n_methods(b), 5);
    assert_string_equal(recur_backtest_method(b, 0), "model");
    recur_scores r = recur_backtest_scores(b, 0, -1);
    assert_int_equal(r.n, 14);
    assert_near(r.mae, 1, 0);
    assert_near(r.coverage, 0, 0); /* the widest level (95) is scored */
    /* naive on a line of slope 1 is off by h: MAE (1 + 2)/2 = 1.5 pooled, per
     * step 1 and 2 for both series (c has slope -1); drift is exact. */
    assert_near(recur_backtest_scores(b, 1, -1).mae, 1.5, 1e-12);
    assert_near(recur_backtest_scores(b, 1, 1).mae, 2, 1e-12);
    assert_near(recur_backtest_scores(b, 3, -1).mae, 0, 1e-12);
    assert_int_equal(recur_backtest_best(b), 3);
    /* Sliding: mean of the last ntr = 10 values of a before origin 10 is 4.5, error 10 - 4.5. */
    recur_backtest_path path = recur_backtest_first_series(b, 4);
    assert_near(path.mean[0], 4.5, 1e-12);
    assert_int_equal(path.n_origins, 5);
    assert_int_equal(path.stride, 2);
    recur_backtest_free(b);

    /* Errors: the horizon longer than a test part; a season longer than a training part. */
    o = recur_backtest_opts_default();
    o.horizon = 3;
    expect_error(recur_backtest_run(p, &o, NULL, &b, &e), &e, RECUR_E_DATA,
                 "--horizon 3 is longer than the test part of series \"c\" (2 of its 10 values)");
    o.horizon = 1;
    o.season = 8;
    expect_error(recur_backtest_run(p, &o, NULL, &b, &e), &e, RECUR_E_DATA,
                 "--season 8 is larger than the training part of series \"c\" (8 values)");
    o.season = 1;
    o.test_fraction = 1;
    expect_error(recur_backtest_run(p, &o, NULL, &b, &e), &e, RECUR_E_INVALID, "--test-fraction 1");
    assert_null(b);
    recur_panel_free(p);
}

/* Standard normal draws from a fixed 64-bit LCG (Knuth's MMIX constants) by
 * Box-Muller: the same series on every machine. */
static double normal_draw(uint64_t *state)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((double)(*state >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* A random walk with N(0, 2^2) steps: the naive method is the true model, so
 * its normal intervals must cover at their level. 1000 origins: the standard
 * error of a 95% coverage is sqrt(.95 .05 / 1000) = 0.0069 (at h = 4 the
 * origins overlap, so allow more). Seasonal naive with m = 1 is the same
 * forecast. */
static void test_interval_coverage(void **state)
{
    (void)state;
    double y[2000];
    uint64_t st = 12345;
    y[0] = 100;
    for (int i = 1; i < 2000; i++) y[i] = y[i - 1] + 2 * normal_draw(&st);
    recur_panel *p = NULL;
    recur_error e = {0};
    assert_int_equal(recur_panel_new(1, &p, &e), RECUR_OK);
    assert_int_equal(recur_panel_add(p, "walk", y, NULL, 2000, &e), RECUR_OK);
    recur_backtest_opts o = recur_backtest_opts_default();
    const double lv[2] = {80, 95};
    o.horizon = 4;
    o.season = 1;
    o.test_fraction = 0.5;
    o.levels = lv;
    o.n_levels = 2;
    recur_backtest *b = NULL;
    assert_int_equal(recur_backtest_run(p, &o, NULL, &b, &e), RECUR_OK);
    assert_int_equal(recur_backtest_origins(b), 997);
    recur_scores h1 = recur_backtest_scores(b, 0, 0), h4 = recur_backtest_scores(b, 0, 3);
    print_message("naive 95%% coverage on a random walk: h=1 %.4f, h=4 %.4f\n", h1.coverage, h4.coverage);
    assert_true(h1.coverage > 0.95 - 3 * 0.0069 && h1.coverage < 0.95 + 3 * 0.0069);
    assert_true(h4.coverage > 0.90 && h4.coverage < 0.99);
    /* MAE at h = 1 is E|N(0, 4)| = 2 sqrt(2/pi) = 1.596 (s.e. about 0.04). */
    assert_true(fabs(h1.mae - 2 * sqrt(2 / 3.141592653589793)) < 0.12);
    recur_backtest_free(b);
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
        cmocka_unit_test(test_norm_quantile),
        cmocka_unit_test(test_baselines),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_backtest_r),
        cmocka_unit_test(test_backtest_protocol),
        cmocka_unit_test(test_interval_coverage),
    };
    return cmocka_run_group_tests_name("forecast", tests, setup_tmp, teardown_tmp);
}
