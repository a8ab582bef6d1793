/*
 * dropout.c -- inverted dropout (Keras Dropout): in training each element is
 * kept with probability 1 - rate and scaled by 1 / (1 - rate); in inference it
 * is the identity. One mask element per activation (no noise_shape). The
 * stream is the caller's rc_rng, which the model seeds per step and per
 * sample chunk so results do not depend on the thread count.
 *
 * The mask comes from eight xoshiro256** streams side by side, seeded from
 * that rc_rng: each draw of lane l decides elements 16s + l (bits 40-63) and
 * 16s + 8 + l (bits 16-39) against a 24-bit threshold. With AVX-512 the eight
 * lanes advance in four registers (one draw for 16 elements, the scalar
 * generator's cost was 2.5 % of a tutorial epoch); elsewhere rc_rng_next
 * steps each lane in turn. Both give the same mask bit for bit.
 */
#include "nn/layer.h"
#include "nn/simd.h"

#define LANES 8

#ifdef RC_SIMD512
/* The same steps as rc_rng_next, on lane l of each register; x5 and x9 as
 * shift-and-add (AVX-512F has no 64-bit multiply). */
RC_AVX512 static inline __m512i next8(__m512i s[4])
{
    __m512i s1 = s[1];
    __m512i r = _mm512_rol_epi64(_mm512_add_epi64(_mm512_slli_epi64(s1, 2), s1), 7);
    r = _mm512_add_epi64(_mm512_slli_epi64(r, 3), r);
    __m512i t = _mm512_slli_epi64(s1, 17);
    s[2] = _mm512_xor_si512(s[2], s[0]);
    s[3] = _mm512_xor_si512(s[3], s[1]);
    s[1] = _mm512_xor_si512(s[1], s[2]);
    s[0] = _mm512_xor_si512(s[0], s[3]);
    s[2] = _mm512_xor_si512(s[2], t);
    s[3] = _mm512_rol_epi64(s[3], 45);
    return r;
}

RC_AVX512 static void mask512(const rc_rng lane[LANES], uint32_t cut, float scale, const float *x, float *mask, float *y,
                              size_t n)
{
    __m512i s[4];
    for (int w = 0; w < 4; w++) {
        uint64_t v[LANES];
        for (int l = 0; l < LANES; l++) v[l] = lane[l].s[w];
        s[w] = _mm512_loadu_si512(v);
    }
    const __m512i cv = _mm512_set1_epi64((long long)cut), low24 = _mm512_set1_epi64(0xffffff);
    const __m512 sv = _mm512_set1_ps(scale);
    for (size_t k = 0; k < n; k += 16) {
        __m512i r = next8(s);
        __mmask8 hi = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(r, 40), cv);
        __mmask8 lo = _mm512_cmpge_epu64_mask(_mm512_and_si512(_mm512_srli_epi64(r, 16), low24), cv);
        __mmask16 keep = (__mmask16)(hi | (unsigned)lo << 8);
        __mmask16 m = n - k >= 16 ? (__mmask16)0xffff : rc_mask16((int)(n - k));
        __m512 mv = _mm512_maskz_mov_ps(keep, sv);
        _mm512_mask_storeu_ps(mask + k, m, mv);
        _mm512_mask_storeu_ps(y + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), mv));
    }
}
#endif

static size_t rows_of(const rc_layer *L, int B, int T) { return (size_t)B * (L->seq_in ? (size_t)T : 1); }

static size_t drop_buf_size(const rc_layer *L, int B, int T) { return 3 * rows_of(L, B, T) * (size_t)L->in; }

static void drop_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t n = rows_of(L, B, T) * (size_t)L->in;
    lb->y = rc_take(&m, n);
    lb->mask = rc_take(&m, n);
    lb->dx = m;
}

static int drop_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    (void)L;
    (void)p;
    (void)rng;
    return 0;
}

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
    /* keep when a 24-bit uniform u satisfies u >= rate * 2^24 */
    const uint32_t cut = (uint32_t)((double)L->rate * 16777216.0);
    rc_rng lane[LANES];
    for (int l = 0; l < LANES; l++) rc_rng_seed(&lane[l], rc_rng_next(rng));
#ifdef RC_SIMD512
    if (rc_cpu_avx512()) {
        mask512(lane, cut, scale, x, lb->mask, lb->y, n);
        return;
    }
#endif
    for (size_t k = 0; k < n; k += 2 * LANES)
        for (int l = 0; l < LANES; l++) {
            uint64_t r = rc_rng_next(&lane[l]);
            size_t a = k + (size_t)l, b = a + LANES;
            if (a < n) lb->mask[a] = (uint32_t)(r >> 40) >= cut ? scale : 0;
            if (b < n) lb->mask[b] = (uint32_t)((r >> 16) & 0xffffff) >= cut ? scale : 0;
        }
    for (size_t k = 0; k < n; k++) lb->y[k] = x[k] * lb->mask[k];
}

static void drop_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                          const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    (void)grads;
    (void)p;
    (void)x;
    if (!need_dx) return;
    size_t n = rows_of(L, B, T) * (size_t)L->in;
    for (size_t k = 0; k < n; k++) lb->dx[k] = dy[k] * lb->mask[k];
}

const rc_layer_ops rc_dropout_ops = {drop_buf_size, drop_bind, drop_init, drop_forward, drop_backward, NULL};
