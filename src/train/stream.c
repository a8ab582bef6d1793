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
};

recur_status recur_stream_new(const recur_model *m, recur_stream **out, recur_error *err)
{
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_stream_new: out is NULL");
    *out = NULL;
    if (!m) return rc_error(err, RECUR_E_INVALID, "recur_stream_new: model is NULL");
    if (!m->compiled || m->n_layers == 0)
        return rc_error(err, RECUR_E_STATE, "recur_stream_new: the model is not compiled (compile or load it first)");
    size_t n_state = 0, width = (size_t)m->F, scratch = 0, n_pack = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        n_state += rc_step_state_size(L);
        n_pack += rc_step_pack_floats(L);
        if ((size_t)L->units > width) width = (size_t)L->units;
        if (rc_step_scratch_size(L) > scratch) scratch = rc_step_scratch_size(L);
    }
    recur_stream *s = calloc(1, sizeof *s);
    if (s) s->mem = calloc(n_state + 2 * width + scratch + n_pack + 1, sizeof *s->mem);
    if (!s || !s->mem) {
        free(s);
        return rc_error(err, RECUR_E_NOMEM, "recur_stream_new: out of memory");
    }
    s->m = m;
    recur_float *p = s->mem;
    for (int l = 0; l < m->n_layers; l++) {
        s->state[l] = p;
        p += rc_step_state_size(&m->layers[l]);
    }
    s->state_size = n_state;
    s->io[0] = p, p += width;
    s->io[1] = p, p += width;
    s->scratch = p;
    p += scratch;
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

recur_status recur_stream_predict(recur_stream *s, const recur_float *x, int T, recur_float *y, recur_error *err)
{
    if (!s || !x || !y) return rc_error(err, RECUR_E_INVALID, "recur_stream_predict: NULL argument");
    if (T < 1) return rc_error(err, RECUR_E_INVALID, "recur_stream_predict: T must be >= 1 (got %d)", T);
    recur_stream_reset(s);
    for (int t = 0; t < T; t++) recur_stream_step(s, x + (size_t)t * s->m->F, y);
    return RECUR_OK;
}
