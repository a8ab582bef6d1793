/*
 * lstm.c -- Keras LSTM (keras/src/layers/rnn/lstm.py, LSTMCell.call):
 *
 *   z   = x_t W + h_{t-1} U + b          blocks i | f | c | o, each H wide
 *   i = sigmoid(z_i)   f = sigmoid(z_f)   g = tanh(z_c)   o = sigmoid(z_o)
 *   c_t = f * c_{t-1} + i * g
 *   h_t = o * tanh(c_t)
 *
 * Backward through time, per step (dh includes the upstream gradient):
 *   dc  = dc_next + dh * o * (1 - tanh(c)^2)
 *   dz_i = dc g i(1-i)   dz_f = dc c_{t-1} f(1-f)   dz_c = dc i (1-g^2)
 *   dz_o = dh tanh(c) o(1-o)   dc_next = dc f   dh_{t-1} = dz U^T
 * Gate activations are cached in `a` and overwritten in place by dz.
 * Not here: dropout/recurrent_dropout inside the cell, other activations.
 *
 * Every product goes through rc_pgemm with the weights packed once per batch
 * per thread (kept in lb->wp across the chunks of a batch);
 * on AVX-512 CPUs the per-row cell passes are hand-vectorised (one pass each
 * way, the backward one also summing the bias gradient), elsewhere they are
 * the portable loops below.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/simd.h"
#include "nn/vmath.h"

static size_t lstm_buf_size(const rc_layer *L, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    /* y, c, tc: T*B*H each; a: T*B*4H; dx: T*B*I; dh, dc, h0, c0, dh0, dc0: B*H each */
    return 3 * TB * H + TB * 4 * H + TB * (size_t)L->in + 6 * (size_t)B * H +
           rc_gates_pack_floats(L->units, 4, B, T); /* ut: packed gate gradients */
}

/* lb->wp: [W; U] packed for the forward pass (stacked, or W and U apart),
 * then U^T and W^T for the backward one; entries of lb->wpk: */
enum { WP_STACK, WP_W, WP_U, WP_UT, WP_WT };

static size_t lstm_wpack_size(const rc_layer *L)
{
    int I = L->in, H = L->units, G4 = 4 * H;
    return rc_pack_floats(I + H, G4) + rc_pack_floats(G4, H) + rc_pack_floats(G4, I);
}

/* Whether lb->wpk[k] may be used as it is; otherwise the caller packs it and
 * calls wp_mark. */
static int wp_current(const rc_lbuf *lb, int k) { return lb->wp_reuse && (lb->wp_valid >> k & 1u); }

static void wp_mark(rc_lbuf *lb, int k, unsigned clear) { lb->wp_valid = (lb->wp_valid & ~clear) | 1u << k; }

static void lstm_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    lb->y = m, m += TB * H;
    lb->c = m, m += TB * H;
    lb->tc = m, m += TB * H;
    lb->a = m, m += TB * 4 * H;
    lb->dx = m, m += TB * (size_t)L->in;
    lb->dh = m, m += (size_t)B * H;
    lb->dc = m, m += (size_t)B * H;
    lb->h0 = m, m += (size_t)B * H;
    lb->c0 = m, m += (size_t)B * H;
    lb->dh0 = m, m += (size_t)B * H;
    lb->dc0 = m, m += (size_t)B * H;
    lb->ut = m;
}

static void lstm_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    int H = L->units;
    rc_init_glorot_uniform(p + L->off_w, L->in, 4 * H, rng);
    rc_init_orthogonal(p + L->off_u, H, 4 * H, rng);
    recur_float *b = p + L->off_b;
    for (int j = 0; j < 4 * H; j++) b[j] = (j >= H && j < 2 * H) ? 1 : 0; /* unit_forget_bias */
}

#ifdef RC_SIMD512
/* One row of one step, fused: z (4H) holds x W + h U without the bias and
 * leaves holding the gate activations i|f|g|o (the backward cache); c, tanh(c)
 * and h are written. Same formulas as the portable loops below. */
RC_AVX512 static void cell_forward512(float *z, const float *bias, const float *cp, float *c, float *tc, float *h,
                                      int H)
{
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (int j = 0; j < H; j += 16) {
        __mmask16 m = H - j >= 16 ? (__mmask16)0xffff : rc_mask16(H - j);
        float *zi = z + j, *zf = z + H + j, *zg = z + 2 * H + j, *zo = z + 3 * H + j;
        const float *bi = bias + j, *bf = bias + H + j, *bg = bias + 2 * H + j, *bo = bias + 3 * H + j;
        __m512 i = sigmoid512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, zi), _mm512_maskz_loadu_ps(m, bi)));
        __m512 f = sigmoid512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, zf), _mm512_maskz_loadu_ps(m, bf)));
        __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(m, zg), _mm512_maskz_loadu_ps(m, bg));
        g = _mm512_fmsub_ps(two, sigmoid512(_mm512_mul_ps(two, g)), one); /* tanh = 2 sigmoid(2z) - 1 */
        __m512 o = sigmoid512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, zo), _mm512_maskz_loadu_ps(m, bo)));
        __m512 cv = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, cp + j), _mm512_mul_ps(i, g));
        __m512 t = tanh512(cv);
        _mm512_mask_storeu_ps(zi, m, i);
        _mm512_mask_storeu_ps(zf, m, f);
        _mm512_mask_storeu_ps(zg, m, g);
        _mm512_mask_storeu_ps(zo, m, o);
        _mm512_mask_storeu_ps(c + j, m, cv);
        _mm512_mask_storeu_ps(tc + j, m, t);
        _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(o, t));
    }
}
#endif

static void lstm_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                         int training, rc_rng *rng)
{
    (void)training, (void)rng;
    const int H = L->units, G4 = 4 * H;
    const recur_float *W = p + L->off_w, *U = p + L->off_u, *bias = p + L->off_b;
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512();
#endif
    const int I = L->in;
    /* [x_t | h_{t-1}] [W; U] one step at a time keeps the step's gates in
     * cache (+4 % batch-64 prediction) and in registers between the halves; a
     * few rows per step are too few for the kernel, so small batches (batch-1
     * prediction) project all steps at once, with W and U packed apart (read
     * out of the stacked pack, U made batch-1 prediction 2 % slower). */
    const int per_step = B >= 8;
    const rc_packed *pwu = &lb->wpk[WP_STACK], *pu = &lb->wpk[WP_U];
    rc_packed pw;
    if (per_step) {
        if (!wp_current(lb, WP_STACK)) {
            rc_pack_stack(&lb->wpk[WP_STACK], lb->wp, W, G4, I, U, G4, H, G4);
            wp_mark(lb, WP_STACK, 1u << WP_W | 1u << WP_U); /* same floats */
        }
        pw = rc_pack_rows(pwu, 0, I);
    } else {
        if (!wp_current(lb, WP_W) || !wp_current(lb, WP_U)) {
            rc_pack(&lb->wpk[WP_W], lb->wp, W, G4, 0, I, G4);
            rc_pack(&lb->wpk[WP_U], lb->wp + rc_pack_floats(I, G4), U, G4, 0, H, G4);
            wp_mark(lb, WP_W, 1u << WP_STACK);
            wp_mark(lb, WP_U, 0);
        }
        pw = lb->wpk[WP_W];
        rc_pgemm(0, T * B, x, I, &pw, 0, lb->a, G4);
    }
    for (int t = 0; t < T; t++) {
        recur_float *A = lb->a + (size_t)t * B * G4;
        const recur_float *hp = t ? lb->y + (size_t)(t - 1) * B * H : lb->h0;
        const recur_float *cp = t ? lb->c + (size_t)(t - 1) * B * H : lb->c0;
        recur_float *c = lb->c + (size_t)t * B * H, *tc = lb->tc + (size_t)t * B * H, *h = lb->y + (size_t)t * B * H;
        /* x_t W + h_{t-1} U (h_{-1} = 0 unless a state was set); the bias is
         * added in the cell pass */
        const recur_float *xt = x + (size_t)t * B * I;
        int rec = t || lb->has_state;
        if (per_step && rec) rc_pgemm2(B, xt, I, I, hp, H, pwu, 0, A, G4);
        else if (per_step) rc_pgemm(0, B, xt, I, &pw, 0, A, G4);
        else if (rec) rc_pgemm(0, B, hp, H, pu, 1, A, G4);
#ifdef RC_SIMD512
        if (simd) {
            for (int b = 0; b < B; b++) {
                size_t k0 = (size_t)b * H;
                cell_forward512(A + (size_t)b * G4, bias, cp + k0, c + k0, tc + k0, h + k0, H);
            }
            continue;
        }
#endif
        /* One sigmoid call over the whole step (B x 4H): the candidate block
         * goes in doubled and comes out as tanh(z) = 2 sigmoid(2z) - 1, whose
         * absolute error stays at float rounding (~1e-7). */
        for (int b = 0; b < B; b++) {
            recur_float *zb = A + (size_t)b * G4;
            for (int j = 0; j < G4; j++) zb[j] += bias[j];
            for (int j = 2 * H; j < 3 * H; j++) zb[j] *= 2;
        }
        rc_vsigmoid(A, A, (size_t)B * G4);
        for (int b = 0; b < B; b++) {
            recur_float *ab = A + (size_t)b * G4;
            size_t k0 = (size_t)b * H;
            const recur_float *ig = ab, *fg = ab + H, *cpb = cp + k0;
            recur_float *gg = ab + 2 * H, *cb = c + k0;
            for (int j = 0; j < H; j++) {
                gg[j] = 2 * gg[j] - 1;
                cb[j] = fg[j] * cpb[j] + ig[j] * gg[j];
            }
        }
        rc_vtanh(tc, c, (size_t)B * H);
        for (int b = 0; b < B; b++) {
            const recur_float *og = A + (size_t)b * G4 + 3 * H, *tcb = tc + (size_t)b * H;
            recur_float *hb = h + (size_t)b * H;
            for (int j = 0; j < H; j++) hb[j] = og[j] * tcb[j];
        }
    }
}

/* One row of one step: gate activations z (4H, i|f|g|o) in, gate gradients
 * out; dc carried to the previous step. Separate so that its restrict
 * parameters let the compiler vectorise the loop. */
RC_CLONES static void cell_backward(recur_float *restrict z, recur_float *restrict dc, const recur_float *restrict dh,
                          const recur_float *restrict cp, const recur_float *restrict tc, int H)
{
    recur_float *restrict zi = z, *restrict zf = z + H, *restrict zg = z + 2 * H, *restrict zo = z + 3 * H;
    for (int j = 0; j < H; j++) {
        recur_float i = zi[j], f = zf[j], g = zg[j], o = zo[j], tcv = tc[j], dhv = dh[j];
        recur_float dcv = dc[j] + dhv * o * (1 - tcv * tcv);
        zi[j] = dcv * g * i * (1 - i);
        zf[j] = dcv * cp[j] * f * (1 - f);
        zg[j] = dcv * i * (1 - g * g);
        zo[j] = dhv * tcv * o * (1 - o);
        dc[j] = dcv * f;
    }
}

#ifdef RC_SIMD512
/* cell_backward for AVX-512, which also adds the row's gate gradients to the
 * bias gradient db (4H) while they are in registers, sparing a pass over all
 * T*B rows of dP afterwards. */
RC_AVX512 static void cell_backward512(float *z, float *dc, const float *dh, const float *cp, const float *tc,
                                       float *db, int H)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int j = 0; j < H; j += 16) {
        __mmask16 m = H - j >= 16 ? (__mmask16)0xffff : rc_mask16(H - j);
        float *zi = z + j, *zf = z + H + j, *zg = z + 2 * H + j, *zo = z + 3 * H + j;
        float *bi = db + j, *bf = db + H + j, *bg = db + 2 * H + j, *bo = db + 3 * H + j;
        __m512 i = _mm512_maskz_loadu_ps(m, zi), f = _mm512_maskz_loadu_ps(m, zf);
        __m512 g = _mm512_maskz_loadu_ps(m, zg), o = _mm512_maskz_loadu_ps(m, zo);
        __m512 t = _mm512_maskz_loadu_ps(m, tc + j), h = _mm512_maskz_loadu_ps(m, dh + j);
        __m512 ho = _mm512_mul_ps(h, o);
        __m512 dcv = _mm512_fmadd_ps(ho, _mm512_fnmadd_ps(t, t, one), _mm512_maskz_loadu_ps(m, dc + j));
        __m512 di = _mm512_mul_ps(_mm512_mul_ps(dcv, g), _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
        __m512 df = _mm512_mul_ps(_mm512_mul_ps(dcv, _mm512_maskz_loadu_ps(m, cp + j)),
                                  _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
        __m512 dg = _mm512_mul_ps(_mm512_mul_ps(dcv, i), _mm512_fnmadd_ps(g, g, one));
        __m512 dov = _mm512_mul_ps(_mm512_mul_ps(h, t), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
        _mm512_mask_storeu_ps(zi, m, di);
        _mm512_mask_storeu_ps(zf, m, df);
        _mm512_mask_storeu_ps(zg, m, dg);
        _mm512_mask_storeu_ps(zo, m, dov);
        _mm512_mask_storeu_ps(dc + j, m, _mm512_mul_ps(dcv, f));
        _mm512_mask_storeu_ps(bi, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, bi), di));
        _mm512_mask_storeu_ps(bf, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, bf), df));
        _mm512_mask_storeu_ps(bg, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, bg), dg));
        _mm512_mask_storeu_ps(bo, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, bo), dov));
    }
}
#endif

static void lstm_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                          const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    const int H = L->units, G4 = 4 * H;
    const size_t BH = (size_t)B * H;
    const int I = L->in;
    const recur_float *W = p + L->off_w, *U = p + L->off_u;
    recur_float *dh = lb->dh, *dc = lb->dc;
    for (size_t k = 0; k < BH; k++) dh[k] = 0, dc[k] = 0;
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512(); /* the cell loop sums the bias gradient */
#else
    const int simd = 0;
#endif
    /* U^T (4H, H), for dh_{t-1} = dz U^T; W^T (4H, I) for dX = dz W^T */
    recur_float *wpb = lb->wp + rc_pack_floats(I + H, G4);
    if (!wp_current(lb, WP_UT)) rc_pack(&lb->wpk[WP_UT], wpb, U, G4, 1, G4, H), wp_mark(lb, WP_UT, 0);
    if (need_dx && !wp_current(lb, WP_WT))
        rc_pack(&lb->wpk[WP_WT], wpb + rc_pack_floats(G4, H), W, G4, 1, G4, I), wp_mark(lb, WP_WT, 0);
    const rc_packed *put = &lb->wpk[WP_UT];
    for (int t = T - 1; t >= 0; t--) {
        recur_float *A = lb->a + (size_t)t * B * G4; /* activations in, dz out */
        const recur_float *cp = t ? lb->c + (size_t)(t - 1) * BH : lb->c0;
        const recur_float *tc = lb->tc + (size_t)t * BH;
        const recur_float *dyt = L->return_sequences ? dy + (size_t)t * BH : (t == T - 1 ? dy : NULL);
        if (dyt)
            for (size_t k = 0; k < BH; k++) dh[k] += dyt[k];
#ifdef RC_SIMD512
        if (simd) {
            for (int b = 0; b < B; b++)
                cell_backward512(A + (size_t)b * G4, dc + (size_t)b * H, dh + (size_t)b * H, cp + (size_t)b * H,
                                 tc + (size_t)b * H, grads + L->off_b, H);
        } else
#endif
            for (int b = 0; b < B; b++)
                cell_backward(A + (size_t)b * G4, dc + (size_t)b * H, dh + (size_t)b * H, cp + (size_t)b * H,
                              tc + (size_t)b * H, H);
        if (t > 0 || lb->has_state) rc_pgemm(0, B, A, G4, put, 0, dh, H);
    }
    if (lb->has_state)
        for (size_t k = 0; k < BH; k++) lb->dh0[k] = dh[k], lb->dc0[k] = dc[k];
    rc_gates_backward_packed(need_dx ? lb->dx : NULL, grads + L->off_w, grads + L->off_u, simd ? NULL : grads + L->off_b,
                             lb->a, x, &lb->wpk[WP_WT], lb->y, lb->h0, lb->has_state, B, T, I, H, G4, lb->ut);
}

const rc_layer_ops rc_lstm_ops = {lstm_buf_size, lstm_bind, lstm_init, lstm_forward, lstm_backward, lstm_wpack_size};
