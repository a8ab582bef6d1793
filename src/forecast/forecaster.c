/*
 * forecaster.c -- recur_forecaster: one network (or a median ensemble of a
 * few) trained on windows drawn from every series of a panel; forecasts with
 * split-conformal prediction intervals.
 *
 * Per series s with training values y[0..n): z = log y when the recipe allows
 * it and every value is > 0, else z = y; v = scaler(z) with statistics of
 * these n values only (MinMax or standard). A window for origin t (t values
 * known) is v[t-T..t-1] and its targets v[t..t+H-1], both minus the anchor A
 * (the mean of v's last `anchor` values before t; 0 without one), so that an
 * output of 0 forecasts that level. The T values are fed as T/chunk time steps
 * of `chunk` values (one season per step in the forecast preset).
 *
 * The last V values of each series (V = H, more when there are few series) are
 * its validation tail: no training window reaches into it. Windows whose
 * targets lie in it measure the validation loss (early stopping keeps the best
 * epoch) and, with the ensemble's final forecasts, give the absolute errors
 * |v - v_hat| per step whose empirical quantile is the half-width of an
 * interval (split conformal, Vovk et al. 2005; Lei et al. 2018): with n
 * errors, level L takes the ceil((n+1) L/100)-th smallest. The interval is
 * symmetric in the scaled (log) space and mapped back through the inverse
 * transform. Networks are not refitted on the tail, so those errors are
 * out-of-sample, as the future's will be.
 *
 * Deliberately not here: files (forecaster_file.c), the backtest's method
 * (forecaster_method.c), printing.
 */
#include "forecast/forecaster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TUTORIAL_SPEC "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)"
#define FORECAST_SPEC "lstm(128) dense(1)"
#define VAL_WINDOWS 256 /* validation windows wanted over the whole panel */
#define MIN_EPOCH 2048  /* training samples per epoch at least (windows repeated), with max_windows */

recur_forecaster_opts recur_forecaster_opts_default(recur_preset preset)
{
    recur_forecaster_opts o;
    memset(&o, 0, sizeof o);
    o.preset = preset;
    o.horizon = 1;
    o.seed = 42;
    if (preset == RECUR_PRESET_FORECAST) {
        o.seeds = 3;
        o.epochs = 80;
        o.batch_size = 256;
        o.patience = 10;
        o.max_windows = 65536;
    } else {
        o.seeds = 1;
        o.epochs = 50;
        o.batch_size = 64;
        o.patience = 0;
        o.max_windows = 0;
    }
    return o;
}

/* ====== Object ====== */

recur_status rc_fc_alloc(size_t n_series, int n_nets, int H, size_t n_res, recur_forecaster **out, recur_error *err)
{
    recur_forecaster *f = calloc(1, sizeof *f);
    if (f) {
        f->n_series = n_series;
        f->n_nets = n_nets;
        f->H = H;
        f->n_res = n_res;
        f->series = calloc(n_series ? n_series : 1, sizeof *f->series);
        f->net = calloc(n_nets > 0 ? (size_t)n_nets : 1, sizeof *f->net);
        f->res = calloc((size_t)H * n_res + 1, sizeof *f->res);
    }
    if (!f || !f->series || !f->net || !f->res) {
        recur_forecaster_free(f);
        return rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory for %zu series", n_series);
    }
    *out = f;
    return RECUR_OK;
}

void recur_forecaster_free(recur_forecaster *f)
{
    if (!f) return;
    for (int k = 0; f->net && k < f->n_nets; k++) recur_model_free(f->net[k]);
    for (size_t s = 0; f->series && s < f->n_series; s++) free(f->series[s].id);
    for (size_t s = 0; s < f->n_skipped; s++) free(f->skipped[s]);
    free(f->net);
    free(f->series);
    free(f->skipped);
    free(f->res);
    free(f);
}

int recur_forecaster_horizon(const recur_forecaster *f) { return f ? f->H : 0; }
int recur_forecaster_season(const recur_forecaster *f) { return f ? f->season : 0; }
int recur_forecaster_timestep(const recur_forecaster *f) { return f ? f->T : 0; }
int recur_forecaster_nets(const recur_forecaster *f) { return f ? f->n_nets : 0; }
size_t recur_forecaster_n_series(const recur_forecaster *f) { return f ? f->n_series : 0; }
const char *recur_forecaster_id(const recur_forecaster *f, size_t i)
{
    return f && i < f->n_series ? f->series[i].id : NULL;
}
size_t recur_forecaster_n_skipped(const recur_forecaster *f) { return f ? f->n_skipped : 0; }
const char *recur_forecaster_skipped(const recur_forecaster *f, size_t i)
{
    return f && i < f->n_skipped ? f->skipped[i] : NULL;
}

recur_status recur_forecaster_set_columns(recur_forecaster *f, const char *id, const char *time, const char *value,
                                          recur_error *err)
{
    const char *v[3] = {id, time, value};
    for (int k = 0; k < 3; k++)
        if (v[k] && strlen(v[k]) >= sizeof f->columns[k])
            return rc_error(err, RECUR_E_INVALID, "forecaster: column name \"%.40s...\" is longer than %zu characters",
                            v[k], sizeof f->columns[k] - 1);
    for (int k = 0; k < 3; k++) snprintf(f->columns[k], sizeof f->columns[k], "%s", v[k] ? v[k] : "");
    return RECUR_OK;
}

const char *recur_forecaster_column(const recur_forecaster *f, int which)
{
    return f && which >= 0 && which < 3 && f->columns[which][0] ? f->columns[which] : NULL;
}

size_t recur_forecaster_describe(const recur_forecaster *f, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s scaling per series, window %d values as %d step%s of %d%s; %s; %d network%s%s",
                     f->log_ok ? "log (positive series) + " : "",
                     f->scaler == RECUR_SCALER_MINMAX ? "MinMax" : "standard", f->T, f->T / f->chunk,
                     f->T / f->chunk == 1 ? "" : "s", f->chunk,
                     f->anchor > 0 ? (f->anchor == 1 ? ", relative to its last value" : ", relative to its last season's mean") : "",
                     f->spec, f->n_nets, f->n_nets == 1 ? "" : "s", f->n_nets > 1 ? " (median)" : "");
    return n < 0 ? 0 : (size_t)n;
}

recur_status rc_fc_check(const recur_forecaster *f, const char *where, recur_error *err)
{
    if (f->H < 1 || f->H > 100000 || f->T < 1 || f->T > 1000000 || f->chunk < 1 || f->T % f->chunk != 0 ||
        f->anchor < 0 || f->anchor > f->T || f->season < 1 || f->n_nets < 1 || f->n_series < 1)
        return rc_error(err, RECUR_E_FORMAT,
                        "%s: inconsistent forecaster (H %d, T %d, chunk %d, anchor %d, season %d, %d networks, "
                        "%zu series)",
                        where, f->H, f->T, f->chunk, f->anchor, f->season, f->n_nets, f->n_series);
    for (int k = 0; k < f->n_nets; k++) {
        const recur_model *m = f->net[k];
        if (!m || recur_model_n_features(m) != f->chunk || recur_model_n_outputs(m) != f->H ||
            recur_model_returns_sequences(m))
            return rc_error(err, RECUR_E_FORMAT,
                            "%s: network %d does not map %d values per step to %d outputs", where, k, f->chunk, f->H);
    }
    for (size_t s = 0; s < f->n_series; s++) {
        const rc_fc_series *r = &f->series[s];
        if (!r->id || !isfinite(r->a) || !isfinite(r->b) || (f->scaler == RECUR_SCALER_STANDARD && !(r->b > 0)))
            return rc_error(err, RECUR_E_FORMAT, "%s: series %zu has no id or a bad scaler", where, s);
    }
    for (size_t i = 0; i < (size_t)f->H * f->n_res; i++)
        if (!(f->res[i] >= 0) || !isfinite(f->res[i]))
            return rc_error(err, RECUR_E_FORMAT, "%s: validation errors must be finite and >= 0", where);
    return RECUR_OK;
}

/* ====== Scaling and windows ====== */

static double to_z(const rc_fc_series *r, double y) { return r->use_log ? log(y) : y; }

static double to_v(const recur_forecaster *f, const rc_fc_series *r, double z)
{
    if (f->scaler == RECUR_SCALER_STANDARD) return (z - r->a) / r->b;
    return r->b > r->a ? (z - r->a) / (r->b - r->a) : 0.0;
}

static double from_v(const recur_forecaster *f, const rc_fc_series *r, double v)
{
    double z = f->scaler == RECUR_SCALER_STANDARD ? r->a + v * r->b : r->a + v * (r->b - r->a);
    return r->use_log ? exp(z) : z;
}

/* Fits series r's transform and scaler on y[0..n). */
static void fit_series(const recur_forecaster *f, rc_fc_series *r, const double *y, size_t n)
{
    r->use_log = f->log_ok;
    for (size_t i = 0; i < n && r->use_log; i++)
        if (!(y[i] > 0)) r->use_log = 0;
    double lo = INFINITY, hi = -INFINITY, sum = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double z = to_z(r, y[i]);
        lo = z < lo ? z : lo;
        hi = z > hi ? z : hi;
        sum += z;
    }
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) ss += (to_z(r, y[i]) - mean) * (to_z(r, y[i]) - mean);
    double sd = sqrt(ss / (double)n);
    if (f->scaler == RECUR_SCALER_STANDARD) r->a = mean, r->b = sd > 1e-12 * (fabs(mean) + 1) ? sd : 1.0;
    else r->a = lo, r->b = hi;
}

/* Window for origin t over scaled values v[0..n) (t <= n; values before 0 are
 * v[0]): x (T), y (H, may be NULL; needs t + H <= n). Returns the anchor. */
static double cut(const recur_forecaster *f, const double *v, size_t t, recur_float *x, recur_float *y)
{
    double a = 0;
    if (f->anchor > 0) {
        for (int i = 1; i <= f->anchor; i++) a += (size_t)i <= t ? v[t - (size_t)i] : v[0];
        a /= f->anchor;
    }
    for (int i = 0; i < f->T; i++) {
        long j = (long)t - f->T + i;
        x[i] = (recur_float)((j < 0 ? v[0] : v[j]) - a);
    }
    if (y)
        for (int h = 0; h < f->H; h++) y[h] = (recur_float)(v[t + (size_t)h] - a);
    return a;
}

/* ====== Networks ====== */

/* Builds spec with its last layer (a dense) widened to H outputs, compiled. */
recur_status rc_fc_build_net(const char *spec, int F, int H, const recur_compile_opts *co, recur_model **out,
                              recur_error *err)
{
    recur_model *tmp = NULL, *m = NULL;
    recur_status st = recur_model_new(F, &tmp, err);
    if (!st) st = recur_model_add_spec(tmp, spec, err);
    int nl = tmp ? recur_model_n_layers(tmp) : 0;
    recur_layer_info last;
    if (!st && (nl < 1 || recur_model_layer(tmp, nl - 1, &last, NULL) || last.kind != RECUR_LAYER_DENSE ||
                (last.units != 1 && last.units != H)))
        st = rc_error(err, RECUR_E_INVALID,
                      "forecaster layers \"%s\": the last layer must be dense(1) or dense(%d) (the horizon), widened to "
                      "H outputs",
                      spec, H);
    if (!st) st = recur_model_new(F, &m, err);
    for (int i = 0; !st && i < nl; i++) {
        recur_layer_info L;
        recur_model_layer(tmp, i, &L, NULL);
        switch (L.kind) {
        case RECUR_LAYER_LSTM: st = recur_model_add_lstm(m, L.units, L.return_sequences, err); break;
        case RECUR_LAYER_GRU: st = recur_model_add_gru(m, L.units, L.return_sequences, L.reset_after, err); break;
        case RECUR_LAYER_RNN: st = recur_model_add_rnn(m, L.units, L.return_sequences, err); break;
        case RECUR_LAYER_DROPOUT: st = recur_model_add_dropout(m, L.rate, err); break;
        case RECUR_LAYER_DENSE: st = recur_model_add_dense(m, i == nl - 1 ? H : L.units, L.act, err); break;
        }
    }
    if (!st && recur_model_returns_sequences(m))
        st = rc_error(err, RECUR_E_INVALID,
                      "forecaster layers \"%s\": the model returns a sequence; end the recurrent layers without "
                      "\",seq\" before the dense head",
                      spec);
    if (!st) st = recur_model_compile(m, co, err);
    recur_model_free(tmp);
    if (st) {
        recur_model_free(m);
        return st;
    }
    *out = m;
    return RECUR_OK;
}

/* ====== Fit ====== */

typedef struct {
    size_t n_fit;  /* values before the validation tail */
    size_t n;      /* training values */
    double *v;     /* (n) scaled */
    size_t first;  /* index of this series' first training window over all series */
    size_t t0;     /* origin of its first training window: T, less for a short series (padded) */
} series_data;

typedef struct {
    const recur_forecaster_opts *o;
    int net, nets, epoch, epochs;
} progress_ctx;

/* Fit's batch reports, re-numbered to the forecaster's epochs (its own epoch-end
 * report is replaced by ours, which has the validation loss). */
static int batch_progress(const recur_progress *p, void *user)
{
    progress_ctx *c = user;
    if (p->epoch_end) return 0;
    recur_progress q = *p;
    q.epoch = c->epoch;
    q.epochs = c->epochs;
    q.val_loss = NAN;
    return c->o->progress(c->net, c->nets, &q, c->o->progress_user);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Mean |v_t - v_{t-lag}| over v[0..n) (0 when n <= lag). */
static double mean_abs_diff(const double *v, size_t n, size_t lag)
{
    double sum = 0;
    for (size_t t = lag; t < n; t++) sum += fabs(v[t] - v[t - lag]);
    return n > lag ? sum / (double)(n - lag) : 0;
}

/* Validation tail of a series of n values: H + per - 1 (per: validation
 * windows wanted per series), at most a quarter of the series, at least H. */
static size_t tail_of(size_t n, int H, size_t per)
{
    size_t tail = (size_t)H + per - 1;
    if (tail > n / 4) tail = n / 4 > (size_t)H ? n / 4 : (size_t)H;
    return tail;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Training window w (0..total) -> series and origin. */
static void locate(const series_data *sd, size_t ns, size_t w, size_t *s, size_t *t)
{
    size_t lo = 0, hi = ns; /* last series with first <= w */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (sd[mid].first <= w) lo = mid;
        else hi = mid;
    }
    *s = lo;
    *t = sd[lo].t0 + (w - sd[lo].first);
}

typedef struct {
    const recur_forecaster_opts *o;
    recur_compile_opts co;
    const series_data *sd;
    size_t ns, total;      /* kept series, training windows */
    const recur_float *xv, *yv;
    size_t nv;             /* validation windows */
    const recur_forecaster *warm; /* start from its weights (NULL: from the seeds) */
    const recur_peers *batch_peers; /* every network data-parallel across these (NULL: alone) */
} fit_ctx;

/* Trains network k; its validation predictions into pv (nv, H). */
static recur_status train_net(recur_forecaster *f, const fit_ctx *c, int k, recur_float *pv, recur_error *err)
{
    const recur_forecaster_opts *o = c->o;
    /* Windows per epoch: max_windows drawn afresh; a panel with fewer passes
     * over all of them, repeated up to MIN_EPOCH so that a short series still
     * gets enough updates per epoch for early stopping to see progress. */
    size_t per_ep = (o->max_windows > 0 && (size_t)o->max_windows < c->total) ? (size_t)o->max_windows : c->total;
    size_t fill = per_ep;
    if (o->max_windows > 0 && per_ep < MIN_EPOCH) {
        size_t want = (size_t)o->max_windows < MIN_EPOCH ? (size_t)o->max_windows : MIN_EPOCH;
        fill = per_ep < want ? (want + per_ep - 1) / per_ep * per_ep : per_ep;
    }
    const int steps = f->T / f->chunk;
    recur_compile_opts co = c->co;
    co.seed = o->seed + (uint64_t)k;
    recur_status st = rc_fc_build_net(f->spec, f->chunk, f->H, &co, &f->net[k], err);
    if (st) return st;
    recur_model *m = f->net[k];
    size_t np = recur_model_n_params(m);
    /* Warm start: the previous forecaster's network k, when it has the same shape. */
    const recur_forecaster *w = c->warm;
    if (w && k < w->n_nets && w->chunk == f->chunk && w->H == f->H && strcmp(w->spec, f->spec) == 0 &&
        recur_model_n_params(w->net[k]) == np)
        memcpy(recur_model_params(m), recur_model_params(w->net[k]), np * sizeof(recur_float));
    size_t *perm = malloc(c->total * sizeof *perm);
    recur_float *x = malloc(fill * (size_t)f->T * sizeof *x), *y = malloc(fill * (size_t)f->H * sizeof *y);
    recur_float *best = malloc(np * sizeof *best);
    if (!perm || !x || !y || !best) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory for %zu windows", per_ep);
        goto done;
    }
    for (size_t i = 0; i < c->total; i++) perm[i] = i;
    rc_rng rng;
    rc_rng_seed(&rng, rc_seed_mix(co.seed, 0xfc, 1));
    progress_ctx pc = {o, k, o->seeds, 0, o->epochs};
    double best_val = INFINITY;
    int wait = 0, best_epoch = 0;
    double t0 = rc_now();
    for (int e = 1; e <= o->epochs; e++) {
        /* A fresh draw of per_ep windows without replacement (partial Fisher-Yates). */
        if (per_ep < c->total)
            for (size_t i = 0; i < per_ep; i++) {
                size_t j = i + (size_t)rc_rng_below(&rng, c->total - i), tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
        for (size_t i = 0; i < fill; i++) {
            size_t s, t;
            locate(c->sd, c->ns, perm[i % per_ep], &s, &t);
            cut(f, c->sd[s].v, t, x + i * (size_t)f->T, y + i * (size_t)f->H);
        }
        recur_fit_opts fo = recur_fit_opts_default();
        fo.epochs = 1;
        fo.batch_size = o->batch_size;
        fo.threads = o->threads;
        fo.seed = rc_seed_mix(co.seed, 0xe9, (uint64_t)e);
        fo.peers = c->batch_peers;
        pc.epoch = e;
        if (o->progress) fo.progress = batch_progress, fo.progress_user = &pc;
        double hl[1], hv[1];
        recur_history hist = {0, 0, hl, hv};
        if ((st = recur_model_fit(m, x, y, fill, steps, NULL, NULL, 0, &fo, &hist, err))) goto done;
        double val = NAN;
        if ((st = recur_model_evaluate(m, c->xv, c->yv, c->nv, steps, &val, NULL, NULL, err))) goto done;
        if (!isfinite(val)) {
            st = rc_error(err, RECUR_E_DIVERGED,
                          "forecaster: network %d diverged at epoch %d (validation loss %g); try a smaller window or "
                          "fewer units",
                          k, e, val);
            goto done;
        }
        int improved = val < best_val;
        if (improved) best_val = val, best_epoch = e, wait = 0, memcpy(best, recur_model_params(m), np * sizeof *best);
        else wait++;
        if (o->progress) {
            recur_progress q;
            memset(&q, 0, sizeof q);
            q.epoch = e;
            q.epochs = o->epochs;
            q.loss = hl[0];
            q.val_loss = val;
            q.seconds = rc_now() - t0;
            q.epoch_end = 1;
            q.improved = improved;
            q.best = best_val;
            q.best_epoch = best_epoch;
            q.wait = wait;
            if (o->progress(k, o->seeds, &q, o->progress_user)) {
                st = rc_error(err, RECUR_E_INTERRUPTED, "forecaster: training stopped at network %d, epoch %d", k, e);
                goto done;
            }
        }
        if (o->patience > 0 && wait >= o->patience) break;
    }
    if (o->patience > 0) memcpy(recur_model_params(m), best, np * sizeof *best);
    st = recur_model_predict(m, c->xv, c->nv, steps, pv, err);
done:
    free(best);
    free(y);
    free(x);
    free(perm);
    return st;
}

/* The ensemble spread over processes: this rank trains networks [lo, hi) of
 * the first K (a multiple of the ranks), then one exchange, a chunk per
 * network (its weights, then its nv x H validation predictions), gives
 * every rank every network. A network that
 * failed is marked by its status in the chunk's loss, so that every rank
 * fails with it after the exchange (a rank that left before it would leave
 * the others waiting). */
static recur_status train_shared(recur_forecaster *f, const fit_ctx *c, const recur_peers *pe, int K, recur_float *pk,
                                 recur_error *err)
{
    const int H = f->H;
    const int lo = (int)((long)K * pe->rank / pe->size), hi = (int)((long)K * (pe->rank + 1) / pe->size);
    const size_t npv = c->nv * (size_t)H;
    recur_status st = RECUR_OK, mine = RECUR_OK;
    recur_error mine_err = {0};
    int failed_at = -1;
    size_t np = 0;
    recur_float *buf = NULL;
    double *flag = calloc((size_t)K, sizeof *flag);
    if (!flag) return rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
    /* Every rank builds every network (the weights of those it does not
     * train are overwritten), so that all know the chunk size. */
    for (int k = 0; k < K && !st; k++) {
        recur_compile_opts co = c->co;
        co.seed = c->o->seed + (uint64_t)k;
        if (k < lo || k >= hi) st = rc_fc_build_net(f->spec, f->chunk, H, &co, &f->net[k], err);
    }
    for (int k = lo; k < hi && !st && !mine; k++) {
        if ((mine = train_net(f, c, k, pk + (size_t)k * npv, &mine_err))) failed_at = k;
    }
    if (st) goto done;
    for (int k = 0; k < K && !np; k++)
        if (f->net[k]) np = recur_model_n_params(f->net[k]);
    const size_t per = np + npv;
    if (!(buf = calloc((size_t)K * per, sizeof *buf))) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory for the ensemble's exchange");
        goto done;
    }
    for (int k = lo; k < hi; k++) {
        recur_float *b = buf + (size_t)k * per;
        flag[k] = mine && k >= failed_at ? (double)mine : 0.0;
        if (flag[k] != 0) continue;
        memcpy(b, recur_model_params(f->net[k]), np * sizeof *b);
        memcpy(b + np, pk + (size_t)k * npv, npv * sizeof *b);
    }
    if ((st = pe->exchange(pe, buf, flag, per, K, err))) goto done;
    if (mine) {
        st = mine;
        rc_error(err, mine, "%s", mine_err.msg);
        goto done;
    }
    for (int k = 0; k < K; k++)
        if (flag[k] != 0) {
            st = rc_error(err, (recur_status)(int)flag[k], "forecaster: network %d failed on rank %d of %d (the "
                          "message is that rank's)", k + 1, (int)((long)k * pe->size / K), pe->size);
            goto done;
        }
    for (int k = 0; k < K; k++) {
        if (k >= lo && k < hi) continue;
        const recur_float *b = buf + (size_t)k * per;
        memcpy(recur_model_params(f->net[k]), b, np * sizeof *b);
        memcpy(pk + (size_t)k * npv, b + np, npv * sizeof *b);
    }
done:
    free(buf);
    free(flag);
    return st;
}

/* The recipe's fixed parts from the options (season known). */
static recur_status recipe(recur_forecaster *f, const recur_forecaster_opts *o, size_t median_n,
                           recur_compile_opts *co, recur_error *err)
{
    const char *spec = o->layers;
    *co = recur_compile_opts_default();
    if (o->preset == RECUR_PRESET_FORECAST) {
        f->log_ok = 1;
        f->scaler = RECUR_SCALER_STANDARD;
        f->chunk = f->season > 1 ? f->season : 1;
        f->anchor = f->season > 1 ? f->season : 1;
        /* A quarter of the typical series, between a few seasons and a week of hours. */
        int tmin = 3 * f->season, tmax;
        if (tmin < 2 * f->H) tmin = 2 * f->H;
        if (tmin < 16) tmin = 16;
        tmax = 7 * f->season > tmin ? 7 * f->season : f->season > 1 ? tmin : 2 * tmin;
        long T = o->timestep > 0 ? o->timestep : (long)(median_n / 4);
        if (o->timestep <= 0) T = T < tmin ? tmin : T > tmax ? tmax : T;
        f->T = (int)((T + f->chunk - 1) / f->chunk * f->chunk);
        co->loss = RECUR_LOSS_MAE;
        co->optim = recur_optim_opts_default(RECUR_OPT_ADAM);
    } else {
        f->log_ok = 0;
        f->scaler = RECUR_SCALER_MINMAX;
        f->chunk = 1;
        f->anchor = 0;
        f->T = o->timestep > 0 ? o->timestep : 60;
        if (!spec) spec = TUTORIAL_SPEC;
    }
    if (f->anchor > f->T) f->anchor = f->T;
    if (spec && strlen(spec) >= sizeof f->spec)
        return rc_error(err, RECUR_E_INVALID, "forecaster: layer spec longer than %d characters", RC_FC_SPEC_MAX - 1);
    if (spec) snprintf(f->spec, sizeof f->spec, "%s", spec);
    return RECUR_OK;
}

/* The forecast preset's network grows with the data: lstm(32) below 8192
 * training windows, lstm(64) below 65536, lstm(128) from there (measured on
 * the classic series and M4 Hourly, docs/forecasting.md). Then the spec is
 * built once to check it and keep its canonical text with dense(H). */
static recur_status set_spec(recur_forecaster *f, size_t total, const recur_compile_opts *co, recur_error *err)
{
    const char *spec = f->spec;
    if (!spec[0]) spec = total < 8192 ? "lstm(32) dense(1)" : total < 65536 ? "lstm(64) dense(1)" : FORECAST_SPEC;
    if (strlen(spec) >= sizeof f->spec)
        return rc_error(err, RECUR_E_INVALID, "forecaster: layer spec longer than %d characters", RC_FC_SPEC_MAX - 1);
    /* Keep the spec as built: a probe build gives the canonical text with dense(H). */
    recur_model *m = NULL;
    recur_status st = rc_fc_build_net(spec, f->chunk, f->H, co, &m, err);
    if (st) return st;
    char canon[RC_FC_SPEC_MAX];
    recur_model_spec(m, canon, sizeof canon);
    memcpy(f->spec, canon, sizeof canon);
    recur_model_free(m);
    return RECUR_OK;
}

recur_status rc_fc_check_opts(const recur_forecaster_opts *o, recur_error *err)
{
    if (o->preset != RECUR_PRESET_TUTORIAL && o->preset != RECUR_PRESET_FORECAST)
        return rc_error(err, RECUR_E_INVALID, "forecaster: unknown preset %d", (int)o->preset);
    if (o->horizon < 1 || o->horizon > 100000)
        return rc_error(err, RECUR_E_INVALID, "forecaster: horizon must be in 1..100000 (got %d)", o->horizon);
    if (o->season < 0 || o->season > 100000)
        return rc_error(err, RECUR_E_INVALID, "forecaster: season must be in 0..100000 (0: infer; got %d)", o->season);
    if (o->timestep < 0 || o->timestep > 100000)
        return rc_error(err, RECUR_E_INVALID, "forecaster: timestep must be in 0..100000 (got %d)", o->timestep);
    if (o->seeds < 1 || o->seeds > 1000)
        return rc_error(err, RECUR_E_INVALID, "forecaster: seeds must be in 1..1000 (got %d)", o->seeds);
    if (o->epochs < 1 || o->batch_size < 1 || o->patience < 0 || o->max_windows < 0 || o->threads < 0)
        return rc_error(err, RECUR_E_INVALID,
                        "forecaster: epochs and batch size must be >= 1, patience, max_windows and threads >= 0");
    return RECUR_OK;
}

static recur_status add_skipped(recur_forecaster *f, const char *id, recur_error *err)
{
    char **nk = realloc(f->skipped, (f->n_skipped + 1) * sizeof *nk);
    if (!nk) return rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
    f->skipped = nk;
    if (!(f->skipped[f->n_skipped] = strdup(id))) return rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
    f->n_skipped++;
    return RECUR_OK;
}

recur_status rc_fc_fit_from(const recur_forecaster_opts *o, const recur_panel *p, const size_t *n_train,
                            const recur_forecaster *warm, recur_forecaster **out, recur_error *err)
{
    if (!o || !p || !out) return rc_error(err, RECUR_E_INVALID, "recur_forecaster_fit: o, p and out are required");
    *out = NULL;
    recur_status st = rc_fc_check_opts(o, err);
    if (st) return st;
    size_t np = recur_panel_count(p);
    if (np == 0) return rc_error(err, RECUR_E_DATA, "forecaster: the panel has no series");
    const int H = o->horizon;
    recur_forecaster *f = NULL;
    series_data *sd = calloc(np, sizeof *sd);
    size_t *keep = calloc(np, sizeof *keep);
    recur_float *xv = NULL, *yv = NULL, *pk = NULL;
    if (!sd || !keep) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory for %zu series", np);
        goto fail;
    }
    if ((st = rc_fc_alloc(np, o->seeds, H, 0, &f, err))) goto fail;
    f->preset = o->preset;
    f->season = o->season > 0 ? o->season : recur_panel_infer_season(p);
    if (f->season < 1) f->season = 1;
    recur_compile_opts co;
    for (size_t s = 0; s < np; s++) keep[s] = n_train ? n_train[s] : recur_panel_length(p, s);
    qsort(keep, np, sizeof *keep, cmp_size);
    if ((st = recipe(f, o, keep[np / 2], &co, err))) goto fail;

    /* Real values a training window needs: the whole window (tutorial), or
     * a season (at least 4) of it with the forecast preset. */
    size_t min_hist = (size_t)f->T;
    if (o->preset == RECUR_PRESET_FORECAST) {
        size_t m4 = f->season > 4 ? (size_t)f->season : 4;
        min_hist = m4 < min_hist ? m4 : min_hist;
    }
    /* Validation tail per series: H values, more when there are few series. */
    size_t per = (VAL_WINDOWS + np - 1) / np, ns = 0, total = 0, nv = 0;
    for (size_t s = 0; s < np; s++) {
        size_t n = n_train ? n_train[s] : recur_panel_length(p, s), len = recur_panel_length(p, s);
        if (n > len) {
            st = rc_error(err, RECUR_E_INVALID, "forecaster: n_train[%zu] = %zu but series \"%s\" has %zu values", s, n,
                          recur_panel_id(p, s), len);
            goto fail;
        }
        const double *y = recur_panel_values(p, s);
        int finite = 1;
        for (size_t i = 0; i < n; i++) finite &= isfinite(y[i]) != 0;
        if (!finite) {
            st = rc_error(err, RECUR_E_DATA, "forecaster: series \"%s\" has a missing or infinite value",
                          recur_panel_id(p, s));
            goto fail;
        }
        size_t tail = tail_of(n, H, per);
        /* A series shorter than a full window still trains (forecast preset)
         * with windows padded by its first value, from min_hist real values. */
        size_t t0 = n >= tail + (size_t)f->T + (size_t)H ? (size_t)f->T : min_hist;
        if (n < tail + t0 + (size_t)H) {
            if ((st = add_skipped(f, recur_panel_id(p, s), err))) goto fail;
            continue;
        }
        series_data *d = &sd[ns];
        d->n = n;
        d->n_fit = n - tail;
        d->first = total;
        d->t0 = t0;
        total += d->n_fit - (size_t)H - t0 + 1;
        nv += tail - (size_t)H + 1;
        keep[ns++] = s;
    }
    if (ns == 0) {
        size_t need = min_hist + 2 * (size_t)H;
        while (need < tail_of(need, H, per) + min_hist + (size_t)H) need++;
        st = rc_error(err, RECUR_E_DATA,
                      "forecaster: every series is too short: one needs at least %zu values (%zu of history + "
                      "horizon %d + validation tail %zu); give a shorter --horizon%s or more data",
                      need, min_hist, H, tail_of(need, H, per), o->preset == RECUR_PRESET_TUTORIAL ? " or --timestep" : "");
        goto fail;
    }
    f->n_series = ns;
    if ((st = set_spec(f, total, &co, err))) goto fail;
    xv = malloc(nv * (size_t)f->T * sizeof *xv);
    yv = malloc(nv * (size_t)H * sizeof *yv);
    pk = malloc((size_t)o->seeds * nv * (size_t)H * sizeof *pk);
    free(f->res);
    f->res = malloc(nv * (size_t)H * sizeof *f->res);
    f->n_res = nv;
    if (!xv || !yv || !pk || !f->res) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory for %zu validation windows", nv);
        goto fail;
    }
    size_t w = 0;
    double lag1 = 0, lagm = 0;
    for (size_t k = 0; k < ns; k++) {
        series_data *d = &sd[k];
        const double *y = recur_panel_values(p, keep[k]);
        rc_fc_series *r = &f->series[k];
        if (!(r->id = strdup(recur_panel_id(p, keep[k])))) {
            st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
            goto fail;
        }
        fit_series(f, r, y, d->n);
        if (!(d->v = malloc(d->n * sizeof *d->v))) {
            st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < d->n; i++) d->v[i] = to_v(f, r, to_z(r, y[i]));
        if (f->anchor > 1) {
            lag1 += mean_abs_diff(d->v, d->n_fit, 1);
            lagm += mean_abs_diff(d->v, d->n_fit, (size_t)f->season);
        }
    }
    /* The level a window is taken relative to: its last season's mean when the
     * seasonal naive forecast beats the naive one on the training values
     * (scaled, averaged over series), else its last value, so that an output
     * of 0 is the better of the two simple forecasts. */
    if (f->anchor > 1 && !(lagm < lag1)) f->anchor = 1;
    for (size_t k = 0; k < ns; k++)
        for (size_t t = sd[k].n_fit; t + (size_t)H <= sd[k].n; t++, w++)
            cut(f, sd[k].v, t, xv + w * (size_t)f->T, yv + w * (size_t)H);

    fit_ctx c = {o, co, sd, ns, total, xv, yv, nv, warm, NULL};
    /* Across processes: as many networks as divide evenly, each trained by
     * one rank, then the rest each by all ranks together (data-parallel). */
    const recur_peers *pe = o->peers && o->peers->size > 1 ? o->peers : NULL;
    int split = pe ? o->seeds / pe->size * pe->size : 0;
    if (split > 0 && (st = train_shared(f, &c, pe, split, pk, err))) goto fail;
    c.batch_peers = pe;
    for (int k = split; k < o->seeds; k++)
        if ((st = train_net(f, &c, k, pk + (size_t)k * nv * H, err))) goto fail;

    /* Ensemble median, then each step's absolute errors, ascending. */
    float *med = malloc((size_t)o->seeds * sizeof *med);
    if (!med) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nv * (size_t)H; i++) {
        for (int k = 0; k < o->seeds; k++) med[k] = (float)pk[(size_t)k * nv * H + i];
        qsort(med, (size_t)o->seeds, sizeof *med, cmp_float);
        int K = o->seeds;
        double m = K % 2 ? med[K / 2] : 0.5 * ((double)med[K / 2 - 1] + med[K / 2]);
        size_t win = i / (size_t)H, h = i % (size_t)H;
        f->res[h * nv + win] = (float)fabs((double)yv[i] - m);
    }
    free(med);
    for (int h = 0; h < H; h++) qsort(f->res + (size_t)h * nv, nv, sizeof *f->res, cmp_float);
    for (size_t k = 0; k < ns; k++) free(sd[k].v);
    free(sd);
    free(keep);
    free(xv);
    free(yv);
    free(pk);
    *out = f;
    return RECUR_OK;
fail:
    if (sd)
        for (size_t k = 0; k < np; k++) free(sd[k].v);
    free(sd);
    free(keep);
    free(xv);
    free(yv);
    free(pk);
    recur_forecaster_free(f);
    return st;
}

recur_status recur_forecaster_fit(const recur_forecaster_opts *o, const recur_panel *p, const size_t *n_train,
                                  recur_forecaster **out, recur_error *err)
{
    return rc_fc_fit_from(o, p, n_train, NULL, out, err);
}

/* ====== Predict ====== */

static float median_of(float *v, int K)
{
    qsort(v, (size_t)K, sizeof *v, cmp_float);
    return K % 2 ? v[K / 2] : 0.5f * (v[K / 2 - 1] + v[K / 2]);
}

recur_status recur_forecaster_predict(const recur_forecaster *f, const char *id, const double *y, size_t n, int H,
                                      const double *levels, int n_levels, double *mean, double *lo, double *hi,
                                      recur_error *err)
{
    if (!f || !id || !y || !mean || n_levels < 0 || (n_levels > 0 && !levels))
        return rc_error(err, RECUR_E_INVALID, "recur_forecaster_predict: f, id, y and mean are required");
    if (H < 1 || H > f->H)
        return rc_error(err, RECUR_E_INVALID,
                        "forecast of %d steps: this forecaster was trained for a horizon of %d; give 1..%d steps "
                        "(or train with a longer --horizon)",
                        H, f->H, f->H);
    size_t s = 0;
    while (s < f->n_series && strcmp(f->series[s].id, id) != 0) s++;
    if (s == f->n_series) {
        for (size_t k = 0; k < f->n_skipped; k++)
            if (strcmp(f->skipped[k], id) == 0)
                return rc_error(err, RECUR_E_DATA,
                                "series \"%.100s\" was too short to train on (skipped), so the forecaster has no scaling "
                                "for it",
                                id);
        return rc_error(err, RECUR_E_DATA,
                        "unknown series \"%.100s\": the forecaster was trained on %zu other series; train on a file "
                        "that has it",
                        id, f->n_series);
    }
    if (n < 1) return rc_error(err, RECUR_E_DATA, "series \"%.100s\": no values to forecast from", id);
    for (int l = 0; l < n_levels; l++)
        if (!(levels[l] > 0 && levels[l] < 100))
            return rc_error(err, RECUR_E_INVALID, "interval level %g is not in (0, 100)", levels[l]);
    const rc_fc_series *r = &f->series[s];
    size_t from = n > (size_t)f->T + (size_t)f->anchor ? n - (size_t)f->T - (size_t)f->anchor : 0, m = n - from;
    double *v = malloc(m * sizeof *v);
    recur_float *x = malloc((size_t)f->T * sizeof *x), *out = malloc((size_t)f->n_nets * f->H * sizeof *out);
    float *col = malloc((size_t)f->n_nets * sizeof *col);
    recur_status st = RECUR_OK;
    if (!v || !x || !out || !col) {
        st = rc_error(err, RECUR_E_NOMEM, "forecaster: out of memory");
        goto done;
    }
    for (size_t i = 0; i < m; i++) {
        double yi = y[from + i];
        if (!isfinite(yi) || (r->use_log && !(yi > 0))) {
            st = rc_error(err, RECUR_E_DATA,
                          "series \"%.100s\": value %zu (%g) is %s; the forecaster needs finite%s values", id,
                          from + i + 1, yi, isfinite(yi) ? "not positive" : "not a number",
                          r->use_log ? ", positive (it models this series in logs)" : "");
            goto done;
        }
        v[i] = to_v(f, r, to_z(r, yi));
    }
    double a = cut(f, v, m, x, NULL);
    for (int k = 0; k < f->n_nets; k++)
        if ((st = recur_model_predict(f->net[k], x, 1, f->T / f->chunk, out + (size_t)k * f->H, err))) goto done;
    for (int h = 0; h < H; h++) {
        for (int k = 0; k < f->n_nets; k++) col[k] = (float)out[(size_t)k * f->H + h];
        double c = a + median_of(col, f->n_nets);
        mean[h] = from_v(f, r, c);
        for (int l = 0; l < n_levels; l++) {
            double q = 0;
            if (f->n_res > 0) {
                double kq = ceil(((double)f->n_res + 1) * levels[l] / 100.0);
                size_t idx = kq < 1 ? 0 : kq > (double)f->n_res ? f->n_res - 1 : (size_t)kq - 1;
                q = f->res[(size_t)h * f->n_res + idx];
            }
            if (lo) lo[(size_t)l * H + h] = from_v(f, r, c - q);
            if (hi) hi[(size_t)l * H + h] = from_v(f, r, c + q);
        }
        if (!isfinite(mean[h])) {
            st = rc_error(err, RECUR_E_DATA, "series \"%.100s\": the forecast of step %d is not finite", id, h + 1);
            goto done;
        }
    }
done:
    free(col);
    free(out);
    free(x);
    free(v);
    return st;
}
