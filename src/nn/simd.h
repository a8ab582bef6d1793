/*
 * simd.h -- AVX-512 building blocks for the hand-written kernels of nn/
 * (vmath.c, the fused LSTM step): exp, sigmoid and tanh on 16 floats, with
 * the formulas of vmath.c. Functions carry target("avx512f"), so the rest of
 * the build stays baseline x86-64; callers check rc_cpu_avx512() first.
 * RC_SIMD512 is defined when this compiler and target can build them.
 */
#ifndef RECUR_NN_SIMD_H
#define RECUR_NN_SIMD_H

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE) && !defined(RECUR_NO_SIMD)
#define RC_SIMD512 1
#include <immintrin.h>

#define RC_AVX512 __attribute__((target("avx512f")))

/* 16 gate values that may straddle two rows of a step's gate matrix: lanes
 * in lo at p, lanes in hi (the next row's first cells) at p + next, where
 * next is the distance from a row's gate to the same gate one row on, less
 * the lanes already taken (the cell passes of lstm.c and gru.c walk a step's
 * B x H cells 16 at a time, straight through the rows). */
RC_AVX512 static inline __m512 rc_split_ld(const float *p, __mmask16 lo, __mmask16 hi, int next)
{
    __m512 v = _mm512_maskz_loadu_ps(lo, p);
    return hi ? _mm512_mask_loadu_ps(v, hi, p + next) : v;
}

RC_AVX512 static inline void rc_split_st(float *p, __mmask16 lo, __mmask16 hi, int next, __m512 v)
{
    _mm512_mask_storeu_ps(p, lo, v);
    if (hi) _mm512_mask_storeu_ps(p + next, hi, v);
}


/* exp(-x) for x in [-88, 87] or NaN: -x = n ln2 + f, the degree-7 Taylor
 * polynomial of exp(f), times 2^n by scalef, as vmath.c's exp_core. The
 * negation is folded in: from x the code gets n and -f, and Horner on -f
 * with the odd coefficients negated gives, step by step, the exact negations
 * of the steps on f (rounding is symmetric), so the same floats as negating
 * x first, one operation sooner. */
RC_AVX512 static inline __m512 expneg512(__m512 x)
{
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(-1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fmadd_ps(n, _mm512_set1_ps(0.693359375f), x); /* -f */
    f = _mm512_fmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
    __m512 p = _mm512_set1_ps(-1.0f / 5040);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.0f / 120));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.0f / 6));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* min/max return their second operand when either is NaN: NaN stays NaN.
 * sigmoid(x) = 1 / (1 + exp(-x)) with -x clamped to [-87, 88] as in vmath.c;
 * tanh's e = exp(-2|x|) needs only the clamp at -87. */
RC_AVX512 static inline __m512 sigmoid512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = expneg512(_mm512_min_ps(_mm512_set1_ps(87.0f), _mm512_max_ps(_mm512_set1_ps(-88.0f), x)));
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

RC_AVX512 static inline __m512 tanh512(__m512 x)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i xi = _mm512_castps_si512(x);
    __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, xi));
    __m512 e = expneg512(_mm512_min_ps(_mm512_set1_ps(87.0f), _mm512_add_ps(a, a)));
    __m512 big = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
    big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), _mm512_and_si512(sign, xi)));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(21844.0f / 6081075);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1382.0f / 155925));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(62.0f / 2835));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-17.0f / 315));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.0f / 15));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.0f / 3));
    p = _mm512_fmadd_ps(p, x2, one);
    __m512 small = _mm512_mul_ps(x, p);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.25f), _CMP_LT_OQ), big, small);
}

/* Mask of the first n (< 16) lanes. */
static inline __mmask16 rc_mask16(int n) { return (__mmask16)((1u << n) - 1); }

#endif
#endif
