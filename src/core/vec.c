/*
 * vec.c -- the element-wise passes over all parameters that training runs
 * between two batches: the sum of the chunks' gradients and the sums of
 * squares that tell whether gradients and weights are still finite. GCC 12
 * at -O2 (its cheapest vectoriser, which adds no run-time alias checks) left
 * them scalar: with the optimizer step, ~2.5 % of a tutorial epoch for 71k
 * weights. With AVX-512 they run 16 floats at a time, giving the same
 * floats as the portable loops (the same operations in the same order,
 * element by element).
 */
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE) && !defined(RECUR_NO_SIMD)
#define RC_VEC512 1
#include <immintrin.h>

__attribute__((target("avx512f"))) static void vadd512(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* The portable loop's eight partial sums are the eight double lanes of s:
 * each block of eight floats is squared in double and added to them, blocks
 * in order. */
__attribute__((target("avx512f"))) static double sumsq512(const float *x, size_t n)
{
    __m512d s = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        s = _mm512_add_pd(s, _mm512_mul_pd(d, d));
    }
    double a[8];
    _mm512_storeu_pd(a, s);
    for (; i < n; i++) a[0] += (double)x[i] * x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
#endif

void rc_vadd(recur_float *restrict y, const recur_float *restrict x, size_t n)
{
#ifdef RC_VEC512
    if (rc_cpu_avx512()) {
        vadd512(y, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

double rc_sumsq(const recur_float *x, size_t n)
{
#ifdef RC_VEC512
    if (rc_cpu_avx512()) return sumsq512(x, n);
#endif
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++) a[0] += (double)x[i] * x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

recur_float *rc_alloc64(size_t n)
{
    if (n == 0 || n > (SIZE_MAX - 63) / sizeof(recur_float)) return NULL;
    size_t bytes = (n * sizeof(recur_float) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    recur_float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}
