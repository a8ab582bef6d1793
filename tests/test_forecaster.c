/*
 * test_forecaster.c -- the global forecaster: a panel round trip through a
 * file (forecasts identical bit for bit), the unknown-id error, short series
 * skipped, determinism for a fixed seed (and across thread counts), model
 * files and forecaster files refusing each other, and interval coverage on a seasonal sine with
 * Gaussian noise of known sigma (where the 95% interval's half-width must
 * come out near 1.96 sigma and cover about 95% of fresh points).
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

#define PI 3.14159265358979323846

/* ====== Helpers ====== */

static char tmpdir[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/recur_test_forecaster_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* xorshift64* and Box-Muller: the test's own noise, independent of the library. */
static uint64_t rng_state = 88172645463325252ULL;
static double uniform(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}
static double gauss(void)
{
    double u1 = 1.0 - uniform(), u2 = uniform();
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

/* Three positive seasonal series (period 12) of different levels, plus a
 * short one when `with_short`. */
static recur_panel *small_panel(int with_short)
{
    recur_panel *p = NULL;
    assert_int_equal(recur_panel_new(1, &p, NULL), RECUR_OK);
    double y[160];
    const char *ids[3] = {"a", "b", "c"};
    for (int s = 0; s < 3; s++) {
        for (int t = 0; t < 160; t++)
            y[t] = (10.0 + 40.0 * s) * (1.0 + 0.3 * sin(2 * PI * t / 12.0) + 0.002 * t) + 0.2 * gauss();
        assert_int_equal(recur_panel_add(p, ids[s], y, NULL, 160, NULL), RECUR_OK);
    }
    if (with_short) {
        /* 30 values: shorter than a window (48), trained with padded windows;
         * 10: too short even for a season of history + horizon + tail. */
        assert_int_equal(recur_panel_add(p, "short", y, NULL, 30, NULL), RECUR_OK);
        assert_int_equal(recur_panel_add(p, "tiny", y, NULL, 10, NULL), RECUR_OK);
    }
    return p;
}

/* The forecast preset, cut down so that a test trains in about a second. */
static recur_forecaster_opts quick_opts(int H)
{
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
    o.horizon = H, o.season = 12, o.seeds = 2, o.epochs = 6, o.max_windows = 512, o.threads = 1;
    o.layers = "lstm(16) dense(1)";
    return o;
}

/* ====== Tests ====== */

static void test_round_trip(void **state)
{
    (void)state;
    recur_panel *p = small_panel(0);
    recur_forecaster_opts o = quick_opts(6);
    recur_forecaster *f = NULL, *g = NULL;
    recur_error err;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &f, &err), RECUR_OK);
    assert_int_equal(recur_forecaster_horizon(f), 6);
    assert_int_equal(recur_forecaster_season(f), 12);
    /* A quarter of the median length, 160 / 4 = 40, within [max(3 m, 2 H, 16), 7 m] = [36, 84],
     * rounded up to whole seasons: 48. */
    assert_int_equal(recur_forecaster_timestep(f), 48);
    assert_int_equal(recur_forecaster_nets(f), 2);
    assert_int_equal(recur_forecaster_n_series(f), 3);
    assert_string_equal(recur_forecaster_id(f, 1), "b");

    char path[128];
    snprintf(path, sizeof path, "%s/f.safetensors", tmpdir);
    assert_int_equal(recur_forecaster_save(f, path, &err), RECUR_OK);
    assert_int_equal(recur_forecaster_file(path), 1);
    assert_int_equal(recur_forecaster_load(path, &g, &err), RECUR_OK);

    const double levels[2] = {80, 95};
    for (size_t s = 0; s < 3; s++) {
        double m1[6], lo1[12], hi1[12], m2[6], lo2[12], hi2[12];
        const char *id = recur_panel_id(p, s);
        const double *y = recur_panel_values(p, s);
        assert_int_equal(recur_forecaster_predict(f, id, y, 160, 6, levels, 2, m1, lo1, hi1, &err), RECUR_OK);
        assert_int_equal(recur_forecaster_predict(g, id, y, 160, 6, levels, 2, m2, lo2, hi2, &err), RECUR_OK);
        assert_memory_equal(m1, m2, sizeof m1);
        assert_memory_equal(lo1, lo2, sizeof lo1);
        assert_memory_equal(hi1, hi2, sizeof hi1);
        for (int h = 0; h < 6; h++) {
            /* 80% inside 95%, both around the forecast. */
            assert_true(lo1[6 + h] <= lo1[h] && lo1[h] <= m1[h] && m1[h] <= hi1[h] && hi1[h] <= hi1[6 + h]);
            /* The level is 10, 50 or 90 times a seasonal factor in [0.7, 1.6]: a forecast must be of that size. */
            assert_true(m1[h] > 0.5 * (10.0 + 40.0 * s) && m1[h] < 2.0 * (10.0 + 40.0 * s));
        }
    }
    recur_forecaster_free(g);
    recur_forecaster_free(f);
    recur_panel_free(p);
}

static void test_unknown_id_and_horizon(void **state)
{
    (void)state;
    recur_panel *p = small_panel(1);
    recur_forecaster_opts o = quick_opts(3);
    o.seeds = 1, o.epochs = 2;
    recur_forecaster *f = NULL;
    recur_error err;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &f, &err), RECUR_OK);
    /* tiny has 10 values: fewer than a season (12) + horizon 3 + tail 3. */
    assert_int_equal(recur_forecaster_n_series(f), 4);
    assert_string_equal(recur_forecaster_id(f, 3), "short");
    assert_int_equal(recur_forecaster_n_skipped(f), 1);
    assert_string_equal(recur_forecaster_skipped(f, 0), "tiny");
    assert_null(recur_forecaster_skipped(f, 1));

    double y[40], m[3];
    for (int i = 0; i < 40; i++) y[i] = 10 + i;
    assert_int_equal(recur_forecaster_predict(f, "zzz", y, 40, 3, NULL, 0, m, NULL, NULL, &err), RECUR_E_DATA);
    assert_non_null(strstr(err.msg, "unknown series \"zzz\""));
    assert_int_equal(recur_forecaster_predict(f, "short", y, 40, 3, NULL, 0, m, NULL, NULL, &err), RECUR_OK);
    assert_int_equal(recur_forecaster_predict(f, "tiny", y, 40, 3, NULL, 0, m, NULL, NULL, &err), RECUR_E_DATA);
    assert_non_null(strstr(err.msg, "too short"));
    assert_int_equal(recur_forecaster_predict(f, "a", y, 40, 4, NULL, 0, m, NULL, NULL, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "horizon of 3"));
    /* A history shorter than the window is padded: still a forecast. */
    assert_int_equal(recur_forecaster_predict(f, "a", y, 5, 3, NULL, 0, m, NULL, NULL, &err), RECUR_OK);
    /* "a" is modelled in logs: a zero in its history cannot be. */
    y[39] = 0;
    assert_int_equal(recur_forecaster_predict(f, "a", y, 40, 3, NULL, 0, m, NULL, NULL, &err), RECUR_E_DATA);
    assert_non_null(strstr(err.msg, "positive"));
    recur_forecaster_free(f);

    /* Every series too short: an error that says how long one must be. */
    recur_panel *q = NULL;
    assert_int_equal(recur_panel_new(1, &q, NULL), RECUR_OK);
    assert_int_equal(recur_panel_add(q, "x", y, NULL, 17, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_fit(&o, q, NULL, &f, &err), RECUR_E_DATA);
    /* 12 of history + horizon 3 + tail 4 (a quarter of 19 > 3): 19. */
    assert_non_null(strstr(err.msg, "at least 19 values"));
    assert_null(f);
    recur_panel_free(q);
    recur_panel_free(p);
}

static void test_determinism(void **state)
{
    (void)state;
    recur_panel *p = small_panel(0);
    recur_forecaster_opts o = quick_opts(4);
    o.epochs = 3;
    recur_forecaster *f = NULL, *g = NULL, *h = NULL;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &f, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &g, NULL), RECUR_OK);
    o.seed = 7;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &h, NULL), RECUR_OK);
    double a[4], b[4], c[4];
    const double *y = recur_panel_values(p, 2);
    assert_int_equal(recur_forecaster_predict(f, "c", y, 160, 4, NULL, 0, a, NULL, NULL, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_predict(g, "c", y, 160, 4, NULL, 0, b, NULL, NULL, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_predict(h, "c", y, 160, 4, NULL, 0, c, NULL, NULL, NULL), RECUR_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0); /* another seed, other weights */
    /* fit sums its chunks' gradients in a fixed order: two threads, same bits. */
    recur_forecaster *t2 = NULL;
    o.seed = 42, o.threads = 2;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &t2, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_predict(t2, "c", y, 160, 4, NULL, 0, c, NULL, NULL, NULL), RECUR_OK);
    assert_memory_equal(a, c, sizeof a);
    recur_forecaster_free(t2);
    recur_forecaster_free(f);
    recur_forecaster_free(g);
    recur_forecaster_free(h);
    recur_panel_free(p);
}

static void test_files_refuse_each_other(void **state)
{
    (void)state;
    recur_panel *p = small_panel(0);
    recur_forecaster_opts o = quick_opts(2);
    o.seeds = 1, o.epochs = 1;
    recur_forecaster *f = NULL;
    recur_error err;
    char fpath[128], mpath[128];
    snprintf(fpath, sizeof fpath, "%s/fc.safetensors", tmpdir);
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", tmpdir);
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &f, &err), RECUR_OK);
    assert_int_equal(recur_forecaster_save(f, fpath, &err), RECUR_OK);
    recur_model *m = NULL;
    assert_int_equal(recur_model_load(fpath, &m, NULL, &err), RECUR_E_FORMAT);
    assert_non_null(strstr(err.msg, "forecaster"));
    assert_null(m);

    assert_int_equal(recur_model_new(1, &m, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "gru(3) dense(1)", NULL), RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    assert_int_equal(recur_model_compile(m, &co, NULL), RECUR_OK);
    assert_int_equal(recur_model_save(m, NULL, mpath, &err), RECUR_OK);
    recur_model_free(m);
    recur_forecaster *g = NULL;
    assert_int_equal(recur_forecaster_file(mpath), 0);
    assert_int_equal(recur_forecaster_load(mpath, &g, &err), RECUR_E_FORMAT);
    assert_non_null(strstr(err.msg, "single-series"));
    assert_null(g);
    recur_forecaster_free(f);
    recur_panel_free(p);
}

/* y_t = 3 sin(2 pi t / 12) + e_t, e_t ~ N(0, 0.5^2). The best forecast is the
 * sine, its 95% interval +-1.96 * 0.5 = +-0.98, and 95% of new points fall
 * inside. Trained on 1200 values, checked one step ahead from 400 origins
 * after them: the binomial standard error of the coverage is 1.1 points, so
 * 0.90..0.99 allows 4 of them. The half-width may exceed 0.98 by what the
 * network gets wrong, not by a factor (0.9..1.4 of it). */
static void test_coverage(void **state)
{
    (void)state;
    enum { N = 1600, NTR = 1200 };
    double *y = malloc(N * sizeof *y);
    assert_non_null(y);
    rng_state = 12345;
    for (int t = 0; t < N; t++) y[t] = 3.0 * sin(2 * PI * t / 12.0) + 0.5 * gauss();
    recur_panel *p = NULL;
    assert_int_equal(recur_panel_new(1, &p, NULL), RECUR_OK);
    assert_int_equal(recur_panel_add(p, "sine", y, NULL, N, NULL), RECUR_OK);
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
    o.horizon = 1, o.season = 12, o.seeds = 1, o.epochs = 30, o.threads = 1;
    const size_t ntr = NTR;
    recur_forecaster *f = NULL;
    recur_error err;
    assert_int_equal(recur_forecaster_fit(&o, p, &ntr, &f, &err), RECUR_OK);
    const double levels[2] = {80, 95};
    int in95 = 0, in80 = 0;
    double width = 0;
    for (int t = NTR; t < N; t++) {
        double m, lo[2], hi[2];
        assert_int_equal(recur_forecaster_predict(f, "sine", y, (size_t)t, 1, levels, 2, &m, lo, hi, &err), RECUR_OK);
        in80 += y[t] >= lo[0] && y[t] <= hi[0];
        in95 += y[t] >= lo[1] && y[t] <= hi[1];
        width += (hi[1] - lo[1]) / 2;
    }
    double cov95 = in95 / (double)(N - NTR), cov80 = in80 / (double)(N - NTR);
    width /= N - NTR;
    print_message("coverage 95%%: %.3f, 80%%: %.3f, mean 95%% half-width %.3f (ideal 0.98)\n", cov95, cov80, width);
    assert_true(cov95 >= 0.90 && cov95 <= 0.99);
    assert_true(cov80 >= 0.74 && cov80 <= 0.86); /* 80% +- 3 standard errors (2 points each) */
    assert_true(width >= 0.9 * 0.98 && width <= 1.4 * 0.98);
    recur_forecaster_free(f);
    recur_panel_free(p);
    free(y);
}

static void test_method(void **state)
{
    (void)state;
    recur_panel *p = small_panel(0);
    recur_forecaster_opts o = quick_opts(2);
    o.seeds = 1, o.epochs = 2;
    recur_method m;
    recur_error err;
    assert_int_equal(recur_forecaster_method_new(&o, &m, &err), RECUR_OK);
    assert_string_equal(m.name, "model");
    double mean[2];
    assert_int_equal(m.predict(m.ctx, p, 0, 100, 2, NULL, 0, mean, NULL, NULL, &err), RECUR_E_STATE);
    size_t start[3] = {0, 0, 0}, end[3] = {120, 120, 120};
    assert_int_equal(m.fit(m.ctx, p, start, end, &err), RECUR_OK);
    assert_int_equal(m.predict(m.ctx, p, 1, 120, 2, NULL, 0, mean, NULL, NULL, &err), RECUR_OK);
    assert_true(mean[0] > 25 && mean[0] < 100);
    recur_forecaster_method_free(&m);
    recur_forecaster_method_free(&m); /* twice: nothing left to free */
    recur_panel_free(p);
}

/* recur train --id-column without a preset: the tutorial's settings. */
static void test_tutorial_preset(void **state)
{
    (void)state;
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_TUTORIAL);
    assert_int_equal(o.epochs, 50);
    assert_int_equal(o.batch_size, 64);
    assert_int_equal(o.seeds, 1);
    assert_int_equal(o.patience, 0);
    assert_int_equal(o.max_windows, 0);
    recur_panel *p = small_panel(0);
    o.horizon = 6, o.season = 12, o.epochs = 1, o.threads = 1;
    recur_forecaster *f = NULL;
    assert_int_equal(recur_forecaster_fit(&o, p, NULL, &f, NULL), RECUR_OK);
    assert_int_equal(recur_forecaster_timestep(f), 60);
    char d[512];
    recur_forecaster_describe(f, d, sizeof d);
    assert_non_null(strstr(d, "MinMax scaling per series, window 60 values as 60 steps of 1;"));
    assert_non_null(strstr(d, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(6)"));
    assert_null(strstr(d, "log"));
    recur_forecaster_free(f);
    recur_panel_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_unknown_id_and_horizon),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_files_refuse_each_other),
        cmocka_unit_test(test_coverage),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_tutorial_preset),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
