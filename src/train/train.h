/*
 * train.h -- internals shared by the training files: the model struct, its
 * workspaces, the thread pool. Not installed.
 *
 * Parallelism: a batch of B samples is cut into n_chunks = min(ceil(B/16), 8) (at least 2 from B = 16)
 * chunks, a number that depends on B only. Each chunk's gradient goes to its
 * own buffer and the buffers are summed in chunk order, so weights are
 * bit-identical for any thread count. Threads take chunks round-robin, each in
 * its own workspace with single-threaded GEMMs. A data-parallel fit
 * (recur_fit_opts.peers) splits the chunks over processes the same way:
 * each computes a contiguous range, the exchange hands every process all
 * chunks, and every process sums them in chunk order.
 */
#ifndef RECUR_TRAIN_H
#define RECUR_TRAIN_H

#include "nn/layer.h"

#include <pthread.h>

#define RC_MAX_LAYERS RECUR_MAX_LAYERS
#define RC_MAX_THREADS 16
#define RC_CHUNK 16
#define RC_MAX_CHUNKS 8

/* Activations for a capacity of B samples and T steps. */
typedef struct {
    int capB, capT;
    recur_float *mem;           /* one block for every buffer below */
    rc_lbuf lb[RC_MAX_LAYERS];
    recur_float *x;             /* (T,B,F) time-major input */
    recur_float *dy;            /* dL/d(model output), time-major */
    recur_float *out;           /* (B,T,O) or (B,O) user-layout output */
    int B, T;                   /* of the last forward */
} rc_ws;

typedef struct {
    pthread_t th[RC_MAX_THREADS];
    int n;                      /* threads including the caller */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    unsigned long generation;
    int pending, stop;
    void (*fn)(void *arg, int tid);
    void *arg;
} rc_pool;

struct recur_model {
    int F;
    int n_layers;
    rc_layer layers[RC_MAX_LAYERS];
    int compiled;
    recur_compile_opts copts;
    size_t n_params;
    recur_float *params, *grads;
    recur_optimizer_state *opt;
    rc_ws *ws[RC_MAX_THREADS];  /* one per pool thread, allocated on first use; ws[0] also
                                 * serves the low-level API */
    recur_float *chunk_grads;   /* (RC_MAX_CHUNKS - 1, n_params): chunks 1.., in the block of grads
                                 * (chunk 0), right after it */
    const recur_peers *peers;   /* during a data-parallel fit: the chunks' other processes; else NULL */
    rc_pool pool;
    int pool_started;
    uint64_t dropout_step;      /* advances every training forward */
    /* initial states set through recur_model_set_initial_state, per layer (B,H) */
    recur_float *h0[RC_MAX_LAYERS], *c0[RC_MAX_LAYERS];
    int state_B[RC_MAX_LAYERS];
};

/* model.c */
recur_status rc_ws_reserve(recur_model *m, rc_ws *w, int B, int T, recur_error *err);
/* Workspace t (0 .. RC_MAX_THREADS-1), allocated when first asked for;
 * NULL with RECUR_E_NOMEM in err when it cannot be. */
rc_ws *rc_ws_at(recur_model *m, int t, recur_error *err);
void rc_ws_free(rc_ws *w);
/* Lets the layers keep the weights they packed in w across the calls that
 * follow (until the next rc_ws_reserve): for the chunks of one batch, whose
 * weights do not change. fresh: the weights changed since w last packed. */
void rc_ws_reuse_packs(recur_model *m, rc_ws *w, int fresh);
/* Forward of B samples x (B,T,F) in workspace w; output in w->out (user layout)
 * and returns the time-major output pointer. */
const recur_float *rc_forward(recur_model *m, rc_ws *w, const recur_float *x, int B, int T, int training,
                              uint64_t stream);
/* Backward of the last forward in w given dy in w->dy (time-major); accumulates into grads. */
void rc_backward(recur_model *m, rc_ws *w, recur_float *grads, recur_float *dx_user);
/* Loss of w's last forward against y (user layout) and dL/dy into w->dy, the
 * gradient scaled for a mean over `denom` elements. Returns the SUM of per-element losses. */
double rc_loss_to_dy(recur_model *m, rc_ws *w, const recur_float *y, double denom);
int rc_out_width(const recur_model *m); /* O */
size_t rc_out_size(const recur_model *m, int B, int T);

/* pool.c */
int rc_default_threads(void);
recur_status rc_pool_start(rc_pool *p, int n, recur_error *err);
void rc_pool_run(rc_pool *p, void (*fn)(void *arg, int tid), void *arg);
void rc_pool_stop(rc_pool *p);

/* optim.c: gradient clipping of one tensor in place (Keras clipnorm / clipvalue). */
void rc_clip(recur_float *g, size_t n, double clipnorm, double clipvalue);
void rc_optimizer_reset(recur_optimizer_state *s);
recur_float *rc_optimizer_slot(const recur_optimizer_state *s, const char *name);
long rc_optimizer_iterations(const recur_optimizer_state *s);
void rc_optimizer_set_iterations(recur_optimizer_state *s, long it);
void rc_optimizer_step_range(recur_optimizer_state *s, recur_float *params, const recur_float *grads, size_t lo,
                             size_t hi);
void rc_optimizer_advance(recur_optimizer_state *s);
void rc_optimizer_step_noclip(recur_optimizer_state *s, recur_float *params, const recur_float *grads);

#endif
