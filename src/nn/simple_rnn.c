/*
 * simple_rnn.c -- Keras SimpleRNN with tanh (keras/src/layers/rnn/simple_rnn.py):
 *
 *   h_t = tanh(x_t W + h_{t-1} U + b)
 *   backward: da_t = (dh_t + dy_t) (1 - h_t^2),  dh_{t-1} = da_t U^T
 * Pre-activations live in `a` (T,B,H) and are overwritten by da in backward.
 * The products go through the packed kernel and rc_gates_backward_packed,
 * the LSTM's gate mechanism with G = 1.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/vmath.h"

#include <string.h>

static size_t rnn_buf_size(const rc_layer *L, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    /* y, a, dx, dh, h0, dh0, then the gate-gradient packing buffer */
    return 2 * TB * H + TB * (size_t)L->in + 3 * (size_t)B * H + rc_gates_pack_floats(L->units, 1, B, T);
}

static void rnn_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    lb->y = rc_take(&m, TB * H);
    lb->a = rc_take(&m, TB * H);
    lb->dx = rc_take(&m, TB * (size_t)L->in);
    lb->dh = rc_take(&m, (size_t)B * H);
    lb->h0 = rc_take(&m, (size_t)B * H);
    lb->dh0 = rc_take(&m, (size_t)B * H);
    lb->ut = m;
}

/* lb->wp: W and U packed for the forward pass, U^T and W^T for the backward
 * one, each kept for the batch (rc_wp_current); entries of lb->wpk: */
enum { WP_W, WP_U, WP_UT, WP_WT };

static size_t rnn_wpack_size(const rc_layer *L)
{
    int I = L->in, H = L->units;
    return rc_pack_floats(I, H) + 2 * rc_pack_floats(H, H) + rc_pack_floats(H, I);
}

static int rnn_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    rc_init_glorot_uniform(p + L->off_w, L->in, L->units, rng);
    for (int j = 0; j < L->units; j++) p[L->off_b + j] = 0;
    return rc_init_orthogonal(p + L->off_u, L->units, L->units, rng);
}

/* The products run in the packed kernel (rc_pgemm, as the LSTM's): the input
 * projection of all steps at once, then one product with U per step. */
static void rnn_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                        int training, rc_rng *rng)
{
    (void)training;
    (void)rng;
    const int H = L->units, I = L->in;
    const size_t BH = (size_t)B * H;
    const recur_float *b = p + L->off_b;
    const rc_packed *pw = rc_wp_pack(lb, WP_W, p + L->off_w, H, 0, I, H, 0);
    const rc_packed *pu = rc_wp_pack(lb, WP_U, p + L->off_u, H, 0, H, H, rc_pack_floats(I, H));
    for (size_t r = 0; r < (size_t)T * B; r++) memcpy(lb->a + r * H, b, (size_t)H * sizeof *b);
    rc_pgemm(0, T * B, x, I, pw, 1, lb->a, H);
    for (int t = 0; t < T; t++) {
        recur_float *A = lb->a + (size_t)t * BH, *h = lb->y + (size_t)t * BH;
        const recur_float *hp = t ? lb->y + (size_t)(t - 1) * BH : lb->h0;
        if (t || lb->has_state) rc_pgemm(0, B, hp, H, pu, 1, A, H);
        rc_vtanh(h, A, BH);
    }
}

static void rnn_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                         const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    const int H = L->units, I = L->in;
    const size_t BH = (size_t)B * H, at = rc_pack_floats(I, H) + rc_pack_floats(H, H);
    const rc_packed *put = rc_wp_pack(lb, WP_UT, p + L->off_u, H, 1, H, H, at);
    const rc_packed *pwt = need_dx ? rc_wp_pack(lb, WP_WT, p + L->off_w, H, 1, H, I, at + rc_pack_floats(H, H)) : NULL;
    recur_float *dh = lb->dh;
    for (size_t k = 0; k < BH; k++) dh[k] = 0;
    for (int t = T - 1; t >= 0; t--) {
        recur_float *A = lb->a + (size_t)t * BH;
        const recur_float *h = lb->y + (size_t)t * BH;
        const recur_float *dyt = L->return_sequences ? dy + (size_t)t * BH : (t == T - 1 ? dy : NULL);
        for (size_t k = 0; k < BH; k++) A[k] = (dh[k] + (dyt ? dyt[k] : 0)) * (1 - h[k] * h[k]);
        if (t > 0 || lb->has_state) rc_pgemm(0, B, A, H, put, 0, dh, H); /* dh_{t-1} = da_t U^T */
    }
    if (lb->has_state)
        for (size_t k = 0; k < BH; k++) lb->dh0[k] = dh[k];
    rc_gates_backward_packed(need_dx ? lb->dx : NULL, grads + L->off_w, grads + L->off_u, grads + L->off_b, lb->a, x,
                             pwt, lb->y, lb->h0, lb->has_state, B, T, I, H, H, lb->ut);
}

const rc_layer_ops rc_rnn_ops = {rnn_buf_size, rnn_bind, rnn_init, rnn_forward, rnn_backward, rnn_wpack_size};
