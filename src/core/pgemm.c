/*
 * pgemm.c -- C = [C +] A B for a small number of rows A and a matrix B
 * packed once (see core.h). The recurrent step of every RNN is this product
 * T times per batch with the same B; OpenBLAS copies B into its own panels on
 * every call (about a tenth of a training epoch), and its kernels are tuned
 * for larger M than the 8 to 64 rows of a batch chunk.
 *
 * AVX-512 layout: panel q holds columns 16q..16q+15 of B for k = 0..K-1,
 * 16 floats per k, zero-padded past N. The micro-kernel keeps an 8-row x
 * 48-column block of C in 24 vector registers and, per k, loads three panel
 * vectors and broadcasts eight elements of A: 24 FMAs per 11 loads. Columns
 * past N are masked on load and store; rows past M are not computed.
 */
#include "core/core.h"

#include <string.h>

#define PANEL 16

size_t rc_pack_floats(int K, int N)
{
    return (size_t)K * (size_t)((N + PANEL - 1) / PANEL) * PANEL;
}

void rc_pack(rc_packed *pk, recur_float *buf, const recur_float *src, int lds, int trans, int K, int N)
{
    pk->p = buf, pk->K = K, pk->N = N;
#ifndef RECUR_DOUBLE
    pk->panels = rc_cpu_avx512();
#else
    pk->panels = 0;
#endif
    if (!pk->panels) {
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++)
                buf[(size_t)k * N + j] = trans ? src[(size_t)j * lds + k] : src[(size_t)k * lds + j];
        return;
    }
    int np = (N + PANEL - 1) / PANEL;
    for (int q = 0; q < np; q++) {
        recur_float *pq = buf + (size_t)q * K * PANEL;
        int j0 = q * PANEL, w = N - j0 < PANEL ? N - j0 : PANEL;
        for (int k = 0; k < K; k++) {
            recur_float *row = pq + (size_t)k * PANEL;
            if (trans)
                for (int jj = 0; jj < w; jj++) row[jj] = src[(size_t)(j0 + jj) * lds + k];
            else
                memcpy(row, src + (size_t)k * lds + j0, sizeof *row * (size_t)w);
            for (int jj = w; jj < PANEL; jj++) row[jj] = 0;
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE) && !defined(RECUR_NO_SIMD)
#define RC_PGEMM_AVX512 1
#include <immintrin.h>

#define MR 8
#define NV 3

/* One MR' x (16 NV') block, MR' <= MR and NV' <= NV compile-time constants
 * after inlining. ps: floats between consecutive panels. */
__attribute__((target("avx512f"), always_inline)) static inline void
micro(const int mr, const int nv, int K, const float *A, int lda, const float *P, size_t ps, float *C, int ldc,
      int acc, __mmask16 mlast)
{
    __m512 c[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            c[i][v] = acc ? _mm512_maskz_loadu_ps(v == nv - 1 ? mlast : 0xffff, C + (size_t)i * ldc + PANEL * v)
                          : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b[NV];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) b[v] = _mm512_loadu_ps(P + v * ps + (size_t)k * PANEL);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) c[i][v] = _mm512_fmadd_ps(a, b[v], c[i][v]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(C + (size_t)i * ldc + PANEL * v, v == nv - 1 ? mlast : 0xffff, c[i][v]);
}

#define RC_MICRO_ROW(MRV)                                                                                        \
    case MRV:                                                                                                    \
        if (nv == 3) micro(MRV, 3, K, A, lda, P, ps, C, ldc, acc, ml);                                           \
        else if (nv == 2) micro(MRV, 2, K, A, lda, P, ps, C, ldc, acc, ml);                                      \
        else micro(MRV, 1, K, A, lda, P, ps, C, ldc, acc, ml);                                                   \
        break;

__attribute__((target("avx512f"))) static void block(int mr, int nv, int K, const float *A, int lda, const float *P,
                                                    size_t ps, float *C, int ldc, int acc, __mmask16 ml)
{
    switch (mr) {
        RC_MICRO_ROW(8)
        RC_MICRO_ROW(7)
        RC_MICRO_ROW(6)
        RC_MICRO_ROW(5)
        RC_MICRO_ROW(4)
        RC_MICRO_ROW(3)
        RC_MICRO_ROW(2)
        RC_MICRO_ROW(1)
    default: break;
    }
}

__attribute__((target("avx512f"))) static void pgemm512(int M, const float *A, int lda, const rc_packed *B, int acc,
                                                       float *C, int ldc)
{
    const int K = B->K, N = B->N, np = (N + PANEL - 1) / PANEL;
    const size_t ps = (size_t)K * PANEL;
    for (int q = 0; q < np; q += NV) {
        int nv = np - q < NV ? np - q : NV;
        int cols = N - q * PANEL, tail = cols < nv * PANEL ? cols % PANEL : 0;
        __mmask16 ml = tail ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xffff;
        for (int i = 0; i < M; i += MR)
            block(M - i < MR ? M - i : MR, nv, K, A + (size_t)i * lda, lda, B->p + q * ps, ps,
                  C + (size_t)i * ldc + q * PANEL, ldc, acc, ml);
    }
}
#endif

void rc_pgemm(int M, const recur_float *A, int lda, const rc_packed *B, int accumulate, recur_float *C, int ldc)
{
    if (M <= 0 || B->N <= 0) return;
#ifdef RC_PGEMM_AVX512
    if (B->panels) {
        pgemm512(M, A, lda, B, accumulate, C, ldc);
        return;
    }
#endif
    rc_gemm(0, 0, M, B->N, B->K, 1, A, lda, B->p, B->N, accumulate ? 1 : 0, C, ldc);
}
