/*
 * step.c -- one time step of one sample through a layer, for inference that
 * follows a stream of values (train/stream.c): the same cell equations as the
 * layers' forward passes (lstm.c, gru.c, simple_rnn.c, dense.c), with batch 1
 * and no training caches.
 *
 * A step's pre-activations are z = b + x W + h U, a row vector times two
 * matrices stored (rows, G*H) row-major, so the product walks the matrices row
 * by row: z += x_i W_i. Four rows are folded into each pass over z, which
 * keeps z's loads and stores at a quarter of the multiply-adds; the inner loop
 * is contiguous over G*H and vectorised for the CPU at load time (RC_CLONES).
 *
 * Letters: I input width, H units, G gate blocks.
 */
#include "nn/act.h"
#include "nn/layer.h"
#include "nn/simd.h"
#include "nn/step.h"
#include "nn/vmath.h"

#include <string.h>

/* z (n) += v (rows) M (rows, n), M row-major with leading dimension ld: the
 * portable version, four rows folded into each pass over z. */
RC_CLONES static void vecmat_c(recur_float *restrict z, const recur_float *restrict v, const recur_float *restrict M,
                               int rows, int ld, int n)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const recur_float a0 = v[r], a1 = v[r + 1], a2 = v[r + 2], a3 = v[r + 3];
        const recur_float *m0 = M + (size_t)r * ld, *m1 = m0 + ld, *m2 = m1 + ld, *m3 = m2 + ld;
        for (int j = 0; j < n; j++) z[j] += a0 * m0[j] + a1 * m1[j] + a2 * m2[j] + a3 * m3[j];
    }
    for (; r < rows; r++) {
        const recur_float a = v[r], *m = M + (size_t)r * ld;
        for (int j = 0; j < n; j++) z[j] += a * m[j];
    }
}

/* ---- Packed panels for AVX-512 ----
 * A matrix (rows, n) is stored as panels of up to 400 columns, panel after
 * panel, each rows x w floats contiguous (w the panel's width rounded up to
 * 16, zero padded): a pass over the rows then reads memory straight through,
 * which the prefetchers follow, instead of pieces of rows 4n bytes apart.
 * 400 columns are 25 vectors, which stay in registers (of 32) while the rows
 * pass: an LSTM of up to 100 units makes one pass over its U, the tutorial's
 * second LSTM (U: 160 KB, read from L2 at every step) among them. The width
 * hardly matters to the product itself (60 passes over that U took 75 us in
 * a micro-benchmark with 128 columns as with 384 and 16), but 128 columns
 * left a pass over the last 16 alone, a chain of 100 dependent multiply-adds
 * at each step: that LSTM's 60 steps took min 93 us with them, 90 without. */
#define PANEL 400
#define PANEL_NV (PANEL / 16)

static size_t panel_floats(int rows, int n)
{
    size_t total = 0;
    for (int j = 0; j < n; j += PANEL) {
        int w = n - j < PANEL ? n - j : PANEL;
        total += (size_t)rows * (size_t)((w + 15) / 16 * 16);
    }
    return total;
}

/* Panels of columns [c0, c0 + n) of M (rows, ld) into dst (panel_floats(rows, n)). */
static void panel_pack(recur_float *dst, const recur_float *M, int rows, int ld, int c0, int n)
{
    for (int j = 0; j < n; j += PANEL) {
        int w = n - j < PANEL ? n - j : PANEL, wp = (w + 15) / 16 * 16;
        for (int r = 0; r < rows; r++, dst += wp)
            for (int k = 0; k < wp; k++) dst[k] = k < w ? M[(size_t)r * ld + c0 + j + k] : 0;
    }
}

#ifdef RC_SIMD512
/* One panel: NV (1..25) vectors of z in registers while the rows pass; the
 * last vector is stored under mask k. The loops over the vectors must be
 * unrolled for a[] to live in registers; GCC stops doing so by itself at -O2
 * beyond 8 or so, hence the pragmas. */
#define PANEL_KERNEL(NV)                                                                                               \
    RC_AVX512 static void panel##NV(float *restrict z, const float *restrict v, const float *restrict P, int rows,     \
                                    __mmask16 k)                                                                       \
    {                                                                                                                  \
        __m512 a[NV];                                                                                                  \
        _Pragma("GCC unroll 25")                                                                                       \
        for (int q = 0; q < NV; q++) a[q] = _mm512_maskz_loadu_ps(q == NV - 1 ? k : (__mmask16)0xFFFF, z + 16 * q);    \
        for (int r = 0; r < rows; r++, P += 16 * NV) {                                                                 \
            const __m512 x = _mm512_set1_ps(v[r]);                                                                     \
            _Pragma("GCC unroll 25")                                                                                   \
            for (int q = 0; q < NV; q++) a[q] = _mm512_fmadd_ps(x, _mm512_loadu_ps(P + 16 * q), a[q]);                 \
        }                                                                                                              \
        _Pragma("GCC unroll 25")                                                                                       \
        for (int q = 0; q < NV - 1; q++) _mm512_storeu_ps(z + 16 * q, a[q]);                                           \
        _mm512_mask_storeu_ps(z + 16 * (NV - 1), k, a[NV - 1]);                                                        \
    }
PANEL_KERNEL(1)
PANEL_KERNEL(2)
PANEL_KERNEL(3)
PANEL_KERNEL(4)
PANEL_KERNEL(5)
PANEL_KERNEL(6)
PANEL_KERNEL(7)
PANEL_KERNEL(8)
PANEL_KERNEL(9)
PANEL_KERNEL(10)
PANEL_KERNEL(11)
PANEL_KERNEL(12)
PANEL_KERNEL(13)
PANEL_KERNEL(14)
PANEL_KERNEL(15)
PANEL_KERNEL(16)
PANEL_KERNEL(17)
PANEL_KERNEL(18)
PANEL_KERNEL(19)
PANEL_KERNEL(20)
PANEL_KERNEL(21)
PANEL_KERNEL(22)
PANEL_KERNEL(23)
PANEL_KERNEL(24)
PANEL_KERNEL(25)

typedef void (*panel_kernel)(float *restrict, const float *restrict, const float *restrict, int, __mmask16);
static const panel_kernel PANEL_K[PANEL_NV] = {panel1,  panel2,  panel3,  panel4,  panel5,  panel6,  panel7,  panel8,
                                               panel9,  panel10, panel11, panel12, panel13, panel14, panel15, panel16,
                                               panel17, panel18, panel19, panel20, panel21, panel22, panel23, panel24,
                                               panel25};

/* z (n) += v (rows) M (rows, n), M packed by panel_pack. */
static void vecmat_packed(float *restrict z, const float *restrict v, const float *restrict P, int rows, int n)
{
    for (int j = 0; j < n; j += PANEL) {
        int w = n - j < PANEL ? n - j : PANEL, nv = (w + 15) / 16, last = w - 16 * (nv - 1);
        __mmask16 k = last == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
        PANEL_K[nv - 1](z + j, v, P, rows, k);
        P += (size_t)rows * 16 * nv;
    }
}

/* Four rows of a product at once: Z (4, 16 NQ) with leading dimension ldz +=
 * X (4, rows) times NQ vectors of a panel (P: its first row there, wp floats
 * from one row to the next), the last vector under mask k. Each weight
 * loaded serves the four rows, so the loop is bound by the multiply-adds, not
 * the loads, and 4 NQ independent sums hide their latency. Every element is
 * still its bias plus the rows in order, as panel##NV computes it. */
#define PROJ_KERNEL(NQ)                                                                                                \
    RC_AVX512 static void proj4x##NQ(float *restrict Z, int ldz, const float *restrict X, int ldx,                     \
                                     const float *restrict P, int rows, int wp, __mmask16 k)                           \
    {                                                                                                                  \
        __m512 a[4][NQ];                                                                                               \
        _Pragma("GCC unroll 4")                                                                                        \
        for (int i = 0; i < 4; i++)                                                                                    \
            _Pragma("GCC unroll 4")                                                                                    \
            for (int q = 0; q < NQ; q++)                                                                               \
                a[i][q] = _mm512_maskz_loadu_ps(q == NQ - 1 ? k : (__mmask16)0xFFFF, Z + (size_t)i * ldz + 16 * q);    \
        for (int r = 0; r < rows; r++, P += wp) {                                                                      \
            __m512 x[4];                                                                                               \
            _Pragma("GCC unroll 4")                                                                                    \
            for (int i = 0; i < 4; i++) x[i] = _mm512_set1_ps(X[(size_t)i * ldx + r]);                                 \
            _Pragma("GCC unroll 4")                                                                                    \
            for (int q = 0; q < NQ; q++) {                                                                             \
                const __m512 w = _mm512_loadu_ps(P + 16 * q);                                                          \
                _Pragma("GCC unroll 4")                                                                                \
                for (int i = 0; i < 4; i++) a[i][q] = _mm512_fmadd_ps(x[i], w, a[i][q]);                               \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 4")                                                                                        \
        for (int i = 0; i < 4; i++)                                                                                    \
            _Pragma("GCC unroll 4")                                                                                    \
            for (int q = 0; q < NQ; q++)                                                                               \
                _mm512_mask_storeu_ps(Z + (size_t)i * ldz + 16 * q, q == NQ - 1 ? k : (__mmask16)0xFFFF, a[i][q]);     \
    }
PROJ_KERNEL(1)
PROJ_KERNEL(2)
PROJ_KERNEL(3)
PROJ_KERNEL(4)

/* P (R, n) with leading dimension ldp += X (R, rows) M: within each panel,
 * for each slice of up to four vectors of columns, blocks of four rows of X
 * (proj4x*), so that the slice is read from L1 by every block after the
 * first; the rows left over one at a time, over the whole panel (panel*). */
static void vecmat_rows_packed(float *restrict P, int ldp, const float *restrict X, int ldx, int R,
                               const float *restrict Mp, int rows, int n)
{
    typedef void (*kernel4)(float *restrict, int, const float *restrict, int, const float *restrict, int, int,
                            __mmask16);
    static const kernel4 K4[4] = {proj4x1, proj4x2, proj4x3, proj4x4};
    const int R4 = R / 4 * 4;
    for (int j = 0; j < n; j += PANEL) {
        int w = n - j < PANEL ? n - j : PANEL, nv = (w + 15) / 16, last = w - 16 * (nv - 1);
        __mmask16 k = last == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
        for (int q = 0; q < nv; q += 4) {
            int nq = nv - q < 4 ? nv - q : 4;
            for (int r = 0; r < R4; r += 4)
                K4[nq - 1](P + (size_t)r * ldp + j + 16 * q, ldp, X + (size_t)r * ldx, ldx, Mp + 16 * q, rows,
                           16 * nv, q + nq == nv ? k : (__mmask16)0xFFFF);
        }
        for (int r = R4; r < R; r++) PANEL_K[nv - 1](P + (size_t)r * ldp + j, X + (size_t)r * ldx, Mp, rows, k);
        Mp += (size_t)rows * 16 * nv;
    }
}
#endif

/* z (n) += v (rows) M: packed panels on AVX-512, else the model's own layout. */
static void vecmat(recur_float *restrict z, const recur_float *restrict v, const rc_stepmat *M)
{
#ifdef RC_SIMD512
    if (M->packed) {
        vecmat_packed(z, v, M->packed, M->rows, M->n);
        return;
    }
#endif
    vecmat_c(z, v, M->m, M->rows, M->ld, M->n);
}

/* The matrices a layer's step multiplies by: W, U and, for a GRU with the
 * reset gate before the product, U's candidate columns apart from z and r's. */
static int step_mats(const rc_layer *L, const recur_float *p, rc_stepmat mats[3])
{
    const int H = L->units, GH = L->G * H;
    const recur_float *W = p ? p + L->off_w : NULL, *U = p ? p + L->off_u : NULL;
    switch (L->kind) {
    case RECUR_LAYER_LSTM:
    case RECUR_LAYER_RNN:
    case RECUR_LAYER_GRU:
        mats[0] = (rc_stepmat){.m = W, .rows = L->in, .ld = GH, .n = GH};
        if (L->kind == RECUR_LAYER_GRU && !L->reset_after) {
            mats[1] = (rc_stepmat){.m = U, .rows = H, .ld = GH, .n = 2 * H};
            mats[2] = (rc_stepmat){.m = U ? U + 2 * H : NULL, .rows = H, .ld = GH, .n = H};
            return 3;
        }
        mats[1] = (rc_stepmat){.m = U, .rows = H, .ld = GH, .n = GH};
        return 2;
    case RECUR_LAYER_DENSE: mats[0] = (rc_stepmat){.m = W, .rows = L->in, .ld = L->units, .n = L->units}; return 1;
    default: return 0;
    }
}

size_t rc_step_pack_floats(const rc_layer *L)
{
#ifdef RC_SIMD512
    if (!rc_cpu_avx512()) return 0;
    rc_stepmat mats[3];
    size_t total = 0;
    int k = step_mats(L, NULL, mats);
    for (int i = 0; i < k; i++) total += panel_floats(mats[i].rows, mats[i].n);
    return total;
#else
    (void)L;
    return 0;
#endif
}

void rc_step_weights_make(const rc_layer *L, const recur_float *params, recur_float *pack, rc_step_weights *w)
{
    w->n = step_mats(L, params, w->mat);
    if (!pack || rc_step_pack_floats(L) == 0) return;
    for (int i = 0; i < w->n; i++) {
        rc_stepmat *M = &w->mat[i];
        panel_pack(pack, M->m, M->rows, M->ld, 0, M->n);
        M->packed = pack;
        pack += panel_floats(M->rows, M->n);
    }
}

size_t rc_step_state_size(const rc_layer *L)
{
    switch (L->kind) {
    case RECUR_LAYER_LSTM: return 2 * (size_t)L->units; /* h, c */
    case RECUR_LAYER_GRU:
    case RECUR_LAYER_RNN: return (size_t)L->units;      /* h */
    default: return 0;
    }
}

size_t rc_step_proj_size(const rc_layer *L)
{
    switch (L->kind) {
    case RECUR_LAYER_LSTM:
    case RECUR_LAYER_GRU:
    case RECUR_LAYER_RNN: return (size_t)L->G * (size_t)L->units;
    case RECUR_LAYER_DENSE: return (size_t)L->units;
    default: return 0;
    }
}

size_t rc_step_scratch_size(const rc_layer *L)
{
    /* the projection, then a GRU's h U + b1 (3H) and r * h (H) */
    return rc_step_proj_size(L) + (L->kind == RECUR_LAYER_GRU ? 4 * (size_t)L->units : 0);
}

void rc_step_project(const rc_layer *L, const rc_step_weights *w, const recur_float *params, const recur_float *X,
                     int R, int ldx, recur_float *P)
{
    const size_t n = rc_step_proj_size(L);
    if (n == 0) return;
    const recur_float *b = params + L->off_b; /* GRU: the input-side bias b0 comes first */
    for (int r = 0; r < R; r++) memcpy(P + (size_t)r * n, b, n * sizeof *P);
    const rc_stepmat *W = &w->mat[0];
#ifdef RC_SIMD512
    if (W->packed) {
        vecmat_rows_packed(P, (int)n, X, ldx, R, W->packed, W->rows, W->n);
        return;
    }
#endif
    for (int r = 0; r < R; r++) vecmat_c(P + (size_t)r * n, X + (size_t)r * ldx, W->m, W->rows, W->ld, W->n);
}

#ifdef RC_SIMD512
/* A gate activation on 16 floats: the operations of rc_vgate's, so the same
 * floats (min and max return their second operand for NaN: NaN stays NaN). */
RC_AVX512 static inline __m512 gate512(__m512 x, recur_activation a)
{
    const __m512 zero = _mm512_setzero_ps();
    if (a == RECUR_ACT_HARD_SIGMOID) {
        const __m512 six = _mm512_set1_ps(6.0f);
        __m512 v = _mm512_add_ps(x, _mm512_set1_ps(3.0f));
        v = _mm512_min_ps(six, _mm512_max_ps(zero, v));
        return _mm512_div_ps(v, six);
    }
    if (a == RECUR_ACT_HARD_SIGMOID_K2) {
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(0.2f), x), _mm512_set1_ps(0.5f));
        return _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(zero, v));
    }
    return sigmoid512(x);
}

/* The LSTM cell after the product, in one pass over 16 units at a time: the
 * gate activation on i, f and o, tanh on the candidate, c = f c + i g,
 * h = tanh(c) o, with the products and sums of lstm_recur's loops (no fused
 * multiply-add), so the same floats; h is written to state and y. */
RC_AVX512 static void lstm_cell512(const float *z, float *h, float *c, float *y, int H, recur_activation ga)
{
    for (int j = 0; j < H; j += 16) {
        const __mmask16 m = H - j >= 16 ? (__mmask16)0xFFFF : rc_mask16(H - j);
        const __m512 i = gate512(_mm512_maskz_loadu_ps(m, z + j), ga);
        const __m512 f = gate512(_mm512_maskz_loadu_ps(m, z + H + j), ga);
        const __m512 g = tanh512(_mm512_maskz_loadu_ps(m, z + 2 * H + j));
        const __m512 o = gate512(_mm512_maskz_loadu_ps(m, z + 3 * H + j), ga);
        const __m512 cn = _mm512_add_ps(_mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, c + j)), _mm512_mul_ps(i, g));
        const __m512 hn = _mm512_mul_ps(tanh512(cn), o);
        _mm512_mask_storeu_ps(c + j, m, cn);
        _mm512_mask_storeu_ps(h + j, m, hn);
        _mm512_mask_storeu_ps(y + j, m, hn);
    }
}
#endif

static void lstm_recur(const rc_layer *L, const rc_step_weights *w, recur_float *z, recur_float *state,
                       recur_float *y)
{
    const int H = L->units;
    recur_float *h = state, *c = state + H;
    vecmat(z, h, &w->mat[1]);
#ifdef RC_SIMD512
    if (w->mat[1].packed) { /* packed: AVX-512 runs */
        lstm_cell512(z, h, c, y, H, rc_rec_act(L));
        return;
    }
#endif
    /* gates i | f | c | o: the gate activation on i, f and o, tanh on the candidate */
    const recur_activation ga = rc_rec_act(L);
    rc_vgate(z, z, 2 * (size_t)H, ga);
    rc_vtanh(z + 2 * H, z + 2 * H, (size_t)H);
    rc_vgate(z + 3 * H, z + 3 * H, (size_t)H, ga);
    for (int j = 0; j < H; j++) c[j] = z[H + j] * c[j] + z[j] * z[2 * H + j];
    rc_vtanh(h, c, (size_t)H);
    for (int j = 0; j < H; j++) h[j] *= z[3 * H + j];
    memcpy(y, h, (size_t)H * sizeof *y);
}

/* mx: x W + b0; s: 4H of scratch. */
static void gru_recur(const rc_layer *L, const rc_step_weights *w, const recur_float *p, recur_float *mx,
                      recur_float *h, recur_float *y, recur_float *s)
{
    const int H = L->units, G3 = 3 * H;
    recur_float *mh = s, *rh = s + G3;
    if (L->reset_after) {
        /* mh = h U + b1; z, r from mx + mh; hh = tanh(mx_h + r * mh_h) */
        memcpy(mh, p + L->off_b + G3, (size_t)G3 * sizeof *mh);
        vecmat(mh, h, &w->mat[1]);
        for (int j = 0; j < 2 * H; j++) mx[j] += mh[j];
        rc_vgate(mx, mx, 2 * (size_t)H, rc_rec_act(L));
        for (int j = 0; j < H; j++) mx[2 * H + j] += mx[H + j] * mh[2 * H + j];
    } else {
        /* z, r from mx + h U_zr; hh = tanh(mx_h + (r * h) U_h) */
        memset(mh, 0, 2 * (size_t)H * sizeof *mh);
        vecmat(mh, h, &w->mat[1]);
        for (int j = 0; j < 2 * H; j++) mx[j] += mh[j];
        rc_vgate(mx, mx, 2 * (size_t)H, rc_rec_act(L));
        for (int j = 0; j < H; j++) rh[j] = mx[H + j] * h[j];
        vecmat(mx + 2 * H, rh, &w->mat[2]);
    }
    rc_vtanh(mx + 2 * H, mx + 2 * H, (size_t)H);
    for (int j = 0; j < H; j++) h[j] = mx[j] * h[j] + (1 - mx[j]) * mx[2 * H + j];
    memcpy(y, h, (size_t)H * sizeof *y);
}

static void rnn_recur(const rc_layer *L, const rc_step_weights *w, recur_float *z, recur_float *h, recur_float *y)
{
    vecmat(z, h, &w->mat[1]);
    rc_vtanh(h, z, (size_t)L->units);
    memcpy(y, h, (size_t)L->units * sizeof *y);
}

static void dense_act(const rc_layer *L, const recur_float *z, recur_float *y)
{
    const int N = L->units;
    switch (L->act) {
    case RECUR_ACT_SIGMOID: rc_vsigmoid(y, z, (size_t)N); break;
    case RECUR_ACT_TANH: rc_vtanh(y, z, (size_t)N); break;
    default:
        for (int j = 0; j < N; j++) y[j] = rc_act(L->act, z[j]);
    }
}

void rc_step_recur(const rc_layer *L, const rc_step_weights *w, const recur_float *params, recur_float *z,
                   recur_float *state, recur_float *y, recur_float *scratch)
{
    switch (L->kind) {
    case RECUR_LAYER_LSTM: lstm_recur(L, w, z, state, y); break;
    case RECUR_LAYER_GRU: gru_recur(L, w, params, z, state, y, scratch); break;
    case RECUR_LAYER_RNN: rnn_recur(L, w, z, state, y); break;
    case RECUR_LAYER_DENSE: dense_act(L, z, y); break;
    case RECUR_LAYER_DROPOUT: break;
    }
}

void rc_layer_step(const rc_layer *L, const rc_step_weights *w, const recur_float *params, const recur_float *x,
                   recur_float *state, recur_float *y, recur_float *scratch)
{
    if (L->kind == RECUR_LAYER_DROPOUT) {
        memmove(y, x, (size_t)L->in * sizeof *y);
        return;
    }
    rc_step_project(L, w, params, x, 1, L->in, scratch);
    rc_step_recur(L, w, params, scratch, state, y, scratch + rc_step_proj_size(L));
}
