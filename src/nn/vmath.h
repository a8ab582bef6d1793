/*
 * vmath.h -- array sigmoid and tanh (vmath.c). y may equal x.
 */
#ifndef RECUR_NN_VMATH_H
#define RECUR_NN_VMATH_H

#include "recur.h"

#include <stddef.h>

void rc_vsigmoid(recur_float *y, const recur_float *x, size_t n);
void rc_vtanh(recur_float *y, const recur_float *x, size_t n);

#endif
