/*
 * forecaster_method.c -- recur_forecaster_method_new: the forecaster as the
 * backtest's "model" method (recur_method), trained on the ranges the backtest
 * gives and warm-started from its previous fit.
 */
#include "forecast/forecaster.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    recur_forecaster_opts o;
    char *layers;
    recur_forecaster *f;
} method_ctx;

/* Trains a forecaster on each series' values [start, end), warm-started from
 * the previous fit's networks when there is one (same recipe and shapes);
 * the scaling is fitted afresh on the new ranges. */
static recur_status method_fit(void *ctx, const recur_panel *p, const size_t *start, const size_t *end,
                               recur_error *err)
{
    method_ctx *c = ctx;
    recur_panel *sub = NULL;
    size_t np = recur_panel_count(p);
    recur_status st = recur_panel_new(recur_panel_time_is_index(p), &sub, err);
    for (size_t s = 0; !st && s < np; s++) {
        if (start[s] > end[s] || end[s] > recur_panel_length(p, s)) {
            st = rc_error(err, RECUR_E_INVALID, "forecaster method: bad range [%zu, %zu) for series %zu", start[s],
                          end[s], s);
            break;
        }
        st = recur_panel_add(sub, recur_panel_id(p, s), recur_panel_values(p, s) + start[s],
                             recur_panel_times(p, s) + start[s], end[s] - start[s], err);
    }
    recur_forecaster *f = NULL;
    if (!st) {
        recur_forecaster_opts o = c->o;
        if (o.season <= 0) o.season = recur_panel_infer_season(p);
        st = rc_fc_fit_from(&o, sub, NULL, c->f, &f, err);
    }
    recur_panel_free(sub);
    if (st) return st;
    recur_forecaster_free(c->f);
    c->f = f;
    return RECUR_OK;
}

static recur_status method_predict(void *ctx, const recur_panel *p, size_t s, size_t n, int H, const double *levels,
                                   int n_levels, double *mean, double *lo, double *hi, recur_error *err)
{
    method_ctx *c = ctx;
    if (!c->f) return rc_error(err, RECUR_E_STATE, "forecaster method: predict before fit");
    return recur_forecaster_predict(c->f, recur_panel_id(p, s), recur_panel_values(p, s), n, H, levels, n_levels,
                                    mean, lo, hi, err);
}

static void method_reset(void *ctx)
{
    method_ctx *c = ctx;
    recur_forecaster_free(c->f);
    c->f = NULL;
}

recur_status recur_forecaster_method_new(const recur_forecaster_opts *o, recur_method *out, recur_error *err)
{
    if (!o || !out) return rc_error(err, RECUR_E_INVALID, "recur_forecaster_method_new: o and out are required");
    recur_status st = rc_fc_check_opts(o, err);
    if (st) return st;
    method_ctx *c = calloc(1, sizeof *c);
    if (!c || (o->layers && !(c->layers = strdup(o->layers)))) {
        free(c);
        return rc_error(err, RECUR_E_NOMEM, "forecaster method: out of memory");
    }
    c->o = *o;
    c->o.layers = c->layers;
    memset(out, 0, sizeof *out);
    out->name = "model";
    out->ctx = c;
    out->fit = method_fit;
    out->predict = method_predict;
    out->reset = method_reset;
    return RECUR_OK;
}

void recur_forecaster_method_free(recur_method *m)
{
    if (!m || !m->ctx) return;
    method_ctx *c = m->ctx;
    recur_forecaster_free(c->f);
    free(c->layers);
    free(c);
    m->ctx = NULL;
}
