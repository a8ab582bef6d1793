/*
 * dense.c -- Keras Dense (keras/src/layers/core/dense.py): y = act(x W + b),
 * W (I, O), applied to the last axis, so on a sequence (T,B,I) it acts on each
 * of the T*B rows. It is the one-step, one-gate case of the gate mechanism.
 * backward: da = dy act'(y); dW += x^T da; db += sum da; dx = da W^T.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/vmath.h"

static size_t rows_of(const rc_layer *L, int B, int T) { return (size_t)B * (L->seq_in ? (size_t)T : 1); }

static size_t dense_buf_size(const rc_layer *L, int B, int T)
{
    size_t R = rows_of(L, B, T);
    return 2 * R * (size_t)L->units + R * (size_t)L->in; /* y, a (da), dx */
}

static void dense_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t R = rows_of(L, B, T);
    lb->y = rc_take(&m, R * (size_t)L->units);
    lb->a = rc_take(&m, R * (size_t)L->units);
    lb->dx = m;
}

static int dense_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    rc_init_glorot_uniform(p + L->off_w, L->in, L->units, rng);
    for (int j = 0; j < L->units; j++) p[L->off_b + j] = 0;
    return 0;
}

static void dense_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                          int training, rc_rng *rng)
{
    (void)training;
    (void)rng;
    size_t R = rows_of(L, B, T), n = R * (size_t)L->units;
    rc_gates_input_forward(lb->y, x, p + L->off_w, p + L->off_b, (int)R, L->in, L->units);
    if (L->act == RECUR_ACT_TANH) rc_vtanh(lb->y, lb->y, n);
    else if (L->act == RECUR_ACT_SIGMOID) rc_vsigmoid(lb->y, lb->y, n);
    else if (L->act == RECUR_ACT_RELU)
        for (size_t k = 0; k < n; k++) lb->y[k] = rc_act(L->act, lb->y[k]);
}

static void dense_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                           const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    size_t R = rows_of(L, B, T), n = R * (size_t)L->units;
    for (size_t k = 0; k < n; k++) lb->a[k] = dy[k] * rc_act_grad(L->act, lb->y[k]);
    rc_gates_input_backward(need_dx ? lb->dx : NULL, grads + L->off_w, grads + L->off_b, lb->a, x, p + L->off_w,
                            (int)R, L->in, L->units);
}

const rc_layer_ops rc_dense_ops = {dense_buf_size, dense_bind, dense_init, dense_forward, dense_backward, NULL};
