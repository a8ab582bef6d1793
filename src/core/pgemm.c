/*
 * pgemm.c -- C = [C +] op(A) B with B laid out for the hand-written AVX-512
 * kernel (see core.h). The recurrent step of every RNN is this product T
 * times per batch with the same B; OpenBLAS copies B into its own panels on
 * every call (about a tenth of a training epoch), and its kernels are tuned
 * for larger M than the 8 to 64 rows of a batch chunk. The weight gradients
 * (A transposed, K = steps x rows) go through the same kernel.
 *
 * B is read 16 columns ("a panel") at a time: element (k, 16q + l) is at
 * p[q*ps + k*ks + l]. Packed: panels of K x 16 floats (ps = 16K, ks = 16),
 * zero-padded past N. A view of a row-major matrix in place: ps = 16,
 * ks = its leading dimension. The micro-kernel keeps an 8-row x 48-column block of C
 * in 24 vector registers and, per k, loads three B vectors and broadcasts
 * eight elements of A: 24 FMAs per 11 loads. Columns past N are masked on
 * every load and store of B and C; rows past M are not computed. A few
 * columns past a multiple of 16 with a long K (rc_pack decides) are instead
 * stored one per row and computed as dot products (dot4x2): at H = 50 the
 * backward step's dz U^T would otherwise fill 2 lanes of a 16-lane panel.
 */
#include "core/core.h"

#include <string.h>

#define PANEL 16

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE) && !defined(RECUR_NO_SIMD)
#define RC_PGEMM_AVX512 1
#include <immintrin.h>
/* The functions below are built for "avx512f,prfchw": every AVX-512 CPU also
 * has PREFETCHW, which the micro-kernel issues for C's lines. */

/* Untransposed packing, one row of B at a time: each 16-float piece goes to
 * its panel (masked past N, so the padding is written as zeros) and, when
 * colsum is given, is added to it in the same k order as a scalar loop. */
__attribute__((target("avx512f,prfchw"))) static void pack512(float *buf, size_t ps, const float *src, int lds, int K, int N,
                                                      float *colsum)
{
    const int np = (N + PANEL - 1) / PANEL;
    for (int k = 0; k < K; k++) {
        const float *row = src + (size_t)k * lds;
        for (int q = 0; q < np; q++) {
            int w = N - q * PANEL;
            __mmask16 m = w >= PANEL ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, row + q * PANEL);
            _mm512_storeu_ps(buf + q * ps + (size_t)k * PANEL, v);
            if (colsum)
                _mm512_mask_storeu_ps(colsum + q * PANEL, m,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(m, colsum + q * PANEL), v));
        }
    }
}
#endif

static int simd_ok(void)
{
#ifdef RC_PGEMM_AVX512
    return rc_cpu_avx512();
#else
    return 0;
#endif
}

size_t rc_pack_floats(int K, int N)
{
    return (size_t)K * (size_t)((N + PANEL - 1) / PANEL) * PANEL;
}

/* Whether the last N % 16 columns go to dot products: per row of C they cost
 * about tail x (K/16 + 4) vector operations (the 4: the horizontal sum),
 * against K in a panel. Worth it for dh = dz U^T and dX = dP W^T at H or
 * I = 50 or 100 (2 or 4 columns, K = 200 or 400); not for the 8 columns of
 * a forward pass at K = 50. */
static int dot_tail(int K, int N)
{
    int tail = N % PANEL;
    return tail > 0 && tail <= 8 && tail * ((K + PANEL - 1) / PANEL + 4) < K / 2 ? tail : 0;
}

void rc_pack(rc_packed *pk, recur_float *buf, const recur_float *src, int lds, int trans, int K, int N)
{
    *pk = (rc_packed){.p = buf, .K = K, .N = N, .simd = simd_ok()};
    if (!pk->simd) { /* a row-major copy for rc_gemm */
        pk->ps = 0;
        pk->ks = (size_t)N;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++)
                buf[(size_t)k * N + j] = trans ? src[(size_t)j * lds + k] : src[(size_t)k * lds + j];
        return;
    }
    pk->ps = (size_t)K * PANEL;
    pk->ks = PANEL;
    int tn = dot_tail(K, N), N0 = N - tn, np = (N0 + PANEL - 1) / PANEL;
    if (tn) { /* the tail columns, one per row, where their panel would be */
        recur_float *t = buf + (size_t)np * pk->ps;
        for (int jj = 0; jj < tn; jj++)
            for (int k = 0; k < K; k++)
                t[(size_t)jj * K + k] = trans ? src[(size_t)(N0 + jj) * lds + k] : src[(size_t)k * lds + N0 + jj];
        pk->tn = tn;
        pk->tp = t;
        pk->tld = (size_t)K;
    }
#ifdef RC_PGEMM_AVX512
    if (!trans) {
        pack512(buf, pk->ps, src, lds, K, N0, NULL);
        return;
    }
#endif
    for (int q = 0; q < np; q++) {
        recur_float *pq = buf + (size_t)q * pk->ps;
        int j0 = q * PANEL, w = N0 - j0 < PANEL ? N0 - j0 : PANEL;
        for (int k = 0; k < K; k++) {
            recur_float *row = pq + (size_t)k * PANEL;
            for (int jj = 0; jj < w; jj++) row[jj] = src[(size_t)(j0 + jj) * lds + k];
            for (int jj = w; jj < PANEL; jj++) row[jj] = 0;
        }
    }
}

void rc_pack_sum(rc_packed *pk, recur_float *buf, const recur_float *src, int lds, int K, int N, recur_float *colsum)
{
#ifdef RC_PGEMM_AVX512
    if (simd_ok()) {
        *pk = (rc_packed){.p = buf, .K = K, .N = N, .simd = 1, .ps = (size_t)K * PANEL, .ks = PANEL};
        pack512(buf, pk->ps, src, lds, K, N, colsum);
        return;
    }
#endif
    if (colsum)
        for (int k = 0; k < K; k++) /* row by row, in k order, as the vector code */
            for (int j = 0; j < N; j++) colsum[j] += src[(size_t)k * lds + j];
    rc_pack(pk, buf, src, lds, 0, K, N);
}

void rc_pack_stack(rc_packed *pk, recur_float *buf, const recur_float *top, int ldt, int K1, const recur_float *bot,
                   int ldb, int K2, int N)
{
    const int K = K1 + K2;
    *pk = (rc_packed){.p = buf, .K = K, .N = N, .simd = simd_ok()};
#ifdef RC_PGEMM_AVX512
    if (pk->simd) {
        pk->ps = (size_t)K * PANEL;
        pk->ks = PANEL;
        pack512(buf, pk->ps, top, ldt, K1, N, NULL);
        pack512(buf + (size_t)K1 * PANEL, pk->ps, bot, ldb, K2, N, NULL);
        return;
    }
#endif
    pk->simd = 0;
    pk->ps = 0;
    pk->ks = (size_t)N;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++)
            buf[(size_t)k * N + j] = k < K1 ? top[(size_t)k * ldt + j] : bot[(size_t)(k - K1) * ldb + j];
}

rc_packed rc_pack_view(const recur_float *src, int lds, int K, int N)
{
    const int simd = simd_ok();
    return (rc_packed){.p = src, .K = K, .N = N, .simd = simd, .ps = simd ? PANEL : 0, .ks = (size_t)lds};
}

rc_packed rc_pack_rows(const rc_packed *pk, int k0, int nk)
{
    rc_packed v = *pk;
    v.p = pk->p + (size_t)k0 * pk->ks;
    v.K = nk;
    if (v.tp) v.tp += k0;
    return v;
}

#ifdef RC_PGEMM_AVX512
#define MR 8
#define NV 3

/* One k of a block: B's row k (nv vectors at Pk) times A's elements for
 * rows 0..mr-1 (a[i * astride]), added to the accumulators. */
__attribute__((target("avx512f,prfchw"), always_inline)) static inline void
kstep(const int mr, const int nv, __m512 c[MR][NV], const float *Pk, size_t ps, __mmask16 mlast, const float *a,
      size_t astride)
{
    __m512 b[NV];
#pragma GCC unroll 3
    for (int v = 0; v < nv; v++) b[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? mlast : 0xffff, Pk + v * ps);
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        __m512 x = _mm512_set1_ps(a[i * astride]);
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) c[i][v] = _mm512_fmadd_ps(x, b[v], c[i][v]);
    }
}

/* One MR' x (16 NV') block, MR' <= MR and NV' <= NV compile-time constants
 * after inlining. K2 > 0 adds a second segment: rows K..K+K2-1 of B times A2
 * (rows of lda2), in the same registers, as if A and A2 were one matrix. */
__attribute__((target("avx512f,prfchw"), always_inline)) static inline void
micro(const int ta, const int mr, const int nv, int K, const float *A, int lda, int K2, const float *A2, int lda2,
      const float *P, size_t ps, size_t ks, float *C, int ldc, int acc, const float *bias, __mmask16 mlast)
{
    __m512 c[MR][NV];
    if (!acc) /* C's lines, often never touched yet (the gate buffers of a pass), fetched while the k loop runs */
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) __builtin_prefetch(C + (size_t)i * ldc + PANEL * v, 1, 3);
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            c[i][v] = bias  ? _mm512_maskz_loadu_ps(v == nv - 1 ? mlast : 0xffff, bias + PANEL * v)
                      : acc ? _mm512_maskz_loadu_ps(v == nv - 1 ? mlast : 0xffff, C + (size_t)i * ldc + PANEL * v)
                            : _mm512_setzero_ps();
    for (int k = 0; k < K; k++)
        kstep(mr, nv, c, P + (size_t)k * ks, ps, mlast, ta ? A + (size_t)k * lda : A + k, ta ? 1 : (size_t)lda);
    P += (size_t)K * ks;
    for (int k = 0; k < K2; k++) kstep(mr, nv, c, P + (size_t)k * ks, ps, mlast, A2 + k, (size_t)lda2);
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(C + (size_t)i * ldc + PANEL * v, v == nv - 1 ? mlast : 0xffff, c[i][v]);
}

#define RC_MICRO_ROW(TA, MRV, K2, A2, LDA2)                                                                       \
    case MRV:                                                                                                    \
        if (nv == 3) micro(TA, MRV, 3, K, A, lda, K2, A2, LDA2, P, ps, ks, C, ldc, acc, bias, ml);                     \
        else if (nv == 2) micro(TA, MRV, 2, K, A, lda, K2, A2, LDA2, P, ps, ks, C, ldc, acc, bias, ml);                \
        else micro(TA, MRV, 1, K, A, lda, K2, A2, LDA2, P, ps, ks, C, ldc, acc, bias, ml);                             \
        break;

/* block_n: A (M,K) row-major, C rows are A rows, optionally followed by a
 * second segment A2 (M,K2) for B's next K2 rows. block_t: A stored
 * transposed, (K,M) row-major, C rows are A columns (weight gradients X^T dP,
 * where K runs over time steps and batch rows). */
#define RC_BLOCK_CASES(TA, K2, A2, LDA2)                                                                         \
    switch (mr) {                                                                                                \
        RC_MICRO_ROW(TA, 8, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 7, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 6, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 5, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 4, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 3, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 2, K2, A2, LDA2)                                                                        \
        RC_MICRO_ROW(TA, 1, K2, A2, LDA2)                                                                        \
    default: break;                                                                                              \
    }

__attribute__((target("avx512f,prfchw"))) static void block_n(int mr, int nv, int K, const float *A, int lda,
                                                      const float *P, size_t ps, size_t ks, float *C, int ldc,
                                                      int acc, const float *bias, __mmask16 ml)
{
    RC_BLOCK_CASES(0, 0, A, 0)
}

/* block_n with the second segment: a function of its own, so that the
 * single-segment products keep the tighter code (batch-1 prediction, whose
 * tiles are one row, ran 1 % slower through this one). */
__attribute__((target("avx512f,prfchw"))) static void block_n2(int mr, int nv, int K, const float *A, int lda, int K2,
                                                       const float *A2, int lda2, const float *P, size_t ps,
                                                       size_t ks, float *C, int ldc, int acc, __mmask16 ml)
{
    const float *bias = NULL;
    RC_BLOCK_CASES(0, K2, A2, lda2)
}

__attribute__((target("avx512f,prfchw"))) static void block_t(int mr, int nv, int K, const float *A, int lda,
                                                      const float *P, size_t ps, size_t ks, float *C, int ldc,
                                                      int acc, __mmask16 ml)
{
    const float *bias = NULL;
    RC_BLOCK_CASES(1, 0, A, 0)
}

/* The MR x 48 block of C at rows i.., panels q.. (fewer at the ends). K1 < K:
 * rows K1.. of B go with A2 (block_n only). */
__attribute__((target("avx512f,prfchw"))) static inline void tile(int ta, int i, int q, int q1, int M, const float *A, int lda,
                                                           int K1, const float *A2, int lda2, const rc_packed *B,
                                                           int acc, const float *bias, float *C, int ldc)
{
    int nv = q1 - q < NV ? q1 - q : NV, mr = M - i < MR ? M - i : MR;
    int cols = B->N - B->tn - q * PANEL, tail = cols < nv * PANEL ? cols % PANEL : 0;
    __mmask16 ml = tail ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xffff;
    const float *P = B->p + q * B->ps;
    float *Ci = C + (size_t)i * ldc + q * PANEL;
    if (ta) block_t(mr, nv, B->K, A + i, lda, P, B->ps, B->ks, Ci, ldc, acc, ml);
    else if (!A2)
        block_n(mr, nv, B->K, A + (size_t)i * lda, lda, P, B->ps, B->ks, Ci, ldc, acc, bias ? bias + q * PANEL : NULL,
                ml);
    else
        block_n2(mr, nv, K1, A + (size_t)i * lda, lda, B->K - K1, A2 + (size_t)i * lda2, lda2, P, B->ps, B->ks, Ci,
                 ldc, acc, ml);
}

/* Rows i..i+3 (clamped to M) times columns j, j+1 (clamped to tn) of the
 * tail, each a dot product over k in vectors of 16: eight independent sums,
 * each reduced across its lanes at the end. A row's result does not depend on
 * which rows share its block. */
__attribute__((target("avx512f,prfchw"))) static void dot4x2(int M, int i, int j, const float *A, int lda,
                                                     const rc_packed *B, int acc, float *C, int ldc)
{
    const int K = B->K;
    const float *a[4], *b0 = B->tp + (size_t)j * B->tld,
                       *b1 = B->tp + (size_t)(j + 1 < B->tn ? j + 1 : j) * B->tld;
    for (int r = 0; r < 4; r++) a[r] = A + (size_t)(i + r < M ? i + r : M - 1) * lda;
    __m512 s[4][2]; /* kept in registers: every loop over it unrolled */
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) s[r][0] = s[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += PANEL) {
        __mmask16 m = K - k >= PANEL ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 v0 = _mm512_maskz_loadu_ps(m, b0 + k), v1 = _mm512_maskz_loadu_ps(m, b1 + k);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 x = _mm512_maskz_loadu_ps(m, a[r] + k);
            s[r][0] = _mm512_fmadd_ps(x, v0, s[r][0]);
            s[r][1] = _mm512_fmadd_ps(x, v1, s[r][1]);
        }
    }
    /* The eight sums reduced together: lane 4k of z holds the sum of
     * v[k] = s[k/2][k%2] for k < 4, lane 4(k-4)+2 for k >= 4, each added in
     * the order of _mm512_reduce_add_ps (halves, quarters, then lanes 0+2,
     * 1+3 and those two), so the same floats for 23 operations instead of
     * eight reductions of 7 dependent ones. */
    __m512 w[4], x[2];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m512 u0 = s[q][0], u1 = s[q][1];
        w[q] = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0xEE), _mm512_shuffle_f32x4(u0, u1, 0x44));
    }
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++)
        x[q] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * q], w[2 * q + 1], 0xDD),
                             _mm512_shuffle_f32x4(w[2 * q], w[2 * q + 1], 0x88));
    __m512 y = _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], 0x44), _mm512_shuffle_ps(x[0], x[1], 0xEE));
    float z[16];
    _mm512_storeu_ps(z, _mm512_add_ps(y, _mm512_shuffle_ps(y, y, 0xB1)));
    for (int r = 0; r < 4 && i + r < M; r++)
        for (int c = 0; c < 2 && j + c < B->tn; c++) {
            int k = 2 * r + c;
            float *out = C + (size_t)(i + r) * ldc + j + c, v = z[k < 4 ? 4 * k : 4 * (k - 4) + 2];
            *out = acc ? *out + v : v;
        }
}

/* The tail columns of B (at C's column N - tn). With A transposed (not a
 * use the layers make of a tail), a plain loop. */
__attribute__((target("avx512f,prfchw"))) static void tail512(int ta, int M, const float *A, int lda, const rc_packed *B,
                                                      int acc, float *C, int ldc)
{
    C += B->N - B->tn; /* bias rows: already in C (pgemm512) */
    if (!ta) {
        for (int i = 0; i < M; i += 4)
            for (int j = 0; j < B->tn; j += 2) dot4x2(M, i, j, A, lda, B, acc, C, ldc);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < B->tn; j++) {
            const float *b = B->tp + (size_t)j * B->tld;
            float s = 0;
            for (int k = 0; k < B->K; k++) s += A[(size_t)k * lda + i] * b[k];
            C[(size_t)i * ldc + j] = acc ? C[(size_t)i * ldc + j] + s : s;
        }
}

/* K1 < B->K only with !ta and M <= 64 (rc_pgemm2). */
__attribute__((target("avx512f,prfchw"))) static void pgemm512(int ta, int M, const float *A, int lda, int K1,
                                                       const float *A2, int lda2, const rc_packed *B, int acc,
                                                       const float *bias, float *C, int ldc)
{
    const int np = (B->N - B->tn + PANEL - 1) / PANEL;
    if (B->tn && bias) /* the tail columns start from the bias, as if C held it */
        for (int i = 0; i < M; i++)
            memcpy(C + (size_t)i * ldc + B->N - B->tn, bias + B->N - B->tn, sizeof *C * (size_t)B->tn);
    if (B->tn) tail512(ta, M, A, lda, B, acc || bias, C, ldc);
    if (M <= 64 || ta) { /* a step, or A^T (K long): each 48-column strip of B is reused by every 8-row block */
        for (int q = 0; q < np; q += NV)
            for (int i = 0; i < M; i += MR) tile(ta, i, q, np, M, A, lda, K1, A2, lda2, B, acc, bias, C, ldc);
        return;
    }
    /* All steps at once (X W): a block of strips sized to ~256 KB stays in L2 while
     * every row block passes over it, so A is read once per block of strips
     * rather than once per strip. */
    int qb = (int)(262144 / ((size_t)B->K * PANEL * sizeof(float))) / NV * NV;
    if (qb < NV) qb = NV;
    for (int q0 = 0; q0 < np; q0 += qb) {
        int q1 = np - q0 < qb ? np : q0 + qb;
        for (int i = 0; i < M; i += MR)
            for (int q = q0; q < q1; q += NV) tile(ta, i, q, q1, M, A, lda, K1, A2, lda2, B, acc, bias, C, ldc);
    }
}
#endif

void rc_pgemm(int trans_a, int M, const recur_float *A, int lda, const rc_packed *B, int accumulate, recur_float *C,
              int ldc)
{
    if (M <= 0 || B->N <= 0) return;
#ifdef RC_PGEMM_AVX512
    if (B->simd) {
        pgemm512(trans_a, M, A, lda, B->K, NULL, 0, B, accumulate, NULL, C, ldc);
        return;
    }
#endif
    rc_gemm(trans_a, 0, M, B->N, B->K, 1, A, lda, B->p, (int)B->ks, accumulate ? 1 : 0, C, ldc);
}

void rc_pgemm2(int M, const recur_float *A1, int lda1, int K1, const recur_float *A2, int lda2, const rc_packed *B,
               int accumulate, recur_float *C, int ldc)
{
    if (M <= 0 || B->N <= 0) return;
#ifdef RC_PGEMM_AVX512
    if (B->simd && M <= 64 && !B->tn) {
        pgemm512(0, M, A1, lda1, K1, A2, lda2, B, accumulate, NULL, C, ldc);
        return;
    }
#endif
    rc_packed top = rc_pack_rows(B, 0, K1), bot = rc_pack_rows(B, K1, B->K - K1);
    rc_pgemm(0, M, A1, lda1, &top, accumulate, C, ldc);
    rc_pgemm(0, M, A2, lda2, &bot, 1, C, ldc);
}

void rc_pgemm_bias(int M, const recur_float *A, int lda, const rc_packed *B, const recur_float *bias, recur_float *C,
                   int ldc)
{
    if (M <= 0 || B->N <= 0) return;
#ifdef RC_PGEMM_AVX512
    if (B->simd) { /* the accumulators start from the bias instead of C's copy of it */
        pgemm512(0, M, A, lda, B->K, NULL, 0, B, 0, bias, C, ldc);
        return;
    }
#endif
    for (int i = 0; i < M; i++) memcpy(C + (size_t)i * ldc, bias, sizeof *C * (size_t)B->N);
    rc_pgemm(0, M, A, lda, B, 1, C, ldc);
}
