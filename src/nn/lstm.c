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
           rc_gates_pack_floats(L->units, 4, B, T) /* ut: packed gate gradients */
           + 4 * (H + 16);                         /* aux: the bias, for the cell pass */
}

/* lb->wp: [W; U] packed for the forward pass (stacked, or W and U apart),
 * then U^T and W^T for the backward one; entries of lb->wpk: */
enum { WP_STACK, WP_W, WP_U, WP_UT, WP_WT };

static size_t lstm_wpack_size(const rc_layer *L)
{
    int I = L->in, H = L->units, G4 = 4 * H;
    return rc_pack_floats(I + H, G4) + rc_pack_floats(G4, H) + rc_pack_floats(G4, I);
}


static void lstm_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    lb->y = rc_take(&m, TB * H);
    lb->c = rc_take(&m, TB * H);
    lb->tc = rc_take(&m, TB * H);
    lb->a = rc_take(&m, TB * 4 * H);
    lb->dx = rc_take(&m, TB * (size_t)L->in);
    lb->dh = rc_take(&m, (size_t)B * H);
    lb->dc = rc_take(&m, (size_t)B * H);
    lb->h0 = rc_take(&m, (size_t)B * H);
    lb->c0 = rc_take(&m, (size_t)B * H);
    lb->dh0 = rc_take(&m, (size_t)B * H);
    lb->dc0 = rc_take(&m, (size_t)B * H);
    lb->aux = rc_take(&m, 4 * (H + 16));
    lb->ut = m;
}

static int lstm_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    int H = L->units;
    rc_init_glorot_uniform(p + L->off_w, L->in, 4 * H, rng);
    recur_float *b = p + L->off_b;
    for (int j = 0; j < 4 * H; j++) b[j] = (j >= H && j < 2 * H) ? 1 : 0; /* unit_forget_bias */
    return rc_init_orthogonal(p + L->off_u, H, 4 * H, rng);
}

#ifdef RC_SIMD512
/* A gate's 16 values for cells e..e+15 of a step: the first s from the row
 * at z, the rest from the start of the next row, whose same gate lies 4H - s
 * further on, i.e. at z + 3H + l for lane l >= s: rc_split_ld/st with
 * next = 3H. */

/* One step of all B rows, fused: A (B rows of 4H, i|f|g|o) holds x W + h U
 * without the bias and leaves holding the gate activations (the backward
 * cache); c, tanh(c) and h (B x H, contiguous) are written. The B*H cells are
 * taken 16 at a time straight through, a vector straddling two rows where
 * H % 16 != 0 (at H = 50, a row by itself would fill 4 vectors for 3.1 of
 * cells), reading bx: each gate's bias followed by its first 16 values again,
 * so that one load at j serves lanes past the row's end. Same formulas, lane
 * by lane, as the portable loops below. */
RC_AVX512 static void cell_forward512(float *A, const float *bx, const float *cp, float *c, float *tc, float *h, int B,
                                      int H)
{
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    const size_t n = (size_t)B * H, G4 = 4 * (size_t)H;
    const int H3 = 3 * H, bs = H + 16;
    float *zr = A; /* the row of cell e */
    int j = 0;     /* cell e's column in it */
    for (size_t e = 0; e < n; e += 16) {
        __mmask16 m = n - e >= 16 ? (__mmask16)0xffff : rc_mask16((int)(n - e));
        __mmask16 lo = H - j >= 16 ? m : (__mmask16)(m & rc_mask16(H - j)), hi = (__mmask16)(m & ~lo);
        float *zi = zr + j, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + H3;
        const float *b = bx + j;
        __m512 i = sigmoid512(_mm512_add_ps(rc_split_ld(zi, lo, hi, H3), _mm512_maskz_loadu_ps(m, b)));
        __m512 f = sigmoid512(_mm512_add_ps(rc_split_ld(zf, lo, hi, H3), _mm512_maskz_loadu_ps(m, b + bs)));
        __m512 g = _mm512_add_ps(rc_split_ld(zg, lo, hi, H3), _mm512_maskz_loadu_ps(m, b + 2 * bs));
        g = _mm512_fmsub_ps(two, sigmoid512(_mm512_mul_ps(two, g)), one); /* tanh = 2 sigmoid(2z) - 1 */
        __m512 o = sigmoid512(_mm512_add_ps(rc_split_ld(zo, lo, hi, H3), _mm512_maskz_loadu_ps(m, b + 3 * bs)));
        __m512 cv = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, cp + e), _mm512_mul_ps(i, g));
        __m512 t = tanh512(cv);
        rc_split_st(zi, lo, hi, H3, i);
        rc_split_st(zf, lo, hi, H3, f);
        rc_split_st(zg, lo, hi, H3, g);
        rc_split_st(zo, lo, hi, H3, o);
        _mm512_mask_storeu_ps(c + e, m, cv);
        _mm512_mask_storeu_ps(tc + e, m, t);
        _mm512_mask_storeu_ps(h + e, m, _mm512_mul_ps(o, t));
        if ((j += 16) >= H) j -= H, zr += G4;
    }
}
#endif

static void lstm_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                         int training, rc_rng *rng)
{
    (void)training;
    (void)rng;
    const int H = L->units, G4 = 4 * H;
    const recur_float *W = p + L->off_w, *U = p + L->off_u, *bias = p + L->off_b;
    const recur_activation ga = rc_rec_act(L);
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512() && ga == RECUR_ACT_SIGMOID; /* the fused cell pass is sigmoid's */
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
        if (!rc_wp_current(lb, WP_STACK)) {
            rc_pack_stack(&lb->wpk[WP_STACK], lb->wp, W, G4, I, U, G4, H, G4);
            rc_wp_mark(lb, WP_STACK, 1u << WP_W | 1u << WP_U); /* same floats */
        }
        pw = rc_pack_rows(pwu, 0, I);
    } else {
        if (!rc_wp_current(lb, WP_W) || !rc_wp_current(lb, WP_U)) {
            rc_pack(&lb->wpk[WP_W], lb->wp, W, G4, 0, I, G4);
            rc_pack(&lb->wpk[WP_U], lb->wp + rc_pack_floats(I, G4), U, G4, 0, H, G4);
            rc_wp_mark(lb, WP_W, 1u << WP_STACK);
            rc_wp_mark(lb, WP_U, 0);
        }
        pw = lb->wpk[WP_W];
        rc_pgemm(0, T * B, x, I, &pw, 0, lb->a, G4);
    }
#ifdef RC_SIMD512
    if (simd) /* each gate's bias, then its first 16 values again (cell_forward512) */
        for (int g = 0; g < 4; g++)
            for (int j = 0; j < H + 16; j++) lb->aux[g * (H + 16) + j] = bias[g * H + j % H];
#endif
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
            if (H >= 16) cell_forward512(A, lb->aux, cp, c, tc, h, B, H);
            else /* a vector would straddle more than two rows: one row at a time */
                for (int b = 0; b < B; b++) {
                    size_t k0 = (size_t)b * H;
                    cell_forward512(A + (size_t)b * G4, lb->aux, cp + k0, c + k0, tc + k0, h + k0, 1, H);
                }
            continue;
        }
#endif
        /* Sigmoid gates: one sigmoid call over the whole step (B x 4H), the
         * candidate block going in doubled and coming out as tanh(z) =
         * 2 sigmoid(2z) - 1, whose absolute error stays at float rounding
         * (~1e-7). Hard-sigmoid gates: each block with its own function. */
        const int fused = ga == RECUR_ACT_SIGMOID;
        for (int b = 0; b < B; b++) {
            recur_float *zb = A + (size_t)b * G4;
            for (int j = 0; j < G4; j++) zb[j] += bias[j];
            if (fused) {
                for (int j = 2 * H; j < 3 * H; j++) zb[j] *= 2;
            } else {
                rc_vgate(zb, zb, 2 * (size_t)H, ga);
                rc_vtanh(zb + 2 * H, zb + 2 * H, (size_t)H);
                rc_vgate(zb + 3 * H, zb + 3 * H, (size_t)H, ga);
            }
        }
        if (fused) rc_vsigmoid(A, A, (size_t)B * G4);
        for (int b = 0; b < B; b++) {
            recur_float *ab = A + (size_t)b * G4;
            size_t k0 = (size_t)b * H;
            const recur_float *ig = ab, *fg = ab + H, *cpb = cp + k0;
            recur_float *gg = ab + 2 * H, *cb = c + k0;
            for (int j = 0; j < H; j++) {
                if (fused) gg[j] = 2 * gg[j] - 1;
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

/* The same with hard-sigmoid gates (ga): their derivative from their output. */
static void cell_backward_hard(recur_float *z, recur_float *dc, const recur_float *dh, const recur_float *cp,
                               const recur_float *tc, int H, recur_activation ga)
{
    recur_float *zi = z, *zf = z + H, *zg = z + 2 * H, *zo = z + 3 * H;
    for (int j = 0; j < H; j++) {
        recur_float i = zi[j], f = zf[j], g = zg[j], o = zo[j], tcv = tc[j], dhv = dh[j];
        recur_float dcv = dc[j] + dhv * o * (1 - tcv * tcv);
        zi[j] = dcv * g * rc_act_grad(ga, i);
        zf[j] = dcv * cp[j] * rc_act_grad(ga, f);
        zg[j] = dcv * i * (1 - g * g);
        zo[j] = dhv * tcv * rc_act_grad(ga, o);
        dc[j] = dcv * f;
    }
}

#ifdef RC_SIMD512
/* Adds v's lanes to a gate's bias gradient db: those below lo's end at db + j,
 * those in hi (the next row's first cells) at db + 0. */
RC_AVX512 static inline void db_add(float *db, int j, __mmask16 lo, __mmask16 hi, int s, __m512 v)
{
    _mm512_mask_storeu_ps(db + j, lo, _mm512_add_ps(_mm512_maskz_loadu_ps(lo, db + j), v));
    if (hi) {
        __mmask16 mh = (__mmask16)(hi >> s);
        __m512 w = _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                                                           2, 1, 0),
                                                          _mm512_set1_epi32(s)),
                                         v); /* lane l: v's lane l + s (mod 16) */
        _mm512_mask_storeu_ps(db, mh, _mm512_add_ps(_mm512_maskz_loadu_ps(mh, db), w));
    }
}

/* cell_backward for AVX-512 over one step's B rows, 16 cells at a time
 * straight through as in cell_forward512; it also adds each row's gate
 * gradients to the bias gradient db (4H), row after row as the portable
 * code, while they are in registers, sparing a pass over all T*B rows of dP
 * afterwards. */
RC_AVX512 static void cell_backward512(float *A, float *dc, const float *dh, const float *cp, const float *tc,
                                       float *db, int B, int H)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const size_t n = (size_t)B * H, G4 = 4 * (size_t)H;
    const int H3 = 3 * H;
    float *zr = A;
    int j = 0;
    for (size_t e = 0; e < n; e += 16) {
        __mmask16 m = n - e >= 16 ? (__mmask16)0xffff : rc_mask16((int)(n - e));
        const int s = H - j;
        __mmask16 lo = s >= 16 ? m : (__mmask16)(m & rc_mask16(s)), hi = (__mmask16)(m & ~lo);
        float *zi = zr + j, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + H3;
        __m512 i = rc_split_ld(zi, lo, hi, H3), f = rc_split_ld(zf, lo, hi, H3);
        __m512 g = rc_split_ld(zg, lo, hi, H3), o = rc_split_ld(zo, lo, hi, H3);
        __m512 t = _mm512_maskz_loadu_ps(m, tc + e), h = _mm512_maskz_loadu_ps(m, dh + e);
        __m512 ho = _mm512_mul_ps(h, o);
        __m512 dcv = _mm512_fmadd_ps(ho, _mm512_fnmadd_ps(t, t, one), _mm512_maskz_loadu_ps(m, dc + e));
        __m512 di = _mm512_mul_ps(_mm512_mul_ps(dcv, g), _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
        __m512 df = _mm512_mul_ps(_mm512_mul_ps(dcv, _mm512_maskz_loadu_ps(m, cp + e)),
                                  _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
        __m512 dg = _mm512_mul_ps(_mm512_mul_ps(dcv, i), _mm512_fnmadd_ps(g, g, one));
        __m512 dov = _mm512_mul_ps(_mm512_mul_ps(h, t), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
        rc_split_st(zi, lo, hi, H3, di);
        rc_split_st(zf, lo, hi, H3, df);
        rc_split_st(zg, lo, hi, H3, dg);
        rc_split_st(zo, lo, hi, H3, dov);
        _mm512_mask_storeu_ps(dc + e, m, _mm512_mul_ps(dcv, f));
        db_add(db, j, lo, hi, s, di);
        db_add(db + H, j, lo, hi, s, df);
        db_add(db + 2 * H, j, lo, hi, s, dg);
        db_add(db + H3, j, lo, hi, s, dov);
        if ((j += 16) >= H) j -= H, zr += G4;
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
    const recur_activation ga = rc_rec_act(L);
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512() && ga == RECUR_ACT_SIGMOID; /* the cell loop sums the bias gradient */
#else
    const int simd = 0;
#endif
    /* U^T (4H, H), for dh_{t-1} = dz U^T; W^T (4H, I) for dX = dz W^T */
    recur_float *wpb = lb->wp + rc_pack_floats(I + H, G4);
    if (!rc_wp_current(lb, WP_UT)) {
        rc_pack(&lb->wpk[WP_UT], wpb, U, G4, 1, G4, H);
        rc_wp_mark(lb, WP_UT, 0);
    }
    if (need_dx && !rc_wp_current(lb, WP_WT)) {
        rc_pack(&lb->wpk[WP_WT], wpb + rc_pack_floats(G4, H), W, G4, 1, G4, I);
        rc_wp_mark(lb, WP_WT, 0);
    }
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
            if (H >= 16) cell_backward512(A, dc, dh, cp, tc, grads + L->off_b, B, H);
            else
                for (int b = 0; b < B; b++)
                    cell_backward512(A + (size_t)b * G4, dc + (size_t)b * H, dh + (size_t)b * H, cp + (size_t)b * H,
                                     tc + (size_t)b * H, grads + L->off_b, 1, H);
        } else
#endif
            for (int b = 0; b < B; b++) {
                recur_float *zb = A + (size_t)b * G4, *dcb = dc + (size_t)b * H;
                const recur_float *dhb = dh + (size_t)b * H, *cpb = cp + (size_t)b * H, *tcb = tc + (size_t)b * H;
                if (ga == RECUR_ACT_SIGMOID) cell_backward(zb, dcb, dhb, cpb, tcb, H);
                else cell_backward_hard(zb, dcb, dhb, cpb, tcb, H, ga);
            }
        if (t > 0 || lb->has_state) rc_pgemm(0, B, A, G4, put, 0, dh, H);
    }
    if (lb->has_state)
        for (size_t k = 0; k < BH; k++) lb->dh0[k] = dh[k], lb->dc0[k] = dc[k];
    rc_gates_backward_packed(need_dx ? lb->dx : NULL, grads + L->off_w, grads + L->off_u, simd ? NULL : grads + L->off_b,
                             lb->a, x, &lb->wpk[WP_WT], lb->y, lb->h0, lb->has_state, B, T, I, H, G4, lb->ut);
}

const rc_layer_ops rc_lstm_ops = {lstm_buf_size, lstm_bind, lstm_init, lstm_forward, lstm_backward, lstm_wpack_size};
