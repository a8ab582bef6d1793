/*
 * vmath.c -- vectorisable sigmoid and tanh over arrays, the gate
 * nonlinearities of every recurrent step. libm's tanhf/expf are scalar calls
 * and took about 40% of a training epoch; these loops have no calls and no
 * branches, so the compiler vectorises them, and target_clones builds AVX-512,
 * AVX2 and baseline versions chosen at load time.
 *
 *   exp(x): x = n ln2 + f, |f| <= ln2/2, exp(f) by its Taylor polynomial of
 *           degree 7 (truncation < 1e-8 relative), 2^n put in the exponent bits.
 *   sigmoid(x) = 1 / (1 + exp(-x))
 *   tanh(x)   = sign(x) (1 - e) / (1 + e), e = exp(-2|x|), for |x| >= 0.25;
 *               the odd Taylor series to x^13 below (avoids cancellation).
 * Both are within a few float ulps of the exact values (tests/test_model.c
 * checks the worst error over a dense grid); NaN in gives NaN out.
 * The double build (gradient checks) uses libm.
 *
 * On CPUs with AVX-512 the same formulas run as hand-written vector code:
 * the portable loops compile (ISO C, no FMA contraction) to separate
 * multiplies and adds and mask juggling for the clamps, about 37 cycles per
 * 16 floats here; the vector version uses FMA Horner steps, clamps with
 * min/max (which pass NaN through) and scalef for the 2^n, about 3x faster.
 * Lanes past n are masked, never read or written.
 */
#include "nn/act.h"
#include "nn/vmath.h"
#include "core/core.h"
#include "nn/simd.h"

#include <stdint.h>
#include <string.h>

#ifdef RECUR_DOUBLE

void rc_vsigmoid(recur_float *y, const recur_float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = rc_sigmoid(x[i]);
}

void rc_vtanh(recur_float *y, const recur_float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = tanh(x[i]);
}

#else

/* exp for x already clamped to [-87, 88]; no NaN here */
static inline float exp_core(float x)
{
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    float t = x * log2e;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest, |t| < 2^22 */
    float f = x - n * ln2_hi - n * ln2_lo;
    float p = 1.0f / 5040;
    p = p * f + 1.0f / 720;
    p = p * f + 1.0f / 120;
    p = p * f + 1.0f / 24;
    p = p * f + 1.0f / 6;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float clampf(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

#ifdef RC_SIMD512
RC_AVX512 static void vsigmoid512(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sigmoid512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, sigmoid512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

RC_AVX512 static void vtanh512(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, tanh512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, tanh512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

#endif

RC_CLONES static void vsigmoid_loop(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float ok = v == v ? v : 0.0f;
        float e = exp_core(clampf(-ok, -87.0f, 88.0f));
        float s = 1.0f / (1.0f + e);
        y[i] = v == v ? s : v;
    }
}

RC_CLONES static void vtanh_loop(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float ok = v == v ? v : 0.0f;
        float a = ok < 0 ? -ok : ok;
        float e = exp_core(clampf(-2.0f * a, -87.0f, 88.0f));
        float big = (1.0f - e) / (1.0f + e);
        big = ok < 0 ? -big : big;
        float x2 = ok * ok;
        float p = 21844.0f / 6081075;
        p = p * x2 - 1382.0f / 155925;
        p = p * x2 + 62.0f / 2835;
        p = p * x2 - 17.0f / 315;
        p = p * x2 + 2.0f / 15;
        p = p * x2 - 1.0f / 3;
        p = p * x2 + 1.0f;
        float small = ok * p;
        float r = a < 0.25f ? small : big;
        y[i] = v == v ? r : v;
    }
}

void rc_vsigmoid(float *y, const float *x, size_t n)
{
#ifdef RC_SIMD512
    if (rc_cpu_avx512()) {
        vsigmoid512(y, x, n);
        return;
    }
#endif
    vsigmoid_loop(y, x, n);
}

void rc_vtanh(float *y, const float *x, size_t n)
{
#ifdef RC_SIMD512
    if (rc_cpu_avx512()) {
        vtanh512(y, x, n);
        return;
    }
#endif
    vtanh_loop(y, x, n);
}

#endif

void rc_vgate(recur_float *y, const recur_float *x, size_t n, recur_activation a)
{
    if (a == RECUR_ACT_HARD_SIGMOID)
        for (size_t i = 0; i < n; i++) y[i] = rc_hard_sigmoid(x[i]);
    else if (a == RECUR_ACT_HARD_SIGMOID_K2)
        for (size_t i = 0; i < n; i++) y[i] = rc_hard_sigmoid_k2(x[i]);
    else
        rc_vsigmoid(y, x, n);
}
