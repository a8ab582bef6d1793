/*
 * backtest.c -- rolling-origin evaluation of a method and the four baselines
 * over every series of a panel.
 *
 * Protocol (the one R users run with forecast::tsCV-style loops, so that
 * figures compare): a series of n values has ntr = floor((1-F) n) initial
 * training values; origins are t = ntr, ntr+S, ..., n-H (t = values known),
 * each forecasting values t+1..t+H (0-based indices t..t+H-1). Origin j of
 * every series is visited in round j:
 *  - the model is fitted before round 0 on each series' [start, ntr), and
 *    with refit K again before rounds K, 2K, ... on [start, t) (t that
 *    series' origin of the round, its last one when it has fewer rounds);
 *    start is 0 (expanding window) or t - ntr (sliding);
 *  - the baselines have nothing to fit: at every origin they use the history
 *    [0, t) (expanding) or [t - ntr, t) (sliding), as R refits them.
 * Scores accumulate in one recur_scorer per method; MASE's scale of a series
 * is mean |y_i - y_{i-m}| over its first ntr values.
 * Does not: run methods in parallel (the model parallelises itself).
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METHODS (1 + RECUR_N_BASELINES)

struct recur_backtest {
    int H, season, n_methods;
    const char *name[MAX_METHODS];
    recur_scorer *sc[MAX_METHODS];
    size_t origins;
    recur_backtest_path path[MAX_METHODS];
    double *path_buf; /* mean, lo, hi of every method for the first series */
};

recur_backtest_opts recur_backtest_opts_default(void)
{
    recur_backtest_opts o;
    o.horizon = 1;
    o.season = 0;
    o.test_fraction = 0.2;
    o.stride = 1;
    o.refit = 0;
    o.sliding = 0;
    o.levels = NULL;
    o.n_levels = 0;
    o.peers = NULL;
    o.cold = 0;
    return o;
}

void recur_backtest_free(recur_backtest *b)
{
    if (!b) return;
    for (int k = 0; k < b->n_methods; k++) recur_scorer_free(b->sc[k]);
    free(b->path_buf);
    free(b);
}

/* ntr for n values; the epsilon keeps (1-0.2)*145 = 116 from rounding down. */
static size_t train_count(size_t n, double F) { return (size_t)floor((1 - F) * (double)n + 1e-9); }

static recur_status check_opts(const recur_panel *p, const recur_backtest_opts *o, int m, recur_error *err)
{
    if (!p || recur_panel_count(p) == 0) return rc_error(err, RECUR_E_INVALID, "backtest: the panel is empty");
    if (o->horizon < 1) return rc_error(err, RECUR_E_INVALID, "backtest: --horizon %d must be at least 1", o->horizon);
    if (!(o->test_fraction > 0 && o->test_fraction < 1))
        return rc_error(err, RECUR_E_INVALID, "backtest: --test-fraction %g must be between 0 and 1",
                        o->test_fraction);
    if (o->stride < 1) return rc_error(err, RECUR_E_INVALID, "backtest: --stride %d must be at least 1", o->stride);
    if (o->refit < 0) return rc_error(err, RECUR_E_INVALID, "backtest: --refit %d must be 0 (never) or positive", o->refit);
    if (o->n_levels < 0 || (o->n_levels > 0 && !o->levels))
        return rc_error(err, RECUR_E_INVALID, "backtest: levels missing");
    for (int l = 0; l < o->n_levels; l++)
        if (!(o->levels[l] > 0 && o->levels[l] < 100))
            return rc_error(err, RECUR_E_INVALID, "backtest: --level %g must be between 0 and 100", o->levels[l]);
    for (size_t s = 0; s < recur_panel_count(p); s++) {
        size_t n = recur_panel_length(p, s), ntr = train_count(n, o->test_fraction);
        const char *id = recur_panel_id(p, s);
        if (ntr < 2)
            return rc_error(err, RECUR_E_DATA, "backtest: series \"%s\" has %zu values: too few to train on", id, n);
        if (ntr + (size_t)o->horizon > n)
            return rc_error(err, RECUR_E_DATA,
                            "backtest: --horizon %d is longer than the test part of series \"%s\" (%zu of its %zu "
                            "values); lower --horizon or raise --test-fraction", o->horizon, id, n - ntr, n);
        if (m > 1 && (size_t)m >= ntr)
            return rc_error(err, RECUR_E_DATA,
                            "backtest: --season %d is larger than the training part of series \"%s\" (%zu values); "
                            "lower --season", m, id, ntr);
    }
    return RECUR_OK;
}

/* Fits the model for round j on every series' window. */
static recur_status fit_round(const recur_method *model, const recur_panel *p, const recur_backtest_opts *o, size_t j,
                              size_t *start, size_t *end, recur_error *err)
{
    for (size_t s = 0; s < recur_panel_count(p); s++) {
        size_t n = recur_panel_length(p, s), ntr = train_count(n, o->test_fraction);
        size_t last = (n - (size_t)o->horizon - ntr) / (size_t)o->stride;
        size_t t = ntr + (j < last ? j : last) * (size_t)o->stride;
        end[s] = t;
        start[s] = o->sliding ? t - ntr : 0;
    }
    recur_error e = {0};
    recur_status rc = model->fit(model->ctx, p, start, end, &e);
    if (rc) return rc_error(err, rc, "%s: fit before origin %zu: %s", model->name, j + 1, e.msg);
    return RECUR_OK;
}

/* One round's forecasts of one series by every method: per method its mean,
 * then the widest level's lo and hi (H each), and a status per method. */
typedef struct {
    const recur_panel *p;
    const recur_backtest_opts *o;
    const recur_method *model;
    const recur_peers *pe; /* NULL: this process alone (or one of one) */
    int m, n_methods;
    size_t wide, per; /* doubles per series: n_methods * (3H + 1) */
    double *lo, *hi;  /* (L + 1) x H scratch */
} round_ctx;

/* Series s at round j (origin t) by every method into rec; 1 when s has no
 * origin in this round. A method's failure is kept in rec (its status, and
 * its message in msg[k] when msg is given), not returned. */
static int forecast_series(const round_ctx *c, size_t s, size_t j, double *rec, recur_error *msg)
{
    const recur_backtest_opts *o = c->o;
    size_t n = recur_panel_length(c->p, s), ntr = train_count(n, o->test_fraction), H = (size_t)o->horizon;
    size_t t = ntr + j * (size_t)o->stride, L = (size_t)o->n_levels;
    if (t + H > n) return 1;
    const double *y = recur_panel_values(c->p, s);
    size_t from = o->sliding ? t - ntr : 0;
    for (int k = 0; k < c->n_methods; k++) {
        double *mean = rec + (size_t)k * 3 * H, *st = rec + (size_t)c->n_methods * 3 * H + k;
        recur_error e = {0};
        int base = k - (c->model != NULL);
        recur_status rc;
        for (size_t i = 0; i < (L + 1) * H; i++) c->lo[i] = c->hi[i] = NAN;
        if (base < 0)
            rc = c->model->predict(c->model->ctx, c->p, s, t, o->horizon, o->levels, o->n_levels, mean, c->lo, c->hi,
                                   &e);
        else
            rc = recur_baseline_forecast((recur_baseline)base, y + from, t - from, c->m, o->horizon, o->levels,
                                         o->n_levels, mean, c->lo, c->hi, &e);
        memcpy(mean + H, c->lo + c->wide * H, H * sizeof *mean);
        memcpy(mean + 2 * H, c->hi + c->wide * H, H * sizeof *mean);
        *st = (double)rc;
        if (rc && msg) msg[k] = e;
    }
    return 0;
}

/* The rank of N whose block [n*r/N, n*(r+1)/N) of n items holds item i:
 * the one that forecasts series i of n, or does fit i of a wave of n. */
static int block_owner(size_t n, size_t i, int N)
{
    int r = 0;
    while (r + 1 < N && i >= n * (size_t)(r + 1) / (size_t)N) r++;
    return r;
}

/* Scores series s at round j from rec (forecast_series's), in method order. */
static recur_status score_series(recur_backtest *b, const round_ctx *c, size_t s, size_t j, const double *rec,
                                 const recur_error *msg, recur_error *err)
{
    const recur_backtest_opts *o = c->o;
    size_t n = recur_panel_length(c->p, s), ntr = train_count(n, o->test_fraction), H = (size_t)o->horizon;
    size_t t = ntr + j * (size_t)o->stride, L = (size_t)o->n_levels;
    const double *y = recur_panel_values(c->p, s);
    for (int k = 0; k < c->n_methods; k++) {
        const double *mean = rec + (size_t)k * 3 * H, *lo = mean + H, *hi = mean + 2 * H;
        recur_status rc = (recur_status)(int)rec[(size_t)c->n_methods * 3 * H + k];
        recur_error e = {0};
        if (rc && msg) e = msg[k];
        else if (rc && c->pe)
            snprintf(e.msg, sizeof e.msg, "failed on rank %d of %d (the message is that rank's)",
                     block_owner(recur_panel_count(c->p), s, c->pe->size), c->pe->size);
        if (!rc) rc = recur_scorer_add(b->sc[k], s, y + t, mean, L ? lo : NULL, L ? hi : NULL, o->horizon, &e);
        if (rc)
            return rc_error(err, rc, "backtest: %s, series \"%s\", origin %zu: %s", b->name[k], recur_panel_id(c->p, s),
                            t, e.msg);
        if (s == 0) {
            const recur_backtest_path *q = &b->path[k];
            memcpy((double *)q->mean + j * H, mean, H * sizeof *mean);
            if (L) {
                memcpy((double *)q->lo + j * H, lo, H * sizeof *lo);
                memcpy((double *)q->hi + j * H, hi, H * sizeof *hi);
            }
        }
    }
    return RECUR_OK;
}

/* One round: every series forecast by every method, then scored in series
 * order. With peers, this rank forecasts its block of series and an
 * exchange (a chunk of c->per doubles per series, moved as floats' bytes,
 * with each chunk's "loss" 1 when it has no origin in the round) gives every
 * rank the others'. */
static recur_status run_round(recur_backtest *b, const round_ctx *c, size_t j, double *rec, double *skip,
                              recur_error *msg, recur_error *err)
{
    const recur_peers *pe = c->pe;
    size_t ns = recur_panel_count(c->p);
    if (!pe) {
        for (size_t s = 0; s < ns; s++) {
            if (forecast_series(c, s, j, rec, msg)) continue;
            recur_status rc = score_series(b, c, s, j, rec, msg, err);
            if (rc) return rc;
        }
        return RECUR_OK;
    }
    size_t lo = ns * (size_t)pe->rank / (size_t)pe->size, hi = ns * (size_t)(pe->rank + 1) / (size_t)pe->size;
    for (size_t s = lo; s < hi; s++) skip[s] = forecast_series(c, s, j, rec + s * c->per, msg + s * c->n_methods);
    const size_t words = c->per * sizeof *rec / sizeof(recur_float);
    if (ns > 0x7fffffff) return rc_error(err, RECUR_E_INVALID, "backtest: too many series to share between processes");
    recur_status rc = pe->exchange(pe, (recur_float *)(void *)rec, skip, words, (int)ns, err);
    if (rc) return rc;
    for (size_t s = 0; s < ns; s++) {
        if (skip[s] != 0) continue;
        int mine = s >= lo && s < hi;
        if ((rc = score_series(b, c, s, j, rec + s * c->per, mine ? msg + s * c->n_methods : NULL, err))) return rc;
    }
    return RECUR_OK;
}

/* Cold refits with peers: the fits are independent, so they are spread over
 * the ranks in waves of N: in each wave rank r fits fits [F*r/N, F*(r+1)/N)
 * of the wave's F (one each when F = N) from scratch and forecasts every
 * series in those fits' rounds; one exchange (a chunk per fit: for each of
 * its refit rounds and each series, a record and a "no origin" flag, and the
 * fit's status as its loss) gives every rank every forecast, which all then
 * score in the one-process order, round by round. */
static recur_status run_by_fit(recur_backtest *b, const round_ctx *c, size_t rounds, size_t *start, size_t *end,
                               recur_error *err)
{
    const recur_peers *pe = c->pe;
    const recur_backtest_opts *o = c->o;
    const size_t ns = recur_panel_count(c->p), K = (size_t)o->refit, N = (size_t)pe->size;
    const size_t slot = c->per + 1, chunk = K * ns * slot, fits = (rounds + K - 1) / K;
    double *rec = malloc(N * chunk * sizeof *rec), *fst = malloc(N * sizeof *fst);
    recur_error mine = {0};
    recur_status rc = RECUR_OK;
    if (!rec || !fst) {
        rc = rc_error(err, RECUR_E_NOMEM, "backtest: out of memory for %zu forecasts per fit", K * ns);
        goto done;
    }
    for (size_t w0 = 0; w0 < fits && !rc; w0 += N) {
        size_t F = fits - w0 < N ? fits - w0 : N;
        size_t lo = F * (size_t)pe->rank / N, hi = F * (size_t)(pe->rank + 1) / N;
        memset(rec, 0, F * chunk * sizeof *rec);
        for (size_t q = lo; q < hi; q++) {
            size_t j0 = (w0 + q) * K;
            double *base = rec + q * chunk;
            c->model->reset(c->model->ctx);
            recur_status st = fit_round(c->model, c->p, o, j0, start, end, &mine);
            fst[q] = (double)st;
            for (size_t jj = 0; jj < K; jj++)
                for (size_t s = 0; s < ns; s++) {
                    double *r = base + (jj * ns + s) * slot;
                    recur_error fm[MAX_METHODS];
                    memset(fm, 0, sizeof fm);
                    r[c->per] = st || j0 + jj >= rounds || forecast_series(c, s, j0 + jj, r, fm);
                    for (int k = 0; !r[c->per] && !mine.msg[0] && k < c->n_methods; k++)
                        if (r[(size_t)c->n_methods * 3 * (size_t)o->horizon + (size_t)k] != 0)
                            snprintf(mine.msg, sizeof mine.msg, "backtest: %s, series \"%s\", origin round %zu: %s",
                                     b->name[k], recur_panel_id(c->p, s), j0 + jj + 1, fm[k].msg);
                }
        }
        const size_t words = chunk * sizeof *rec / sizeof(recur_float);
        if ((rc = pe->exchange(pe, (recur_float *)(void *)rec, fst, words, (int)F, err))) break;
        for (size_t q = 0; q < F && !rc; q++) {
            size_t j0 = (w0 + q) * K;
            int here = q >= lo && q < hi;
            if (fst[q] != 0) {
                if (here) rc = rc_error(err, (recur_status)(int)fst[q], "%s", mine.msg);
                else
                    rc = rc_error(err, (recur_status)(int)fst[q], "%s: fit before origin %zu failed on rank %d of %d "
                                  "(the message is that rank's)", c->model->name, j0 + 1, block_owner(F, q, pe->size),
                                  pe->size);
                break;
            }
            for (size_t jj = 0; jj < K && j0 + jj < rounds && !rc; jj++)
                for (size_t s = 0; s < ns && !rc; s++) {
                    const double *r = rec + q * chunk + (jj * ns + s) * slot;
                    if (r[c->per] != 0) continue;
                    for (int k = 0; !rc && k < c->n_methods; k++) {
                        recur_status fs = (recur_status)(int)r[(size_t)c->n_methods * 3 * (size_t)o->horizon + k];
                        if (fs && here) rc = rc_error(err, fs, "%s", mine.msg);
                        else if (fs)
                            rc = rc_error(err, fs, "backtest: %s, series \"%s\", origin round %zu: failed on rank "
                                          "%d of %d (the message is that rank's)", b->name[k], recur_panel_id(c->p, s),
                                          j0 + jj + 1, block_owner(F, q, pe->size), pe->size);
                    }
                    if (!rc) rc = score_series(b, c, s, j0 + jj, r, NULL, err);
                }
        }
    }
done:
    free(rec);
    free(fst);
    return rc;
}

recur_status recur_backtest_run(const recur_panel *p, const recur_backtest_opts *o, const recur_method *model,
                                recur_backtest **out, recur_error *err)
{
    if (!out || !o) return rc_error(err, RECUR_E_INVALID, "recur_backtest_run: options and out are required");
    *out = NULL;
    if (model && (!model->predict || !model->name))
        return rc_error(err, RECUR_E_INVALID, "recur_backtest_run: the model method needs a name and predict");
    const recur_peers *pe = o->peers;
    if (pe && (pe->size < 1 || pe->rank < 0 || pe->rank >= pe->size || !pe->exchange))
        return rc_error(err, RECUR_E_INVALID, "backtest: peers must have 0 <= rank < size and an exchange function");
    if (o->cold && model && model->fit && !model->reset)
        return rc_error(err, RECUR_E_INVALID, "backtest: cold refits need a method that can reset (%s cannot)",
                        model->name);
    int m = o->season > 0 ? o->season : recur_panel_infer_season(p);
    recur_status rc = check_opts(p, o, m, err);
    if (rc) return rc;
    size_t ns = recur_panel_count(p), H = (size_t)o->horizon, L = (size_t)o->n_levels, rounds = 0, wide = 0;
    for (size_t l = 1; l < L; l++)
        if (o->levels[l] > o->levels[wide]) wide = l;
    recur_backtest *b = calloc(1, sizeof *b);
    size_t *start = malloc(ns * sizeof *start), *end = malloc(ns * sizeof *end);
    double *lo = malloc((L + 1) * H * sizeof *lo), *hi = malloc((L + 1) * H * sizeof *hi);
    double *rec = NULL, *skip = NULL;
    recur_error *msg = NULL;
    if (!b || !start || !end || !lo || !hi) goto nomem;
    b->H = o->horizon;
    b->season = m;
    if (model) b->name[b->n_methods++] = model->name;
    for (int k = 0; k < RECUR_N_BASELINES; k++) b->name[b->n_methods++] = recur_baseline_name((recur_baseline)k);
    if (pe && pe->size == 1) pe = NULL; /* one of one: nothing to exchange */
    round_ctx c = {p, o, model, pe, m, b->n_methods, wide, (size_t)b->n_methods * (3 * H + 1), lo, hi};
    /* one series' record, or with peers every series' (and their messages) */
    size_t slots = pe ? ns : 1;
    rec = calloc(slots * c.per, sizeof *rec);
    skip = calloc(slots, sizeof *skip);
    msg = calloc(slots * (size_t)b->n_methods, sizeof *msg);
    if (!rec || !skip || !msg) goto nomem;
    for (int k = 0; k < b->n_methods; k++)
        if ((rc = recur_scorer_new(o->horizon, &b->sc[k], err))) goto fail;
    for (size_t s = 0; s < ns; s++) {
        size_t n = recur_panel_length(p, s), ntr = train_count(n, o->test_fraction);
        size_t count = (n - H - ntr) / (size_t)o->stride + 1;
        double scale = recur_mase_scale(recur_panel_values(p, s), ntr, m);
        for (int k = 0; k < b->n_methods; k++)
            if ((rc = recur_scorer_series(b->sc[k], scale, err))) goto fail;
        if (count > rounds) rounds = count;
        b->origins += count;
    }
    { /* the first series' forecasts, for plots */
        size_t n0 = recur_panel_length(p, 0), ntr0 = train_count(n0, o->test_fraction);
        size_t c0 = (n0 - H - ntr0) / (size_t)o->stride + 1, per = c0 * H;
        if (!(b->path_buf = malloc(3 * per * (size_t)b->n_methods * sizeof *b->path_buf))) goto nomem;
        for (int k = 0; k < b->n_methods; k++) {
            double *base = b->path_buf + 3 * per * (size_t)k;
            for (size_t i = 0; i < 3 * per; i++) base[i] = NAN;
            b->path[k] = (recur_backtest_path){c0, ntr0, (size_t)o->stride, o->horizon, base, base + per,
                                               base + 2 * per};
        }
    }
    if (pe && o->cold && model && model->fit && o->refit > 0) { /* independent fits: spread by fit */
        if ((rc = run_by_fit(b, &c, rounds, start, end, err))) goto fail;
    } else {
        for (size_t j = 0; j < rounds; j++) {
            if (model && model->fit && (j == 0 || (o->refit > 0 && j % (size_t)o->refit == 0))) {
                if (o->cold) model->reset(model->ctx);
                if ((rc = fit_round(model, p, o, j, start, end, err))) goto fail;
            }
            if ((rc = run_round(b, &c, j, rec, skip, msg, err))) goto fail;
        }
    }
    *out = b;
    b = NULL;
    rc = RECUR_OK;
    goto done;
nomem:
    rc = rc_error(err, RECUR_E_NOMEM, "backtest: out of memory");
fail:
    recur_backtest_free(b);
done:
    free(start);
    free(end);
    free(lo);
    free(hi);
    free(rec);
    free(skip);
    free(msg);
    return rc;
}

size_t recur_backtest_origins(const recur_backtest *b) { return b ? b->origins : 0; }
int recur_backtest_n_methods(const recur_backtest *b) { return b ? b->n_methods : 0; }
int recur_backtest_season(const recur_backtest *b) { return b ? b->season : 0; }

const char *recur_backtest_method(const recur_backtest *b, int k)
{
    return b && k >= 0 && k < b->n_methods ? b->name[k] : NULL;
}

recur_scores recur_backtest_scores(const recur_backtest *b, int k, int step)
{
    if (!b || k < 0 || k >= b->n_methods) return recur_scorer_result(NULL, step);
    return recur_scorer_result(b->sc[k], step);
}

int recur_backtest_best(const recur_backtest *b)
{
    int best = -1;
    double bv = INFINITY;
    if (!b) return -1;
    int use_mase = 1;
    for (int k = 0; k < b->n_methods; k++)
        if (!isfinite(recur_scorer_result(b->sc[k], -1).mase)) use_mase = 0;
    for (int k = 0; k < b->n_methods; k++) {
        recur_scores r = recur_scorer_result(b->sc[k], -1);
        double v = use_mase ? r.mase : r.mae;
        if (v < bv) bv = v, best = k;
    }
    return best;
}

recur_backtest_path recur_backtest_first_series(const recur_backtest *b, int k)
{
    recur_backtest_path none = {0, 0, 1, 0, NULL, NULL, NULL};
    return b && k >= 0 && k < b->n_methods ? b->path[k] : none;
}
