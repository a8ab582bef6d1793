/*
 * simple_rnn.c -- Keras SimpleRNN with tanh (keras/src/layers/rnn/simple_rnn.py):
 *
 *   h_t = tanh(x_t W + h_{t-1} U + b)
 *   backward: da_t = (dh_t + dy_t) (1 - h_t^2),  dh_{t-1} = da_t U^T
 * Pre-activations live in `a` (T,B,H) and are overwritten by da in backward.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/vmath.h"

static size_t rnn_buf_size(const rc_layer *L, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    return 2 * TB * H + TB * (size_t)L->in + 3 * (size_t)B * H + H * H; /* y, a, dx, dh, h0, dh0, ut */
}

static void rnn_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    lb->y = m;
    m += TB * H;
    lb->a = m;
    m += TB * H;
    lb->dx = m;
    m += TB * (size_t)L->in;
    lb->dh = m;
    m += (size_t)B * H;
    lb->h0 = m;
    m += (size_t)B * H;
    lb->dh0 = m;
    m += (size_t)B * H;
    lb->ut = m;
}

static int rnn_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    rc_init_glorot_uniform(p + L->off_w, L->in, L->units, rng);
    for (int j = 0; j < L->units; j++) p[L->off_b + j] = 0;
    return rc_init_orthogonal(p + L->off_u, L->units, L->units, rng);
}

static void rnn_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                        int training, rc_rng *rng)
{
    (void)training;
    (void)rng;
    const int H = L->units;
    const size_t BH = (size_t)B * H;
    const recur_float *U = p + L->off_u;
    rc_gates_input_forward(lb->a, x, p + L->off_w, p + L->off_b, T * B, L->in, H);
    for (int t = 0; t < T; t++) {
        recur_float *A = lb->a + (size_t)t * BH, *h = lb->y + (size_t)t * BH;
        const recur_float *hp = t ? lb->y + (size_t)(t - 1) * BH : lb->h0;
        if (t || lb->has_state) rc_gates_step_forward(A, H, hp, U, H, B, H, H);
        rc_vtanh(h, A, BH);
    }
}

static void rnn_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                         const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    const int H = L->units;
    const size_t BH = (size_t)B * H;
    const recur_float *U = p + L->off_u;
    recur_float *dh = lb->dh;
    for (size_t k = 0; k < BH; k++) dh[k] = 0;
    rc_gates_transpose(lb->ut, U, H, H);
    for (int t = T - 1; t >= 0; t--) {
        recur_float *A = lb->a + (size_t)t * BH;
        const recur_float *h = lb->y + (size_t)t * BH;
        const recur_float *dyt = L->return_sequences ? dy + (size_t)t * BH : (t == T - 1 ? dy : NULL);
        for (size_t k = 0; k < BH; k++) A[k] = (dh[k] + (dyt ? dyt[k] : 0)) * (1 - h[k] * h[k]);
        if (t > 0 || lb->has_state) rc_gates_step_backward(dh, A, H, lb->ut, B, H, H, 0);
    }
    if (lb->has_state)
        for (size_t k = 0; k < BH; k++) lb->dh0[k] = dh[k];
    rc_gates_input_backward(need_dx ? lb->dx : NULL, grads + L->off_w, grads + L->off_b, lb->a, x, p + L->off_w,
                            T * B, L->in, H);
    rc_gates_recurrent_backward(grads + L->off_u, H, lb->a, H, lb->y, lb->h0, lb->has_state, B, T, H, H);
}

const rc_layer_ops rc_rnn_ops = {rnn_buf_size, rnn_bind, rnn_init, rnn_forward, rnn_backward, NULL};
