/*
 * test_stream.c -- recur_stream: stepping a model one value at a time gives,
 * after k steps, what recur_model_predict gives for those k steps as one
 * window, for every layer kind (LSTM, GRU with reset after and before,
 * SimpleRNN, Dense with each activation, Dropout) and for windows longer
 * than the one the model was trained on; many threads predicting with one
 * model through their own streams get the serial results bit for bit (run
 * under ThreadSanitizer by `make tsan`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

static recur_model *make_model(int F, const char *spec, uint64_t seed)
{
    recur_model *m = NULL;
    recur_error e;
    assert_int_equal(recur_model_new(F, &m, &e), RECUR_OK);
    if (recur_model_add_spec(m, spec, &e) != RECUR_OK) fail_msg("%s: %s", spec, e.msg);
    recur_compile_opts co = recur_compile_opts_default();
    co.seed = seed;
    assert_int_equal(recur_model_compile(m, &co, &e), RECUR_OK);
    /* Non-zero biases, so that every bias is exercised (Keras starts them at 0). */
    for (int k = 0; k < recur_model_n_weights(m); k++) {
        recur_weight w;
        assert_int_equal(recur_model_weight(m, k, &w, NULL), RECUR_OK);
        if (strstr(w.name, "bias"))
            for (size_t i = 0; i < w.size; i++) w.data[i] += (recur_float)(0.1 * sin(0.7 * (double)i + k));
    }
    return m;
}

static void fill_window(recur_float *x, int T, int F, int n)
{
    for (int t = 0; t < T; t++)
        for (int f = 0; f < F; f++) x[t * F + f] = (recur_float)(0.5 + 0.4 * sin(0.3 * t + n + 0.7 * f));
}

/* After each of T steps, the stream's output against predict on the prefix. */
static void check_matches_predict(const char *spec, int F, int T)
{
    recur_model *m = make_model(F, spec, 7);
    int O = recur_model_n_outputs(m), seq = recur_model_returns_sequences(m);
    recur_float *x = malloc((size_t)T * F * sizeof *x), *y = malloc((size_t)O * sizeof *y),
                *ref = malloc((size_t)T * O * sizeof *ref);
    assert_non_null(x), assert_non_null(y), assert_non_null(ref);
    fill_window(x, T, F, 3);
    recur_stream *s = NULL;
    recur_error e;
    assert_int_equal(recur_stream_new(m, &s, &e), RECUR_OK);
    double worst = 0;
    for (int k = 1; k <= T; k++) {
        recur_stream_step(s, x + (size_t)(k - 1) * F, y);
        assert_int_equal(recur_model_predict(m, x, 1, k, ref, &e), RECUR_OK);
        const recur_float *r = seq ? ref + (size_t)(k - 1) * O : ref; /* a sequence output: its last step */
        for (int o = 0; o < O; o++) {
            double d = fabs((double)y[o] - (double)r[o]) / (fabs((double)r[o]) + 1e-3);
            if (d > worst) worst = d;
        }
    }
    assert_int_equal(recur_stream_steps(s), T);
    if (worst > 2e-5) fail_msg("%s: stream vs predict relative difference %.3g", spec, worst);
    /* predict through the stream: the same as stepping from a reset */
    recur_float *y2 = malloc((size_t)O * sizeof *y2);
    assert_non_null(y2);
    assert_int_equal(recur_stream_predict(s, x, T, y2, &e), RECUR_OK);
    assert_memory_equal(y, y2, (size_t)O * sizeof *y);
    recur_stream_reset(s);
    assert_int_equal(recur_stream_steps(s), 0);
    free(y2);
    recur_stream_free(s);
    free(x), free(y), free(ref);
    recur_model_free(m);
}

static void t_tutorial(void **st)
{
    (void)st;
    check_matches_predict("lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", 1, 60);
}

static void t_longer_than_training(void **st)
{
    (void)st;
    check_matches_predict("lstm(8) dense(3,tanh)", 2, 200);
}

static void t_gru(void **st)
{
    (void)st;
    check_matches_predict("gru(17,seq) gru(9) dense(2,sigmoid)", 3, 25);
    check_matches_predict("gru(12,seq,reset_before) gru(5,reset_before) dense(1)", 2, 25);
    /* hard-sigmoid gates: the layers' portable path against the step's */
    check_matches_predict("lstm(9,seq,hard_sigmoid) gru(6,seq,hard_sigmoid_k2) gru(4,reset_before,hard_sigmoid) dense(2)",
                          2, 20);
}

static void t_rnn_dense(void **st)
{
    (void)st;
    check_matches_predict("rnn(13,seq) dense(6,relu) rnn(7) dense(2)", 4, 30);
    check_matches_predict("lstm(5,seq) dense(3,linear)", 1, 12); /* sequence output */
}

static void t_errors(void **st)
{
    (void)st;
    recur_error e;
    recur_stream *s = (recur_stream *)&e;
    assert_int_equal(recur_stream_new(NULL, &s, &e), RECUR_E_INVALID);
    assert_null(s);
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(1, &m, &e), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "lstm(4) dense(1)", &e), RECUR_OK);
    assert_int_equal(recur_stream_new(m, &s, &e), RECUR_E_STATE);
    assert_non_null(strstr(e.msg, "compile"));
    recur_model_free(m);
    recur_stream_free(NULL);
    recur_stream_reset(NULL);
}

/* ---- many threads, one model ---- */

#define N_THREADS 4
#define N_WINDOWS 24

typedef struct {
    const recur_model *m;
    const recur_float *x; /* (N_WINDOWS, T, F) */
    int T, F, O;
    recur_float *y;       /* (N_WINDOWS, O) */
    int ok;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    recur_stream *s = NULL;
    if (recur_stream_new(j->m, &s, NULL) != RECUR_OK) return NULL;
    j->ok = 1;
    for (int rep = 0; rep < 3; rep++)
        for (int n = 0; n < N_WINDOWS; n++)
            if (recur_stream_predict(s, j->x + (size_t)n * j->T * j->F, j->T, j->y + (size_t)n * j->O, NULL))
                j->ok = 0;
    recur_stream_free(s);
    return NULL;
}

static void t_threads_share_model(void **st)
{
    (void)st;
    const int F = 1, T = 60;
    recur_model *m = make_model(F, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", 11);
    recur_float *x = malloc((size_t)N_WINDOWS * T * F * sizeof *x), serial[N_WINDOWS];
    assert_non_null(x);
    for (int n = 0; n < N_WINDOWS; n++) fill_window(x + (size_t)n * T * F, T, F, n);
    job one = {m, x, T, F, 1, serial, 0};
    run_job(&one);
    assert_true(one.ok);
    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    recur_float ys[N_THREADS][N_WINDOWS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (job){m, x, T, F, 1, ys[i], 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
        assert_memory_equal(ys[i], serial, sizeof serial);
    }
    free(x);
    recur_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_tutorial), cmocka_unit_test(t_longer_than_training), cmocka_unit_test(t_gru),
        cmocka_unit_test(t_rnn_dense), cmocka_unit_test(t_errors), cmocka_unit_test(t_threads_share_model),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
