/*
 * gemm.c -- the one matrix-product entry point of the library.
 * Row-major C = alpha op(A) op(B) + beta C. With RECUR_BLAS it calls OpenBLAS
 * through CBLAS (cblas_sgemm, or cblas_dgemm in the double build used for
 * gradient checks); the naive triple loop stays as the reference and as the
 * BLAS=0 fallback.
 */
#include "core/core.h"

#include <pthread.h>

#ifdef RECUR_BLAS
#include <cblas.h>
#endif

void rc_gemm_naive(int trans_a, int trans_b, int M, int N, int K, recur_float alpha, const recur_float *A,
                   int lda, const recur_float *B, int ldb, recur_float beta, recur_float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        recur_float *c = C + (size_t)i * ldc;
        if (beta == 0) {
            for (int j = 0; j < N; j++) c[j] = 0;
        } else if (beta != 1) {
            for (int j = 0; j < N; j++) c[j] *= beta;
        }
        for (int k = 0; k < K; k++) {
            recur_float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
            if (a == 0) continue;
            a *= alpha;
            if (!trans_b) {
                const recur_float *b = B + (size_t)k * ldb;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (int j = 0; j < N; j++) c[j] += a * B[(size_t)j * ldb + k];
            }
        }
    }
}

void rc_gemm(int trans_a, int trans_b, int M, int N, int K, recur_float alpha, const recur_float *A, int lda,
             const recur_float *B, int ldb, recur_float beta, recur_float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
#ifdef RECUR_BLAS
#ifndef RECUR_DOUBLE
    if (M == 1 && K > 2) {
        /* One row (batch-1 prediction): GEMV streams B once and skips GEMM's packing. */
        if (!trans_a || lda == 1) {
            if (!trans_b)
                cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, trans_a ? lda : 1, beta, C, 1);
            else
                cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, trans_a ? lda : 1, beta, C, 1);
            return;
        }
    }
#endif
    /* Tiny products (a Dense(1) head, rank-1 updates of a 1-feature input):
     * the plain loop beats BLAS's packing, and OpenBLAS 0.3.21 was seen to
     * malloc/free a 128 MB buffer on every K=1 call made from a worker thread. */
    if (K <= 2 || (size_t)M * N * K <= 32768) {
        rc_gemm_naive(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#ifdef RECUR_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
#endif
#else
    rc_gemm_naive(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

#if defined(RECUR_BLAS)
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static int blas_depth, blas_saved;
#endif

void rc_blas_enter(void)
{
#if defined(RECUR_BLAS)
    pthread_mutex_lock(&blas_mu);
    if (blas_depth++ == 0) {
        blas_saved = openblas_get_num_threads();
        if (blas_saved != 1) openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_mu);
#endif
}

void rc_blas_leave(void)
{
#if defined(RECUR_BLAS)
    pthread_mutex_lock(&blas_mu);
    if (blas_depth > 0 && --blas_depth == 0 && blas_saved != 1) openblas_set_num_threads(blas_saved);
    pthread_mutex_unlock(&blas_mu);
#endif
}
