/*
 * dropout.c -- inverted dropout (Keras Dropout): in training each element is
 * kept with probability 1 - rate and scaled by 1 / (1 - rate); in inference it
 * is the identity. One mask element per activation (no noise_shape). The
 * stream is the caller's rc_rng, which the model seeds per step and per
 * sample chunk so results do not depend on the thread count.
 */
#include "nn/layer.h"

static size_t rows_of(const rc_layer *L, int B, int T) { return (size_t)B * (L->seq_in ? (size_t)T : 1); }

static size_t drop_buf_size(const rc_layer *L, int B, int T) { return 3 * rows_of(L, B, T) * (size_t)L->in; }

static void drop_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t n = rows_of(L, B, T) * (size_t)L->in;
    lb->y = m, m += n;
    lb->mask = m, m += n;
    lb->dx = m;
}

static void drop_init(const rc_layer *L, recur_float *p, rc_rng *rng) { (void)L, (void)p, (void)rng; }

static void drop_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                         int training, rc_rng *rng)
{
    (void)p;
    size_t n = rows_of(L, B, T) * (size_t)L->in;
    if (!training || L->rate == 0) {
        for (size_t k = 0; k < n; k++) lb->y[k] = x[k], lb->mask[k] = 1;
        return;
    }
    recur_float scale = (recur_float)(1.0 / (1.0 - (double)L->rate));
    /* keep when a 24-bit uniform u satisfies u >= rate * 2^24; two draws per 64-bit word */
    const uint32_t cut = (uint32_t)((double)L->rate * 16777216.0);
    size_t k = 0;
    for (; k + 1 < n; k += 2) {
        uint64_t r = rc_rng_next(rng);
        lb->mask[k] = (uint32_t)(r >> 40) >= cut ? scale : 0;
        lb->mask[k + 1] = (uint32_t)((r >> 16) & 0xffffff) >= cut ? scale : 0;
    }
    if (k < n) lb->mask[k] = (uint32_t)(rc_rng_next(rng) >> 40) >= cut ? scale : 0;
    for (k = 0; k < n; k++) lb->y[k] = x[k] * lb->mask[k];
}

static void drop_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                          const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    (void)grads, (void)p, (void)x;
    if (!need_dx) return;
    size_t n = rows_of(L, B, T) * (size_t)L->in;
    for (size_t k = 0; k < n; k++) lb->dx[k] = dy[k] * lb->mask[k];
}

const rc_layer_ops rc_dropout_ops = {drop_buf_size, drop_bind, drop_init, drop_forward, drop_backward};
