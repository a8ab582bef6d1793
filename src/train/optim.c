/*
 * optim.c -- Keras 3 optimizers on flat buffers (keras/src/optimizers/{rmsprop,adam,sgd}.py,
 * update_step). Slots start at zero; `iterations` counts applied steps.
 *
 * RMSprop: v = rho v + (1-rho) g^2
 *          centered: a = rho a + (1-rho) g;  den = v - a^2 + eps  else den = v + eps
 *          inc = lr g / sqrt(den)            (epsilon INSIDE the sqrt: Keras 3)
 * RMSprop, Keras 2 (RECUR_OPT_RMSPROP_KERAS2; tf.keras 2 optimizer_v2/rmsprop.py
 *          and standalone Keras 2 optimizers.py): the same with den = v (- a^2)
 *          and inc = lr g / (sqrt(den) + eps)  (epsilon OUTSIDE the sqrt)
 *          momentum > 0: m = momentum m + inc; p -= m    else p -= inc
 * Adam:    t = iterations + 1;  alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
 *          m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
 *          amsgrad: vh = max(vh, v), v = vh
 *          p -= m alpha / (sqrt(v) + eps)    ("epsilon hat", not PyTorch's placement)
 * SGD:     momentum == 0: p -= lr g
 *          else m = momentum m - lr g; nesterov: p += momentum m - lr g, else p += m
 * Elements are updated in recur_float (float32), as Keras does.
 */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef RECUR_DOUBLE
#define RC_SQRT sqrt
#else
#define RC_SQRT sqrtf
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_DOUBLE) && !defined(RECUR_NO_SIMD)
#define RC_OPT512 1
#include <immintrin.h>

/* The plain RMSprop and Adam updates (the tutorial's and the usual ones) 16
 * elements at a time: at -O2 GCC 12 left the plain RMSprop loop below
 * scalar and Adam's four wide (SSE, the baseline the build targets). Same
 * operations in the same order as those loops (no FMA: ISO C does not
 * contract them), and sqrt and division are correctly rounded either way,
 * so the same floats. */
__attribute__((target("avx512f"))) static void rmsprop512(float *p, const float *g, float *v, size_t lo, size_t hi,
                                                          float rho, float r1, float lr, float eps)
{
    const __m512 vrho = _mm512_set1_ps(rho), vr1 = _mm512_set1_ps(r1), vlr = _mm512_set1_ps(lr),
                 veps = _mm512_set1_ps(eps);
    for (size_t i = lo; i < hi; i += 16) {
        __mmask16 m = hi - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (hi - i)) - 1);
        __m512 gi = _mm512_maskz_loadu_ps(m, g + i);
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vrho, _mm512_maskz_loadu_ps(m, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(vr1, gi), gi));
        _mm512_mask_storeu_ps(v + i, m, vi);
        __m512 inc = _mm512_div_ps(_mm512_mul_ps(vlr, gi), _mm512_sqrt_ps(_mm512_add_ps(vi, veps)));
        _mm512_mask_storeu_ps(p + i, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), inc));
    }
}

__attribute__((target("avx512f"))) static void adam512(float *p, const float *g, float *mo, float *v, size_t lo,
                                                       size_t hi, float alpha, float b1, float b2, float eps)
{
    const __m512 va = _mm512_set1_ps(alpha), vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2),
                 veps = _mm512_set1_ps(eps);
    for (size_t i = lo; i < hi; i += 16) {
        __mmask16 m = hi - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (hi - i)) - 1);
        __m512 gi = _mm512_maskz_loadu_ps(m, g + i), mi = _mm512_maskz_loadu_ps(m, mo + i);
        __m512 vi = _mm512_maskz_loadu_ps(m, v + i);
        mi = _mm512_add_ps(mi, _mm512_mul_ps(_mm512_sub_ps(gi, mi), vb1));
        vi = _mm512_add_ps(vi, _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(gi, gi), vi), vb2));
        _mm512_mask_storeu_ps(mo + i, m, mi);
        _mm512_mask_storeu_ps(v + i, m, vi);
        __m512 inc = _mm512_div_ps(_mm512_mul_ps(mi, va), _mm512_add_ps(_mm512_sqrt_ps(vi), veps));
        _mm512_mask_storeu_ps(p + i, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), inc));
    }
}
#endif

struct recur_optimizer_state {
    recur_optim_opts o;
    size_t n;
    long iterations;
    recur_float *velocity, *momentum, *average_gradient, *velocity_hat;
    recur_float *clipbuf; /* gradient copy when clipping */
};

recur_optim_opts recur_optim_opts_default(recur_optimizer kind)
{
    recur_optim_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr = kind == RECUR_OPT_SGD ? 0.01 : 0.001;
    o.rho = 0.9;
    o.epsilon = 1e-7;
    o.beta_1 = 0.9;
    o.beta_2 = 0.999;
    return o;
}

static int bad(double v) { return !isfinite(v); }

recur_status recur_optimizer_new(const recur_optim_opts *o, size_t n, recur_optimizer_state **out,
                                 recur_error *err)
{
    *out = NULL;
    if (!o) return rc_error(err, RECUR_E_INVALID, "optimizer: options are NULL");
    if (o->kind < RECUR_OPT_RMSPROP || o->kind > RECUR_OPT_RMSPROP_KERAS2)
        return rc_error(err, RECUR_E_INVALID, "optimizer: unknown kind %d", (int)o->kind);
    if (bad(o->lr) || o->lr <= 0)
        return rc_error(err, RECUR_E_INVALID, "optimizer: learning rate must be a finite number > 0 (got %g)", o->lr);
    if (bad(o->momentum) || o->momentum < 0 || o->momentum >= 1)
        return rc_error(err, RECUR_E_INVALID, "optimizer: momentum must be in [0, 1) (got %g)", o->momentum);
    if (bad(o->rho) || o->rho < 0 || o->rho >= 1)
        return rc_error(err, RECUR_E_INVALID, "optimizer: rho must be in [0, 1) (got %g)", o->rho);
    if (bad(o->beta_1) || o->beta_1 < 0 || o->beta_1 >= 1 || bad(o->beta_2) || o->beta_2 < 0 || o->beta_2 >= 1)
        return rc_error(err, RECUR_E_INVALID, "optimizer: beta_1 and beta_2 must be in [0, 1) (got %g, %g)",
                        o->beta_1, o->beta_2);
    if (bad(o->epsilon) || o->epsilon < 0)
        return rc_error(err, RECUR_E_INVALID, "optimizer: epsilon must be >= 0 (got %g)", o->epsilon);
    if (bad(o->clipnorm) || o->clipnorm < 0 || bad(o->clipvalue) || o->clipvalue < 0)
        return rc_error(err, RECUR_E_INVALID, "optimizer: clipnorm and clipvalue must be >= 0 (got %g, %g)",
                        o->clipnorm, o->clipvalue);
    recur_optimizer_state *s = calloc(1, sizeof *s);
    if (!s) return rc_error(err, RECUR_E_NOMEM, "optimizer: out of memory");
    s->o = *o;
    s->n = n;
    int need_v = o->kind != RECUR_OPT_SGD;
    int need_m = o->kind == RECUR_OPT_ADAM || o->momentum > 0;
    int need_a = (o->kind == RECUR_OPT_RMSPROP || o->kind == RECUR_OPT_RMSPROP_KERAS2) && o->centered;
    int need_h = o->kind == RECUR_OPT_ADAM && o->amsgrad;
    int need_c = o->clipnorm > 0 || o->clipvalue > 0;
    if ((need_v && !(s->velocity = calloc(n ? n : 1, sizeof(recur_float)))) ||
        (need_m && !(s->momentum = calloc(n ? n : 1, sizeof(recur_float)))) ||
        (need_a && !(s->average_gradient = calloc(n ? n : 1, sizeof(recur_float)))) ||
        (need_h && !(s->velocity_hat = calloc(n ? n : 1, sizeof(recur_float)))) ||
        (need_c && !(s->clipbuf = calloc(n ? n : 1, sizeof(recur_float))))) {
        recur_optimizer_free(s);
        return rc_error(err, RECUR_E_NOMEM, "optimizer: out of memory for %zu parameters", n);
    }
    *out = s;
    return RECUR_OK;
}

void recur_optimizer_free(recur_optimizer_state *s)
{
    if (!s) return;
    free(s->velocity);
    free(s->momentum);
    free(s->average_gradient);
    free(s->velocity_hat);
    free(s->clipbuf);
    free(s);
}

void rc_optimizer_reset(recur_optimizer_state *s)
{
    size_t b = s->n * sizeof(recur_float);
    if (s->velocity) memset(s->velocity, 0, b);
    if (s->momentum) memset(s->momentum, 0, b);
    if (s->average_gradient) memset(s->average_gradient, 0, b);
    if (s->velocity_hat) memset(s->velocity_hat, 0, b);
    s->iterations = 0;
}

void rc_clip(recur_float *g, size_t n, double clipnorm, double clipvalue)
{
    if (clipvalue > 0)
        for (size_t i = 0; i < n; i++) {
            if (g[i] > clipvalue) g[i] = (recur_float)clipvalue;
            else if (g[i] < -clipvalue) g[i] = (recur_float)-clipvalue;
        }
    if (clipnorm > 0) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
        double norm = sqrt(ss);
        if (norm > clipnorm) {
            double f = clipnorm / norm;
            for (size_t i = 0; i < n; i++) g[i] = (recur_float)(g[i] * f);
        }
    }
}

/* RMSprop, Keras 2's rule: epsilon added to sqrt(den), not inside it. */
static void step_keras2(recur_optimizer_state *s, recur_float *restrict p, const recur_float *restrict g, size_t lo,
                        size_t hi)
{
    const recur_optim_opts *o = &s->o;
    const recur_float lr = (recur_float)o->lr, eps = (recur_float)o->epsilon;
    const recur_float rho = (recur_float)o->rho, mom = (recur_float)o->momentum, r1 = 1 - rho;
    recur_float *restrict v = s->velocity, *restrict a = s->average_gradient, *restrict mm = s->momentum;
    for (size_t i = lo; i < hi; i++) {
        recur_float gi = g[i];
        recur_float vi = rho * v[i] + r1 * gi * gi;
        v[i] = vi;
        recur_float den = vi;
        if (o->centered) {
            recur_float ai = rho * a[i] + r1 * gi;
            a[i] = ai;
            den -= ai * ai;
        }
        recur_float inc = lr * gi / (RC_SQRT(den > 0 ? den : 0) + eps);
        if (mom > 0) {
            mm[i] = mom * mm[i] + inc;
            p[i] -= mm[i];
        } else {
            p[i] -= inc;
        }
    }
}

/* One update over elements [lo, hi) with gradients g, in recur_float as
 * Keras does in float32; one branch-free loop per variant so it vectorises
 * (the update of all 70,901 tutorial weights runs between every two batches,
 * on one thread). */
static void step_range(recur_optimizer_state *s, recur_float *restrict p, const recur_float *restrict g, size_t lo,
                       size_t hi)
{
    const recur_optim_opts *o = &s->o;
    const recur_float lr = (recur_float)o->lr, eps = (recur_float)o->epsilon;
    if (o->kind == RECUR_OPT_RMSPROP_KERAS2) {
        step_keras2(s, p, g, lo, hi);
    } else if (o->kind == RECUR_OPT_RMSPROP) {
        const recur_float rho = (recur_float)o->rho, mom = (recur_float)o->momentum, r1 = 1 - rho;
        recur_float *restrict v = s->velocity, *restrict a = s->average_gradient, *restrict mm = s->momentum;
        if (!o->centered && mom == 0) {
#ifdef RC_OPT512
            if (rc_cpu_avx512()) {
                rmsprop512(p, g, v, lo, hi, rho, r1, lr, eps);
                return;
            }
#endif
            for (size_t i = lo; i < hi; i++) {
                recur_float vi = rho * v[i] + r1 * g[i] * g[i];
                v[i] = vi;
                p[i] -= lr * g[i] / RC_SQRT(vi + eps);
            }
            return;
        }
        for (size_t i = lo; i < hi; i++) {
            recur_float gi = g[i];
            recur_float vi = rho * v[i] + r1 * gi * gi;
            v[i] = vi;
            recur_float den = vi + eps;
            if (o->centered) {
                recur_float ai = rho * a[i] + r1 * gi;
                a[i] = ai;
                den -= ai * ai;
            }
            recur_float inc = den > 0 ? lr * gi / RC_SQRT(den) : 0;
            if (mom > 0) {
                mm[i] = mom * mm[i] + inc;
                p[i] -= mm[i];
            } else {
                p[i] -= inc;
            }
        }
    } else if (o->kind == RECUR_OPT_ADAM) {
        double t = (double)(s->iterations + 1);
        const recur_float alpha = (recur_float)(o->lr * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t)));
        const recur_float b1 = (recur_float)(1 - o->beta_1), b2 = (recur_float)(1 - o->beta_2);
        recur_float *restrict m = s->momentum, *restrict v = s->velocity, *restrict vh = s->velocity_hat;
#ifdef RC_OPT512
        if (!o->amsgrad && rc_cpu_avx512()) {
            adam512(p, g, m, v, lo, hi, alpha, b1, b2, eps);
            return;
        }
#endif
        for (size_t i = lo; i < hi; i++) {
            recur_float gi = g[i];
            m[i] += (gi - m[i]) * b1;
            v[i] += (gi * gi - v[i]) * b2;
            recur_float vi = v[i];
            if (o->amsgrad) {
                vh[i] = vi > vh[i] ? vi : vh[i];
                vi = vh[i];
            }
            p[i] -= m[i] * alpha / (RC_SQRT(vi) + eps);
        }
    } else {
        const recur_float mom = (recur_float)o->momentum;
        recur_float *restrict m = s->momentum;
        if (mom == 0) {
            for (size_t i = lo; i < hi; i++) p[i] -= lr * g[i];
            return;
        }
        for (size_t i = lo; i < hi; i++) {
            m[i] = mom * m[i] - lr * g[i];
            p[i] += o->nesterov ? mom * m[i] - lr * g[i] : m[i];
        }
    }
}

void recur_optimizer_step(recur_optimizer_state *s, recur_float *params, const recur_float *grads)
{
    const recur_float *g = grads;
    if (s->clipbuf) {
        memcpy(s->clipbuf, grads, s->n * sizeof *grads);
        rc_clip(s->clipbuf, s->n, s->o.clipnorm, s->o.clipvalue);
        g = s->clipbuf;
    }
    step_range(s, params, g, 0, s->n);
    s->iterations++;
}

/* Parallel model path: threads update disjoint ranges, then one advance. */
void rc_optimizer_step_range(recur_optimizer_state *s, recur_float *params, const recur_float *grads, size_t lo,
                             size_t hi)
{
    step_range(s, params, grads, lo, hi);
}

void rc_optimizer_advance(recur_optimizer_state *s) { s->iterations++; }

/* Model path: gradients already clipped per tensor by the caller. */
void rc_optimizer_step_noclip(recur_optimizer_state *s, recur_float *params, const recur_float *grads)
{
    step_range(s, params, grads, 0, s->n);
    s->iterations++;
}

/* The slot buffers belong to the state, not to its constness: a model's
 * non-const accessor hands them out writable (recur_model_optimizer_slot). */
recur_float *rc_optimizer_slot(const recur_optimizer_state *s, const char *name)
{
    if (!s || !name) return NULL;
    if (!strcmp(name, "velocity")) return s->velocity;
    if (!strcmp(name, "momentum")) return s->momentum;
    if (!strcmp(name, "average_gradient")) return s->average_gradient;
    if (!strcmp(name, "velocity_hat")) return s->velocity_hat;
    return NULL;
}

const recur_float *recur_optimizer_slot(const recur_optimizer_state *s, const char *name)
{
    return rc_optimizer_slot(s, name);
}

long rc_optimizer_iterations(const recur_optimizer_state *s) { return s ? s->iterations : 0; }
void rc_optimizer_set_iterations(recur_optimizer_state *s, long it)
{
    if (s) s->iterations = it < 0 ? 0 : it;
}
