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
/* recur parallelises over the batch itself, so while fit, evaluate or predict
 * run, OpenBLAS must not start threads of its own. rc_blas_enter sets it to one
 * thread and rc_blas_leave restores the caller's setting when the last of the
 * calls in flight (in any thread) leaves: a depth count under a mutex. */
void rc_blas_enter(void);
void rc_blas_leave(void);

/* 1 when the CPU runs AVX-512F (cpu.c): picks the hand-written kernels.
 * RECUR_NO_SIMD=1 in the environment, or rc_cpu_disable_simd(1) (tests;
 * call it before any work), forces the portable code; (0) re-detects. */
int rc_cpu_avx512(void);
void rc_cpu_disable_simd(int off);

/* n zeroed floats (n > 0) on a 64-byte boundary, freed with free(), or NULL
 * (vec.c). For buffers read 64 bytes at a time (the packed panels of pgemm.c,
 * step.c's weights): from calloc, at 16 bytes past a line, every such load
 * straddles two cache lines. */
recur_float *rc_alloc64(size_t n);

/* ====== Passes over all parameters (vec.c) ======
 * AVX-512 when the CPU has it, the same floats as the portable loops. */
/* y[i] += x[i] */
void rc_vadd(recur_float *restrict y, const recur_float *restrict x, size_t n);
/* Sum of x[i]^2 in double, in eight interleaved partial sums (one chain of
 * dependent additions was slower than the optimizer step). */
double rc_sumsq(const recur_float *x, size_t n);

/* ====== Right-hand sides for the AVX-512 kernel (pgemm.c) ======
 * The recurrent step multiplies a few rows by the same matrix T times. BLAS
 * re-packs that matrix on every call; here it is packed once per batch:
 * with AVX-512, into panels of 16 columns (K rows each, zero-padded), read by
 * an 8x48 register-blocked kernel; elsewhere (and in the double build) into a
 * plain row-major copy handed to rc_gemm. The weight gradients use the same
 * kernel, packing the gate gradients a block of steps at a time. */
typedef struct {
    const recur_float *p; /* packed floats (rc_pack_floats(K, N), the caller's buffer) or the viewed matrix */
    int K, N;
    int simd;       /* 1: read by the AVX-512 kernel; 0: row-major for rc_gemm */
    size_t ps, ks;  /* element (k, 16q + l) at p[q*ps + k*ks + l] (simd); row-major: ks = leading dim */
    int tn;         /* simd: the last tn columns (N % 16, see rc_pack) are stored one per row, */
    const recur_float *tp; /* column N - tn + j at tp[j*tld + k], for dot products; 0: none */
    size_t tld;
} rc_packed;

/* Floats needed to pack a (K,N) matrix. */
size_t rc_pack_floats(int K, int N);
/* Packs B (K,N): element (k,j) is src[k*lds + j], or src[j*lds + k] when trans.
 * With AVX-512, when N is a few columns past a multiple of 16 and K is long
 * (dh = dz U^T at H = 50: 50 columns, 200 deep), those columns are stored
 * one per row and computed as dot products over k instead of in a panel of
 * which they would fill 2 to 8 lanes of 16. */
void rc_pack(rc_packed *pk, recur_float *buf, const recur_float *src, int lds, int trans, int K, int N);
/* rc_pack (not transposed), and colsum[j] += column sums of B, k in order:
 * a bias gradient read in the same pass (none when colsum is NULL). */
void rc_pack_sum(rc_packed *pk, recur_float *buf, const recur_float *src, int lds, int K, int N, recur_float *colsum);
/* B (K,N) row-major with leading dimension lds, read in place by the kernel
 * (or by rc_gemm): for a B used once, when its rows do not fall on a few
 * cache sets (see rc_gates_backward_packed). */
rc_packed rc_pack_view(const recur_float *src, int lds, int K, int N);
/* [top; bot] (K1 + K2, N), both row-major, packed as one matrix, never with
 * dot-product tail columns: for [x_t | h_{t-1}] [W; U] in one product. */
void rc_pack_stack(rc_packed *pk, recur_float *buf, const recur_float *top, int ldt, int K1, const recur_float *bot,
                   int ldb, int K2, int N);
/* Rows k0..k0+nk-1 of a packed matrix or view, as one (no copy). */
rc_packed rc_pack_rows(const rc_packed *pk, int k0, int nk);
/* C (M,N) = [C +] op(A) (M,K) B: accumulate 1 adds to C, 0 overwrites it.
 * op(A) is A (M,K) with leading dimension lda, or when trans_a A^T for A
 * stored (K,M). Each element's sum runs over k in order, whatever M: rows
 * never depend on which other rows are in the call. */
void rc_pgemm(int trans_a, int M, const recur_float *A, int lda, const rc_packed *B, int accumulate, recur_float *C,
              int ldc);
/* C (M,N) = bias + A (M,K) B, bias (N) added to every row: the same bits as
 * copying it into each row of C and accumulating, without the copy. */
void rc_pgemm_bias(int M, const recur_float *A, int lda, const rc_packed *B, const recur_float *bias, recur_float *C,
                   int ldc);
/* C (M,N) = [C +] [A1 | A2] B: A1 (M,K1) times B's first K1 rows plus A2
 * (M, K - K1) times the rest, summed in k order in the same registers (the
 * same bits as the two products one after the other). */
void rc_pgemm2(int M, const recur_float *A1, int lda1, int K1, const recur_float *A2, int lda2, const rc_packed *B,
               int accumulate, recur_float *C, int ldc);

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
