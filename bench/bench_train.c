/*
 * bench_train.c -- times recur's training epoch, prediction and the BLAS sgemm
 * it runs on, through the public API only. One case per process, so that the
 * peak RSS printed at the end belongs to that case alone. bench/run.sh runs
 * every case (and bench/torch_bench.py beside it) and prints the table.
 *
 * Cases:
 *   tutorial      LSTM(50,seq) Dropout(0.2) LSTM(100) Dropout(0.2) Dense(1),
 *                 F=1, T=60, batch 64, RMSprop, 1200 windows: seconds per epoch
 *   tutorial-gru  the same with GRU (reset_after=1, as torch.nn.GRU)
 *   tutorial-rnn  the same with SimpleRNN (tanh)
 *   big           LSTM(256,seq) LSTM(256) Dense(1), T=100, batch 128, 512
 *                 windows by default (--windows changes it)
 *   predict1      tutorial model, latency of recur_model_predict(n=1), us
 *   predict64     tutorial model, throughput of recur_model_predict(n=64),
 *                 windows per second
 *   predict1-stream  tutorial model, latency of recur_stream_predict on one
 *                 window (the batch-1 path without training caches), us
 *   step          tutorial model, latency of one recur_stream_step of a
 *                 stream under way, us
 *   sgemm         single-thread cblas_sgemm GFLOP/s at the shapes of one
 *                 step's [x_t h_{t-1}] [W; U] for a 16-row chunk (tutorial
 *                 layers 1 and 2, big layer 2) and at 1024^3 (BLAS=1 build),
 *                 beside recur's own kernel (rc_pgemm, B packed once); then
 *                 the 2-thread rate at 1024^3 (cblas_sgemm on 2 threads, and
 *                 two threads of rc_pgemm at once)
 *   window-floor  the part of predict1-stream no code can avoid on one core:
 *                 T=60 products of h (1 x 100) by the tutorial's layer-2
 *                 recurrent weights U (100 x 400, 160 KB, cache-warm), in
 *                 the shortest loop this machine has (25 AVX-512 accumulators,
 *                 one load and one FMA per 16 weights), us per 60 products
 *
 * Training: one recur_model_fit(epochs=1, shuffle=1) per repetition on the
 * same model, so building, compiling and the first workspace allocation are
 * left out; --warmup epochs run first and are not timed. Prediction: every
 * call is timed on its own; --reps is the number of timed calls. --budget
 * cuts the timed epochs short on a slow machine; the output says how many ran.
 *
 * FLOP count (matrix products only), per recurrent layer with input width I,
 * H units and G gates (LSTM 4, GRU 3, SimpleRNN 1), per epoch of N windows of
 * T steps:  forward 2*N*T*(I+H)*G*H  (x.W and h.U for every step), backward
 * twice that (dW, dU, dx, dh), so 3x forward in all. Dense: 2*N*I*O forward
 * (times T on sequences), same 3x. Element-wise gate work is not counted.
 * Prediction counts the forward part only.
 *
 * Not done here: no check of the numbers computed (tests/ does that), no
 * pass/fail against targets (run.sh prints them beside the figures).
 */
#define _GNU_SOURCE
#include "recur.h"
#include "train/train.h" /* internal: rc_default_threads, what threads=0 resolves to; rc_pgemm */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef RECUR_BLAS
#include <cblas.h>
#endif

/* ====== Options ====== */

typedef struct {
    const char *name;
    int windows, T, batch;   /* training data shape */
    int reps, warmup;        /* defaults for this case */
} case_info;

static const case_info CASES[] = {
    {"tutorial", 1200, 60, 64, 5, 1},
    {"tutorial-gru", 1200, 60, 64, 5, 1},
    {"tutorial-rnn", 1200, 60, 64, 5, 1},
    {"big", 512, 100, 128, 3, 1},
    {"predict1", 1, 60, 1, 2000, 200},
    {"predict64", 64, 60, 64, 300, 30},
    {"predict1-stream", 1, 60, 1, 2000, 200},
    {"step", 1, 60, 1, 20000, 2000},
    {"sgemm", 0, 0, 0, 5, 1},
    {"window-floor", 1, 60, 1, 2000, 200},
};

typedef struct {
    const case_info *c;
    int threads, reps, warmup, windows, json;
    double budget;           /* training: stop timing after this many seconds (0: off) */
} bench_opts;

static void usage(FILE *f)
{
    fprintf(f, "Usage: bench_train [options]\n"
               "  --case NAME   tutorial|tutorial-gru|tutorial-rnn|big|predict1|predict64|\n"
               "                predict1-stream|step|sgemm|window-floor (tutorial)\n"
               "  --threads N   worker threads for fit, 0 = recur's default (0);\n"
               "                predict uses recur's default whatever N is\n"
               "  --reps R      timed epochs, or timed calls for predict* (per case)\n"
               "  --warmup W    untimed epochs or calls first (per case)\n"
               "  --windows N   training windows (tutorial* 1200, big 512); not for predict*\n"
               "  --budget S    training: stop after the first timed epoch that ends\n"
               "                past S seconds from the start (0 = off; \"reps\" says how many ran)\n"
               "  --json        one JSON object on stdout instead of text\n");
}

static int parse_int(const char *opt, const char *s, int lo, int *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *s == '\0' || *end != '\0' || v < lo || v > 100000000) {
        fprintf(stderr, "bench_train: %s needs an integer >= %d (got \"%s\")\n", opt, lo, s ? s : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Returns 0 on success, 1 for --help, -1 on a usage error. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    const char *cname = "tutorial";
    int reps = -1, warmup = -1, windows = -1;
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        char key[32];
        size_t kl = eq ? (size_t)(eq - a) : strlen(a);
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, a, kl), key[kl] = '\0';
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        int takes = 1, rc = 0;
        if (!strcmp(key, "--help") || !strcmp(key, "-h")) return 1;
        if (!strcmp(key, "--json")) o->json = 1, takes = 0;
        else if (!strcmp(key, "--case")) cname = val;
        else if (!strcmp(key, "--threads")) rc = parse_int(key, val, 0, &o->threads);
        else if (!strcmp(key, "--reps")) rc = parse_int(key, val, 1, &reps);
        else if (!strcmp(key, "--warmup")) rc = parse_int(key, val, 0, &warmup);
        else if (!strcmp(key, "--windows")) rc = parse_int(key, val, 1, &windows);
        else if (!strcmp(key, "--budget")) {
            char *end;
            o->budget = val ? strtod(val, &end) : -1;
            if (!val || *val == '\0' || *end != '\0' || !(o->budget >= 0)) {
                fprintf(stderr, "bench_train: --budget needs seconds >= 0 (got \"%s\")\n", val ? val : "");
                return -1;
            }
        }
        else {
            fprintf(stderr, "bench_train: unknown option \"%s\"\n", a);
            return -1;
        }
        if (rc) return -1;
        if (takes && !val) {
            fprintf(stderr, "bench_train: %s needs a value\n", key);
            return -1;
        }
        if (takes && !eq) i++;
    }
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++)
        if (cname && !strcmp(cname, CASES[k].name)) o->c = &CASES[k];
    if (!o->c) {
        fprintf(stderr, "bench_train: unknown case \"%s\"\n", cname ? cname : "");
        return -1;
    }
    o->reps = reps > 0 ? reps : o->c->reps;
    o->warmup = warmup >= 0 ? warmup : o->c->warmup;
    o->windows = windows > 0 ? windows : o->c->windows;
    return 0;
}

/* ====== Small helpers: clock, statistics, data ====== */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min, max, p90;
} stats;

/* Sorts v in place. */
static stats stats_of(double *v, int n)
{
    stats s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0], s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.p90 = v[(int)(0.9 * (n - 1) + 0.5)];
    return s;
}

/* CPU seconds (user + system) of every thread of this process so far. */
static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* splitmix64: a seeded stream for the synthetic series. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s) { return ((double)(next_u64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

/* Windows of a seeded Gaussian random walk scaled to [0,1]: x (n,T,1) holds
 * steps k..k+T-1 and y (n,1) step k+T. Returns 0, or -1 out of memory. */
static int make_windows(int n, int T, recur_float **x_out, recur_float **y_out)
{
    size_t len = (size_t)n + (size_t)T;
    double *s = malloc(len * sizeof *s);
    recur_float *x = malloc((size_t)n * (size_t)T * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!s || !x || !y) {
        free(s), free(x), free(y);
        return -1;
    }
    uint64_t st = 42;
    double v = 0, lo = 0, hi = 0;
    for (size_t i = 0; i < len; i++) {
        double u1 = next_unit(&st), u2 = next_unit(&st);
        v += sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2); /* Box-Muller */
        s[i] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    double span = hi > lo ? hi - lo : 1.0;
    for (size_t i = 0; i < len; i++) s[i] = (s[i] - lo) / span;
    for (int k = 0; k < n; k++) {
        for (int t = 0; t < T; t++) x[(size_t)k * T + t] = (recur_float)s[k + t];
        y[k] = (recur_float)s[k + T];
    }
    free(s);
    *x_out = x, *y_out = y;
    return 0;
}

/* ====== Models ====== */

static recur_status build_model(const char *cname, recur_model **out, recur_error *err)
{
    recur_model *m = NULL;
    recur_status st = recur_model_new(1, &m, err);
    if (st) return st;
    if (!strcmp(cname, "big")) {
        if ((st = recur_model_add_lstm(m, 256, 1, err)) || (st = recur_model_add_lstm(m, 256, 0, err)))
            goto fail;
    } else {
        int h[2] = {50, 100};
        for (int l = 0; l < 2; l++) {
            int seq = l == 0;
            if (!strcmp(cname, "tutorial-gru")) st = recur_model_add_gru(m, h[l], seq, 1, err);
            else if (!strcmp(cname, "tutorial-rnn")) st = recur_model_add_rnn(m, h[l], seq, err);
            else st = recur_model_add_lstm(m, h[l], seq, err);
            if (st || (st = recur_model_add_dropout(m, 0.2f, err))) goto fail;
        }
    }
    if ((st = recur_model_add_dense(m, 1, RECUR_ACT_LINEAR, err))) goto fail;
    recur_compile_opts co = recur_compile_opts_default(); /* MSE, RMSprop(1e-3, rho 0.9, eps 1e-7) */
    if ((st = recur_model_compile(m, &co, err))) goto fail;
    *out = m;
    return RECUR_OK;
fail:
    recur_model_free(m);
    return st;
}

/* Forward FLOPs of the matrix products for n windows of T steps (see header). */
static double forward_flop(const recur_model *m, double n, int T)
{
    double f = 0;
    int seq = 1; /* does the input of the current layer have a time axis? */
    for (int l = 0; l < recur_model_n_layers(m); l++) {
        recur_layer_info li;
        if (recur_model_layer(m, l, &li, NULL) != RECUR_OK) continue;
        double in = li.in_dim, h = li.units; /* I and H; I is <complex.h>'s */
        switch (li.kind) {
        case RECUR_LAYER_LSTM: f += 2.0 * n * T * (in + h) * 4 * h; break;
        case RECUR_LAYER_GRU: f += 2.0 * n * T * (in + h) * 3 * h; break;
        case RECUR_LAYER_RNN: f += 2.0 * n * T * (in + h) * 1 * h; break;
        case RECUR_LAYER_DENSE: f += 2.0 * n * (seq ? T : 1) * in * h; break;
        case RECUR_LAYER_DROPOUT: break;
        }
        if (li.kind == RECUR_LAYER_LSTM || li.kind == RECUR_LAYER_GRU || li.kind == RECUR_LAYER_RNN)
            seq = li.return_sequences;
    }
    return f;
}

/* ====== Output ====== */

typedef struct {
    const char *unit;        /* "s/epoch", "us", "windows/s" */
    stats s;
    double gflop;            /* per timed unit (epoch or call); 0 if not counted */
    double gflops;           /* at the median */
    double cores;            /* CPU seconds / wall seconds over the timed part: cores kept busy */
    int threads_asked, threads_used;
    size_t n_params;
} result;

static void print_result(const bench_opts *o, const result *r)
{
    long rss = peak_rss_kb();
    if (o->json) {
        printf("{\"impl\":\"recur\",\"case\":\"%s\",\"threads\":%d,\"threads_used\":%d,\"reps\":%d,\"warmup\":%d,"
               "\"windows\":%d,\"T\":%d,\"batch\":%d,\"params\":%zu,\"unit\":\"%s\",\"median\":%.9g,\"min\":%.9g,"
               "\"max\":%.9g,\"p90\":%.9g,\"gflop\":%.6g,\"gflops\":%.6g,\"cores\":%.3f,\"maxrss_kb\":%ld}\n",
               o->c->name, r->threads_asked, r->threads_used, o->reps, o->warmup, o->windows, o->c->T, o->c->batch,
               r->n_params, r->unit, r->s.median, r->s.min, r->s.max, r->s.p90, r->gflop, r->gflops, r->cores, rss);
        return;
    }
    printf("recur %s: threads %d (%d used), %zu params, %d reps after %d warm-up\n", o->c->name, r->threads_asked,
           r->threads_used, r->n_params, o->reps, o->warmup);
    printf("  median %.6g %s  [min %.6g, max %.6g, p90 %.6g]\n", r->s.median, r->unit, r->s.min, r->s.max,
           r->s.p90);
    if (r->gflop > 0) printf("  %.4g GFLOP per %s, %.2f GFLOP/s at the median\n", r->gflop,
                             strcmp(r->unit, "s/epoch") ? "call" : "epoch", r->gflops);
    printf("  %.2f cores busy on average (CPU time / wall time), peak RSS %.1f MB\n", r->cores,
           (double)rss / 1024.0);
}

/* ====== Cases ====== */

static int run_train(bench_opts *o)
{
    recur_error err;
    recur_model *m = NULL;
    recur_float *x = NULL, *y = NULL;
    double *t = malloc((size_t)o->reps * sizeof *t);
    int rc = 1;
    if (!t || make_windows(o->windows, o->c->T, &x, &y) != 0) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    if (build_model(o->c->name, &m, &err) != RECUR_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        goto done;
    }
    recur_fit_opts fo = recur_fit_opts_default();
    fo.epochs = 1, fo.batch_size = o->c->batch, fo.shuffle = 1, fo.threads = o->threads;
    double start = now_s(), cpu = 0, wall = 0;
    for (int r = -o->warmup; r < o->reps; r++) {
        fo.seed = 42 + (uint64_t)(r + o->warmup); /* a fresh shuffle each epoch, as in one long fit */
        double c0 = cpu_s(), t0 = now_s(); /* getrusage, a system call, outside the timed span */
        if (recur_model_fit(m, x, y, (size_t)o->windows, o->c->T, NULL, NULL, 0, &fo, NULL, &err) != RECUR_OK) {
            fprintf(stderr, "bench_train: fit: %s\n", err.msg);
            goto done;
        }
        if (r >= 0) t[r] = now_s() - t0, wall += t[r], cpu += cpu_s() - c0;
        if (r >= 0 && o->budget > 0 && now_s() - start > o->budget) {
            o->reps = r + 1;
            break;
        }
    }
    result res;
    memset(&res, 0, sizeof res);
    res.unit = "s/epoch";
    res.s = stats_of(t, o->reps);
    res.gflop = 3.0 * forward_flop(m, o->windows, o->c->T) * 1e-9;
    res.gflops = res.gflop / res.s.median;
    res.cores = wall > 0 ? cpu / wall : 0;
    res.threads_asked = o->threads;
    res.threads_used = o->threads > 0 ? o->threads : rc_default_threads();
    res.n_params = recur_model_n_params(m);
    print_result(o, &res);
    rc = 0;
done:
    recur_model_free(m);
    free(x), free(y), free(t);
    return rc;
}

/* The timed call of a predict case: recur_model_predict, or through a
 * recur_stream (the batch-1 inference path: a window from zero states, or one
 * step after the window's T steps). */
static recur_status predict_call(const bench_opts *o, recur_model *m, recur_stream *st, const recur_float *x, int n,
                                 int T, recur_float *out, recur_error *err)
{
    if (!strcmp(o->c->name, "predict1-stream")) return recur_stream_predict(st, x, T, out, err);
    if (!strcmp(o->c->name, "step")) {
        recur_stream_step(st, x + (size_t)(recur_stream_steps(st) % (size_t)T), out);
        return RECUR_OK;
    }
    return recur_model_predict(m, x, (size_t)n, T, out, err);
}

static int run_predict(const bench_opts *o)
{
    recur_error err;
    recur_model *m = NULL;
    recur_stream *st = NULL;
    recur_float *x = NULL, *y = NULL, *out = NULL;
    const int n = o->c->batch, T = o->c->T;
    double *t = malloc((size_t)o->reps * sizeof *t);
    int rc = 1;
    if (!t || make_windows(n, T, &x, &y) != 0 || !(out = malloc((size_t)n * sizeof *out))) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    if (build_model("tutorial", &m, &err) != RECUR_OK || recur_stream_new(m, &st, &err) != RECUR_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        goto done;
    }
    int step = !strcmp(o->c->name, "step");
    if (step) /* one window's steps first: the timed steps are those of a stream under way */
        for (int k = 0; k < T; k++) recur_stream_step(st, x + k, out);
    double cpu = 0, wall = 0;
    for (int r = -o->warmup; r < o->reps; r++) {
        double c0 = cpu_s(), t0 = now_s(); /* getrusage, a system call, outside the timed span */
        if (predict_call(o, m, st, x, n, T, out, &err) != RECUR_OK) {
            fprintf(stderr, "bench_train: predict: %s\n", err.msg);
            goto done;
        }
        if (r >= 0) t[r] = now_s() - t0, wall += t[r], cpu += cpu_s() - c0;
    }
    result res;
    memset(&res, 0, sizeof res);
    stats s = stats_of(t, o->reps);
    double gflop = forward_flop(m, n, step ? 1 : T) * 1e-9;
    if (n == 1) { /* latency in microseconds */
        res.unit = "us";
        res.s.median = 1e6 * s.median, res.s.min = 1e6 * s.min, res.s.max = 1e6 * s.max, res.s.p90 = 1e6 * s.p90;
    } else { /* throughput: the slowest call gives the min */
        res.unit = "windows/s";
        res.s.median = n / s.median, res.s.min = n / s.max, res.s.max = n / s.min, res.s.p90 = n / s.p90;
    }
    res.gflop = gflop;
    res.gflops = gflop / s.median;
    res.cores = wall > 0 ? cpu / wall : 0;
    res.threads_asked = 0;
    res.threads_used = rc_default_threads() < (n + 31) / 32 ? rc_default_threads() : (n + 31) / 32;
    if (st) res.threads_used = 1; /* a stream runs on the calling thread */
    res.n_params = recur_model_n_params(m);
    print_result(o, &res);
    rc = 0;
done:
    recur_stream_free(st);
    recur_model_free(m);
    free(x), free(y), free(out), free(t);
    return rc;
}

#ifdef RECUR_BLAS
/* GFLOP/s of C = A.B (row-major, M x K times K x N) on one thread, through
 * cblas_sgemm (pk NULL) or recur's kernel with B packed once (pk): each
 * repetition loops until it has run for at least 0.1 s; median over reps. */
typedef struct {
    int M, N, K;
    const float *A, *B;
    float *C;
    const rc_packed *pk;
} product;

static void run_product(const product *p)
{
    if (p->pk) rc_pgemm(0, p->M, p->A, p->K, p->pk, 0, p->C, p->N);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->M, p->N, p->K, 1.0f, p->A, p->K, p->B, p->N, 0.0f,
                     p->C, p->N);
}

static stats time_product(int M, int N, int K, int packed, int reps, int warmup)
{
    stats s = {0, 0, 0, 0};
    float *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B);
    float *C = malloc((size_t)M * N * sizeof *C), *buf = malloc(rc_pack_floats(K, N) * sizeof *buf);
    double *g = malloc((size_t)reps * sizeof *g);
    if (!A || !B || !C || !buf || !g) goto done;
    uint64_t st = 7;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)next_unit(&st) - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)next_unit(&st) - 0.5f;
    rc_packed pk;
    if (packed) rc_pack(&pk, buf, B, N, 0, K, N);
    const product p = {M, N, K, A, B, C, packed ? &pk : NULL};
    const double flop = 2.0 * M * N * K;
    for (int r = -warmup; r < reps; r++) {
        long calls = 0;
        double t0 = now_s(), el;
        do {
            run_product(&p);
            calls++;
        } while ((el = now_s() - t0) < 0.1);
        if (r >= 0) g[r] = flop * (double)calls / el * 1e-9;
    }
    s = stats_of(g, reps);
done:
    free(A), free(B), free(C), free(buf), free(g);
    return s;
}
#endif

/* The rate two threads of products reach together, at 1024^3: OpenBLAS's
 * cblas_sgemm on 2 threads, and two threads each running rc_pgemm on its own
 * data at once (summed). On a machine whose cores slow each other down when
 * both are busy this is below 2 x the 1-thread rate, and it is the most a
 * 2-thread training epoch's products could reach. */
typedef struct {
    int reps, warmup;
    stats s;
} pgemm_job;

static void *pgemm_thread(void *arg)
{
    pgemm_job *j = arg;
    j->s = time_product(1024, 1024, 1024, 1, j->reps, j->warmup);
    return NULL;
}

static stats time_two_pgemm(int reps, int warmup)
{
    pgemm_job jobs[2] = {{reps, warmup, {0, 0, 0, 0}}, {reps, warmup, {0, 0, 0, 0}}};
    pthread_t th;
    stats s = {0, 0, 0, 0};
    if (pthread_create(&th, NULL, pgemm_thread, &jobs[1]) != 0) return s;
    pgemm_thread(&jobs[0]);
    pthread_join(th, NULL);
    s.median = jobs[0].s.median + jobs[1].s.median;
    s.min = jobs[0].s.min + jobs[1].s.min;
    s.max = jobs[0].s.max + jobs[1].s.max;
    return s;
}

/* ====== The window's floor ====== */

enum { FLOOR_K = 100, FLOOR_N = 400 }; /* tutorial layer 2: H = 100, 4 gates */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE)
#include <immintrin.h>
#define FLOOR_AVX512 1
/* z = h U, U row-major (K x 400) 64-byte aligned: all 400 sums in 25
 * registers, so U is read once, one aligned load per FMA. */
__attribute__((target("avx512f"), noinline)) static void floor_product(float *z, const float *h, const float *U)
{
    __m512 c[FLOOR_N / 16];
#pragma GCC unroll 25
    for (int j = 0; j < FLOOR_N / 16; j++) c[j] = _mm512_setzero_ps();
    for (int k = 0; k < FLOOR_K; k++) {
        __m512 x = _mm512_set1_ps(h[k]);
        const float *row = U + (size_t)k * FLOOR_N;
#pragma GCC unroll 25
        for (int j = 0; j < FLOOR_N / 16; j++) c[j] = _mm512_fmadd_ps(x, _mm512_load_ps(row + 16 * j), c[j]);
    }
#pragma GCC unroll 25
    for (int j = 0; j < FLOOR_N / 16; j++) _mm512_storeu_ps(z + 16 * j, c[j]);
}
#endif

static void floor_product_c(recur_float *z, const recur_float *h, const recur_float *U)
{
    for (int j = 0; j < FLOOR_N; j++) z[j] = 0;
    for (int k = 0; k < FLOOR_K; k++)
        for (int j = 0; j < FLOOR_N; j++) z[j] += h[k] * U[(size_t)k * FLOOR_N + j];
}

/* T products, each h fed by the previous z as in a recurrence (so that no
 * two overlap), from the same 160 KB of weights. */
static int run_floor(const bench_opts *o)
{
    const int T = o->c->T;
    recur_float *U = aligned_alloc(64, sizeof(recur_float) * FLOOR_K * FLOOR_N);
    recur_float *h = aligned_alloc(64, sizeof(recur_float) * 128), *z = aligned_alloc(64, sizeof(recur_float) * FLOOR_N);
    double *t = malloc((size_t)o->reps * sizeof *t);
    if (!U || !h || !z || !t) {
        fprintf(stderr, "bench_train: out of memory\n");
        free(U), free(h), free(z), free(t);
        return 1;
    }
    uint64_t st = 11;
    for (int i = 0; i < FLOOR_K * FLOOR_N; i++) U[i] = (recur_float)(0.1 * (next_unit(&st) - 0.5));
    for (int i = 0; i < 128; i++) h[i] = (recur_float)0.5;
    int simd = 0;
#ifdef FLOOR_AVX512
    simd = sizeof(recur_float) == sizeof(float) && __builtin_cpu_supports("avx512f");
#endif
    double cpu = 0, wall = 0;
    for (int r = -o->warmup; r < o->reps; r++) {
        double c0 = cpu_s(), t0 = now_s();
        for (int s = 0; s < T; s++) {
#ifdef FLOOR_AVX512
            if (simd) floor_product((float *)z, (const float *)h, (const float *)U);
            else
#endif
                floor_product_c(z, h, U);
            for (int k = 0; k < FLOOR_K; k++) /* the next step's h, bounded (|z| <= 5 |h|), never denormal */
                h[k] = (recur_float)0.5 + (recur_float)1e-3 * z[4 * k];
        }
        if (r >= 0) t[r] = now_s() - t0, wall += t[r], cpu += cpu_s() - c0;
    }
    result res;
    memset(&res, 0, sizeof res);
    stats s = stats_of(t, o->reps);
    res.unit = "us";
    res.s.median = 1e6 * s.median, res.s.min = 1e6 * s.min, res.s.max = 1e6 * s.max, res.s.p90 = 1e6 * s.p90;
    res.gflop = 2.0 * FLOOR_K * FLOOR_N * T * 1e-9;
    res.gflops = res.gflop / s.median;
    res.cores = wall > 0 ? cpu / wall : 0;
    res.threads_used = 1;
    res.n_params = (size_t)FLOOR_K * FLOOR_N;
    print_result(o, &res);
    if (!o->json)
        printf("  %s; %.1f GB/s of weights read at the median\n", simd ? "AVX-512" : "portable C (no AVX-512 here)",
               (double)sizeof(recur_float) * FLOOR_K * FLOOR_N * T / s.median * 1e-9);
    free(U), free(h), free(z), free(t);
    return 0;
}

static int run_sgemm(const bench_opts *o)
{
#ifdef RECUR_BLAS
    static const int shapes[][3] = {{16, 200, 51}, {16, 400, 150}, {16, 1024, 512}, {1024, 1024, 1024}};
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    openblas_set_num_threads(1);
    if (o->json) printf("{\"impl\":\"recur\",\"case\":\"sgemm\",\"threads\":1,\"reps\":%d,\"unit\":\"GFLOP/s\","
                        "\"shapes\":[", o->reps);
    else printf("cblas_sgemm (OpenBLAS), 1 thread, GFLOP/s, median [min-max] of %d reps\n", o->reps);
    for (int i = 0; i < ns; i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        stats s = time_product(M, N, K, 0, o->reps, o->warmup), q = time_product(M, N, K, 1, o->reps, o->warmup);
        if (o->json)
            printf("%s{\"M\":%d,\"N\":%d,\"K\":%d,\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,"
                   "\"pgemm\":{\"median\":%.6g,\"min\":%.6g,\"max\":%.6g}}",
                   i ? "," : "", M, N, K, s.median, s.min, s.max, q.median, q.min, q.max);
        else printf("  M=%-5d N=%-5d K=%-5d %8.2f  [%.2f-%.2f]   recur's rc_pgemm %8.2f  [%.2f-%.2f]\n", M, N, K,
                    s.median, s.min, s.max, q.median, q.min, q.max);
    }
    openblas_set_num_threads(2);
    stats b2 = time_product(1024, 1024, 1024, 0, o->reps, o->warmup), p2 = time_two_pgemm(o->reps, o->warmup);
    openblas_set_num_threads(1);
    if (o->json)
        printf("],\"two_threads\":{\"M\":1024,\"N\":1024,\"K\":1024,\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,"
               "\"pgemm\":{\"median\":%.6g,\"min\":%.6g,\"max\":%.6g}},\"maxrss_kb\":%ld}\n",
               b2.median, b2.min, b2.max, p2.median, p2.min, p2.max, peak_rss_kb());
    else
        printf("2 threads at 1024^3: cblas_sgemm %.2f  [%.2f-%.2f]   two threads of rc_pgemm at once %.2f  [%.2f-%.2f]\n",
               b2.median, b2.min, b2.max, p2.median, p2.min, p2.max);
    return 0;
#else
    if (o->json) printf("{\"impl\":\"recur\",\"case\":\"sgemm\",\"unavailable\":\"built with BLAS=0\"}\n");
    else printf("sgemm: not available in a BLAS=0 build\n");
    return 0;
#endif
}

int main(int argc, char **argv)
{
    bench_opts o;
    int p = parse_args(argc, argv, &o);
    if (p) {
        usage(p > 0 ? stdout : stderr);
        return p > 0 ? 0 : 2;
    }
    if (!strcmp(o.c->name, "sgemm")) return run_sgemm(&o);
    if (!strcmp(o.c->name, "window-floor")) return run_floor(&o);
    if (!strncmp(o.c->name, "predict", 7) || !strcmp(o.c->name, "step")) {
        if (o.threads != 0 || o.windows != o.c->windows)
            fprintf(stderr, "bench_train: %s ignores --threads and --windows (recur_model_predict uses recur's "
                            "default threads)\n", o.c->name);
        o.windows = o.c->windows;
        return run_predict(&o);
    }
    return run_train(&o);
}
