/*
 * step.h -- one time step of one sample through a layer (step.c), for
 * streaming inference. Not installed.
 */
#ifndef RECUR_NN_STEP_H
#define RECUR_NN_STEP_H

#include "nn/layer.h"

/* A matrix a step multiplies by: columns [0, n) of m (rows, ld), and the
 * same packed into panels for the AVX-512 product (NULL: not packed). */
typedef struct {
    const recur_float *m, *packed;
    int rows, ld, n;
} rc_stepmat;

typedef struct {
    rc_stepmat mat[3];
    int n;
} rc_step_weights;

/* Floats of packed weights a layer's steps read (0 where the portable
 * product runs: no AVX-512, or RECUR_NO_SIMD). */
size_t rc_step_pack_floats(const rc_layer *L);
/* The layer's step matrices over `params`; with pack (rc_step_pack_floats
 * floats) their packed copies too. */
void rc_step_weights_make(const rc_layer *L, const recur_float *params, recur_float *pack, rc_step_weights *w);

/* Floats a layer carries from one step to the next (LSTM h|c, GRU and
 * SimpleRNN h; 0 for Dense and Dropout), zero at the start of a sequence. */
size_t rc_step_state_size(const rc_layer *L);
/* Floats of one step's input projection x W + b (G*H; Dense: units; Dropout 0). */
size_t rc_step_proj_size(const rc_layer *L);
/* Floats of scratch one rc_layer_step needs (the projection and more). */
size_t rc_step_scratch_size(const rc_layer *L);
/* Input projections of R steps at once: P (R, rc_step_proj_size) = X W + b
 * for X (R, L->in) with leading dimension ldx. */
void rc_step_project(const rc_layer *L, const rc_step_weights *w, const recur_float *params, const recur_float *X,
                     int R, int ldx, recur_float *P);
/* The rest of a step from its projection z (overwritten): the recurrent
 * product and the cell, or a Dense layer's activation; scratch: what
 * rc_step_scratch_size leaves after the projection. Dropout: nothing. */
void rc_step_recur(const rc_layer *L, const rc_step_weights *w, const recur_float *params, recur_float *z,
                   recur_float *state, recur_float *y, recur_float *scratch);
/* x (L->in) -> y (L->units), advancing state in place: project, then recur. y must not alias
 * x except for Dropout; nothing is allocated, nothing fails. */
void rc_layer_step(const rc_layer *L, const rc_step_weights *w, const recur_float *params, const recur_float *x,
                   recur_float *state, recur_float *y, recur_float *scratch);

#endif
