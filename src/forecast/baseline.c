/*
 * baseline.c -- the four benchmark forecasts (naive, seasonal naive, drift,
 * mean) with normal prediction intervals, and the inverse normal CDF they use.
 *
 * Point forecasts for a history y_1..y_T, step h (Hyndman & Athanasopoulos,
 * Forecasting: Principles and Practice, 3rd ed., section 5.2):
 *   naive   y_T
 *   snaive  y_{T+h-m(k+1)}, k = floor((h-1)/m)
 *   drift   y_T + h (y_T - y_1)/(T-1)
 *   mean    (y_1 + ... + y_T)/T
 * Intervals f +- z sigma_h (section 5.5), sigma from the method's one-step
 * residuals on the history, sigma^2 = sum e_t^2 / (T - K - M) with K the
 * parameters and M the residuals that do not exist:
 *   naive   e_t = y_t - y_{t-1}           K 0, M 1   sigma_h = sigma sqrt(h)
 *   snaive  e_t = y_t - y_{t-m}           K 0, M m   sigma_h = sigma sqrt(k+1)
 *   drift   e_t = y_t - y_{t-1} - b       K 1, M 1   sigma_h = sigma sqrt(h (1 + h/T))
 *   mean    e_t = y_t - mean              K 1, M 0   sigma_h = sigma sqrt(1 + 1/T)
 * (R's forecast package uses T-1 in drift's h/T and a t quantile for the
 * mean: its bands differ from these by a little on short series.)
 * Does not: transform (Box-Cox) or bootstrap the intervals.
 */
#include "core/core.h"
#include "forecast/forecast.h"

#include <math.h>
#include <stddef.h>

/* ====== Inverse normal CDF ======
 * P. J. Acklam's rational approximations (relative error 1.15e-9) on three
 * regions, then one Halley step on Phi(x) - p with erfc, which brings the
 * result to full double precision. */

double rc_norm_quantile(double p)
{
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    const double lo = 0.02425, hi = 1 - lo;
    double x, q, r;
    if (!(p > 0 && p < 1)) return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    if (p < lo) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= hi) {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    /* Halley: e = Phi(x) - p, u = e sqrt(2 pi) exp(x^2/2), x -= u / (1 + x u / 2). */
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * 2.5066282746310002 * exp(x * x / 2); /* sqrt(2 pi) */
    return x - u / (1 + x * u / 2);
}

/* ====== Baselines ====== */

const char *recur_baseline_name(recur_baseline b)
{
    switch (b) {
    case RECUR_BASE_NAIVE: return "naive";
    case RECUR_BASE_SNAIVE: return "snaive";
    case RECUR_BASE_DRIFT: return "drift";
    case RECUR_BASE_MEAN: return "mean";
    }
    return "?";
}

/* sigma of the method's residuals on y[0..n), NaN when there are none left
 * after the K parameters. */
static double residual_sigma(recur_baseline b, const double *y, size_t n, size_t m, double slope, double mean)
{
    double ss = 0;
    size_t from = b == RECUR_BASE_MEAN ? 0 : b == RECUR_BASE_SNAIVE ? m : 1;
    size_t K = b == RECUR_BASE_DRIFT || b == RECUR_BASE_MEAN;
    if (n <= from + K) return NAN;
    for (size_t t = from; t < n; t++) {
        double e = b == RECUR_BASE_MEAN    ? y[t] - mean
                   : b == RECUR_BASE_SNAIVE ? y[t] - y[t - m]
                   : b == RECUR_BASE_DRIFT  ? y[t] - y[t - 1] - slope
                                            : y[t] - y[t - 1];
        ss += e * e;
    }
    return sqrt(ss / (double)(n - from - K));
}

recur_status recur_baseline_forecast(recur_baseline b, const double *y, size_t n, int season, int H,
                                     const double *levels, int n_levels, double *out, double *lo, double *hi,
                                     recur_error *err)
{
    if (!y || !out || H < 1 || n_levels < 0 || (n_levels > 0 && !levels))
        return rc_error(err, RECUR_E_INVALID, "recur_baseline_forecast: values, output and H >= 1 are required");
    if ((unsigned)b > RECUR_BASE_MEAN) return rc_error(err, RECUR_E_INVALID, "recur_baseline_forecast: unknown baseline %d", (int)b);
    size_t m = season > 1 ? (size_t)season : 1;
    if (b == RECUR_BASE_SNAIVE && n < m)
        return rc_error(err, RECUR_E_DATA,
                        "seasonal naive needs a full season of history: %zu values, season %zu; lower --season",
                        n, m);
    if (n < (b == RECUR_BASE_DRIFT ? 2u : 1u))
        return rc_error(err, RECUR_E_DATA, "%s needs %s values of history, got %zu", recur_baseline_name(b),
                        b == RECUR_BASE_DRIFT ? "2" : "1", n);
    for (int l = 0; l < n_levels; l++)
        if (!(levels[l] > 0 && levels[l] < 100))
            return rc_error(err, RECUR_E_INVALID, "interval level %g is not between 0 and 100", levels[l]);
    double mean = 0, slope = 0;
    if (b == RECUR_BASE_MEAN) {
        for (size_t t = 0; t < n; t++) mean += y[t];
        mean /= (double)n;
    }
    if (b == RECUR_BASE_DRIFT) slope = (y[n - 1] - y[0]) / (double)(n - 1);
    for (int k = 0; k < H; k++) {
        size_t h = (size_t)k + 1;
        switch (b) {
        case RECUR_BASE_NAIVE: out[k] = y[n - 1]; break;
        case RECUR_BASE_SNAIVE: out[k] = y[n - m + (size_t)k % m]; break;
        case RECUR_BASE_DRIFT: out[k] = y[n - 1] + (double)h * slope; break;
        case RECUR_BASE_MEAN: out[k] = mean; break;
        }
    }
    if (n_levels == 0 || !lo || !hi) return RECUR_OK;
    double sigma = residual_sigma(b, y, n, m, slope, mean), T = (double)n;
    for (int k = 0; k < H; k++) {
        double h = (double)k + 1, f;
        switch (b) {
        case RECUR_BASE_NAIVE: f = sqrt(h); break;
        case RECUR_BASE_SNAIVE: f = sqrt(floor((h - 1) / (double)m) + 1); break;
        case RECUR_BASE_DRIFT: f = sqrt(h * (1 + h / T)); break;
        default: f = sqrt(1 + 1 / T); break;
        }
        for (int l = 0; l < n_levels; l++) {
            double z = rc_norm_quantile(0.5 + levels[l] / 200);
            lo[(size_t)l * (size_t)H + (size_t)k] = out[k] - z * sigma * f;
            hi[(size_t)l * (size_t)H + (size_t)k] = out[k] + z * sigma * f;
        }
    }
    return RECUR_OK;
}
