/*
 * scale.c -- per-feature scalers: fit on training rows, apply, invert.
 *
 * MinMax matches sklearn's MinMaxScaler(feature_range=(0, 1)):
 *     x' = (x - min) / (max - min),  x = min + x' (max - min)
 * Standard matches sklearn's StandardScaler (population std, ddof = 0):
 *     x' = (x - mean) / std,         x = mean + x' std
 * A constant column (max == min, or std == 0) gets a scale of 1, as in sklearn:
 * x' = x - c, so the constant itself scales to 0 and 0 inverts back to it, no
 * division by zero, and invert(apply(x)) == x still holds for every x.
 * Does not: clip test values into [0, 1]; values outside the training range
 * map outside it, as in sklearn.
 */
#include "core/core.h"

#include <math.h>

recur_status recur_scaler_fit(recur_scaler *s, recur_scaler_kind kind, const double *data, size_t rows, int n,
                              recur_error *err)
{
    if (!s || !data) return rc_error(err, RECUR_E_INVALID, "recur_scaler_fit: scaler and data are required");
    if (kind != RECUR_SCALER_MINMAX && kind != RECUR_SCALER_STANDARD)
        return rc_error(err, RECUR_E_INVALID, "recur_scaler_fit: unknown scaler kind %d", (int)kind);
    if (n < 1 || n > RECUR_SCALER_MAX)
        return rc_error(err, RECUR_E_INVALID, "recur_scaler_fit: %d features; a scaler takes 1 to %d", n,
                        RECUR_SCALER_MAX);
    if (rows < 1) return rc_error(err, RECUR_E_DATA, "recur_scaler_fit: no rows to fit on");
    for (size_t i = 0; i < rows * (size_t)n; i++)
        if (!isfinite(data[i]))
            return rc_error(err, RECUR_E_DATA, "recur_scaler_fit: row %zu, feature %d is not finite (%g)",
                            i / (size_t)n, (int)(i % (size_t)n), data[i]);
    recur_scaler out = {0};
    out.kind = kind;
    out.n = n;
    for (int j = 0; j < n; j++) {
        if (kind == RECUR_SCALER_MINMAX) {
            double lo = data[j], hi = data[j];
            for (size_t i = 1; i < rows; i++) {
                double v = data[i * (size_t)n + (size_t)j];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            if (!isfinite(hi - lo))
                return rc_error(err, RECUR_E_DATA, "recur_scaler_fit: feature %d spans %g to %g, too wide to scale",
                                j, lo, hi);
            out.a[j] = lo;
            out.b[j] = hi;
        } else { /* two passes: the mean, then the squared deviations from it */
            double sum = 0, ss = 0;
            for (size_t i = 0; i < rows; i++) sum += data[i * (size_t)n + (size_t)j];
            double mean = sum / (double)rows;
            for (size_t i = 0; i < rows; i++) {
                double d = data[i * (size_t)n + (size_t)j] - mean;
                ss += d * d;
            }
            if (!isfinite(mean) || !isfinite(ss))
                return rc_error(err, RECUR_E_DATA, "recur_scaler_fit: feature %d is too large to scale (mean %g)", j,
                                mean);
            out.a[j] = mean;
            out.b[j] = sqrt(ss / (double)rows);
        }
    }
    *s = out;
    return RECUR_OK;
}

double recur_scaler_apply(const recur_scaler *s, int j, double v)
{
    if (!s || j < 0 || j >= s->n) return NAN;
    if (s->kind == RECUR_SCALER_MINMAX) {
        double range = s->b[j] - s->a[j];
        return range > 0 ? (v - s->a[j]) / range : v - s->a[j];
    }
    return s->b[j] > 0 ? (v - s->a[j]) / s->b[j] : v - s->a[j];
}

double recur_scaler_invert(const recur_scaler *s, int j, double v)
{
    if (!s || j < 0 || j >= s->n) return NAN;
    if (s->kind == RECUR_SCALER_MINMAX) {
        double range = s->b[j] - s->a[j];
        return range > 0 ? s->a[j] + v * range : s->a[j] + v;
    }
    return s->b[j] > 0 ? s->a[j] + v * s->b[j] : s->a[j] + v;
}
