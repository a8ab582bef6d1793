/*
 * dataset.c -- the data pipeline: table -> transformed, scaled windows, and
 * model outputs back to data units.
 *
 * With R table rows, T timesteps, horizon H and test fraction f:
 *     n_train_rows = ceil((1 - f) R)          (the Keras tutorial's math.ceil)
 *     off          = 0 for levels, 1 for DIFF / LOGRETURN (row 0 has no change)
 *     z[r]         = v[r]                   (NONE)
 *                    v[r] - v[r-1]          (DIFF)
 *                    log(v[r] / v[r-1])     (LOGRETURN), for r >= off
 *     scaler       fitted on z[off .. n_train_rows-1] only
 *     train        first target rows t in [T + off, n_train_rows - H + 1)
 *     test         t in [n_train_rows, R - H + 1), history from the rows before t
 * Inverse for target row t, horizon step k (c = inverted scaled outputs):
 *     NONE: c[k];  DIFF: v[t-1] + sum_{i<=k} c[i];  LOGRETURN: v[t-1] exp(sum_{i<=k} c[i]).
 * Does not: own the table (callers keep it alive for window/invert) or shuffle.
 */
#include "core/core.h"
#include "data/data.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

recur_pipeline recur_pipeline_default(void)
{
    recur_pipeline p;
    memset(&p, 0, sizeof p);
    p.n_features = 1;
    memcpy(p.features[0], "Close", sizeof "Close");
    p.target = 0;
    p.timestep = 60;
    p.horizon = 1;
    p.test_fraction = 0.2;
    p.transform = RECUR_TRANSFORM_NONE;
    p.scaler_kind = RECUR_SCALER_MINMAX;
    p.scaler.kind = RECUR_SCALER_MINMAX;
    return p;
}

/* ceil((1 - f) rows), robust to the rounding of (1 - f) * rows: 0.8 * 2515 is
 * 2012.0000000000002 in doubles and must still give 2012. */
static size_t train_rows(size_t rows, double f)
{
    double x = (1.0 - f) * (double)rows;
    double n = ceil(x - 1e-9 - 1e-12 * x);
    if (n < 0) n = 0;
    return n > (double)rows ? rows : (size_t)n;
}

static int transform_offset(const recur_pipeline *p) { return p->transform == RECUR_TRANSFORM_NONE ? 0 : 1; }

static recur_status check_pipeline(const recur_table *t, const recur_pipeline *p, const char *fn, recur_error *err)
{
    if (!t || !p) return rc_error(err, RECUR_E_INVALID, "%s: table and pipeline are required", fn);
    if (p->n_features < 1 || p->n_features > RECUR_SCALER_MAX)
        return rc_error(err, RECUR_E_INVALID, "%s: %d features; the pipeline takes 1 to %d", fn, p->n_features,
                        RECUR_SCALER_MAX);
    if (recur_table_cols(t) != p->n_features)
        return rc_error(err, RECUR_E_INVALID, "%s: the table has %d columns but the pipeline has %d features", fn,
                        recur_table_cols(t), p->n_features);
    if (p->target < 0 || p->target >= p->n_features)
        return rc_error(err, RECUR_E_INVALID, "%s: target %d is outside the %d features", fn, p->target,
                        p->n_features);
    if (p->timestep < 1 || p->horizon < 1)
        return rc_error(err, RECUR_E_INVALID, "%s: timestep %d and horizon %d must be at least 1", fn, p->timestep,
                        p->horizon);
    if (p->transform != RECUR_TRANSFORM_NONE && p->transform != RECUR_TRANSFORM_DIFF &&
        p->transform != RECUR_TRANSFORM_LOGRETURN)
        return rc_error(err, RECUR_E_INVALID, "%s: unknown transform %d", fn, (int)p->transform);
    if (!(p->test_fraction >= 0 && p->test_fraction < 1))
        return rc_error(err, RECUR_E_INVALID, "%s: test fraction %g must be in [0, 1)", fn, p->test_fraction);
    return RECUR_OK;
}

/* z[r][j] for row r >= off of the table (see the top of the file). */
static recur_status transformed(const recur_table *t, const recur_pipeline *p, size_t r, int j, double *z,
                                recur_error *err)
{
    const double *v = recur_table_col(t, j);
    if (p->transform == RECUR_TRANSFORM_NONE) {
        *z = v[r];
    } else if (p->transform == RECUR_TRANSFORM_DIFF) {
        *z = v[r] - v[r - 1];
    } else {
        for (size_t q = r - 1; q <= r; q++)
            if (!(v[q] > 0)) {
                char name[RC_SHOW_CAP];
                rc_show(name, recur_table_col_name(t, j), strlen(recur_table_col_name(t, j)));
                return rc_error(err, RECUR_E_DATA,
                                "%s:%zu: column \"%s\": value %g is not positive, so it has no log return; "
                                "use --transform diff or none", rc_table_path(t), rc_table_line(t, q), name, v[q]);
            }
        *z = log(v[r] / v[r - 1]);
    }
    return RECUR_OK;
}

recur_status recur_dataset_make(const recur_table *t, recur_pipeline *p, recur_dataset *out, recur_error *err)
{
    recur_dataset d;
    recur_scaler sc; /* becomes p->scaler on success only */
    recur_status rc;
    double *z = NULL;
    memset(&d, 0, sizeof d);
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_dataset_make: out is NULL");
    memset(out, 0, sizeof *out);
    rc = check_pipeline(t, p, "recur_dataset_make", err);
    if (rc) return rc;

    const char *path = rc_table_path(t);
    size_t rows = recur_table_rows(t), F = (size_t)p->n_features, T = (size_t)p->timestep;
    size_t H = (size_t)p->horizon, off = (size_t)transform_offset(p);
    size_t ntr = train_rows(rows, p->test_fraction), need = T + H + 1;
    if (ntr < need)
        return rc_error(err, RECUR_E_DATA,
                        "%s: %zu rows give %zu training rows (test fraction %g), but timestep %zu + horizon %zu "
                        "needs at least %zu training rows; use a shorter --timestep", path, rows, ntr,
                        p->test_fraction, T, H, need);
    if (rows + 1 < ntr + H + 1)
        return rc_error(err, RECUR_E_DATA,
                        "%s: %zu rows leave no test row after %zu training rows (test fraction %g, horizon %zu); "
                        "use a larger --test-fraction", path, rows, ntr, p->test_fraction, H);

    d.rows = rows;
    d.n_train_rows = ntr;
    d.T = p->timestep;
    d.F = p->n_features;
    d.horizon = p->horizon;
    d.n_train = ntr - H + 1 - (T + off);
    d.n_test = rows - H + 1 - ntr;

    /* z: (rows, F), transformed; row 0 stays 0 under a transform (never read) */
    z = rc_calloc3(rows, F, sizeof *z);
    if (!z) goto nomem;
    for (size_t r = off; r < rows; r++)
        for (size_t j = 0; j < F; j++) {
            rc = transformed(t, p, r, (int)j, &z[r * F + j], err);
            if (rc) goto fail;
        }
    recur_error e2;
    rc = recur_scaler_fit(&sc, p->scaler_kind, z + off * F, ntr - off, p->n_features, &e2);
    if (rc) { /* the scaler's message knows neither the file nor what to do */
        const char *m = strncmp(e2.msg, "recur_scaler_fit: ", 18) == 0 ? e2.msg + 18 : e2.msg;
        rc = rc_error(err, rc, "%s: training rows: %s; look for wrong values in the file (like 1e308)", path, m);
        goto fail;
    }

    /* how far the test targets leave the training range (in z units) */
    size_t tg = (size_t)p->target;
    double lo = z[off * F + tg], hi = lo;
    for (size_t r = off; r < ntr; r++) {
        double v = z[r * F + tg];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    for (size_t r = ntr; r < rows; r++) {
        double v = z[r * F + tg];
        if (v - hi > d.test_above) d.test_above = v - hi;
        if (lo - v > d.test_below) d.test_below = lo - v;
    }

    for (size_t r = off; r < rows; r++)
        for (size_t j = 0; j < F; j++) {
            double v = recur_scaler_apply(&sc, (int)j, z[r * F + j]);
            if (!(fabs(v) <= FLT_MAX) && sizeof(recur_float) == sizeof(float)) {
                char name[RC_SHOW_CAP];
                rc_show(name, recur_table_col_name(t, (int)j), strlen(recur_table_col_name(t, (int)j)));
                rc = rc_error(err, RECUR_E_DATA,
                              "%s:%zu: column \"%s\": %g scales to %g, outside the float range (the training "
                              "rows span too narrow a range); look for a wrong value there", path,
                              rc_table_line(t, r), name, z[r * F + j], v);
                goto fail;
            }
            z[r * F + j] = v;
        }

    d.x_train = rc_calloc3(d.n_train, T * F, sizeof *d.x_train);
    d.y_train = rc_calloc3(d.n_train, H, sizeof *d.y_train);
    d.x_test = rc_calloc3(d.n_test, T * F, sizeof *d.x_test);
    d.y_test = rc_calloc3(d.n_test, H, sizeof *d.y_test);
    d.test_row = rc_calloc3(d.n_test, 1, sizeof *d.test_row);
    if (!d.x_train || !d.y_train || !d.x_test || !d.y_test || !d.test_row) goto nomem;
    rc = recur_window_make(z, rows, p->n_features, p->target, p->timestep, p->horizon, T + off, ntr - H + 1,
                           d.x_train, d.y_train, err);
    if (rc) goto fail;
    rc = recur_window_make(z, rows, p->n_features, p->target, p->timestep, p->horizon, ntr, rows - H + 1, d.x_test,
                           d.y_test, err);
    if (rc) goto fail;
    for (size_t k = 0; k < d.n_test; k++) d.test_row[k] = ntr + k;
    free(z);
    p->scaler = sc;
    *out = d;
    return RECUR_OK;
nomem:
    rc = rc_error(err, RECUR_E_NOMEM, "%s: out of memory cutting windows from %zu rows", path, rows);
fail:
    free(z);
    recur_dataset_free(&d);
    return rc;
}

void recur_dataset_free(recur_dataset *d)
{
    if (!d) return;
    free(d->x_train);
    free(d->y_train);
    free(d->x_test);
    free(d->y_test);
    free(d->test_row);
    memset(d, 0, sizeof *d);
}

recur_status recur_dataset_window(const recur_table *t, const recur_pipeline *p, size_t row, recur_float *x,
                                  recur_error *err)
{
    recur_status rc = check_pipeline(t, p, "recur_dataset_window", err);
    if (rc) return rc;
    if (!x) return rc_error(err, RECUR_E_INVALID, "recur_dataset_window: x is NULL");
    if (p->scaler.n != p->n_features)
        return rc_error(err, RECUR_E_STATE, "recur_dataset_window: the pipeline's scaler is not fitted "
                        "(%d features, scaler has %d); run recur_dataset_make first", p->n_features, p->scaler.n);
    size_t rows = recur_table_rows(t), T = (size_t)p->timestep, F = (size_t)p->n_features;
    size_t first = T + (size_t)transform_offset(p);
    if (row < first || row > rows)
        return rc_error(err, RECUR_E_INVALID,
                        "%s: a window for row %zu needs %zu earlier rows, so row must be in %zu..%zu",
                        rc_table_path(t), row, first, first, rows);
    for (size_t i = 0; i < T; i++)
        for (size_t j = 0; j < F; j++) {
            double z = 0;
            rc = transformed(t, p, row - T + i, (int)j, &z, err);
            if (rc) return rc;
            z = recur_scaler_apply(&p->scaler, (int)j, z);
            if (!(fabs(z) <= FLT_MAX) && sizeof(recur_float) == sizeof(float))
                return rc_error(err, RECUR_E_DATA, "%s:%zu: column %zu scales to %g, too large for a float",
                                rc_table_path(t), rc_table_line(t, row - T + i), j, z);
            x[i * F + j] = (recur_float)z;
        }
    return RECUR_OK;
}

void recur_pipeline_invert(const recur_pipeline *p, double level, const recur_float *pred, double *out)
{
    if (!p || !pred || !out || p->horizon < 1) return;
    double acc = 0;
    for (int k = 0; k < p->horizon; k++) {
        double c = recur_scaler_invert(&p->scaler, p->target, (double)pred[k]);
        acc += c;
        if (p->transform == RECUR_TRANSFORM_NONE) out[k] = c;
        else if (p->transform == RECUR_TRANSFORM_DIFF) out[k] = level + acc;
        else out[k] = level * exp(acc);
    }
}

void recur_dataset_invert(const recur_table *t, const recur_pipeline *p, size_t row, const recur_float *pred,
                          double *out)
{
    if (!p) return;
    double level = NAN;
    if (p->transform != RECUR_TRANSFORM_NONE) {
        const double *v = recur_table_col(t, p->target);
        if (v && row >= 1 && row <= recur_table_rows(t)) level = v[row - 1];
    }
    recur_pipeline_invert(p, level, pred, out);
}

recur_status recur_pipeline_apply_row(const recur_pipeline *p, const double *v, const double *prev, recur_float *x,
                                      recur_error *err)
{
    if (!p || !v || !x) return rc_error(err, RECUR_E_INVALID, "recur_pipeline_apply_row: NULL argument");
    if (p->scaler.n != p->n_features || p->n_features < 1)
        return rc_error(err, RECUR_E_STATE, "recur_pipeline_apply_row: the pipeline's scaler is not fitted");
    if (p->transform != RECUR_TRANSFORM_NONE && !prev)
        return rc_error(err, RECUR_E_INVALID, "recur_pipeline_apply_row: the %s transform needs the row before",
                        p->transform == RECUR_TRANSFORM_DIFF ? "diff" : "logreturn");
    for (int j = 0; j < p->n_features; j++) {
        double z;
        if (!isfinite(v[j])) return rc_error(err, RECUR_E_DATA, "%s: value %g is not a finite number", p->features[j], v[j]);
        if (p->transform == RECUR_TRANSFORM_NONE) z = v[j];
        else if (p->transform == RECUR_TRANSFORM_DIFF) z = v[j] - prev[j];
        else if (!(v[j] > 0) || !(prev[j] > 0))
            return rc_error(err, RECUR_E_DATA, "%s: value %g is not positive, so it has no log return", p->features[j],
                            v[j] > 0 ? prev[j] : v[j]);
        else z = log(v[j] / prev[j]);
        z = recur_scaler_apply(&p->scaler, j, z);
        if (!(fabs(z) <= FLT_MAX) && sizeof(recur_float) == sizeof(float))
            return rc_error(err, RECUR_E_DATA, "%s: value %g scales to %g, too large for a float", p->features[j], v[j], z);
        x[j] = (recur_float)z;
    }
    return RECUR_OK;
}
