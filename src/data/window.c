/*
 * window.c -- sliding windows over a series, the (x, y) pairs a sequence
 * model trains on.
 *
 * series is (rows, F) row-major. For each first target row t in [first, last):
 *     x[k] = series[t-T .. t-1][0..F)      (T, F)
 *     y[k] = series[t .. t+horizon-1][target]  (horizon)
 * with k = t - first, so x is (last-first, T, F) and y (last-first, horizon).
 * Does not: scale, transform or shuffle; it only copies (double -> recur_float).
 */
#include "core/core.h"

#include <float.h>
#include <math.h>

/* Converting a double outside the float range to float is undefined behaviour. */
static int fits(double v) { return isnan(v) || fabs(v) <= (double)FLT_MAX || sizeof(recur_float) > sizeof(float); }

static recur_status too_large(recur_error *err, size_t row, size_t col, double v)
{
    return rc_error(err, RECUR_E_DATA, "recur_window_make: row %zu, column %zu: %g is too large for a float", row,
                    col, v);
}

recur_status recur_window_make(const double *series, size_t rows, int F, int target, int T, int horizon,
                               size_t first, size_t last, recur_float *x, recur_float *y, recur_error *err)
{
    if (!series || (!x && !y))
        return rc_error(err, RECUR_E_INVALID, "recur_window_make: series and x or y are required");
    if (F < 1 || target < 0 || target >= F)
        return rc_error(err, RECUR_E_INVALID, "recur_window_make: target column %d is outside 0..%d", target, F - 1);
    if (T < 1 || horizon < 1)
        return rc_error(err, RECUR_E_INVALID, "recur_window_make: timestep %d and horizon %d must be at least 1", T,
                        horizon);
    if (first > last)
        return rc_error(err, RECUR_E_INVALID, "recur_window_make: first row %zu is after last row %zu", first, last);
    if (first < (size_t)T)
        return rc_error(err, RECUR_E_INVALID,
                        "recur_window_make: first target row %zu has fewer than timestep %d rows before it", first,
                        T);
    if (last > first && (last - 1 > rows || (size_t)horizon > rows - (last - 1)))
        return rc_error(err, RECUR_E_INVALID,
                        "recur_window_make: targets up to row %zu + horizon %d run past the %zu rows", last - 1,
                        horizon, rows);
    size_t f = (size_t)F;
    for (size_t t = first; t < last; t++) {
        size_t k = t - first;
        if (x) {
            const double *src = series + (t - (size_t)T) * f;
            recur_float *dst = x + k * (size_t)T * f;
            for (size_t i = 0; i < (size_t)T * f; i++) {
                if (!fits(src[i])) return too_large(err, t - (size_t)T + i / f, i % f, src[i]);
                dst[i] = (recur_float)src[i];
            }
        }
        for (size_t h = 0; y && h < (size_t)horizon; h++) {
            double v = series[(t + h) * f + (size_t)target];
            if (!fits(v)) return too_large(err, t + h, (size_t)target, v);
            y[k * (size_t)horizon + h] = (recur_float)v;
        }
    }
    return RECUR_OK;
}
