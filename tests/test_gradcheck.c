/*
 * test_gradcheck.c -- central finite-difference checks of every layer's
 * backward pass and of whole models, in DOUBLE precision (this file is built
 * with -DRECUR_DOUBLE against build/librecur_f64.a, the double twin of the
 * math). Every parameter, every input element and the initial states are
 * checked, and each gradient must be non-trivially non-zero.
 *
 * Tolerance: h = 1e-6 gives a truncation error O(h^2 |f'''|) ~ 1e-12 and a
 * rounding error ~ eps |f| / h ~ 1e-10 for |f| ~ 1, so 1e-6 relative (plus
 * 1e-8 absolute) leaves a wide margin while any wrong term (errors are then
 * O(1e-2) or larger) fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

#ifndef RECUR_DOUBLE
#error "test_gradcheck must be built with -DRECUR_DOUBLE"
#endif

#define H_FD 1e-6
#define TOL_REL 1e-6
#define TOL_ABS 1e-8

static uint64_t lcg = 12345;
static double urand(void) /* U(-1, 1), deterministic */
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) * 0x1.0p-53 * 2 - 1;
}

typedef struct {
    recur_model *m;
    int B, T, F, O, seq, layer0_state, lstm0;
    double *x, *G, *h0, *c0;
    size_t ny;
} fixture;

/* loss = sum(y * G) at the current parameters/inputs */
static double objective(fixture *f)
{
    double *y = malloc(f->ny * sizeof *y);
    assert_non_null(y);
    if (f->layer0_state)
        assert_int_equal(recur_model_set_initial_state(f->m, 0, f->h0, f->lstm0 ? f->c0 : NULL, f->B, NULL), RECUR_OK);
    assert_int_equal(recur_model_forward(f->m, f->x, f->B, f->T, 0, y, NULL), RECUR_OK);
    double s = 0;
    for (size_t i = 0; i < f->ny; i++) s += y[i] * f->G[i];
    free(y);
    return s;
}

static void check_close(const char *what, size_t i, double analytic, double numeric)
{
    double tol = TOL_ABS + TOL_REL * fmax(1.0, fabs(numeric));
    if (fabs(analytic - numeric) > tol) fail_msg("%s[%zu]: analytic %.12g vs numeric %.12g", what, i, analytic, numeric);
}

static double fd(fixture *f, double *v)
{
    double keep = *v;
    *v = keep + H_FD;
    double up = objective(f);
    *v = keep - H_FD;
    double dn = objective(f);
    *v = keep;
    return (up - dn) / (2 * H_FD);
}

static void run_check(fixture *f)
{
    recur_model *m = f->m;
    int units0 = 0;
    recur_layer_info li;
    assert_int_equal(recur_model_layer(m, 0, &li, NULL), RECUR_OK);
    units0 = li.units;
    f->O = recur_model_n_outputs(m);
    f->seq = recur_model_returns_sequences(m);
    f->ny = (size_t)f->B * (f->seq ? f->T : 1) * f->O;
    size_t nx = (size_t)f->B * f->T * f->F, ns = (size_t)f->B * units0;
    f->x = malloc(nx * sizeof *f->x), f->G = malloc(f->ny * sizeof *f->G);
    f->h0 = malloc(ns * sizeof *f->h0), f->c0 = malloc(ns * sizeof *f->c0);
    for (size_t i = 0; i < nx; i++) f->x[i] = urand();
    for (size_t i = 0; i < f->ny; i++) f->G[i] = urand();
    for (size_t i = 0; i < ns; i++) f->h0[i] = urand() * 0.5, f->c0[i] = urand() * 0.5;
    /* perturb weights off their init so biases etc. are generic */
    double *p = recur_model_params(m);
    size_t np = recur_model_n_params(m);
    for (size_t i = 0; i < np; i++) p[i] += 0.3 * urand();

    /* analytic */
    objective(f);
    double *dx = calloc(nx, sizeof *dx), *gsave = malloc(np * sizeof *gsave);
    assert_int_equal(recur_model_backward(m, f->G, dx, NULL), RECUR_OK);
    memcpy(gsave, recur_model_grads(m), np * sizeof *gsave);
    double *dh0 = calloc(ns, sizeof *dh0), *dc0 = calloc(ns, sizeof *dc0);
    if (f->layer0_state)
        assert_int_equal(recur_model_initial_state_grad(m, 0, dh0, f->lstm0 ? dc0 : NULL, NULL), RECUR_OK);

    double gnorm = 0;
    for (size_t i = 0; i < np; i++) {
        check_close("param", i, gsave[i], fd(f, &p[i]));
        gnorm += fabs(gsave[i]);
    }
    assert_true(np == 0 || gnorm > 1e-6);
    double xnorm = 0;
    for (size_t i = 0; i < nx; i++) {
        check_close("dx", i, dx[i], fd(f, &f->x[i]));
        xnorm += fabs(dx[i]);
    }
    assert_true(xnorm > 1e-6);
    if (f->layer0_state) {
        double hn = 0;
        for (size_t i = 0; i < ns; i++) {
            check_close("dh0", i, dh0[i], fd(f, &f->h0[i]));
            hn += fabs(dh0[i]);
            if (f->lstm0) check_close("dc0", i, dc0[i], fd(f, &f->c0[i]));
        }
        assert_true(hn > 1e-6);
    }
    free(dx), free(gsave), free(dh0), free(dc0);
    free(f->x), free(f->G), free(f->h0), free(f->c0);
    recur_model_free(m);
}

static fixture make(int F, int B, int T)
{
    fixture f;
    memset(&f, 0, sizeof f);
    f.F = F, f.B = B, f.T = T;
    assert_int_equal(recur_model_new(F, &f.m, NULL), RECUR_OK);
    return f;
}

static void compile(fixture *f)
{
    recur_compile_opts co = recur_compile_opts_default();
    co.seed = 7;
    recur_error e;
    if (recur_model_compile(f->m, &co, &e) != RECUR_OK) fail_msg("%s", e.msg);
}

/* ====== layers ====== */

static void lstm_case(int seq, int state)
{
    fixture f = make(2, 3, 5);
    assert_int_equal(recur_model_add_lstm(f.m, 4, seq, NULL), RECUR_OK);
    compile(&f);
    f.layer0_state = state, f.lstm0 = 1;
    run_check(&f);
}
static void t_lstm_seq(void **s) { (void)s, lstm_case(1, 0); }
static void t_lstm_last(void **s) { (void)s, lstm_case(0, 0); }
static void t_lstm_state(void **s) { (void)s, lstm_case(1, 1); }

static void gru_case(int seq, int state, int ra)
{
    fixture f = make(2, 3, 5);
    assert_int_equal(recur_model_add_gru(f.m, 4, seq, ra, NULL), RECUR_OK);
    compile(&f);
    f.layer0_state = state;
    run_check(&f);
}
static void t_gru_seq(void **s) { (void)s, gru_case(1, 0, 1); }
static void t_gru_last(void **s) { (void)s, gru_case(0, 0, 1); }
static void t_gru_state(void **s) { (void)s, gru_case(1, 1, 1); }
static void t_gru_ra0_seq(void **s) { (void)s, gru_case(1, 0, 0); }
static void t_gru_ra0_last(void **s) { (void)s, gru_case(0, 0, 0); }
static void t_gru_ra0_state(void **s) { (void)s, gru_case(1, 1, 0); }

/* Hard-sigmoid gates (Keras 3's and Keras 2's): clipped where the pre-
 * activation is past +-3 (+-2.5), so some gradients are exactly 0; the
 * central differences agree as long as no pre-activation sits within the
 * step of a kink, which the checker's step makes unlikely at these sizes. */
static void hard_case(int gru, recur_activation ga, int state)
{
    fixture f = make(2, 3, 5);
    if (gru) assert_int_equal(recur_model_add_gru(f.m, 4, 1, gru == 1, NULL), RECUR_OK);
    else assert_int_equal(recur_model_add_lstm(f.m, 4, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_set_recurrent_activation(f.m, 0, ga, NULL), RECUR_OK);
    compile(&f);
    f.layer0_state = state, f.lstm0 = !gru;
    run_check(&f);
}
static void t_lstm_hard(void **s) { (void)s, hard_case(0, RECUR_ACT_HARD_SIGMOID, 1); }
static void t_lstm_hard_k2(void **s) { (void)s, hard_case(0, RECUR_ACT_HARD_SIGMOID_K2, 0); }
static void t_gru_hard(void **s) { (void)s, hard_case(1, RECUR_ACT_HARD_SIGMOID, 1); }
static void t_gru_ra0_hard_k2(void **s) { (void)s, hard_case(2, RECUR_ACT_HARD_SIGMOID_K2, 0); }

static void rnn_case(int seq, int state)
{
    fixture f = make(3, 2, 6);
    assert_int_equal(recur_model_add_rnn(f.m, 5, seq, NULL), RECUR_OK);
    compile(&f);
    f.layer0_state = state;
    run_check(&f);
}
static void t_rnn_seq(void **s) { (void)s, rnn_case(1, 0); }
static void t_rnn_last(void **s) { (void)s, rnn_case(0, 0); }
static void t_rnn_state(void **s) { (void)s, rnn_case(1, 1); }

static void dense_case(recur_activation a)
{
    fixture f = make(6, 4, 1);
    assert_int_equal(recur_model_add_dense(f.m, 3, a, NULL), RECUR_OK);
    compile(&f);
    run_check(&f);
}
static void t_dense_linear(void **s) { (void)s, dense_case(RECUR_ACT_LINEAR); }
static void t_dense_tanh(void **s) { (void)s, dense_case(RECUR_ACT_TANH); }
static void t_dense_sigmoid(void **s) { (void)s, dense_case(RECUR_ACT_SIGMOID); }
static void t_dense_relu(void **s) { (void)s, dense_case(RECUR_ACT_RELU); }

/* ====== whole models ====== */

/* Tutorial shape in miniature, with dropout (identity at inference) and a
 * time-distributed Dense on a sequence in the middle. */
static void t_model_stack(void **s)
{
    (void)s;
    fixture f = make(2, 3, 6);
    assert_int_equal(recur_model_add_lstm(f.m, 5, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dropout(f.m, 0.2f, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dense(f.m, 4, RECUR_ACT_TANH, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_gru(f.m, 3, 1, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_rnn(f.m, 4, 0, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dense(f.m, 2, RECUR_ACT_LINEAR, NULL), RECUR_OK);
    compile(&f);
    run_check(&f);
}

/* Compiled loss (MSE and MAE) through recur_model_loss_grad. */
static void loss_model(recur_loss loss)
{
    recur_model *m = NULL;
    int B = 4, T = 5;
    assert_int_equal(recur_model_new(1, &m, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_lstm(m, 3, 1, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_lstm(m, 4, 0, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_dense(m, 1, RECUR_ACT_LINEAR, NULL), RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    co.loss = loss;
    assert_int_equal(recur_model_compile(m, &co, NULL), RECUR_OK);
    double x[20], y[4];
    for (int i = 0; i < B * T; i++) x[i] = urand();
    for (int i = 0; i < B; i++) y[i] = urand() * 3; /* far from predictions: no MAE kinks nearby */
    size_t np = recur_model_n_params(m);
    double *p = recur_model_params(m), *g = malloc(np * sizeof *g), L;
    assert_int_equal(recur_model_loss_grad(m, x, y, B, T, 0, &L, NULL, NULL), RECUR_OK);
    memcpy(g, recur_model_grads(m), np * sizeof *g);
    for (size_t i = 0; i < np; i++) {
        double keep = p[i], up, dn;
        p[i] = keep + H_FD;
        recur_model_loss_grad(m, x, y, B, T, 0, &up, NULL, NULL);
        p[i] = keep - H_FD;
        recur_model_loss_grad(m, x, y, B, T, 0, &dn, NULL, NULL);
        p[i] = keep;
        check_close(loss == RECUR_LOSS_MAE ? "mae param" : "mse param", i, g[i], (up - dn) / (2 * H_FD));
    }
    free(g);
    recur_model_free(m);
}
static void t_model_mse(void **s) { (void)s, loss_model(RECUR_LOSS_MSE); }
static void t_model_mae(void **s) { (void)s, loss_model(RECUR_LOSS_MAE); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_lstm_seq),      cmocka_unit_test(t_lstm_last),     cmocka_unit_test(t_lstm_state),
        cmocka_unit_test(t_gru_seq),       cmocka_unit_test(t_gru_last),      cmocka_unit_test(t_gru_state),
        cmocka_unit_test(t_gru_ra0_seq),   cmocka_unit_test(t_gru_ra0_last),  cmocka_unit_test(t_gru_ra0_state),
        cmocka_unit_test(t_lstm_hard),     cmocka_unit_test(t_lstm_hard_k2),  cmocka_unit_test(t_gru_hard),
        cmocka_unit_test(t_gru_ra0_hard_k2),
        cmocka_unit_test(t_rnn_seq),       cmocka_unit_test(t_rnn_last),      cmocka_unit_test(t_rnn_state),
        cmocka_unit_test(t_dense_linear),  cmocka_unit_test(t_dense_tanh),    cmocka_unit_test(t_dense_sigmoid),
        cmocka_unit_test(t_dense_relu),    cmocka_unit_test(t_model_stack),   cmocka_unit_test(t_model_mse),
        cmocka_unit_test(t_model_mae),
    };
    return cmocka_run_group_tests_name("gradcheck (float64)", tests, NULL, NULL);
}
