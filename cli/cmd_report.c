/*
 * cmd_report.c -- predictions over table rows, scores against the persistence
 * baseline, and the outputs built on them: the text/JSON report, the
 * out-of-range warning, the predictions CSV and the plots.
 *
 * Scores are in data units (after recur_dataset_invert). With horizon H > 1 the
 * headline scores pool every step: the model's value for row t+k (k = 0..H-1,
 * from the window that ends at t-1) against the actual value, and the
 * persistence baseline predicts the last known value, row t-1, for every step.
 * Per-step scores are printed beside them.
 */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ====== Predictions ====== */

void cli_preds_free(cli_preds *pr)
{
    free(pr->row);
    free(pr->pred);
    free(pr->truth);
    free(pr->naive);
    memset(pr, 0, sizeof *pr);
}

int cli_rows(const cli_session *s, int all, size_t **rows, size_t *n)
{
    const recur_pipeline *p = &s->pipe;
    size_t R = recur_table_rows(s->table);
    size_t first = all ? (size_t)p->timestep + (p->transform != RECUR_TRANSFORM_NONE) : 0;
    size_t end = all ? (R + 1 >= (size_t)p->horizon + first ? R + 1 - (size_t)p->horizon : first) : 0;
    size_t count = all ? (end > first ? end - first : 0) : s->ds.n_test;
    *rows = malloc((count ? count : 1) * sizeof **rows);
    if (!*rows) return cli_errorf("out of memory (%zu rows)", count);
    for (size_t i = 0; i < count; i++) (*rows)[i] = all ? first + i : s->ds.test_row[i];
    *n = count;
    return 0;
}

#define PREDICT_CHUNK 512 /* windows per predict call: bounds the memory for --all */

int cli_predict_rows(recur_model *m, const recur_table *t, const recur_pipeline *p, const size_t *rows, size_t n,
                     cli_preds *out)
{
    recur_error err;
    int F = p->n_features, T = p->timestep, H = p->horizon;
    int mf = recur_model_n_features(m);
    int Tm = mf == F ? T : 1; /* a flattened-window model reads (n, 1, T*F) */
    memset(out, 0, sizeof *out);
    if (mf != F && (long)mf != (long)T * F)
        return cli_errorf("the model reads %d features per step but its pipeline has %d columns", mf, F);
    if (recur_model_n_outputs(m) != H)
        return cli_errorf("the model outputs %d values per window but its pipeline's horizon is %d",
                          recur_model_n_outputs(m), H);
    if (recur_model_returns_sequences(m) && Tm != 1)
        return cli_errorf("the model outputs a sequence; recur predicts with models that output one step");

    size_t chunk = n < PREDICT_CHUNK ? (n ? n : 1) : PREDICT_CHUNK;
    recur_float *x = calloc(chunk * (size_t)T * (size_t)F, sizeof *x);
    recur_float *y = calloc(chunk * (size_t)H, sizeof *y);
    out->row = malloc((n ? n : 1) * sizeof *out->row);
    out->pred = malloc((n ? n : 1) * (size_t)H * sizeof *out->pred);
    out->truth = malloc((n ? n : 1) * (size_t)H * sizeof *out->truth);
    out->naive = malloc((n ? n : 1) * sizeof *out->naive);
    out->n = n;
    out->h = H;
    int rc = 0;
    if (!x || !y || !out->row || !out->pred || !out->truth || !out->naive) {
        rc = cli_errorf("out of memory for %zu prediction windows", n);
        goto done;
    }
    const double *col = recur_table_col(t, p->target);
    for (size_t i = 0; i < n; i += chunk) {
        size_t cn = n - i < chunk ? n - i : chunk;
        for (size_t j = 0; j < cn; j++)
            if (recur_dataset_window(t, p, rows[i + j], x + j * (size_t)T * (size_t)F, &err) != RECUR_OK) {
                rc = cli_fail(&err);
                goto done;
            }
        if (recur_model_predict(m, x, cn, Tm, y, &err) != RECUR_OK) {
            rc = cli_fail(&err);
            goto done;
        }
        for (size_t j = 0; j < cn; j++) {
            size_t r = rows[i + j], k = i + j;
            recur_dataset_invert(t, p, r, y + j * (size_t)H, out->pred + k * (size_t)H);
            out->row[k] = r;
            /* persistence: the library's naive baseline from the rows before r */
            if (recur_baseline_forecast(RECUR_BASE_NAIVE, col, r, 1, 1, NULL, 0, &out->naive[k], NULL, NULL, &err)) {
                rc = cli_fail(&err);
                goto done;
            }
            for (int s = 0; s < H; s++) out->truth[k * (size_t)H + (size_t)s] = col[r + (size_t)s];
        }
    }
done:
    free(x);
    free(y);
    if (rc) cli_preds_free(out);
    return rc;
}

/* ====== Scores ====== */

/* The library's scores of the model (naive 0) or of persistence (naive 1)
 * over every sample: pooled, and per step when steps is not NULL. A
 * non-finite forecast (a model that diverged) leaves them NaN. */
static void score(const cli_preds *pr, int naive, cli_score *pooled, cli_score *steps)
{
    const cli_score none = {NAN, NAN, NAN};
    *pooled = none;
    for (int s = 0; steps && s < pr->h; s++) steps[s] = none;
    recur_scorer *sc = NULL;
    double *f = malloc((size_t)pr->h * sizeof *f);
    int ok = f && recur_scorer_new(pr->h, &sc, NULL) == RECUR_OK && recur_scorer_series(sc, NAN, NULL) == RECUR_OK;
    for (size_t i = 0; ok && i < pr->n; i++) {
        const double *truth = pr->truth + i * (size_t)pr->h, *fi = pr->pred + i * (size_t)pr->h;
        if (naive) {
            for (int s = 0; s < pr->h; s++) f[s] = pr->naive[i];
            fi = f;
        }
        ok = recur_scorer_add(sc, 0, truth, fi, NULL, NULL, pr->h, NULL) == RECUR_OK;
    }
    if (ok && pr->n > 0) {
        recur_scores r = recur_scorer_result(sc, -1);
        *pooled = (cli_score){r.mae, r.rmse, r.mape};
        for (int s = 0; steps && s < pr->h; s++) {
            r = recur_scorer_result(sc, s);
            steps[s] = (cli_score){r.mae, r.rmse, r.mape};
        }
    }
    recur_scorer_free(sc);
    free(f);
}

void cli_report_make(const cli_preds *pr, const recur_dataset *ds, cli_report *r)
{
    memset(r, 0, sizeof *r);
    r->n_test = pr->n;
    r->horizon = pr->h;
    if (pr->h > 1) {
        r->step = calloc((size_t)pr->h, sizeof *r->step);
        r->naive_step = calloc((size_t)pr->h, sizeof *r->naive_step);
        if (!r->step || !r->naive_step) {
            free(r->step);
            free(r->naive_step);
            r->step = r->naive_step = NULL;
        }
    }
    score(pr, 0, &r->model, r->step);
    score(pr, 1, &r->naive, r->naive_step);
    r->beats = r->model.mae < r->naive.mae;
    r->gain_pct = r->naive.mae > 0 ? 100.0 * (r->naive.mae - r->model.mae) / r->naive.mae : NAN;
    r->above = ds ? ds->test_above : 0.0;
    r->below = ds ? ds->test_below : 0.0;
}

void cli_report_free(cli_report *r)
{
    free(r->step);
    free(r->naive_step);
    r->step = r->naive_step = NULL;
}

static void pct_text(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "n/a");
    else
        snprintf(buf, cap, "%.2f%%", v);
}

void cli_report_text(FILE *f, const cli_report *r, const cli_session *s)
{
    const recur_pipeline *p = &s->pipe;
    char a[64], b[64], pa[32], pb[32];
    if (r->n_test > 0) {
        cli_row_label(s->table, s->ds.test_row[0], a, sizeof a);
        cli_row_label(s->table, s->ds.test_row[r->n_test - 1], b, sizeof b);
    } else {
        snprintf(a, sizeof a, "-");
        snprintf(b, sizeof b, "-");
    }
    fprintf(f, "Test: %zu windows, %s .. %s, target %s%s\n", r->n_test, a, b, p->features[p->target],
            r->horizon > 1 ? ", all horizon steps pooled" : "");
    fprintf(f, "          %12s  %12s\n", "model", "persistence");
    fprintf(f, "MAE       %12.4f  %12.4f\n", r->model.mae, r->naive.mae);
    fprintf(f, "RMSE      %12.4f  %12.4f\n", r->model.rmse, r->naive.rmse);
    pct_text(pa, sizeof pa, r->model.mape);
    pct_text(pb, sizeof pb, r->naive.mape);
    fprintf(f, "MAPE      %12s  %12s\n", pa, pb);
    if (r->step) {
        fprintf(f, "MAE by step (persistence: the value before the window's first target)\n");
        for (int k = 0; k < r->horizon; k++)
            fprintf(f, "  t+%-5d %12.4f  %12.4f\n", k + 1, r->step[k].mae, r->naive_step[k].mae);
    }
    if (r->beats) {
        fprintf(f, "The model beats the naive baseline by %.1f%% (MAE %.4f vs %.4f).\n", r->gain_pct, r->model.mae,
                r->naive.mae);
    } else {
        const char *hint = p->transform == RECUR_TRANSFORM_NONE
                               ? "try --transform diff (or logreturn) so the model predicts changes rather than levels"
                               : "try more --epochs, other --layers, --loss mae, or a longer --timestep";
        if (r->naive.mae > 0 && isfinite(r->model.mae))
            fprintf(f,
                    "The model does NOT beat the naive baseline (MAE %.4f vs %.4f): repeating the previous value is "
                    "%.1f%% more accurate; %s.\n",
                    r->model.mae, r->naive.mae, 100.0 * (r->model.mae - r->naive.mae) / r->model.mae, hint);
        else
            fprintf(f, "The model does NOT beat the naive baseline (MAE %.4f vs %.4f): %s.\n", r->model.mae,
                    r->naive.mae, hint);
    }
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int cli_report_json(FILE *f, const cli_report *r, const cli_session *s)
{
    const recur_pipeline *p = &s->pipe;
    json_t *o = json_object();
    char a[64] = "", b[64] = "";
    if (!o) return cli_errorf("out of memory");
    if (r->n_test > 0) {
        cli_row_label(s->table, s->ds.test_row[0], a, sizeof a);
        cli_row_label(s->table, s->ds.test_row[r->n_test - 1], b, sizeof b);
    }
    json_object_set_new(o, "n_test", json_integer((json_int_t)r->n_test));
    json_object_set_new(o, "horizon", json_integer(r->horizon));
    json_object_set_new(o, "target", json_string(p->features[p->target]));
    json_object_set_new(o, "first_test", json_string(a));
    json_object_set_new(o, "last_test", json_string(b));
    json_object_set_new(o, "mae", num(r->model.mae));
    json_object_set_new(o, "rmse", num(r->model.rmse));
    json_object_set_new(o, "mape", num(r->model.mape));
    json_object_set_new(o, "naive_mae", num(r->naive.mae));
    json_object_set_new(o, "naive_rmse", num(r->naive.rmse));
    json_object_set_new(o, "naive_mape", num(r->naive.mape));
    json_object_set_new(o, "beats_baseline", json_boolean(r->beats));
    json_object_set_new(o, "improvement_pct", num(r->gain_pct));
    json_object_set_new(o, "out_of_range_above", num(r->above));
    json_object_set_new(o, "out_of_range_below", num(r->below));
    if (r->step) {
        json_t *steps = json_array();
        for (int k = 0; steps && k < r->horizon; k++) {
            json_t *e = json_object();
            json_object_set_new(e, "mae", num(r->step[k].mae));
            json_object_set_new(e, "rmse", num(r->step[k].rmse));
            json_object_set_new(e, "naive_mae", num(r->naive_step[k].mae));
            json_object_set_new(e, "naive_rmse", num(r->naive_step[k].rmse));
            json_array_append_new(steps, e);
        }
        json_object_set_new(o, "steps", steps);
    }
    char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text) return cli_errorf("out of memory");
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}

void cli_warn_range(const cli_session *s)
{
    const recur_pipeline *p = &s->pipe;
    double above = s->ds.test_above, below = s->ds.test_below, range = NAN;
    char ra[64] = "", rb[64] = "";
    if (!(above > 0) && !(below > 0)) return;
    int j = p->target;
    if (p->scaler.kind == RECUR_SCALER_MINMAX && j < p->scaler.n) {
        range = p->scaler.b[j] - p->scaler.a[j];
    } else if (p->transform == RECUR_TRANSFORM_NONE) { /* standard scaler: the levels' own span */
        const double *col = recur_table_col(s->table, j);
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < s->ds.n_train_rows; i++) {
            if (col[i] < lo) lo = col[i];
            if (col[i] > hi) hi = col[i];
        }
        range = hi - lo;
    }
    if (range > 0) {
        snprintf(ra, sizeof ra, " (%.0f%% of the training range)", 100.0 * above / range);
        snprintf(rb, sizeof rb, " (%.0f%% of the training range)", 100.0 * below / range);
    }
    char up[128] = "", down[128] = "";
    if (above > 0) snprintf(up, sizeof up, "rise up to %.4f above the training maximum%s", above, ra);
    if (below > 0) snprintf(down, sizeof down, "%sfall up to %.4f below the training minimum%s", above > 0 ? " and " : "",
                            below, rb);
    cli_warn("test %s of %s %s%s, outside what the scaler saw in training; %s",
             p->transform == RECUR_TRANSFORM_NONE ? "values" : p->transform == RECUR_TRANSFORM_DIFF ? "changes"
                                                                                               : "log returns",
             p->features[j], up, down,
             p->transform == RECUR_TRANSFORM_NONE
                 ? "a model of scaled levels rarely predicts beyond that range: try --transform diff or logreturn"
                 : "predictions there are extrapolations");
}

/* ====== Labels and CSV ====== */

void cli_row_label(const recur_table *t, size_t row, char *buf, size_t cap)
{
    const char *d = recur_table_rows(t) > row ? recur_table_date_text(t, row) : NULL;
    if (d)
        snprintf(buf, cap, "%s", d);
    else
        snprintf(buf, cap, "%zu", row);
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cli_write_preds_csv(const char *opt, const char *path, const recur_table *t, const cli_preds *pr)
{
    cli_out o;
    int rc = cli_out_open(&o, opt, path);
    if (rc) return rc;
    fputs("date,true,predicted", o.f);
    for (int k = 1; k < pr->h; k++) fprintf(o.f, ",predicted+%d", k);
    fputc('\n', o.f);
    for (size_t i = 0; i < pr->n; i++) {
        char label[128];
        cli_row_label(t, pr->row[i], label, sizeof label);
        cli_csv_field(o.f, label);
        fprintf(o.f, ",%.10g", pr->truth[i * (size_t)pr->h]);
        for (int k = 0; k < pr->h; k++) fprintf(o.f, ",%.10g", pr->pred[i * (size_t)pr->h + (size_t)k]);
        fputc('\n', o.f);
    }
    return cli_out_close(&o, 1);
}

/* ====== Plots ====== */

/* Whole number written as digits only; -1 otherwise. */
static long digits_value(const char *s)
{
    long v = 0;
    if (!s || !*s || strlen(s) > 12) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

int cli_index_dates(const recur_table *t)
{
    size_t n = recur_table_rows(t);
    if (n == 0) return 0;
    long a = digits_value(recur_table_date_text(t, 0)), b = digits_value(recur_table_date_text(t, n - 1));
    return a >= 0 && b >= 0 && recur_table_day(t, 0) == (double)a && recur_table_day(t, n - 1) == (double)b;
}

/* x values: days when every row has a date and they never go back, else row
 * numbers; a day-number column (1, 2, 3, ...) is used as plain numbers. */
static int x_axis(const recur_table *t, double *x, size_t n)
{
    int dates = n > 0 && !cli_index_dates(t);
    if (n > 0 && cli_index_dates(t)) {
        for (size_t i = 0; i < n; i++) x[i] = recur_table_day(t, i);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] = recur_table_day(t, i);
        if (!isfinite(x[i]) || (i > 0 && x[i] < x[i - 1])) dates = 0;
    }
    if (!dates)
        for (size_t i = 0; i < n; i++) x[i] = (double)i;
    return dates;
}

int cli_plot_preds(const char *path, const cli_session *s, const cli_preds *pr, const char *title)
{
    const recur_pipeline *p = &s->pipe;
    size_t n = recur_table_rows(s->table);
    double *x = malloc((n ? n : 1) * sizeof *x), *yp = malloc((n ? n : 1) * sizeof *yp);
    int rc = 0;
    if (!x || !yp) {
        free(x);
        free(yp);
        return cli_errorf("out of memory for the plot (%zu rows)", n);
    }
    int dates = x_axis(s->table, x, n);
    for (size_t i = 0; i < n; i++) yp[i] = NAN;
    for (size_t i = 0; i < pr->n; i++) yp[pr->row[i]] = pr->pred[i * (size_t)pr->h];
    char lt[96], lp[96];
    snprintf(lt, sizeof lt, "true %s", p->features[p->target]);
    snprintf(lp, sizeof lp, "predicted%s", pr->h > 1 ? " (first step)" : "");
    recur_plot_series ser[2] = {{lt, recur_table_col(s->table, p->target)}, {lp, yp}};
    rc = cli_plot(path, title, dates ? "date" : "row", p->features[p->target], x, dates, n, ser, 2,
                  s->ds.n_train_rows < n ? x[s->ds.n_train_rows] : NAN);
    free(x);
    free(yp);
    return rc;
}

int cli_plot(const char *path, const char *title, const char *xlabel, const char *ylabel, const double *x, int dates,
             size_t n, const recur_plot_series *ser, int n_series, double boundary_x)
{
    recur_error err;
    recur_plot_opts o = {.title = title, .xlabel = xlabel, .ylabel = ylabel, .x = x, .x_is_date = dates, .n = n,
                         .series = ser, .n_series = n_series, .boundary_x = boundary_x,
                         .boundary_label = isnan(boundary_x) ? NULL : "train | test"};
    return recur_plot_lines(path, &o, &err) != RECUR_OK ? cli_fail(&err) : 0;
}

int cli_plot_loss(const char *path, const double *loss, const double *val_loss, int epochs_run, int first,
                  const char *title)
{
    int n = epochs_run - first, has_val = 0;
    if (n < 2) {
        cli_warn("%s: not written: a loss curve needs at least 2 epochs", path);
        return 0;
    }
    double *x = malloc((size_t)n * sizeof *x);
    if (!x) return cli_errorf("out of memory");
    for (int i = 0; i < n; i++) {
        x[i] = first + i + 1;
        if (isfinite(val_loss[first + i])) has_val = 1;
    }
    recur_plot_series ser[2] = {{"loss", loss + first}, {"val_loss", val_loss + first}};
    int rc = cli_plot(path, title, "epoch", "loss (scaled units)", x, 0, (size_t)n, ser, has_val ? 2 : 1, NAN);
    free(x);
    return rc;
}
