/*
 * test_peers.c -- data-parallel fit through recur_fit_opts.peers, without
 * MPI: "ranks" are threads of this process, each fitting its own copy of the
 * model, and the exchange copies chunks between them behind a barrier. The
 * weights must be bit-identical to one process's fit for any number of ranks
 * (also more ranks than chunks); each rank must compute exactly its own
 * range of chunks; a failing exchange ends fit with its status; bad peers
 * are refused. The same exchange shares a forecaster's ensemble (seeds
 * split, or each network data-parallel) and a backtest's forecasts (by
 * series, or by fit with cold refits): forecasts and scores equal one
 * process's, bit for bit, and a network failing on one rank fails the fit on
 * every rank.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

#define N 300       /* windows */
#define T 12        /* steps per window */
#define MAX_RANKS 9

static float xs[N * T], ys[N];

static void series(void)
{
    unsigned r = 7;
    float s[N + T];
    for (int i = 0; i < N + T; i++) {
        r = r * 1103515245u + 12345u;
        s[i] = (float)(0.5 + 0.4 * sin(i * 0.25) + ((double)(r >> 8) / 16777216.0 - 0.5) * 0.05);
    }
    for (int k = 0; k < N; k++) {
        for (int t = 0; t < T; t++) xs[k * T + t] = s[k + t];
        ys[k] = s[k + T];
    }
}

/* ====== The in-process "network" ====== */

typedef struct {
    pthread_barrier_t bar;
    int size;
    recur_float *grads[MAX_RANKS];
    double *loss[MAX_RANKS];
    int calls[MAX_RANKS];
    int fail_at;   /* exchange call (1-based) that fails on every rank; 0 = none */
    int bad_split; /* a rank found a chunk computed outside its range, or its own missing */
    recur_float *sum; /* reduce's running sum: the chunk-0 slot of the last rank that added to it */
    int reduced;      /* reduce calls (every rank's) */
} hub;

static int lo_of(int n, int r, int size) { return (int)((long)n * r / size); }

static recur_status exchange(const recur_peers *p, recur_float *grads, double *loss, size_t n_params, int n_chunks,
                             recur_error *err)
{
    hub *h = p->user;
    int r = p->rank, lo = lo_of(n_chunks, r, p->size), hi = lo_of(n_chunks, r + 1, p->size);
    /* fit leaves the losses of chunks it did not compute at 0; MSE of a chunk is > 0 */
    for (int c = 0; c < n_chunks; c++)
        if ((c >= lo && c < hi) != (loss[c] > 0)) h->bad_split = 1;
    if (++h->calls[r] == h->fail_at) {
        pthread_barrier_wait(&h->bar);
        snprintf(err->msg, sizeof err->msg, "test network down");
        err->code = RECUR_E_IO;
        return RECUR_E_IO;
    }
    h->grads[r] = grads;
    h->loss[r] = loss;
    pthread_barrier_wait(&h->bar);
    for (int q = 0; q < p->size; q++) {
        if (q == r) continue;
        int qlo = lo_of(n_chunks, q, p->size), qhi = lo_of(n_chunks, q + 1, p->size);
        for (int c = qlo; c < qhi; c++) {
            if (grads) memcpy(grads + (size_t)c * n_params, h->grads[q] + (size_t)c * n_params, n_params * sizeof *grads);
            loss[c] = h->loss[q][c];
        }
    }
    pthread_barrier_wait(&h->bar); /* nobody overwrites its chunks before all have read them */
    return RECUR_OK;
}

/* reduce: the chain of recur_peers.reduce, one rank after the other behind
 * barriers: a rank with chunks takes the running sum (in its chunk-0 slot),
 * adds its chunks in order and leaves it for the next; then every rank
 * copies the total. */
static recur_status reduce(const recur_peers *p, recur_float *grads, double *loss, size_t n_params, int n_chunks,
                           recur_error *err)
{
    hub *h = p->user;
    int r = p->rank, lo = lo_of(n_chunks, r, p->size), hi = lo_of(n_chunks, r + 1, p->size);
    h->calls[r]++;
    h->reduced++;
    h->grads[r] = grads;
    h->loss[r] = loss;
    pthread_barrier_wait(&h->bar);
    for (int q = 0; q < p->size; q++) {
        if (q == r && hi > lo) {
            int c = lo;
            if (h->sum) memcpy(grads, h->sum, n_params * sizeof *grads);
            else c++; /* chunk 0 is the slot */
            for (; c < hi; c++)
                for (size_t i = 0; i < n_params; i++) grads[i] += grads[(size_t)c * n_params + i];
            h->sum = grads;
        }
        pthread_barrier_wait(&h->bar);
    }
    if (h->sum != grads) memcpy(grads, h->sum, n_params * sizeof *grads);
    for (int q = 0; q < p->size; q++)
        for (int c = lo_of(n_chunks, q, p->size); q != r && c < lo_of(n_chunks, q + 1, p->size); c++)
            loss[c] = h->loss[q][c];
    pthread_barrier_wait(&h->bar);
    if (r == 0) h->sum = NULL;
    pthread_barrier_wait(&h->bar);
    (void)err;
    return RECUR_OK;
}

/* ====== One rank ====== */

typedef struct {
    hub *h;
    recur_peers peers;
    int batch;
    recur_status st;
    recur_error err;
    float *params; /* out, malloc'd */
    size_t n_params;
} rank_job;

static recur_model *small_model(void)
{
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(1, &m, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_lstm(m, 8, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dropout(m, 0.2f, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_gru(m, 6, 0, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dense(m, 1, RECUR_ACT_LINEAR, NULL), RECUR_OK);
    assert_int_equal(recur_model_compile(m, NULL, NULL), RECUR_OK);
    return m;
}

/* fit with validation and early stopping; the weights into j->params */
static void *fit_rank(void *arg)
{
    rank_job *j = arg;
    recur_model *m = small_model();
    recur_fit_opts fo = recur_fit_opts_default();
    fo.epochs = 3, fo.batch_size = j->batch, fo.threads = 1, fo.validation_split = 0.2, fo.patience = 1;
    fo.peers = j->h ? &j->peers : NULL;
    j->st = recur_model_fit(m, xs, ys, N, T, NULL, NULL, 0, &fo, NULL, &j->err);
    j->n_params = recur_model_n_params(m);
    j->params = malloc(j->n_params * sizeof *j->params);
    memcpy(j->params, recur_model_params(m), j->n_params * sizeof *j->params);
    recur_model_free(m);
    return NULL;
}

/* size ranks as threads; every rank's weights must equal ref (n floats);
 * chain: with reduce for the gradients */
static void ranks_with(int size, int batch, int fail_at, int chain, const float *ref, size_t n)
{
    hub h;
    memset(&h, 0, sizeof h);
    h.size = size;
    h.fail_at = fail_at;
    pthread_barrier_init(&h.bar, NULL, (unsigned)size);
    pthread_t th[MAX_RANKS];
    rank_job j[MAX_RANKS];
    memset(j, 0, sizeof j);
    for (int r = 0; r < size; r++) {
        j[r].h = &h;
        j[r].batch = batch;
        j[r].peers = (recur_peers){.rank = r, .size = size, .exchange = exchange, .user = &h,
                                   .reduce = chain ? reduce : NULL};
        assert_int_equal(pthread_create(&th[r], NULL, fit_rank, &j[r]), 0);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&h.bar);
    assert_false(h.bad_split);
    if (chain) assert_true(h.reduced > 0);
    else assert_int_equal(h.reduced, 0);
    for (int r = 0; r < size; r++) {
        if (fail_at) {
            assert_int_equal(j[r].st, RECUR_E_IO);
            assert_string_equal(j[r].err.msg, "test network down");
            assert_int_equal(h.calls[r], fail_at);
        } else {
            assert_int_equal(j[r].st, RECUR_OK);
            assert_int_equal(j[r].n_params, n);
            assert_memory_equal(j[r].params, ref, n * sizeof *ref);
        }
        free(j[r].params);
    }
}

static void ranks(int size, int batch, int fail_at, const float *ref, size_t n)
{
    ranks_with(size, batch, fail_at, 0, ref, n);
}

static void one_process(int batch, float **ref, size_t *n)
{
    rank_job j;
    memset(&j, 0, sizeof j);
    j.batch = batch;
    fit_rank(&j);
    assert_int_equal(j.st, RECUR_OK);
    *ref = j.params;
    *n = j.n_params;
}

static void t_bit_identical_any_ranks(void **s)
{
    (void)s;
    series();
    /* 240 training windows: batches of 100, 100, 40 (7, 7 and 3 chunks); of 64: 4 chunks, last 48: 3 */
    int batches[] = {100, 64};
    for (int b = 0; b < 2; b++) {
        float *ref;
        size_t n;
        one_process(batches[b], &ref, &n);
        /* not all zeros, and training moved it: another batch size gives other weights */
        double sq = 0;
        for (size_t i = 0; i < n; i++) sq += (double)ref[i] * ref[i];
        assert_true(sq > 0);
        int sizes[] = {1, 2, 3, 5, 9}; /* 9 > 7 chunks: some ranks compute nothing */
        for (int k = 0; k < 5; k++) ranks(sizes[k], batches[b], 0, ref, n);
        for (int k = 0; k < 5; k++) ranks_with(sizes[k], batches[b], 0, 1, ref, n); /* the chain sum */
        free(ref);
    }
}

static void t_exchange_failure_ends_fit(void **s)
{
    (void)s;
    series();
    ranks(3, 100, 2, NULL, 0); /* the second exchange fails */
}

static void t_bad_peers(void **s)
{
    (void)s;
    series();
    recur_model *m = small_model();
    recur_fit_opts fo = recur_fit_opts_default();
    recur_peers p = {.rank = 2, .size = 2, .exchange = exchange};
    fo.peers = &p;
    recur_error err;
    assert_int_equal(recur_model_fit(m, xs, ys, N, T, NULL, NULL, 0, &fo, NULL, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "rank 2 of 2"));
    p.rank = 0, p.exchange = NULL;
    assert_int_equal(recur_model_fit(m, xs, ys, N, T, NULL, NULL, 0, &fo, NULL, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "no exchange"));
    recur_model_free(m);
}

/* ====== The ensemble and the backtest across "ranks" ======
 * recur_forecaster_opts.peers (seeds split when size divides them, else
 * each network data-parallel) and recur_backtest_opts.peers (each round's
 * forecasts split by series): every rank ends with one process's results. */

#define NS 5   /* series */
#define LEN 90 /* values per series */
#define FH 3   /* horizon */

static recur_panel *small_panel(void)
{
    recur_panel *p = NULL;
    assert_int_equal(recur_panel_new(1, &p, NULL), RECUR_OK);
    unsigned r = 11;
    for (int k = 0; k < NS; k++) {
        double y[LEN];
        char id[8];
        for (int i = 0; i < LEN; i++) {
            r = r * 1103515245u + 12345u;
            y[i] = 10.0 * (k + 1) * (1 + 0.3 * sin(6.2831853 * i / 6.0)) + (double)(r >> 8) / 16777216.0;
        }
        snprintf(id, sizeof id, "s%d", k);
        assert_int_equal(recur_panel_add(p, id, y, NULL, (size_t)LEN - 5 * (size_t)k, NULL), RECUR_OK);
    }
    return p;
}

/* What a job run as one rank of run_ranks starts with: its hub (NULL when
 * the job runs as one process) and its peers. */
typedef struct {
    hub *h;
    recur_peers peers;
} rank_of;

/* fn on `size` threads, rank r on jobs[r] (job bytes each, a rank_of first),
 * its hub and peers set, all sharing one exchange; returns once all are done. */
static void run_ranks(int size, void *jobs, size_t job, void *(*fn)(void *))
{
    hub h;
    memset(&h, 0, sizeof h);
    h.size = size;
    pthread_barrier_init(&h.bar, NULL, (unsigned)size);
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < size; r++) {
        rank_of *k = (rank_of *)((char *)jobs + (size_t)r * job);
        k->h = &h;
        k->peers = (recur_peers){.rank = r, .size = size, .exchange = exchange, .user = &h};
        assert_int_equal(pthread_create(&th[r], NULL, fn, k), 0);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&h.bar);
}

/* A backtest of the forecaster method with options o: every method's pooled
 * and per-step scores into sc. */
static recur_status backtest_scores(const recur_panel *p, const recur_forecaster_opts *o,
                                    const recur_backtest_opts *bo, recur_scores sc[5][FH + 1], recur_error *err)
{
    recur_method m;
    recur_backtest *b = NULL;
    recur_status st = recur_forecaster_method_new(o, &m, err);
    if (st) return st;
    st = recur_backtest_run(p, bo, &m, &b, err);
    for (int k = 0; !st && k < recur_backtest_n_methods(b); k++)
        for (int t = -1; t < FH; t++) sc[k][t + 1] = recur_backtest_scores(b, k, t);
    recur_backtest_free(b);
    recur_forecaster_method_free(&m);
    return st;
}

typedef struct {
    rank_of rk;
    int seeds;
    int stop_rank; /* the rank whose progress callback stops its networks (-1: none) */
    recur_status st;
    recur_error err;
    double fc[NS * FH];                /* the forecaster's forecasts of every series */
    recur_scores sc[5][FH + 1];        /* the backtest's scores: pooled, then per step */
} fc_job;

static int stop_here(int net, int nets, const recur_progress *q, void *user)
{
    (void)net, (void)nets, (void)q;
    const fc_job *j = user;
    return j->rk.h && j->rk.peers.rank == j->stop_rank;
}

static void *fc_rank(void *arg)
{
    fc_job *j = arg;
    recur_panel *p = small_panel();
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
    o.horizon = FH, o.season = 6, o.seeds = j->seeds, o.epochs = 2, o.max_windows = 64, o.batch_size = 32;
    o.threads = 1, o.layers = "lstm(4) dense(1)";
    o.peers = j->rk.h ? &j->rk.peers : NULL;
    o.progress = stop_here, o.progress_user = j;
    recur_forecaster *f = NULL;
    j->st = recur_forecaster_fit(&o, p, NULL, &f, &j->err);
    for (size_t s = 0; !j->st && s < NS; s++)
        j->st = recur_forecaster_predict(f, recur_panel_id(p, s), recur_panel_values(p, s), recur_panel_length(p, s),
                                         FH, NULL, 0, j->fc + s * FH, NULL, NULL, &j->err);
    recur_forecaster_free(f);
    double lv[] = {80, 95};
    recur_backtest_opts bo = recur_backtest_opts_default();
    bo.horizon = FH, bo.season = 6, bo.stride = 2, bo.refit = 3, bo.levels = lv, bo.n_levels = 2;
    bo.peers = o.peers;
    if (!j->st) j->st = backtest_scores(p, &o, &bo, j->sc, &j->err);
    recur_panel_free(p);
    return NULL;
}

static void t_forecaster_and_backtest_any_ranks(void **s)
{
    (void)s;
    for (int seeds = 1; seeds <= 3; seeds += 2) {
        fc_job ref;
        memset(&ref, 0, sizeof ref);
        ref.seeds = seeds, ref.stop_rank = -1;
        fc_rank(&ref);
        assert_int_equal(ref.st, RECUR_OK);
        assert_true(ref.sc[0][0].n > 0 && isfinite(ref.sc[0][0].mae) && isfinite(ref.fc[0]));
        /* seeds 3: on 2 ranks 2 split and 1 data-parallel, on 3 split, on 6 (> NS series) data-parallel */
        int sizes[] = {1, 2, 3, 6};
        for (int z = 0; z < 4; z++) {
            int size = sizes[z];
            fc_job *j = calloc((size_t)size, sizeof *j);
            assert_non_null(j);
            for (int r = 0; r < size; r++) j[r].seeds = seeds, j[r].stop_rank = -1;
            run_ranks(size, j, sizeof *j, fc_rank);
            for (int r = 0; r < size; r++) {
                assert_int_equal(j[r].st, RECUR_OK);
                assert_memory_equal(j[r].fc, ref.fc, sizeof ref.fc);
                assert_memory_equal(j[r].sc, ref.sc, sizeof ref.sc);
            }
            free(j);
        }
    }
}

/* Cold refits (recur_backtest_opts.cold): every fit from scratch, so the fits
 * are spread over the ranks by fit (the method trains alone). The scores
 * equal one process's cold backtest, which differs from the warm one. */
typedef struct {
    rank_of rk;
    int cold;
    recur_status st;
    recur_error err;
    recur_scores sc[5][FH + 1];
} cold_job;

static void *cold_rank(void *arg)
{
    cold_job *j = arg;
    recur_panel *p = small_panel();
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
    o.horizon = FH, o.season = 6, o.seeds = 1, o.epochs = 2, o.max_windows = 64, o.batch_size = 32;
    o.threads = 1, o.layers = "lstm(4) dense(1)";
    recur_backtest_opts bo = recur_backtest_opts_default();
    bo.horizon = FH, bo.season = 6, bo.stride = 2, bo.refit = 2, bo.cold = j->cold;
    bo.peers = j->rk.h ? &j->rk.peers : NULL;
    j->st = backtest_scores(p, &o, &bo, j->sc, &j->err);
    recur_panel_free(p);
    return NULL;
}

static void t_cold_refits_spread_by_fit(void **s)
{
    (void)s;
    cold_job warm, ref;
    memset(&warm, 0, sizeof warm);
    memset(&ref, 0, sizeof ref);
    ref.cold = 1;
    cold_rank(&warm);
    cold_rank(&ref);
    assert_int_equal(warm.st, RECUR_OK);
    assert_int_equal(ref.st, RECUR_OK);
    assert_true(ref.sc[0][0].n > 0);
    assert_true(memcmp(&warm.sc[0][0], &ref.sc[0][0], sizeof ref.sc[0][0]) != 0); /* the model's scores moved */
    assert_memory_equal(&warm.sc[1], &ref.sc[1], sizeof ref.sc[1]);              /* the baselines' did not */
    int sizes[] = {1, 2, 3, 7}; /* 8 rounds, a fit every 2: 4 fits; 7 ranks idle some */
    for (int z = 0; z < 4; z++) {
        int size = sizes[z];
        cold_job *j = calloc((size_t)size, sizeof *j);
        assert_non_null(j);
        for (int r = 0; r < size; r++) j[r].cold = 1;
        run_ranks(size, j, sizeof *j, cold_rank);
        for (int r = 0; r < size; r++) {
            assert_int_equal(j[r].st, RECUR_OK);
            assert_memory_equal(j[r].sc, ref.sc, sizeof ref.sc);
        }
        free(j);
    }
}

/* A network stopped on rank 1 (its own progress callback) fails the fit on
 * every rank, after the exchange: none is left waiting. */
static void t_ensemble_failure_reaches_every_rank(void **s)
{
    (void)s;
    fc_job j[2];
    memset(j, 0, sizeof j);
    for (int r = 0; r < 2; r++) j[r].seeds = 4, j[r].stop_rank = 1;
    run_ranks(2, j, sizeof *j, fc_rank);
    assert_int_equal(j[1].st, RECUR_E_INTERRUPTED);
    assert_non_null(strstr(j[1].err.msg, "training stopped at epoch 1"));
    assert_int_equal(j[0].st, RECUR_E_INTERRUPTED);
    assert_non_null(strstr(j[0].err.msg, "network 3 failed on rank 1 of 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_bit_identical_any_ranks),
        cmocka_unit_test(t_exchange_failure_ends_fit),
        cmocka_unit_test(t_bad_peers),
        cmocka_unit_test(t_forecaster_and_backtest_any_ranks),
        cmocka_unit_test(t_ensemble_failure_reaches_every_rank),
        cmocka_unit_test(t_cold_refits_spread_by_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
