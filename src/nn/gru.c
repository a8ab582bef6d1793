/*
 * gru.c -- Keras GRU (keras/src/layers/rnn/gru.py, GRUCell.call), gate blocks
 * z | r | h (update, reset, candidate).
 *
 * reset_after = 1 (Keras default), bias (2, 3H): b0 input side, b1 recurrent side
 *   mx = x_t W + b0          mh = h_{t-1} U + b1
 *   z = sigmoid(mx_z + mh_z)   r = sigmoid(mx_r + mh_r)
 *   hh = tanh(mx_h + r * mh_h)
 *   h_t = z * h_{t-1} + (1 - z) * hh
 * reset_after = 0, bias (3H):
 *   z, r as above without b1;  hh = tanh(mx_h + (r * h_{t-1}) U_h)
 *
 * Backward per step, with dh including the upstream gradient:
 *   dz = dh (h_{t-1} - hh)      dhh = dh (1 - z)      da_h = dhh (1 - hh^2)
 *   da_z = dz z (1 - z)         da_r = dr r (1 - r)
 *   reset_after:  dr = da_h mh_h; input side (da_z, da_r, da_h),
 *                 recurrent side (da_z, da_r, da_h r)
 *   reset_before: d(rh) = da_h U_h^T, dr = d(rh) h_{t-1}
 *   dh_{t-1} = dh z + (recurrent-side gradients) U^T (+ d(rh) r)
 * `a` caches z | r | hh and is overwritten in place by the input-side gradients.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/simd.h"
#include "nn/vmath.h"

#include <string.h>

/* d gate / d pre-activation from the gate's output: y (1 - y) for sigmoid,
 * as before hard sigmoids existed, else rc_act_grad's slope. */
static inline recur_float gate_grad(recur_activation ga, recur_float y)
{
    return ga == RECUR_ACT_SIGMOID ? y * (1 - y) : rc_act_grad(ga, y);
}

static size_t gru_buf_size(const rc_layer *L, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    /* y, aux: TB*H; a: TB*3H; da2 (reset_after): TB*3H; dx: TB*I; mh: B*3H; dh, dc, h0, dh0: B*H;
     * ut: the gate-gradient packing buffer */
    size_t n = 2 * TB * H + TB * 3 * H + TB * (size_t)L->in + (size_t)B * 3 * H + 4 * (size_t)B * H +
               rc_gates_pack_floats(L->units, 3, B, T);
    if (L->reset_after) n += TB * 3 * H;
    return n;
}

static void gru_bind(const rc_layer *L, rc_lbuf *lb, recur_float *m, int B, int T)
{
    size_t TB = (size_t)T * B, H = (size_t)L->units;
    lb->y = rc_take(&m, TB * H);
    lb->aux = rc_take(&m, TB * H);
    lb->a = rc_take(&m, TB * 3 * H);
    if (L->reset_after) lb->da2 = rc_take(&m, TB * 3 * H);
    lb->dx = rc_take(&m, TB * (size_t)L->in);
    lb->mh = rc_take(&m, (size_t)B * 3 * H);
    lb->dh = rc_take(&m, (size_t)B * H);
    lb->dc = rc_take(&m, (size_t)B * H);
    lb->h0 = rc_take(&m, (size_t)B * H);
    lb->dh0 = rc_take(&m, (size_t)B * H);
    lb->ut = m;
}

/* lb->wp: W, then U (reset after: whole; reset before: its z|r columns, then
 * its candidate columns apart) for the forward pass, U^T and W^T for the
 * backward one, each kept for the batch; entries of lb->wpk: */
enum { WP_W, WP_U, WP_UH, WP_UT, WP_WT };

static size_t off_u(const rc_layer *L) { return rc_pack_floats(L->in, 3 * L->units); }
static size_t off_ut(const rc_layer *L)
{
    return off_u(L) + rc_pack_floats(L->units, 3 * L->units) + rc_pack_floats(L->units, L->units);
}

static size_t gru_wpack_size(const rc_layer *L)
{
    return off_ut(L) + rc_pack_floats(3 * L->units, L->units) + rc_pack_floats(3 * L->units, L->in);
}

static int gru_init(const rc_layer *L, recur_float *p, rc_rng *rng)
{
    int H = L->units;
    rc_init_glorot_uniform(p + L->off_w, L->in, 3 * H, rng);
    size_t nb = (size_t)(L->reset_after ? 6 : 3) * H;
    for (size_t j = 0; j < nb; j++) p[L->off_b + j] = 0;
    return rc_init_orthogonal(p + L->off_u, H, 3 * H, rng);
}

#ifdef RC_SIMD512
/* The reset_after step's cell pass over a step's B rows, sigmoid gates: A
 * (z | r | h pre-activations, x W + b0) and M (h_{t-1} U + b1), rows of 3H,
 * in; A leaves holding z | r | hh, aux M's candidate blocks, h the new
 * state (B x H each, contiguous). The B*H cells are taken 16 at a time
 * straight through, a vector straddling two rows where H % 16 != 0 (needs
 * H >= 16), as the LSTM's cell_forward512. The operations of the portable
 * loops in their order (multiplies and adds, no FMA) and sigmoid512/tanh512
 * as rc_vsigmoid/rc_vtanh use them: the same floats in one pass, not four.
 * A gate's 16 values for cells e..e+15 (p at row b's column j of the gate):
 * lanes in lo from row b, lanes in hi from row b + 1, whose column l - s
 * (s = H - j) lies at p + 3H - j + l - s = p + 2H + l: rc_split_ld/st with
 * next = 2H. */
RC_AVX512 static void cell_forward_ra512(float *A, const float *M, const float *hp, float *aux, float *h, int B, int H)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const size_t n = (size_t)B * H, G3 = 3 * (size_t)H;
    const int H2 = 2 * H;
    float *ar = A; /* the rows of cell e */
    const float *mr = M;
    int j = 0; /* cell e's column in them */
    for (size_t e = 0; e < n; e += 16) {
        __mmask16 m = n - e >= 16 ? (__mmask16)0xffff : rc_mask16((int)(n - e));
        __mmask16 lo = H - j >= 16 ? m : (__mmask16)(m & rc_mask16(H - j)), hi = (__mmask16)(m & ~lo);
        float *za = ar + j;
        const float *ma = mr + j;
        __m512 z = sigmoid512(_mm512_add_ps(rc_split_ld(za, lo, hi, H2), rc_split_ld(ma, lo, hi, H2)));
        __m512 r = sigmoid512(_mm512_add_ps(rc_split_ld(za + H, lo, hi, H2), rc_split_ld(ma + H, lo, hi, H2)));
        __m512 mh = rc_split_ld(ma + H2, lo, hi, H2);
        __m512 hh = tanh512(_mm512_add_ps(rc_split_ld(za + H2, lo, hi, H2), _mm512_mul_ps(r, mh)));
        __m512 hv = _mm512_add_ps(_mm512_mul_ps(z, _mm512_maskz_loadu_ps(m, hp + e)),
                                  _mm512_mul_ps(_mm512_sub_ps(one, z), hh));
        rc_split_st(za, lo, hi, H2, z);
        rc_split_st(za + H, lo, hi, H2, r);
        rc_split_st(za + H2, lo, hi, H2, hh);
        _mm512_mask_storeu_ps(aux + e, m, mh);
        _mm512_mask_storeu_ps(h + e, m, hv);
        if ((j += 16) >= H) j -= H, ar += G3, mr += G3;
    }
}

/* The reset_after backward cell pass over a step's B rows, sigmoid gates,
 * straight through as cell_forward_ra512, the portable loop's operations in
 * its order: A (z | r | hh) in, the input-side gate gradients out; D2 the
 * recurrent-side ones; dh (dL/dh_t without the upstream dy, added here when
 * given) leaves holding the direct part dh z of dL/dh_{t-1}. */
RC_AVX512 static void cell_backward_ra512(float *A, float *D2, float *dh, const float *dy, const float *hp,
                                          const float *aux, int B, int H)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const size_t n = (size_t)B * H, G3 = 3 * (size_t)H;
    const int H2 = 2 * H;
    float *ar = A, *dr = D2;
    int j = 0;
    for (size_t e = 0; e < n; e += 16) {
        __mmask16 m = n - e >= 16 ? (__mmask16)0xffff : rc_mask16((int)(n - e));
        __mmask16 lo = H - j >= 16 ? m : (__mmask16)(m & rc_mask16(H - j)), hi = (__mmask16)(m & ~lo);
        float *za = ar + j, *d2 = dr + j;
        __m512 dhv = _mm512_maskz_loadu_ps(m, dh + e);
        if (dy) dhv = _mm512_add_ps(dhv, _mm512_maskz_loadu_ps(m, dy + e));
        __m512 z = rc_split_ld(za, lo, hi, H2), r = rc_split_ld(za + H, lo, hi, H2), hh = rc_split_ld(za + H2, lo, hi, H2);
        __m512 dah = _mm512_mul_ps(_mm512_mul_ps(dhv, _mm512_sub_ps(one, z)),
                                   _mm512_sub_ps(one, _mm512_mul_ps(hh, hh)));
        __m512 daz = _mm512_mul_ps(_mm512_mul_ps(dhv, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, hp + e), hh)),
                                   _mm512_mul_ps(z, _mm512_sub_ps(one, z)));
        __m512 dar = _mm512_mul_ps(_mm512_mul_ps(dah, _mm512_maskz_loadu_ps(m, aux + e)),
                                   _mm512_mul_ps(r, _mm512_sub_ps(one, r)));
        rc_split_st(za, lo, hi, H2, daz);
        rc_split_st(za + H, lo, hi, H2, dar);
        rc_split_st(za + H2, lo, hi, H2, dah);
        rc_split_st(d2, lo, hi, H2, daz);
        rc_split_st(d2 + H, lo, hi, H2, dar);
        rc_split_st(d2 + H2, lo, hi, H2, _mm512_mul_ps(dah, r));
        _mm512_mask_storeu_ps(dh + e, m, _mm512_mul_ps(dhv, z));
        if ((j += 16) >= H) j -= H, ar += G3, dr += G3;
    }
}
#endif

static void gru_forward(const rc_layer *L, rc_lbuf *lb, const recur_float *p, const recur_float *x, int B, int T,
                        int training, rc_rng *rng)
{
    (void)training;
    (void)rng;
    const int H = L->units, G3 = 3 * H;
    const size_t BH = (size_t)B * H;
    const recur_float *W = p + L->off_w, *U = p + L->off_u, *b0 = p + L->off_b, *b1 = b0 + G3;
    const recur_activation ga = rc_rec_act(L);
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512() && ga == RECUR_ACT_SIGMOID; /* the fused cell passes are sigmoid's */
#endif
    const rc_packed *pw = rc_wp_pack(lb, WP_W, W, G3, 0, L->in, G3, 0);
    const rc_packed *pu = rc_wp_pack(lb, WP_U, U, G3, 0, H, L->reset_after ? G3 : 2 * H, off_u(L));
    const rc_packed *puh =
        L->reset_after ? NULL : rc_wp_pack(lb, WP_UH, U + 2 * H, G3, 0, H, H, off_u(L) + rc_pack_floats(H, G3));
    rc_pgemm_bias(T * B, x, L->in, pw, b0, lb->a, G3);
    for (int t = 0; t < T; t++) {
        recur_float *A = lb->a + (size_t)t * B * G3;
        const recur_float *hp = t ? lb->y + (size_t)(t - 1) * BH : lb->h0;
        recur_float *h = lb->y + (size_t)t * BH, *aux = lb->aux + (size_t)t * BH;
        int any = t || lb->has_state;
        if (L->reset_after) {
            recur_float *mh = lb->mh;
            if (any) rc_pgemm_bias(B, hp, H, pu, b1, mh, G3);
            else
                for (int b = 0; b < B; b++) memcpy(mh + (size_t)b * G3, b1, (size_t)G3 * sizeof *b1);
#ifdef RC_SIMD512
            if (simd) {
                if (H >= 16) cell_forward_ra512(A, mh, hp, aux, h, B, H);
                else /* a vector would straddle more than two rows: one row at a time */
                    for (int b = 0; b < B; b++)
                        cell_forward_ra512(A + (size_t)b * G3, mh + (size_t)b * G3, hp + (size_t)b * H,
                                           aux + (size_t)b * H, h + (size_t)b * H, 1, H);
                continue;
            }
#endif
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3;
                const recur_float *mb = mh + (size_t)b * G3, *hpb = hp + (size_t)b * H;
                recur_float *auxb = aux + (size_t)b * H, *hb = h + (size_t)b * H;
                for (int j = 0; j < 2 * H; j++) ab[j] += mb[j];
                rc_vgate(ab, ab, 2 * (size_t)H, ga); /* z, r */
                const recur_float *zg = ab, *rg = ab + H;
                recur_float *hh = ab + 2 * H;
                for (int j = 0; j < H; j++) auxb[j] = mb[2 * H + j], hh[j] += rg[j] * mb[2 * H + j];
                rc_vtanh(hh, hh, (size_t)H);
                for (int j = 0; j < H; j++) hb[j] = zg[j] * hpb[j] + (1 - zg[j]) * hh[j];
            }
        } else {
            if (any) rc_pgemm(0, B, hp, H, pu, 1, A, G3); /* z | r columns */
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3;
                const recur_float *hpb = hp + (size_t)b * H;
                recur_float *auxb = aux + (size_t)b * H;
                rc_vgate(ab, ab, 2 * (size_t)H, ga); /* z, r */
                for (int j = 0; j < H; j++) auxb[j] = ab[H + j] * hpb[j];
            }
            if (any) rc_pgemm(0, B, aux, H, puh, 1, A + 2 * H, G3);
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3, *hh = ab + 2 * H, *hb = h + (size_t)b * H;
                const recur_float *hpb = hp + (size_t)b * H;
                rc_vtanh(hh, hh, (size_t)H);
                for (int j = 0; j < H; j++) hb[j] = ab[j] * hpb[j] + (1 - ab[j]) * hh[j];
            }
        }
    }
}

/* The reset_after bias gradients db0 (input side) and db1 (recurrent side)
 * from A and D2 (R rows of 3H), each column summed in row order as
 * rc_gates_backward_packed would, in one pass: D2's z | r blocks are A's, so
 * they are read once, for both. */
RC_CLONES static void colsum_ra(recur_float *restrict db0, recur_float *restrict db1, const recur_float *restrict A,
                                const recur_float *restrict D2, size_t R, int H)
{
    const size_t G3 = 3 * (size_t)H;
    for (size_t r = 0; r < R; r++) {
        const recur_float *restrict a = A + r * G3, *restrict d = D2 + r * G3 + 2 * H;
        for (int j = 0; j < 2 * H; j++) db0[j] += a[j], db1[j] += a[j];
        for (int j = 0; j < H; j++) db0[2 * H + j] += a[2 * H + j], db1[2 * H + j] += d[j];
    }
}

static void gru_backward(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *p,
                         const recur_float *x, const recur_float *dy, int B, int T, int need_dx)
{
    const int H = L->units, G3 = 3 * H;
    const size_t BH = (size_t)B * H;
    const recur_float *W = p + L->off_w, *U = p + L->off_u;
    const recur_activation ga = rc_rec_act(L);
#ifdef RC_SIMD512
    const int simd = rc_cpu_avx512() && ga == RECUR_ACT_SIGMOID;
#endif
    recur_float *dh = lb->dh, *tmp = lb->dc;
    for (size_t k = 0; k < BH; k++) dh[k] = 0;
    const rc_packed *put = rc_wp_pack(lb, WP_UT, U, G3, 1, G3, H, off_ut(L));
    const rc_packed *pwt =
        need_dx ? rc_wp_pack(lb, WP_WT, W, G3, 1, G3, L->in, off_ut(L) + rc_pack_floats(G3, H)) : NULL;
    const rc_packed ut_zr = rc_pack_rows(put, 0, 2 * H), ut_h = rc_pack_rows(put, 2 * H, H);
    for (int t = T - 1; t >= 0; t--) {
        recur_float *A = lb->a + (size_t)t * B * G3;
        const recur_float *hp = t ? lb->y + (size_t)(t - 1) * BH : lb->h0;
        const recur_float *aux = lb->aux + (size_t)t * BH;
        const recur_float *dyt = L->return_sequences ? dy + (size_t)t * BH : (t == T - 1 ? dy : NULL);
        int more = t > 0 || lb->has_state;
        if (L->reset_after) {
            recur_float *D2 = lb->da2 + (size_t)t * B * G3;
#ifdef RC_SIMD512
            if (simd) {
                if (H >= 16) cell_backward_ra512(A, D2, dh, dyt, hp, aux, B, H);
                else
                    for (int b = 0; b < B; b++) {
                        size_t k0 = (size_t)b * H;
                        cell_backward_ra512(A + (size_t)b * G3, D2 + (size_t)b * G3, dh + k0,
                                            dyt ? dyt + k0 : NULL, hp + k0, aux + k0, 1, H);
                    }
                if (more) rc_pgemm(0, B, D2, G3, put, 1, dh, H);
                continue;
            }
#endif
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3, *d2 = D2 + (size_t)b * G3;
                for (int j = 0; j < H; j++) {
                    size_t k = (size_t)b * H + j;
                    recur_float dhv = dh[k] + (dyt ? dyt[k] : 0);
                    recur_float z = ab[j], r = ab[H + j], hh = ab[2 * H + j];
                    recur_float dah = dhv * (1 - z) * (1 - hh * hh);
                    recur_float daz = dhv * (hp[k] - hh) * gate_grad(ga, z);
                    recur_float dar = dah * aux[k] * gate_grad(ga, r);
                    ab[j] = daz;
                    ab[H + j] = dar;
                    ab[2 * H + j] = dah;
                    d2[j] = daz;
                    d2[H + j] = dar;
                    d2[2 * H + j] = dah * r;
                    tmp[k] = dhv * z;
                }
            }
            if (more) {
                for (size_t k = 0; k < BH; k++) dh[k] = tmp[k];
                rc_pgemm(0, B, D2, G3, put, 1, dh, H);
            }
        } else {
            /* pass 1: z and candidate blocks; dh keeps only the direct part dh z */
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3;
                for (int j = 0; j < H; j++) {
                    size_t k = (size_t)b * H + j;
                    recur_float dhv = dh[k] + (dyt ? dyt[k] : 0);
                    recur_float z = ab[j], hh = ab[2 * H + j];
                    ab[2 * H + j] = dhv * (1 - z) * (1 - hh * hh);
                    ab[j] = dhv * (hp[k] - hh) * gate_grad(ga, z);
                    dh[k] = dhv * z;
                }
            }
            /* pass 2: d(r h) = da_h U_h^T, then the reset gate */
            rc_pgemm(0, B, A + 2 * H, G3, &ut_h, 0, tmp, H);
            for (int b = 0; b < B; b++) {
                recur_float *ab = A + (size_t)b * G3;
                for (int j = 0; j < H; j++) {
                    size_t k = (size_t)b * H + j;
                    recur_float r = ab[H + j];
                    ab[H + j] = tmp[k] * hp[k] * gate_grad(ga, r);
                    dh[k] += tmp[k] * r;
                }
            }
            if (more) rc_pgemm(0, B, A, G3, &ut_zr, 1, dh, H);
        }
    }
    if (lb->has_state)
        for (size_t k = 0; k < BH; k++) lb->dh0[k] = dh[k];
    recur_float *dU = grads + L->off_u;
    /* input side: dW, db0 and dX from the input-side gate gradients */
    recur_float *db0 = grads + L->off_b, *db1 = db0 + G3;
    const int sums = L->reset_after && rc_gates_in_place(G3); /* both bias gradients here, in one pass */
    if (sums) colsum_ra(db0, db1, lb->a, lb->da2, (size_t)T * B, H);
    rc_gates_backward_packed(need_dx ? lb->dx : NULL, grads + L->off_w, NULL, sums ? NULL : db0, lb->a, x, pwt,
                             lb->y, lb->h0, lb->has_state, B, T, L->in, H, G3, lb->ut);
    if (L->reset_after) {
        /* recurrent side: dU and db1 from the recurrent-side ones */
        rc_gates_backward_packed(NULL, NULL, dU, sums ? NULL : db1, lb->da2, NULL, NULL, lb->y, lb->h0,
                                 lb->has_state, B, T, L->in, H, G3, lb->ut);
    } else {
        /* z | r columns of dU from h_{t-1}, the candidate's from r * h_{t-1} */
        rc_gates_recurrent_backward(dU, G3, lb->a, G3, lb->y, lb->h0, lb->has_state, B, T, H, 2 * H);
        rc_gemm(1, 0, H, H, T * B, 1, lb->aux, H, lb->a + 2 * H, G3, 1, dU + 2 * H, G3);
    }
}

const rc_layer_ops rc_gru_ops = {gru_buf_size, gru_bind, gru_init, gru_forward, gru_backward, gru_wpack_size};
