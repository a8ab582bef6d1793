/*
 * score.c -- forecast accuracy: MAE, RMSE, MAPE, sMAPE, MASE and interval
 * coverage, pooled and per step, over many series.
 *
 * For actuals y and forecasts f (n of them):
 *   MAE   = sum |y-f| / n                RMSE = sqrt(sum (y-f)^2 / n)
 *   MAPE  = 100/n' sum |y-f|/|y|         over the n' actuals that are not 0
 *   sMAPE = 200/n sum |y-f|/(|y|+|f|)    a 0/0 term counts 0 (M4)
 *   MASE  = MAE / scale, scale = mean |x_t - x_{t-m}| over the series'
 *           training values x (Hyndman & Koehler 2006; M4)
 * Across series, sMAPE and MASE are the mean of the per-series values, as in
 * the M4 competition; MAE, RMSE, MAPE and coverage are pooled over every value.
 * Sums are kept per (series, step) so that both aggregates, and those of each
 * step, come out of one pass.
 */
#include "core/core.h"
#include "forecast/forecast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sums over the forecasts of one series at one step (or all steps). */
typedef struct {
    double n, abs, sq, ape, n_ape, sape, cov, n_cov;
} sums;

struct recur_scorer {
    int H;
    size_t ns, cap;
    sums *c;       /* (ns, H+1): column H holds every step */
    double *scale; /* (ns) */
};

double recur_mase_scale(const double *train, size_t n, int season)
{
    size_t m = season > 1 && (size_t)season < n ? (size_t)season : 1;
    if (!train || n <= m) return NAN;
    double s = 0;
    for (size_t t = m; t < n; t++) s += fabs(train[t] - train[t - m]);
    return s / (double)(n - m);
}

recur_status recur_scorer_new(int H, recur_scorer **out, recur_error *err)
{
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_scorer_new: out is NULL");
    *out = NULL;
    if (H < 1) return rc_error(err, RECUR_E_INVALID, "recur_scorer_new: horizon %d is not positive", H);
    if (!(*out = calloc(1, sizeof **out))) return rc_error(err, RECUR_E_NOMEM, "recur_scorer_new: out of memory");
    (*out)->H = H;
    return RECUR_OK;
}

void recur_scorer_free(recur_scorer *s)
{
    if (!s) return;
    free(s->c);
    free(s->scale);
    free(s);
}

recur_status recur_scorer_series(recur_scorer *s, double scale, recur_error *err)
{
    if (!s) return rc_error(err, RECUR_E_INVALID, "recur_scorer_series: scorer is NULL");
    if (s->ns == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 16, w = (size_t)s->H + 1;
        sums *q = realloc(s->c, c * w * sizeof *q);
        if (!q) return rc_error(err, RECUR_E_NOMEM, "scores: out of memory for %zu series", c);
        s->c = q;
        double *sc = realloc(s->scale, c * sizeof *sc);
        if (!sc) return rc_error(err, RECUR_E_NOMEM, "scores: out of memory for %zu series", c);
        s->scale = sc;
        s->cap = c;
    }
    memset(s->c + s->ns * ((size_t)s->H + 1), 0, ((size_t)s->H + 1) * sizeof *s->c);
    s->scale[s->ns++] = scale;
    return RECUR_OK;
}

static void add_one(sums *a, double y, double f, const double *lo, const double *hi)
{
    double e = fabs(y - f), d = fabs(y) + fabs(f);
    a->n += 1;
    a->abs += e;
    a->sq += e * e;
    if (y != 0) a->ape += e / fabs(y), a->n_ape += 1;
    a->sape += d > 0 ? e / d : 0;
    if (lo && hi && !isnan(*lo) && !isnan(*hi)) a->cov += *lo <= y && y <= *hi, a->n_cov += 1;
}

recur_status recur_scorer_add(recur_scorer *s, size_t series, const double *y, const double *f, const double *lo,
                              const double *hi, int n, recur_error *err)
{
    if (!s || !y || !f || n < 0 || n > s->H)
        return rc_error(err, RECUR_E_INVALID, "recur_scorer_add: values and 0 <= n <= H are required");
    if (series >= s->ns)
        return rc_error(err, RECUR_E_STATE, "recur_scorer_add: series %zu was not added (recur_scorer_series)", series);
    for (int k = 0; k < n; k++)
        if (!isfinite(y[k]) || !isfinite(f[k]))
            return rc_error(err, RECUR_E_DATA, "step %d: %s is not a finite number", k + 1,
                            isfinite(y[k]) ? "the forecast" : "the actual value");
    sums *row = s->c + series * ((size_t)s->H + 1);
    for (int k = 0; k < n; k++) {
        add_one(&row[k], y[k], f[k], lo ? lo + k : NULL, hi ? hi + k : NULL);
        add_one(&row[s->H], y[k], f[k], lo ? lo + k : NULL, hi ? hi + k : NULL);
    }
    return RECUR_OK;
}

recur_scores recur_scorer_result(const recur_scorer *s, int step)
{
    recur_scores r = {0, NAN, NAN, NAN, NAN, NAN, NAN};
    if (!s || step >= s->H) return r;
    size_t col = step < 0 ? (size_t)s->H : (size_t)step;
    sums t = {0};
    double smape = 0, mase = 0, n_smape = 0, n_mase = 0;
    for (size_t i = 0; i < s->ns; i++) {
        const sums *a = &s->c[i * ((size_t)s->H + 1) + col];
        if (a->n == 0) continue;
        t.n += a->n;
        t.abs += a->abs;
        t.sq += a->sq;
        t.ape += a->ape;
        t.n_ape += a->n_ape;
        t.cov += a->cov;
        t.n_cov += a->n_cov;
        smape += 200 * a->sape / a->n;
        n_smape += 1;
        if (isfinite(s->scale[i]) && s->scale[i] > 0) mase += a->abs / a->n / s->scale[i], n_mase += 1;
    }
    if (t.n == 0) return r;
    r.n = (size_t)t.n;
    r.mae = t.abs / t.n;
    r.rmse = sqrt(t.sq / t.n);
    r.mape = t.n_ape > 0 ? 100 * t.ape / t.n_ape : NAN;
    r.smape = smape / n_smape;
    r.mase = n_mase > 0 ? mase / n_mase : NAN;
    r.coverage = t.n_cov > 0 ? t.cov / t.n_cov : NAN;
    return r;
}

/* ====== Panels of forecasts ====== */

/* Index of `id` in panel q (named `what` in messages), or -1 with err filled. */
static long find_in(const recur_panel *q, const char *id, const recur_panel *actual, recur_error *err)
{
    long k = recur_panel_find(q, id);
    if (k < 0)
        rc_error(err, RECUR_E_DATA, "%s has no series \"%s\" (it is in %s)", rc_panel_path(q), id,
                 rc_panel_path(actual));
    return k;
}

recur_status recur_scorer_add_panel(recur_scorer *s, const recur_panel *actual, const recur_panel *train, int season,
                                    const recur_panel *forecast, const recur_panel *lo, const recur_panel *hi,
                                    recur_baseline b, double level, recur_error *err)
{
    if (!s || !actual || !train) return rc_error(err, RECUR_E_INVALID, "recur_scorer_add_panel: scorer, actual and train are required");
    recur_status rc = RECUR_OK;
    size_t H = (size_t)s->H;
    double *f = malloc(H * sizeof *f), *l = malloc(H * sizeof *l), *h = malloc(H * sizeof *h);
    if (!f || !l || !h) {
        rc = rc_error(err, RECUR_E_NOMEM, "scores: out of memory");
        goto done;
    }
    for (size_t i = 0; forecast && i < recur_panel_count(forecast); i++)
        if (recur_panel_find(actual, recur_panel_id(forecast, i)) < 0) {
            rc = rc_error(err, RECUR_E_DATA, "%s: series \"%s\" is not in %s", rc_panel_path(forecast),
                          recur_panel_id(forecast, i), rc_panel_path(actual));
            goto done;
        }
    for (size_t i = 0; i < recur_panel_count(actual); i++) {
        const char *id = recur_panel_id(actual, i);
        size_t n = recur_panel_length(actual, i);
        const double *y = recur_panel_values(actual, i);
        long t = find_in(train, id, actual, err);
        if (t < 0) {
            rc = RECUR_E_DATA;
            goto done;
        }
        if (n > H) {
            rc = rc_error(err, RECUR_E_INVALID, "%s: series \"%s\" has %zu values, more than the horizon %zu",
                          rc_panel_path(actual), id, n, H);
            goto done;
        }
        const double *x = recur_panel_values(train, (size_t)t);
        size_t nx = recur_panel_length(train, (size_t)t);
        const double *lp = NULL, *hp = NULL;
        if (forecast) {
            long k = find_in(forecast, id, actual, err);
            if (k < 0) {
                rc = RECUR_E_DATA;
                goto done;
            }
            if (recur_panel_length(forecast, (size_t)k) < n) {
                rc = rc_error(err, RECUR_E_DATA, "%s: series \"%s\" has %zu forecast steps, but %s has %zu values to score",
                              rc_panel_path(forecast), id, recur_panel_length(forecast, (size_t)k),
                              rc_panel_path(actual), n);
                goto done;
            }
            memcpy(f, recur_panel_values(forecast, (size_t)k), n * sizeof *f);
            if (!recur_panel_time_is_index(forecast) && !recur_panel_time_is_index(actual)) {
                const double *ta = recur_panel_times(actual, i), *tf = recur_panel_times(forecast, (size_t)k);
                for (size_t j = 0; j < n; j++)
                    if (ta[j] != tf[j]) {
                        char ta_txt[64], tf_txt[64];
                        recur_panel_time_text(forecast, tf[j], tf_txt, sizeof tf_txt);
                        recur_panel_time_text(actual, ta[j], ta_txt, sizeof ta_txt);
                        rc = rc_error(err, RECUR_E_DATA,
                                      "%s: series \"%s\": forecast step %zu is for %s, but the actual value %zu in %s "
                                      "is for %s", rc_panel_path(forecast), id, j + 1, tf_txt, j + 1, rc_panel_path(actual), ta_txt);
                        goto done;
                    }
            }
            if (lo && hi) {
                long a = find_in(lo, id, actual, err), c = a >= 0 ? find_in(hi, id, actual, err) : -1;
                if (c < 0) {
                    rc = RECUR_E_DATA;
                    goto done;
                }
                if (recur_panel_length(lo, (size_t)a) < n || recur_panel_length(hi, (size_t)c) < n) {
                    rc = rc_error(err, RECUR_E_DATA, "%s: series \"%s\": interval columns shorter than the forecast",
                                  rc_panel_path(lo), id);
                    goto done;
                }
                lp = recur_panel_values(lo, (size_t)a);
                hp = recur_panel_values(hi, (size_t)c);
            }
        } else {
            recur_error e = {0};
            int nl = level > 0;
            rc = recur_baseline_forecast(b, x, nx, season, (int)n, &level, nl, f, nl ? l : NULL, nl ? h : NULL, &e);
            if (rc) {
                rc_error(err, rc, "%s: series \"%s\": %s", rc_panel_path(train), id, e.msg);
                goto done;
            }
            if (nl) lp = l, hp = h;
        }
        if ((rc = recur_scorer_series(s, recur_mase_scale(x, nx, season), err))) goto done;
        recur_error e = {0};
        rc = recur_scorer_add(s, s->ns - 1, y, f, lp, hp, (int)n, &e);
        if (rc) {
            rc_error(err, rc, "series \"%s\": %s (%s)", id, e.msg, forecast ? rc_panel_path(forecast) : recur_baseline_name(b));
            goto done;
        }
    }
done:
    free(f);
    free(l);
    free(h);
    return rc;
}
