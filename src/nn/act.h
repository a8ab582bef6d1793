/*
 * act.h -- elementwise activations used by every layer, forward and backward.
 * Backward forms take the activation's OUTPUT (y), which the layers cache:
 *   sigmoid' = y (1 - y),  tanh' = 1 - y^2,  relu' = [y > 0],  linear' = 1.
 * Header-only (static inline) so the gate loops stay one fused pass.
 */
#ifndef RECUR_NN_ACT_H
#define RECUR_NN_ACT_H

#include "recur.h"

#include <math.h>

#ifdef RECUR_DOUBLE
#define RC_EXP exp
#define RC_TANH tanh
#else
#define RC_EXP expf
#define RC_TANH tanhf
#endif

static inline recur_float rc_sigmoid(recur_float x)
{
    /* Two branches so exp never overflows: for x < 0 use e^x / (1 + e^x). */
    if (x >= 0) return 1 / (1 + RC_EXP(-x));
    recur_float e = RC_EXP(x);
    return e / (1 + e);
}

static inline recur_float rc_tanh(recur_float x) { return RC_TANH(x); }

/* Keras 3's hard_sigmoid, relu6(x + 3) / 6, and Keras 2's, clip(0.2 x + 0.5):
 * the same operations in the same order as theirs. NaN stays NaN. */
static inline recur_float rc_hard_sigmoid(recur_float x)
{
    recur_float y = x + 3;
    y = y < 0 ? 0 : y > 6 ? 6 : y;
    return y / 6;
}

static inline recur_float rc_hard_sigmoid_k2(recur_float x)
{
    recur_float y = (recur_float)0.2 * x + (recur_float)0.5;
    return y < 0 ? 0 : y > 1 ? 1 : y;
}

static inline recur_float rc_act(recur_activation a, recur_float x)
{
    switch (a) {
    case RECUR_ACT_RELU: return x > 0 ? x : 0;
    case RECUR_ACT_TANH: return rc_tanh(x);
    case RECUR_ACT_SIGMOID: return rc_sigmoid(x);
    case RECUR_ACT_HARD_SIGMOID: return rc_hard_sigmoid(x);
    case RECUR_ACT_HARD_SIGMOID_K2: return rc_hard_sigmoid_k2(x);
    default: return x;
    }
}

/* d act / d pre-activation, from the output y. */
static inline recur_float rc_act_grad(recur_activation a, recur_float y)
{
    switch (a) {
    case RECUR_ACT_RELU: return y > 0 ? 1 : 0;
    case RECUR_ACT_TANH: return 1 - y * y;
    case RECUR_ACT_SIGMOID: return y * (1 - y);
    /* the slope inside (0, 1), flat where clipped (the output tells which) */
    case RECUR_ACT_HARD_SIGMOID: return y > 0 && y < 1 ? (recur_float)1 / 6 : 0;
    case RECUR_ACT_HARD_SIGMOID_K2: return y > 0 && y < 1 ? (recur_float)0.2 : 0;
    default: return 1;
    }
}

#endif
