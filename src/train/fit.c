/*
 * fit.c -- training orchestration: fit (epochs, shuffled mini-batches,
 * validation, early stopping, progress callback), evaluate and predict.
 * The math lives in nn/ and model.c; this file only schedules it.
 *
 * A batch is cut into chunks whose number depends on the batch size only
 * (see train.h); threads run chunks in their own workspaces, gradients are
 * summed in chunk order, so results are bit-identical for any thread count.
 * Keras conventions: validation_split takes the LAST fraction of the samples
 * before any shuffling; the epoch loss is the sample-weighted mean of the
 * batch losses; early stopping watches val_loss (or loss without validation).
 */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

recur_fit_opts recur_fit_opts_default(void)
{
    recur_fit_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 50;
    o.batch_size = 64;
    o.shuffle = 1;
    o.seed = 42;
    o.restore_best = 1;
    return o;
}

/* ====== Chunked batch execution ====== */

typedef struct {
    recur_model *m;
    const recur_float *x, *y; /* batch (B,T,F), targets (user layout) or NULL */
    recur_float *pred;        /* predictions out (user layout) or NULL */
    int B, T, n_chunks, n_threads, training;
    int c_lo, c_hi;           /* this process's chunks (all of them without peers) */
    double denom;             /* elements of the whole batch, for the gradient scale */
    uint64_t stream;
    double loss[RC_MAX_CHUNKS];
} job;

/* Chunks of about RC_CHUNK (16) samples: a step's gate rows, 16 x 4H floats
 * (25 KB at H = 100), then stay in the 32 KB L1 between the product and the
 * cell pass (chunks of 32 were 3-4 % slower per tutorial epoch). At least two
 * once a batch has 16 samples, so that a short last batch still keeps two
 * cores busy. A function of B alone, whatever the threads. */
static int n_chunks_for(int B)
{
    int c = (B + RC_CHUNK - 1) / RC_CHUNK;
    if (c < 2 && B >= 16) c = 2;
    return c < 1 ? 1 : c > RC_MAX_CHUNKS ? RC_MAX_CHUNKS : c;
}

static void run_chunks(void *arg, int tid)
{
    job *j = arg;
    recur_model *m = j->m;
    const size_t per_x = (size_t)j->T * m->F, per_y = rc_out_size(m, 1, j->T);
    for (int c = j->c_lo + tid; c < j->c_hi; c += j->n_threads) {
        int b0 = (int)((long)j->B * c / j->n_chunks), b1 = (int)((long)j->B * (c + 1) / j->n_chunks);
        int nb = b1 - b0;
        rc_ws *w = m->ws[tid];
        rc_ws_reserve(m, w, nb, j->T, NULL); /* capacity reserved by the caller: cannot fail */
        rc_ws_reuse_packs(m, w, c == j->c_lo + tid); /* each thread packs the weights once per batch */
        rc_forward(m, w, j->x + (size_t)b0 * per_x, nb, j->T, j->training, rc_seed_mix(j->stream, (uint64_t)c, 7));
        if (j->pred) memcpy(j->pred + (size_t)b0 * per_y, w->out, (size_t)nb * per_y * sizeof *w->out);
        if (j->y) {
            j->loss[c] = rc_loss_to_dy(m, w, j->y + (size_t)b0 * per_y, j->denom);
            if (j->training) {
                recur_float *g = c ? m->chunk_grads + (size_t)(c - 1) * m->n_params : m->grads;
                memset(g, 0, m->n_params * sizeof *g);
                rc_backward(m, w, g, NULL);
            }
        }
    }
}

static recur_status prepare(recur_model *m, int threads, int maxB, int T, recur_error *err)
{
    int n = threads > 0 ? threads : rc_default_threads();
    if (n > RC_MAX_THREADS) n = RC_MAX_THREADS;
    int nc = n_chunks_for(maxB);
    if (n > nc) n = nc;
    if (!m->pool_started || m->pool.n != n) {
        if (m->pool_started) rc_pool_stop(&m->pool), m->pool_started = 0;
        recur_status st = rc_pool_start(&m->pool, n, err);
        if (st) return st;
        m->pool_started = 1;
    }
    /* largest chunk of any batch up to maxB (batches shrink at the end of an epoch) */
    int per = maxB < RC_CHUNK ? maxB : RC_CHUNK;
    if ((maxB + RC_MAX_CHUNKS - 1) / RC_MAX_CHUNKS > per) per = (maxB + RC_MAX_CHUNKS - 1) / RC_MAX_CHUNKS;
    (void)nc;
    for (int t = 0; t < m->pool.n; t++) {
        rc_ws *w = rc_ws_at(m, t, err);
        if (!w) return RECUR_E_NOMEM;
        recur_status st = rc_ws_reserve(m, w, per, T, err);
        if (st) return st;
    }
    return RECUR_OK;
}

/* Runs one batch; *loss gets the batch's summed loss (when y given). With
 * peers (a data-parallel fit) and y, this process runs its range of the
 * chunks and the exchange brings the others' losses (and gradients when
 * training); predictions (pred) are not split. Fails only when the exchange
 * does. */
static recur_status run_batch(recur_model *m, const recur_float *x, const recur_float *y, recur_float *pred, int B,
                              int T, int training, uint64_t stream, double *loss, int *to_sum, recur_error *err)
{
    job j = {.m = m, .x = x, .y = y, .pred = pred, .B = B, .T = T, .training = training, .stream = stream,
             .n_chunks = n_chunks_for(B)};
    const recur_peers *pe = y && !pred ? m->peers : NULL;
    j.c_lo = pe ? (int)((long)j.n_chunks * pe->rank / pe->size) : 0;
    j.c_hi = pe ? (int)((long)j.n_chunks * (pe->rank + 1) / pe->size) : j.n_chunks;
    j.n_threads = m->pool.n < j.c_hi - j.c_lo ? m->pool.n : j.c_hi - j.c_lo;
    j.denom = (double)rc_out_size(m, B, T);
    if (j.n_threads == 1) run_chunks(&j, 0);
    else if (j.n_threads > 1) rc_pool_run(&m->pool, run_chunks, &j);
    if (to_sum) *to_sum = j.n_chunks; /* gradient chunks the update still has to sum */
    if (pe && training && pe->reduce) { /* the peers sum them, in chunk order */
        recur_status st = pe->reduce(pe, m->grads, j.loss, m->n_params, j.n_chunks, err);
        if (st) return st;
        if (to_sum) *to_sum = 1;
    } else if (pe) {
        recur_status st = pe->exchange(pe, training ? m->grads : NULL, j.loss, m->n_params, j.n_chunks, err);
        if (st) return st;
    }
    double s = 0;
    for (int c = 0; c < j.n_chunks; c++) s += j.loss[c];
    *loss = s;
    return RECUR_OK;
}

/* ====== Weight update, split by parameter range over the threads ======
 * Phase 0: sum the chunk gradients into grads (chunk order, per element, so
 * the sums do not depend on the thread count), keep the current weights in
 * prev, and the sum of squares of the gradients for the divergence check.
 * Phase 1: the optimizer on each range, and the sum of squares of the new
 * weights. The optimizer is elementwise, so ranges are independent.
 * Below RC_SERIAL_UPDATE weights the calling thread does both phases alone:
 * handing a phase to a sleeping worker took ~55 us here, more than the
 * phase's work saved (tutorial LSTM, 71k weights, per epoch of 31 batches:
 * 5.1 ms of updates split over two threads, 4.0 ms on the caller alone). */
#define RC_SERIAL_UPDATE 131072
typedef struct {
    recur_model *m;
    recur_float *prev;
    int n_chunks, n_threads, phase;
    double sq[RC_MAX_THREADS];
} update_job;

static void update_range(void *arg, int tid)
{
    update_job *u = arg;
    recur_model *m = u->m;
    size_t n = m->n_params, lo = n * (size_t)tid / (size_t)u->n_threads, hi = n * (size_t)(tid + 1) / (size_t)u->n_threads;
    if (u->phase == 0) {
        for (int c = 1; c < u->n_chunks; c++) rc_vadd(m->grads + lo, m->chunk_grads + (size_t)(c - 1) * n + lo, hi - lo);
        u->sq[tid] = rc_sumsq(m->grads + lo, hi - lo); /* only its finiteness is used */
        memcpy(u->prev + lo, m->params + lo, (hi - lo) * sizeof *u->prev);
    } else {
        rc_optimizer_step_range(m->opt, m->params, m->grads, lo, hi);
        u->sq[tid] = rc_sumsq(m->params + lo, hi - lo);
    }
}

static double run_update(update_job *u)
{
    if (u->n_threads <= 1) update_range(u, 0);
    else rc_pool_run(&u->m->pool, update_range, u);
    double s = 0;
    for (int t = 0; t < u->n_threads; t++) s += u->sq[t];
    return s;
}

/* ====== fit ====== */

static recur_status check_inputs(const recur_model *m, const recur_float *x, size_t n, int T, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (!m->compiled) return rc_error(err, RECUR_E_STATE, "model: call recur_model_compile before fit/predict");
    if (!x) return rc_error(err, RECUR_E_INVALID, "x is NULL");
    if (n < 1) return rc_error(err, RECUR_E_DATA, "no samples");
    if (T < 1 || T > 1000000) return rc_error(err, RECUR_E_INVALID, "timesteps must be in 1..1000000 (got %d)", T);
    if (n > ((size_t)1 << 40)) return rc_error(err, RECUR_E_INVALID, "too many samples (%zu)", n);
    return RECUR_OK;
}

static recur_status eval_loss(recur_model *m, const recur_float *x, const recur_float *y, size_t n, int T, int bs,
                              double *loss, recur_error *err)
{
    const size_t per_x = (size_t)T * m->F, per_y = rc_out_size(m, 1, T);
    double s = 0;
    for (size_t i = 0; i < n; i += (size_t)bs) {
        int B = (int)((n - i) < (size_t)bs ? (n - i) : (size_t)bs);
        double bl;
        recur_status st = run_batch(m, x + i * per_x, y + i * per_y, NULL, B, T, 0, 0, &bl, NULL, err);
        if (st) return st;
        s += bl;
    }
    *loss = s / ((double)n * (double)per_y);
    return RECUR_OK;
}

/* A fit in progress: the data, its split, the buffers and where the epoch
 * loop stands. recur_model_fit reads as the steps below, in order. */
typedef struct {
    recur_model *m;
    recur_fit_opts o;
    const recur_float *x, *y;   /* training samples: the first n_tr of x, y */
    const recur_float *xv, *yv; /* validation samples (nv of them; none when nv is 0) */
    size_t n_tr, nv, per_x, per_y;
    int T, bs, batches, clip;
    size_t *perm;               /* sample order, reshuffled every epoch */
    recur_float *xb, *yb;       /* the current batch, gathered */
    recur_float *best;          /* weights of the best epoch (early stopping with restore) */
    recur_float *prev;          /* weights before the last update */
    rc_rng shuf;
    uint64_t step;              /* batches done, across epochs: the dropout stream */
    double t0, best_val;
    int best_epoch, wait;
    recur_history *hist;
} fit_run;

static recur_status fit_check_opts(const recur_fit_opts *o, recur_error *err)
{
    if (o->epochs < 1 || o->epochs > 1000000)
        return rc_error(err, RECUR_E_INVALID, "fit: epochs must be in 1..1000000 (got %d)", o->epochs);
    if (o->batch_size < 1 || o->batch_size > 1 << 20)
        return rc_error(err, RECUR_E_INVALID, "fit: batch size must be in 1..1048576 (got %d)", o->batch_size);
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return rc_error(err, RECUR_E_INVALID, "fit: validation split must be in [0, 1) (got %g)",
                        o->validation_split);
    if (o->patience < 0) return rc_error(err, RECUR_E_INVALID, "fit: patience must be >= 0 (got %d)", o->patience);
    if (o->threads < 0) return rc_error(err, RECUR_E_INVALID, "fit: threads must be >= 0 (got %d)", o->threads);
    if (o->initial_epoch < 0 || o->initial_epoch >= o->epochs)
        return rc_error(err, RECUR_E_INVALID, "fit: initial epoch must be in 0..%d (got %d)", o->epochs - 1,
                        o->initial_epoch);
    const recur_peers *pe = o->peers;
    if (pe && (pe->size < 1 || pe->rank < 0 || pe->rank >= pe->size || !pe->exchange))
        return rc_error(err, RECUR_E_INVALID,
                        "fit: peers must have 0 <= rank < size and an exchange function (got rank %d of %d%s)",
                        pe->rank, pe->size, pe->exchange ? "" : ", no exchange");
    return RECUR_OK;
}

/* Training and validation samples: x_val when given, else Keras's split of
 * the last validation_split of x (never shuffled into training). */
static recur_status fit_split(fit_run *r, const recur_float *x_val, const recur_float *y_val, size_t n_val,
                              size_t n, recur_error *err)
{
    r->n_tr = n;
    r->xv = x_val;
    r->yv = y_val;
    r->nv = x_val ? n_val : 0;
    if (x_val && !y_val) return rc_error(err, RECUR_E_INVALID, "fit: x_val given without y_val");
    if (!x_val && r->o.validation_split > 0) {
        size_t split_at = (size_t)((double)n * (1.0 - r->o.validation_split)); /* Keras: int(n * (1 - split)) */
        if (split_at < 1 || split_at >= n)
            return rc_error(err, RECUR_E_DATA,
                            "fit: validation split %g of %zu samples leaves %zu for training and %zu for validation",
                            r->o.validation_split, n, split_at, n - split_at);
        r->n_tr = split_at;
        r->nv = n - split_at;
        r->xv = r->x + r->n_tr * r->per_x;
        r->yv = r->y + r->n_tr * r->per_y;
    }
    r->bs = (size_t)r->o.batch_size > r->n_tr ? (int)r->n_tr : r->o.batch_size;
    r->batches = (int)((r->n_tr + (size_t)r->bs - 1) / (size_t)r->bs);
    return RECUR_OK;
}

static recur_status fit_alloc(fit_run *r, recur_error *err)
{
    recur_model *m = r->m;
    int keep_best = r->o.patience > 0 && r->o.restore_best;
    r->perm = malloc(r->n_tr * sizeof *r->perm);
    r->xb = malloc((size_t)r->bs * r->per_x * sizeof *r->xb);
    r->yb = malloc((size_t)r->bs * r->per_y * sizeof *r->yb);
    r->best = keep_best ? malloc(m->n_params * sizeof *r->best) : NULL;
    r->prev = malloc(m->n_params * sizeof *r->prev);
    if (!r->perm || !r->xb || !r->yb || !r->prev || (keep_best && !r->best))
        return rc_error(err, RECUR_E_NOMEM, "fit: out of memory for %zu samples", r->n_tr);
    for (size_t i = 0; i < r->n_tr; i++) r->perm[i] = i;
    memcpy(r->prev, m->params, m->n_params * sizeof *r->prev);
    return RECUR_OK;
}

static void fit_free(fit_run *r)
{
    free(r->perm);
    free(r->xb);
    free(r->yb);
    free(r->best);
    free(r->prev);
}

/* Where a resumed fit stands (recur_fit_opts.initial_epoch), or a fresh start. */
static void fit_start(fit_run *r)
{
    rc_rng_seed(&r->shuf, rc_seed_mix(r->o.seed, 0x5eed, 1));
    r->t0 = rc_now();
    r->best_val = INFINITY;
    if (r->hist) r->hist->epochs_run = 0, r->hist->best_epoch = 0;
    r->step = (uint64_t)r->o.initial_epoch * (uint64_t)r->batches;
    if (r->o.initial_epoch > 0) {
        r->best_val = r->o.initial_best_epoch > 0 ? r->o.initial_best : INFINITY;
        r->best_epoch = r->o.initial_best_epoch;
        r->wait = r->o.initial_wait;
        if (r->best) memcpy(r->best, r->m->params, r->m->n_params * sizeof *r->best); /* not in a checkpoint */
    }
}

static void fit_shuffle(fit_run *r)
{
    if (!r->o.shuffle) return;
    for (size_t i = r->n_tr - 1; i > 0; i--) {
        size_t k = (size_t)rc_rng_below(&r->shuf, i + 1), t = r->perm[i];
        r->perm[i] = r->perm[k];
        r->perm[k] = t;
    }
}

/* Calls the progress callback; RECUR_E_INTERRUPTED when it asks to stop. */
static recur_status fit_report(fit_run *r, recur_progress *p, recur_error *err)
{
    p->epochs = r->o.epochs;
    p->batches = r->batches;
    p->seconds = rc_now() - r->t0;
    if (!r->o.progress || !r->o.progress(p, r->o.progress_user)) return RECUR_OK;
    if (p->epoch_end) return rc_error(err, RECUR_E_INTERRUPTED, "training stopped after epoch %d", p->epoch);
    return rc_error(err, RECUR_E_INTERRUPTED, "training stopped at epoch %d, batch %d of %d", p->epoch, p->batch,
                    r->batches);
}

/* Batch b of epoch e: gather, forward and backward over the chunks, update.
 * A loss, gradient or weight that is not finite restores the weights before
 * the update and ends the fit. *sum gets the batch's summed loss per output. */
static recur_status fit_batch(fit_run *r, int e, int b, double *sum, recur_error *err)
{
    recur_model *m = r->m;
    size_t s0 = (size_t)b * r->bs;
    int B = (int)((r->n_tr - s0) < (size_t)r->bs ? (r->n_tr - s0) : (size_t)r->bs);
    for (int i = 0; i < B; i++) {
        memcpy(r->xb + (size_t)i * r->per_x, r->x + r->perm[s0 + i] * r->per_x, r->per_x * sizeof *r->xb);
        memcpy(r->yb + (size_t)i * r->per_y, r->y + r->perm[s0 + i] * r->per_y, r->per_y * sizeof *r->yb);
    }
    double bl;
    int to_sum = 0;
    recur_status st =
        run_batch(m, r->xb, r->yb, NULL, B, r->T, 1, rc_seed_mix(r->o.seed, r->step++, 0xd50), &bl, &to_sum, err);
    if (st) return st;
    double bmean = bl / ((double)B * (double)r->per_y);
    update_job u;
    memset(&u, 0, sizeof u);
    u.m = m;
    u.prev = r->prev;
    u.n_chunks = to_sum;
    u.phase = 0;
    u.n_threads = m->n_params < RC_SERIAL_UPDATE ? 1 : m->pool.n;
    int bad = !isfinite(bmean) || !isfinite(run_update(&u));
    if (!bad && r->clip) { /* per-tensor norms: the serial path */
        if ((st = recur_model_apply_grads(m, err))) return st;
        bad = !isfinite(rc_sumsq(m->params, m->n_params));
    } else if (!bad) {
        u.phase = 1;
        bad = !isfinite(run_update(&u));
        rc_optimizer_advance(m->opt);
    }
    if (bad) {
        /* the weights before the update that broke them are the last good ones */
        memcpy(m->params, r->prev, m->n_params * sizeof *r->prev);
        return rc_error(err, RECUR_E_DIVERGED,
                        "training diverged at epoch %d, batch %d: the %s became NaN or infinite; the weights "
                        "of the last good step are kept. Lower the learning rate or clip gradients (clipnorm 1.0)",
                        e, b + 1, !isfinite(bmean) ? "loss" : "gradients or weights");
    }
    *sum += bl / (double)r->per_y;
    return RECUR_OK;
}

/* The end of epoch e: validation loss, early-stopping state, history,
 * progress. *stop is set when patience has run out. */
static recur_status fit_epoch_end(fit_run *r, int e, double loss, int *stop, recur_error *err)
{
    double vl = NAN;
    recur_status st = r->nv ? eval_loss(r->m, r->xv, r->yv, r->nv, r->T, r->bs, &vl, err) : RECUR_OK;
    if (st) return st;
    double mon = r->nv ? vl : loss;
    int improved = mon < r->best_val;
    if (improved) {
        r->best_val = mon;
        r->best_epoch = e;
        r->wait = 0;
        if (r->best) memcpy(r->best, r->m->params, r->m->n_params * sizeof *r->best);
    } else {
        r->wait++;
    }
    if (r->hist) {
        if (r->hist->loss) r->hist->loss[e - 1] = loss;
        if (r->hist->val_loss) r->hist->val_loss[e - 1] = vl;
        r->hist->epochs_run = e;
        r->hist->best_epoch = r->best_epoch;
    }
    if (!isfinite(loss) || (r->nv && !isfinite(vl)))
        return rc_error(err, RECUR_E_DIVERGED, "training diverged in epoch %d (loss %g, val_loss %g); lower the "
                        "learning rate or clip gradients", e, loss, vl);
    recur_progress p;
    memset(&p, 0, sizeof p);
    p.epoch = e;
    p.batch = 0;
    p.loss = loss;
    p.val_loss = vl;
    p.epoch_end = 1;
    p.improved = improved;
    p.best = r->best_val;
    p.best_epoch = r->best_epoch;
    p.wait = r->wait;
    st = fit_report(r, &p, err);
    *stop = r->o.patience > 0 && r->wait >= r->o.patience;
    return st;
}

static recur_status fit_epochs(fit_run *r, recur_error *err)
{
    for (int e = 1; e <= r->o.epochs; e++) {
        fit_shuffle(r);
        if (e <= r->o.initial_epoch) continue; /* replay the shuffles of the epochs already done */
        double sum = 0;
        size_t seen = 0;
        for (int b = 0; b < r->batches; b++) {
            recur_status st = fit_batch(r, e, b, &sum, err);
            if (st) return st;
            size_t s0 = (size_t)b * r->bs;
            seen += (r->n_tr - s0) < (size_t)r->bs ? (r->n_tr - s0) : (size_t)r->bs;
            recur_progress p;
            memset(&p, 0, sizeof p);
            p.epoch = e;
            p.batch = b + 1;
            p.loss = sum / (double)seen;
            p.val_loss = NAN;
            if ((st = fit_report(r, &p, err))) return st;
        }
        int stop = 0;
        recur_status st = fit_epoch_end(r, e, sum / (double)seen, &stop, err);
        if (st) return st;
        if (stop) break;
    }
    if (r->best && r->best_epoch > 0) memcpy(r->m->params, r->best, r->m->n_params * sizeof *r->best);
    return RECUR_OK;
}

recur_status recur_model_fit(recur_model *m, const recur_float *x, const recur_float *y, size_t n, int T,
                             const recur_float *x_val, const recur_float *y_val, size_t n_val,
                             const recur_fit_opts *opts, recur_history *hist, recur_error *err)
{
    recur_status st = check_inputs(m, x, n, T, err);
    if (st) return st;
    if (!y) return rc_error(err, RECUR_E_INVALID, "fit: y is NULL");
    fit_run r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.o = opts ? *opts : recur_fit_opts_default();
    r.x = x;
    r.y = y;
    r.T = T;
    r.hist = hist;
    r.per_x = (size_t)T * m->F;
    r.per_y = rc_out_size(m, 1, T);
    r.clip = m->copts.optim.clipnorm > 0 || m->copts.optim.clipvalue > 0;
    if ((st = fit_check_opts(&r.o, err)) || (st = fit_split(&r, x_val, y_val, n_val, n, err))) return st;
    rc_blas_enter();
    if (!(st = prepare(m, r.o.threads, r.bs, T, err)) && !(st = fit_alloc(&r, err))) {
        fit_start(&r);
        m->peers = r.o.peers;
        st = fit_epochs(&r, err);
        m->peers = NULL;
    }
    rc_blas_leave();
    fit_free(&r);
    return st;
}

/* ====== predict / evaluate ====== */

#define PREDICT_BATCH 256

recur_status recur_model_predict(recur_model *m, const recur_float *x, size_t n, int T, recur_float *y_out,
                                 recur_error *err)
{
    recur_status st = check_inputs(m, x, n, T, err);
    if (st) return st;
    if (!y_out) return rc_error(err, RECUR_E_INVALID, "predict: y_out is NULL");
    int bs = n < PREDICT_BATCH ? (int)n : PREDICT_BATCH;
    rc_blas_enter();
    if (!(st = prepare(m, 0, bs, T, err))) {
        const size_t per_x = (size_t)T * m->F, per_y = rc_out_size(m, 1, T);
        for (size_t i = 0; i < n; i += (size_t)bs) {
            int B = (int)((n - i) < (size_t)bs ? (n - i) : (size_t)bs);
            double unused;
            run_batch(m, x + i * per_x, NULL, y_out + i * per_y, B, T, 0, 0, &unused, NULL, NULL); /* cannot fail */
        }
    }
    rc_blas_leave();
    return st;
}

recur_status recur_model_evaluate(recur_model *m, const recur_float *x, const recur_float *y, size_t n, int T,
                                  double *loss, double *mae, double *rmse, recur_error *err)
{
    recur_status st = check_inputs(m, x, n, T, err);
    if (st) return st;
    if (!y) return rc_error(err, RECUR_E_INVALID, "evaluate: y is NULL");
    size_t per_y = rc_out_size(m, 1, T), k = n * per_y;
    recur_float *p = malloc(k * sizeof *p);
    if (!p) return rc_error(err, RECUR_E_NOMEM, "evaluate: out of memory");
    if ((st = recur_model_predict(m, x, n, T, p, err))) {
        free(p);
        return st;
    }
    double sa = 0, ss = 0;
    for (size_t i = 0; i < k; i++) {
        double d = (double)p[i] - (double)y[i];
        sa += fabs(d);
        ss += d * d;
    }
    if (loss) *loss = m->copts.loss == RECUR_LOSS_MAE ? sa / (double)k : ss / (double)k;
    if (mae) *mae = sa / (double)k;
    if (rmse) *rmse = sqrt(ss / (double)k);
    free(p);
    return RECUR_OK;
}
