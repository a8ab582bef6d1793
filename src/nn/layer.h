/*
 * layer.h -- the layer interface shared by nn/ and train/.
 *
 * A layer is a description (rc_layer: sizes, offsets into the model's one
 * parameter block) plus a small vtable of plain kernels. Activations live in a
 * per-workspace buffer (rc_lbuf) sized once for a capacity (B,T) and reused:
 * nothing is allocated inside the batch or time loops.
 *
 * Layout: sequences are TIME-MAJOR inside the library, (T,B,D), so the rows of
 * one step are contiguous and the input projection of all steps is one GEMM of
 * T*B rows. The model transposes user data (B,T,F) at the boundary.
 *
 * Letters: B batch, T timesteps, I input width, H units, G gate blocks
 * (LSTM 4, GRU 3, SimpleRNN 1, Dense 1).
 *
 * Kernels never allocate, print or fail: train/model.c validates first.
 * Backward ACCUMULATES (+=) into the gradient block; the caller zeroes it.
 */
#ifndef RECUR_NN_LAYER_H
#define RECUR_NN_LAYER_H

#include "core/core.h"

typedef struct rc_layer rc_layer;

/* Per-layer buffers inside one workspace (all owned by the workspace block). */
typedef struct {
    recur_float *y;    /* output: seq (T,B,H) / last (B,H); for RNNs the full (T,B,H) state sequence */
    recur_float *dx;   /* dL/dinput, shape of the input */
    recur_float *a;    /* gate activations (T,B,G*H); reused in place for gate gradients */
    recur_float *c;    /* LSTM cell states (T,B,H) */
    recur_float *tc;   /* LSTM tanh(c) (T,B,H) */
    recur_float *aux;  /* GRU: r*mh (reset_after) or r*h_prev (T,B,H);
                        * LSTM: the bias laid out for the AVX-512 cell pass, 4 (H+16) */
    recur_float *da2;  /* GRU reset_after: recurrent-side gate gradients (T,B,3H) */
    recur_float *mh;   /* GRU reset_after: one step of h U + b1 (B,3H) */
    recur_float *dh;   /* (B,H) running dL/dh */
    recur_float *dc;   /* (B,H) running dL/dc (LSTM); GRU scratch */
    recur_float *h0;   /* (B,H) initial hidden state (zeros unless set) */
    recur_float *c0;   /* (B,H) initial cell state */
    recur_float *dh0;  /* (B,H) dL/dh0 after backward */
    recur_float *dc0;  /* (B,H) dL/dc0 */
    recur_float *mask; /* Dropout: scaled keep mask (rows, I) */
    recur_float *ut;   /* recurrent layers: blocks of packed gate gradients (rc_gates_pack_floats) */
    int has_state;     /* h0/c0 may be non-zero */
    /* Recurrent layers: their weights packed for rc_pgemm (wpack_size floats, at an address
     * that does not move with B). wpk[k] is current when bit k of wp_valid is
     * set, trusted only while wp_reuse: the chunk loop of one batch sets it, the
     * weights being fixed for the batch, so each thread packs once per batch. */
    recur_float *wp;
    rc_packed wpk[5];
    unsigned wp_valid;
    int wp_reuse;
} rc_lbuf;

typedef struct {
    /* Floats needed in a workspace for batch B and T steps. */
    size_t (*buf_size)(const rc_layer *L, int B, int T);
    /* Carves rc_lbuf pointers out of mem (buf_size floats, zeroed). */
    void (*bind)(const rc_layer *L, rc_lbuf *lb, recur_float *mem, int B, int T);
    /* Keras initialisation of this layer's slice of the parameter block;
     * -1 when the orthogonal initialiser's scratch cannot be allocated. */
    int (*init)(const rc_layer *L, recur_float *params, rc_rng *rng);
    /* x: input ((T,B,I) if L->seq_in else (B,I)). Writes lb->y and caches. */
    void (*forward)(const rc_layer *L, rc_lbuf *lb, const recur_float *params, const recur_float *x, int B, int T,
                    int training, rc_rng *rng);
    /* dy: shape of the output. Accumulates into grads; writes lb->dx when need_dx. */
    void (*backward)(const rc_layer *L, rc_lbuf *lb, recur_float *grads, const recur_float *params,
                     const recur_float *x, const recur_float *dy, int B, int T, int need_dx);
    /* Floats of packed weights kept in rc_lbuf.wp (NULL: none). */
    size_t (*wpack_size)(const rc_layer *L);
} rc_layer_ops;

struct rc_layer {
    recur_layer_kind kind;
    const rc_layer_ops *ops;
    int in;               /* I: input width per step */
    int units;            /* H (Dense: output width; Dropout: = in) */
    int G;                /* gate blocks */
    int seq_in;           /* input is a sequence (T steps) */
    int seq_out;          /* output is a sequence */
    int return_sequences; /* recurrent layers */
    int reset_after;      /* GRU */
    recur_activation act; /* Dense */
    recur_activation rec_act; /* LSTM and GRU gates: RECUR_ACT_SIGMOID (0 means it too) or a hard sigmoid */
    float rate;           /* Dropout */
    size_t n_params;
    size_t off;           /* start of this layer's parameters in the block */
    size_t off_w, off_u, off_b; /* kernel, recurrent_kernel, bias (absolute offsets) */
};

/* Output pointer of a layer after forward: the last step for an RNN that
 * returns no sequence. */
static inline recur_float *rc_layer_out(const rc_layer *L, const rc_lbuf *lb, int B, int T)
{
    if (L->kind <= RECUR_LAYER_RNN && !L->return_sequences) return lb->y + (size_t)(T - 1) * B * L->units;
    return lb->y;
}

/* Whether lb->wpk[k] may be used as it is (packed earlier in this batch);
 * otherwise the caller packs it and calls rc_wp_mark, which also marks the
 * entries in `clear` stale (packs sharing its floats). */
static inline int rc_wp_current(const rc_lbuf *lb, int k) { return lb->wp_reuse && (lb->wp_valid >> k & 1u); }

static inline void rc_wp_mark(rc_lbuf *lb, int k, unsigned clear)
{
    lb->wp_valid = (lb->wp_valid & ~clear) | 1u << k;
}

/* Entry k of lb->wpk, packed from src (K, N) (transposed when trans) into
 * lb->wp + at unless it is current (gates.c). */
const rc_packed *rc_wp_pack(rc_lbuf *lb, int k, const recur_float *src, int lds, int trans, int K, int N, size_t at);

/* The activation of an LSTM's or GRU's gates (rc_layer.rec_act; 0, the
 * zeroed default, means sigmoid). */
static inline recur_activation rc_rec_act(const rc_layer *L)
{
    return L->rec_act == RECUR_ACT_LINEAR ? RECUR_ACT_SIGMOID : L->rec_act;
}

/* Carves n floats off the front of a workspace block: *m advances past them. */
static inline recur_float *rc_take(recur_float **m, size_t n)
{
    recur_float *p = *m;
    *m += n;
    return p;
}

extern const rc_layer_ops rc_lstm_ops, rc_gru_ops, rc_rnn_ops, rc_dense_ops, rc_dropout_ops;

/* ====== Shared gate-GEMM mechanism (gates.c) ======
 * Every recurrent cell computes pre = x W + h U + b with its G gates packed in
 * one matrix (I, G*H); Dense is the G=1, T=1 case of the input half. */

/* P (R, GH) = X (R, I) W (I, GH) + b (GH): the input projection of all R = T*B rows at once. */
void rc_gates_input_forward(recur_float *P, const recur_float *X, const recur_float *W, const recur_float *b, int R,
                            int I, int GH);
/* dW (I,GH) += X^T dP; db (GH) += column sums of dP; dX (R,I) = dP W^T when dX != NULL. */
void rc_gates_input_backward(recur_float *dX, recur_float *dW, recur_float *db, const recur_float *dP,
                             const recur_float *X, const recur_float *W, int R, int I, int GH);
/* dU (H,N) += sum_t h_{t-1}^T dP_t over all steps, with h_{-1} = h0:
 * hs (T,B,H) states, dP (T,B,N) with leading dimension ldp, dU leading dimension ldu. */
void rc_gates_recurrent_backward(recur_float *dU, int ldu, const recur_float *dP, int ldp, const recur_float *hs,
                                 const recur_float *h0, int has_state, int B, int T, int H, int N);

/* ---- The same products through rc_pgemm (core.h); the gate gradients are
 * packed a block of steps at a time into a scratch buffer of
 * rc_gates_pack_floats(H, G, B, T) floats. ---- */
size_t rc_gates_pack_floats(int H, int G, int B, int T);
/* Whether rc_gates_backward_packed reads gate gradients of GH columns in
 * place: it then sums the bias in a pass of its own over them (in row
 * order), which a caller may do instead (db NULL). */
int rc_gates_in_place(int GH);
/* Everything after the time loop of a backward pass, from the gate gradients
 * dP (T,B,GH): dW += X^T dP, dU += sum_t h_{t-1}^T dP_t (h_{-1} = h0, used when
 * has_state), db += column sums; dP is read in place or, at strides that
 * map onto few cache sets, packed a block of steps at a time (summing the
 * bias while packing; db NULL: the caller summed it); then dX (R, I) = dP W^T
 * when dX != NULL, WT being W^T (GH, I) packed. dW or dU NULL: not computed
 * (a GRU with the reset gate after the product has input-side and
 * recurrent-side gate gradients apart, and calls this once for each). */
void rc_gates_backward_packed(recur_float *dX, recur_float *dW, recur_float *dU, recur_float *db,
                              const recur_float *dP, const recur_float *X, const rc_packed *WT, const recur_float *hs,
                              const recur_float *h0, int has_state, int B, int T, int I, int H, int GH,
                              recur_float *buf);

/* ====== Initialisers (init.c) ====== */
void rc_init_glorot_uniform(recur_float *w, int rows, int cols, rc_rng *rng);
/* 0, or -1 (w untouched) when its max(r,c) x min(r,c) doubles of scratch
 * cannot be allocated. */
int rc_init_orthogonal(recur_float *w, int rows, int cols, rc_rng *rng);

#endif
