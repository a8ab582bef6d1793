/*
 * stream.c -- recur_stream: inference one time step at a time over a model
 * that stays read-only, each stream with its own state and scratch, so that
 * many threads can follow their own series with one loaded model.
 *
 * A step feeds x_t through every layer (nn/step.c) and returns the model's
 * output for the whole sequence seen since the last reset: after k steps it
 * is what recur_model_predict gives for those k values as one window. Layers
 * that return no sequence are stepped like the others; only their last step
 * would be passed on by a forward pass, which is the one the caller reads.
 * Where AVX-512 runs, a stream keeps its own copy of the weights packed for
 * the step product (nn/step.c), as many floats as the model has weights.
 */
#include "nn/step.h"
#include "train/train.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct recur_stream {
    const recur_model *m;
    size_t steps;
    recur_float *mem;                /* one block for everything below */
    recur_float *state[RC_MAX_LAYERS];
    rc_step_weights w[RC_MAX_LAYERS]; /* each layer's matrices, packed where AVX-512 runs */
    size_t state_size;               /* floats of all layers' states */
    recur_float *io[2];              /* ping-pong between layers, the widest layer output */
    recur_float *scratch;
    size_t width, proj;               /* widest layer output and input projection */
    recur_float *seq;                 /* recur_stream_predict: two (cap_T, width) sequences, */
    recur_float *P;                   /* and (cap_T, proj) projections */
    int cap_T;
};

recur_status recur_stream_new(const recur_model *m, recur_stream **out, recur_error *err)
{
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_stream_new: out is NULL");
    *out = NULL;
    if (!m) return rc_error(err, RECUR_E_INVALID, "recur_stream_new: model is NULL");
    if (!m->compiled || m->n_layers == 0)
        return rc_error(err, RECUR_E_STATE, "recur_stream_new: the model is not compiled (compile or load it first)");
    size_t n_state = 0, width = (size_t)m->F, scratch = 0, n_pack = 0, proj = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        n_state += rc_step_state_size(L);
        if (rc_step_proj_size(L) > proj) proj = rc_step_proj_size(L);
        n_pack += rc_step_pack_floats(L);
        if ((size_t)L->units > width) width = (size_t)L->units;
        if (rc_step_scratch_size(L) > scratch) scratch = rc_step_scratch_size(L);
    }
    recur_stream *s = calloc(1, sizeof *s);
    /* 16 floats more, to start the packed weights on a 64-byte boundary */
    if (s) s->mem = calloc(n_state + 2 * width + scratch + n_pack + 16, sizeof *s->mem);
    if (!s || !s->mem) {
        free(s);
        return rc_error(err, RECUR_E_NOMEM, "recur_stream_new: out of memory");
    }
    s->m = m;
    s->width = width;
    s->proj = proj;
    recur_float *p = s->mem;
    for (int l = 0; l < m->n_layers; l++) {
        s->state[l] = p;
        p += rc_step_state_size(&m->layers[l]);
    }
    s->state_size = n_state;
    s->io[0] = p;
    p += width;
    s->io[1] = p;
    p += width;
    s->scratch = p;
    p += scratch;
    /* Packed panels are whole vectors of 16 floats, so with their start on a
     * 64-byte boundary every load of the step products is within one cache
     * line: 60 steps over the tutorial's second U took 75 us aligned, 119 us
     * 4 bytes off (a load across two lines costs two). */
    p += (64 - (uintptr_t)p % 64) % 64 / sizeof *p;
    for (int l = 0; l < m->n_layers; l++) {
        rc_step_weights_make(&m->layers[l], m->params, p, &s->w[l]);
        p += rc_step_pack_floats(&m->layers[l]);
    }
    *out = s;
    return RECUR_OK;
}

void recur_stream_free(recur_stream *s)
{
    if (!s) return;
    free(s->mem);
    free(s->seq);
    free(s->P);
    free(s);
}

void recur_stream_reset(recur_stream *s)
{
    if (!s) return;
    memset(s->mem, 0, s->state_size * sizeof *s->mem);
    s->steps = 0;
}

size_t recur_stream_steps(const recur_stream *s) { return s ? s->steps : 0; }

void recur_stream_step(recur_stream *s, const recur_float *x, recur_float *y)
{
    const recur_model *m = s->m;
    const recur_float *in = x;
    int k = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        recur_float *o = l == m->n_layers - 1 ? y : s->io[k];
        rc_layer_step(L, &s->w[l], m->params, in, s->state[l], o, s->scratch);
        in = o;
        k ^= 1;
    }
    s->steps++;
}

/* A whole window, layer by layer: each layer's input projections for all T
 * steps at once (its W read from cache once per panel, not once per step),
 * then its T recurrent steps, which read U alone. The same operations as T
 * calls of recur_stream_step, in another order of the layers' steps, so the
 * same numbers, and the same states at the end. */
recur_status recur_stream_predict(recur_stream *s, const recur_float *x, int T, recur_float *y, recur_error *err)
{
    if (!s || !x || !y) return rc_error(err, RECUR_E_INVALID, "recur_stream_predict: NULL argument");
    if (T < 1 || T > 1000000)
        return rc_error(err, RECUR_E_INVALID, "recur_stream_predict: T must be in 1..1000000 (got %d)", T);
    if (T > s->cap_T) {
        /* on 64-byte boundaries, as the packed weights: the rows of P are
         * read and written by whole vectors (nothing to keep: a window
         * overwrites both) */
        free(s->seq), free(s->P);
        s->seq = rc_alloc64(2 * (size_t)T * s->width);
        s->P = rc_alloc64((size_t)T * s->proj);
        s->cap_T = s->seq && s->P ? T : 0;
        if (!s->cap_T) return rc_error(err, RECUR_E_NOMEM, "recur_stream_predict: out of memory for %d steps", T);
    }
    const recur_model *m = s->m;
    recur_stream_reset(s);
    const recur_float *in = x;
    int rows = T, ld = m->F, k = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        if (L->kind == RECUR_LAYER_DROPOUT) continue;
        const size_t n = rc_step_proj_size(L), H = (size_t)L->units;
        recur_float *out = s->seq + (size_t)k * s->cap_T * s->width;
        rc_step_project(L, &s->w[l], m->params, in, rows, ld, s->P);
        if (L->kind == RECUR_LAYER_DENSE) {
            for (int r = 0; r < rows; r++) rc_step_recur(L, &s->w[l], m->params, s->P + r * n, NULL, out + r * H, NULL);
        } else {
            const int keep = L->return_sequences;
            for (int t = 0; t < rows; t++)
                rc_step_recur(L, &s->w[l], m->params, s->P + t * n, s->state[l], out + (keep ? t * H : 0),
                              s->scratch + n);
            if (!keep) rows = 1;
        }
        in = out;
        ld = L->units;
        k ^= 1;
    }
    memcpy(y, in + (size_t)(rows - 1) * ld, (size_t)ld * sizeof *y);
    s->steps = (size_t)T;
    return RECUR_OK;
}
