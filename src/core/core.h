/*
 * core.h -- internal foundations shared by every part of the library: error
 * reporting, the one GEMM wrapper, a seeded random stream, small helpers.
 * Not installed; users include only recur.h. Internal names are prefixed rc_.
 */
#ifndef RECUR_CORE_H
#define RECUR_CORE_H

#include "recur.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ====== Errors ====== */

/* Fills err (if not NULL) with code and a printf-formatted message; returns code. */
recur_status rc_error(recur_error *err, recur_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ====== GEMM ======
 * C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, row-major, with leading
 * dimensions, like cblas_sgemm(CblasRowMajor, ...). trans_a / trans_b: 0 or 1.
 * rc_gemm uses OpenBLAS when built with RECUR_BLAS, else the naive kernel; the
 * naive kernel is always available as the reference for tests and benchmarks. */
void rc_gemm(int trans_a, int trans_b, int M, int N, int K, recur_float alpha, const recur_float *A, int lda,
             const recur_float *B, int ldb, recur_float beta, recur_float *C, int ldc);
void rc_gemm_naive(int trans_a, int trans_b, int M, int N, int K, recur_float alpha, const recur_float *A,
                   int lda, const recur_float *B, int ldb, recur_float beta, recur_float *C, int ldc);
/* Pins the BLAS library to one thread (recur parallelises over the batch itself). */
void rc_blas_single_thread(void);

/* 1 when the CPU runs AVX-512F (cpu.c): picks the hand-written kernels. */
int rc_cpu_avx512(void);

/* ====== Random numbers ======
 * xoshiro256** seeded through splitmix64 (Blackman & Vigna). Every stream is
 * explicit state owned by its user: no hidden global generator. */
typedef struct {
    uint64_t s[4];
} rc_rng;

void rc_rng_seed(rc_rng *r, uint64_t seed);
uint64_t rc_rng_next(rc_rng *r);
double rc_rng_uniform(rc_rng *r);             /* [0, 1) */
double rc_rng_normal(rc_rng *r);              /* N(0, 1), Box-Muller */
uint64_t rc_rng_below(rc_rng *r, uint64_t n); /* [0, n), unbiased */
/* Derives an independent seed for a named sub-stream (layer k, purpose p). */
uint64_t rc_seed_mix(uint64_t seed, uint64_t a, uint64_t b);

/* ====== Helpers ====== */

/* Overflow-checked n*m*k*size allocation (zeroed). NULL on overflow or failure. */
void *rc_calloc3(size_t n, size_t m, size_t size);
double rc_now(void); /* monotonic seconds */

#endif
