/*
 * fuzz_csv.c -- libFuzzer target for recur_table_read_csv and the data
 * pipeline behind it (recur_dataset_make / _window / _invert).
 *
 * Build and run (clang; the corpus is copied so new inputs stay out of git):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       src/core/[a-z]*.c src/data/[a-z]*.c tests/fuzz/fuzz_csv.c -lm -o /tmp/fuzz_csv
 *   cp -r tests/fuzz/corpus_csv /tmp/corpus_csv
 *   /tmp/fuzz_csv -max_total_time=60 -dict=tests/fuzz/fuzz_csv.dict /tmp/corpus_csv
 *
 * Each input is written to one temp file under /tmp and read with columns
 * {"close"} and {"Open", "Close"} under the three missing-value policies.
 * Properties checked beyond "no crash":
 *  - a failure returns no table and a non-empty, one-line message whose code
 *    matches the status;
 *  - a table has rows, finite values, strictly increasing days when it has a
 *    date column, a date text exactly when it has a day;
 *  - the pipeline cuts windows of finite values and inverts them without NaN.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void check_error(recur_status st, const recur_error *e)
{
    if (e->code != st || e->msg[0] == '\0') abort();
    if (!memchr(e->msg, '\0', sizeof e->msg) || strchr(e->msg, '\n')) abort();
}

static void check_pipeline(const recur_table *t, recur_transform tr)
{
    recur_pipeline p = recur_pipeline_default();
    recur_dataset d;
    recur_error e;
    p.n_features = recur_table_cols(t);
    p.target = p.n_features - 1;
    p.timestep = 2;
    p.test_fraction = 0.5;
    p.transform = tr;
    recur_status st = recur_dataset_make(t, &p, &d, &e);
    if (st != RECUR_OK) {
        check_error(st, &e);
        return;
    }
    size_t F = (size_t)d.F, T = (size_t)d.T;
    for (size_t i = 0; i < d.n_train * T * F; i++)
        if (!isfinite(d.x_train[i])) abort();
    for (size_t i = 0; i < d.n_test * T * F; i++)
        if (!isfinite(d.x_test[i])) abort();
    for (size_t k = 0; k < d.n_test; k++) {
        double level;
        if (!isfinite(d.y_test[k])) abort();
        recur_dataset_invert(t, &p, d.test_row[k], &d.y_test[k], &level);
        if (isnan(level)) abort();
    }
    recur_float *x = malloc(T * F * sizeof *x);
    if (x) {
        st = recur_dataset_window(t, &p, d.rows, x, &e);
        if (st != RECUR_OK) abort(); /* the same rows that made the dataset make a window */
        free(x);
    }
    recur_dataset_free(&d);
}

static void check_read(const char *const *cols, int n, recur_missing miss)
{
    recur_csv_opts o = recur_csv_opts_default();
    recur_table *t = (recur_table *)&o; /* must come back NULL on failure */
    recur_error e;
    o.columns = cols;
    o.n_columns = n;
    o.missing = miss;
    recur_status st = recur_table_read_csv(fuzz_path, &o, &t, &e);
    if (st != RECUR_OK) {
        if (t) abort();
        check_error(st, &e);
        return;
    }
    size_t rows = recur_table_rows(t);
    if (rows == 0 || recur_table_cols(t) != n) abort();
    for (int j = 0; j < n; j++) {
        if (!recur_table_col_name(t, j)) abort();
        for (size_t i = 0; i < rows; i++)
            if (!isfinite(recur_table_col(t, j)[i])) abort();
    }
    for (size_t i = 0; i < rows; i++) {
        double day = recur_table_day(t, i);
        if (isnan(day) != (recur_table_date_text(t, i) == NULL)) abort();
        if (i > 0 && !isnan(day) && !(day > recur_table_day(t, i - 1))) abort();
    }
    if (miss == RECUR_MISSING_ERROR && recur_table_n_missing(t) != 0) abort();
    check_pipeline(t, (recur_transform)miss);
    recur_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const one[] = {"close"};
    static const char *const two[] = {"Open", "Close"};
    if (size > (1u << 20)) return 0; /* long inputs add nothing but time */
    fuzz_to_file(data, size); /* check_read reads fuzz_path */
    for (int m = RECUR_MISSING_ERROR; m <= RECUR_MISSING_FFILL; m++) {
        check_read(one, 1, (recur_missing)m);
        check_read(two, 2, (recur_missing)m);
    }
    return 0;
}
