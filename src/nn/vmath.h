/*
 * vmath.h -- array sigmoid and tanh (vmath.c). y may equal x.
 */
#ifndef RECUR_NN_VMATH_H
#define RECUR_NN_VMATH_H

#include "recur.h"

#include <stddef.h>

/* Builds a function for AVX-512, AVX2 and baseline x86-64, picked at load
 * time (GCC on x86-64; elsewhere a plain function). For elementwise kernels. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(RECUR_NO_CLONES) && \
    !defined(RECUR_DOUBLE)
#define RC_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define RC_CLONES
#endif

void rc_vsigmoid(recur_float *y, const recur_float *x, size_t n);
/* y = a(x) for a gate activation a: sigmoid (rc_vsigmoid) or a hard sigmoid. */
void rc_vgate(recur_float *y, const recur_float *x, size_t n, recur_activation a);
void rc_vtanh(recur_float *y, const recur_float *x, size_t n);

#endif
