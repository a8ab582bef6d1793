/*
 * recur.h -- recurrent neural networks (LSTM, GRU, SimpleRNN) for time-series
 * forecasting, in C11, with Keras semantics and weight layouts.
 *
 * This is the only header a user includes. A complete load-fit-predict:
 *
 *     recur_error err;
 *     recur_model *m = NULL;
 *     recur_model_new(1, &m, &err);                        // 1 feature per step
 *     recur_model_add_lstm(m, 50, 1, &err);                // LSTM(50, return_sequences=True)
 *     recur_model_add_dropout(m, 0.2f, &err);
 *     recur_model_add_lstm(m, 100, 0, &err);               // LSTM(100)
 *     recur_model_add_dropout(m, 0.2f, &err);
 *     recur_model_add_dense(m, 1, RECUR_ACT_LINEAR, &err); // Dense(1)
 *     recur_compile_opts co = recur_compile_opts_default(); // MSE + RMSprop(1e-3)
 *     if (recur_model_compile(m, &co, &err) != RECUR_OK) { puts(err.msg); ... }
 *
 *     recur_fit_opts fo = recur_fit_opts_default();         // 50 epochs, batch 64
 *     recur_model_fit(m, x, y, n, 60, NULL, 0, &fo, NULL, &err);  // x is (n,60,1), y (n,1)
 *     recur_model_predict(m, x_test, n_test, 60, y_pred, &err);   // y_pred (n_test,1)
 *     recur_model_free(m);
 *
 * Conventions:
 *  - Every function that can fail returns recur_status (RECUR_OK == 0) and, when
 *    `err` is not NULL, fills it with the code and a one-line message saying what
 *    went wrong, where, and how to fix it. There is no global error state.
 *  - The library never prints, never exits, never aborts on bad input.
 *  - Objects come out of constructors through an OUT pointer and are released by
 *    exactly one *_free function; *_free(NULL) does nothing.
 *  - Arrays are row-major. Letters: N samples, B batch, T timesteps, F features,
 *    H units, O outputs. Sequence input x is (N,T,F), as in Keras.
 *  - recur_float is float (float32), the type of every weight and activation. A
 *    build with -DRECUR_DOUBLE makes it double; the project uses that build only
 *    for finite-difference gradient checks.
 *
 * Threads:
 *  - Different objects may be used in different threads at once. One object
 *    is used by one thread at a time, with these exceptions: any number of
 *    threads may read a model (the recur_model_n_* / layer / weight / spec /
 *    summary / save functions) and run recur_stream objects over it, each
 *    thread its own stream, as long as no thread changes it meanwhile (fit,
 *    compile, apply_grads, forward/backward, predict, evaluate, set_initial_state:
 *    these use the model's own workspaces and thread pool, so they need the
 *    model to themselves). A loaded recur_table, recur_pipeline, recur_panel and
 *    recur_forecaster are likewise read-only to their readers.
 *  - fit, predict and evaluate run on a pool of worker threads of their model
 *    (recur_fit_opts.threads; 0 = the cores the process may use, through
 *    sched_getaffinity). While any of them runs, OpenBLAS is set to one thread
 *    (recur parallelises over the batch itself); the caller's setting comes
 *    back when the last of them returns.
 *  - Environment: RECUR_NO_SIMD=1 selects the portable kernels instead of the
 *    AVX-512 ones (same results to float rounding); OpenBLAS's own variables
 *    (OPENBLAS_NUM_THREADS, OPENBLAS_CORETYPE) act as usual outside fit,
 *    predict and evaluate. Nothing else is read, and no signal handler, locale
 *    or other process-wide state is touched.
 *
 * Lifetimes: a pointer a function returns into an object (recur_model_params,
 * recur_model_grads, recur_weight.data, recur_model_optimizer_slot,
 * recur_table_col / col_name / date_text, recur_panel_id / values / times)
 * stays valid until that object is freed, or, for a model's weights and
 * slots, until it is compiled again or loaded into; string results of
 * recur_status_str, recur_version and recur_baseline_name are static.
 */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header. recur_version() gives the library's, which differs
 * when a program runs against another build of the shared library. */
#define RECUR_VERSION_MAJOR 0
#define RECUR_VERSION_MINOR 2
#define RECUR_VERSION_PATCH 0
#define RECUR_VERSION "0.2.0"
/* One number for comparisons: major*10000 + minor*100 + patch. */
#define RECUR_VERSION_NUMBER (RECUR_VERSION_MAJOR * 10000 + RECUR_VERSION_MINOR * 100 + RECUR_VERSION_PATCH)

#ifdef RECUR_DOUBLE
typedef double recur_float;
#else
typedef float recur_float;
#endif

/* ====== Errors ====== */

typedef enum {
    RECUR_OK = 0,
    RECUR_E_INVALID,     /* bad argument, shape or hyper-parameter */
    RECUR_E_NOMEM,       /* allocation failed */
    RECUR_E_IO,          /* file could not be opened, read or written */
    RECUR_E_PARSE,       /* malformed input text (CSV, layer spec, reference file) */
    RECUR_E_FORMAT,      /* malformed or incompatible model file */
    RECUR_E_STATE,       /* call out of order (e.g. fit before compile) */
    RECUR_E_DIVERGED,    /* loss became NaN or infinite during training */
    RECUR_E_INTERRUPTED, /* stopped by the progress callback */
    RECUR_E_DATA         /* data unusable (missing values, too few rows, ...) */
} recur_status;

#define RECUR_ERROR_MSG_MAX 512
typedef struct {
    recur_status code;
    char msg[RECUR_ERROR_MSG_MAX];
} recur_error;

/* Static English text for a code ("invalid argument", ...). Never NULL. */
const char *recur_status_str(recur_status code);

/* The library's version as "MAJOR.MINOR.PATCH" (static text) and as
 * RECUR_VERSION_NUMBER would give it. */
const char *recur_version(void);
int recur_version_number(void);

/* ====== Model definition ====== */

typedef enum {
    RECUR_LAYER_LSTM = 0,
    RECUR_LAYER_GRU,
    RECUR_LAYER_RNN, /* SimpleRNN, tanh */
    RECUR_LAYER_DENSE,
    RECUR_LAYER_DROPOUT
} recur_layer_kind;

typedef enum {
    RECUR_ACT_LINEAR = 0,
    RECUR_ACT_RELU,
    RECUR_ACT_TANH,
    RECUR_ACT_SIGMOID,
    RECUR_ACT_HARD_SIGMOID,    /* Keras 3: relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1) */
    RECUR_ACT_HARD_SIGMOID_K2  /* Keras 2: clip(0.2 x + 0.5, 0, 1) */
} recur_activation;

typedef enum { RECUR_LOSS_MSE = 0, RECUR_LOSS_MAE } recur_loss;
/* RECUR_OPT_RMSPROP_KERAS2: RMSprop as Keras 2 (tf.keras 2.x, standalone Keras
 * 2) computed it, p -= lr g / (sqrt(v) + eps), where Keras 3 divides by
 * sqrt(v + eps); same options and slots as RECUR_OPT_RMSPROP. */
typedef enum { RECUR_OPT_RMSPROP = 0, RECUR_OPT_ADAM, RECUR_OPT_SGD, RECUR_OPT_RMSPROP_KERAS2 } recur_optimizer;

/* Layers a model may have (Dropout layers count). */
#define RECUR_MAX_LAYERS 64

/* A Keras Sequential model. Opaque: built layer by layer, then compiled. */
typedef struct recur_model recur_model;

/* New empty model whose input has `n_features` values per time step.
 * Sequence length is not fixed: it is given to each fit/predict call. */
recur_status recur_model_new(int n_features, recur_model **out, recur_error *err);
void recur_model_free(recur_model *m);

/* Layers, in order. Each fails with RECUR_E_INVALID on units < 1, on a recurrent
 * layer placed after a layer that returns no sequence, or after compile.
 * LSTM: kernel (in, 4H) gates i|f|c|o, recurrent_kernel (H, 4H), bias (4H).
 * GRU:  gates z|r|h; reset_after=1 (Keras default) bias (2, 3H), else bias (3H).
 * RNN:  SimpleRNN, h = tanh(x W + h U + b).
 * Dense: y = act(x W + b), applied to the last axis (per time step on sequences).
 * Dropout: inverted dropout with rate in [0,1), identity outside training. */
recur_status recur_model_add_lstm(recur_model *m, int units, int return_sequences, recur_error *err);
recur_status recur_model_add_gru(recur_model *m, int units, int return_sequences, int reset_after,
                                 recur_error *err);
recur_status recur_model_add_rnn(recur_model *m, int units, int return_sequences, recur_error *err);
recur_status recur_model_add_dense(recur_model *m, int units, recur_activation act, recur_error *err);
recur_status recur_model_add_dropout(recur_model *m, float rate, recur_error *err);

/* Optimizer hyper-parameters, Keras 3 names and defaults (see docs). */
typedef struct {
    recur_optimizer kind;
    double lr;           /* learning_rate; default 1e-3 (RMSprop, Adam), 0.01 (SGD) */
    double rho;          /* RMSprop, 0.9 */
    double momentum;     /* RMSprop and SGD, 0 */
    double epsilon;      /* RMSprop and Adam, 1e-7 */
    int centered;        /* RMSprop, 0 */
    double beta_1;       /* Adam, 0.9 */
    double beta_2;       /* Adam, 0.999 */
    int amsgrad;         /* Adam, 0 */
    int nesterov;        /* SGD, 0 */
    double clipnorm;     /* > 0: clip each parameter tensor's gradient to this L2 norm */
    double clipvalue;    /* > 0: clip each gradient element to [-clipvalue, clipvalue] */
} recur_optim_opts;

/* Keras 3 defaults for `kind` (lr 1e-3 for RMSprop and Adam, 1e-2 for SGD). */
recur_optim_opts recur_optim_opts_default(recur_optimizer kind);

typedef struct {
    recur_loss loss;        /* default RECUR_LOSS_MSE */
    recur_optim_opts optim; /* default RMSprop, Keras defaults */
    uint64_t seed;          /* weights and dropout streams; default 42 */
} recur_compile_opts;

recur_compile_opts recur_compile_opts_default(void);

/* Allocates the one parameter block and initialises it as Keras does:
 * glorot_uniform kernels, orthogonal recurrent kernels, zero biases, LSTM forget
 * bias 1. Deterministic for a given seed. May be called again to re-initialise. */
recur_status recur_model_compile(recur_model *m, const recur_compile_opts *opts, recur_error *err);

/* ====== Introspection and weights ====== */

int recur_model_n_layers(const recur_model *m);
int recur_model_n_features(const recur_model *m);
/* Width of the model output per sample (last layer's units). */
int recur_model_n_outputs(const recur_model *m);
/* 1 when the model outputs a sequence (B,T,O), 0 when (B,O). */
int recur_model_returns_sequences(const recur_model *m);
size_t recur_model_n_params(const recur_model *m);

typedef struct {
    recur_layer_kind kind;
    int units;            /* Dropout: 0 */
    int return_sequences; /* recurrent layers */
    int reset_after;      /* GRU */
    recur_activation act; /* Dense */
    recur_activation recurrent_act; /* LSTM and GRU gates (not the candidate): SIGMOID (default),
                                     * HARD_SIGMOID or HARD_SIGMOID_K2 */
    float rate;           /* Dropout */
    int in_dim;           /* width of the layer's input per step */
    size_t n_params;
} recur_layer_info;

recur_status recur_model_layer(const recur_model *m, int index, recur_layer_info *out, recur_error *err);
/* Keras's recurrent_activation of LSTM layer or GRU layer `index`: the
 * activation of the input/forget/output (LSTM) or update/reset (GRU) gates:
 * RECUR_ACT_SIGMOID (the default), RECUR_ACT_HARD_SIGMOID (Keras 3's) or
 * RECUR_ACT_HARD_SIGMOID_K2 (Keras 2's). The weights are unchanged; the
 * hard sigmoids run on the portable kernels (no AVX-512 cell pass). */
recur_status recur_model_set_recurrent_activation(recur_model *m, int index, recur_activation act,
                                                  recur_error *err);

/* One weight tensor, Keras get_weights() order. `data` points into the model's
 * parameter block (owned by the model; valid until recur_model_free or compile). */
typedef struct {
    char name[64];   /* Keras-style: "lstm.kernel", "lstm_1.bias", "dense.kernel" */
    int layer;       /* index of the layer that owns it */
    int ndim;        /* 1 or 2 */
    int dims[2];
    size_t size;     /* product of dims */
    size_t offset;   /* offset in the parameter block, in elements */
    recur_float *data;
} recur_weight;

/* Number of weight tensors (after compile; 0 before). */
int recur_model_n_weights(const recur_model *m);
recur_status recur_model_weight(const recur_model *m, int index, recur_weight *out, recur_error *err);
/* The flat parameter block and the gradient block of the same layout (after compile). */
recur_float *recur_model_params(recur_model *m);
recur_float *recur_model_grads(recur_model *m);

/* Keras-style summary table (layer, output shape, parameter count, totals) into
 * `buf` (always NUL-terminated). Returns the length it needed, like snprintf. */
size_t recur_model_summary(const recur_model *m, int timesteps, char *buf, size_t cap);

/* ====== Training and inference ====== */

/* Progress report, called by fit after every batch and every epoch. Returning
 * non-zero stops training (fit then returns RECUR_E_INTERRUPTED after keeping the
 * weights of the last completed batch). */
typedef struct {
    int epoch, epochs;       /* 1-based epoch */
    int batch, batches;      /* 1-based batch within the epoch; 0 at epoch end */
    double loss;             /* running mean training loss this epoch */
    double val_loss;         /* at epoch end when validating, else NaN */
    double seconds;          /* elapsed since fit started */
    int epoch_end;           /* 1 on the end-of-epoch call */
    int improved;            /* at epoch end: monitored loss improved */
    double best;             /* at epoch end: best monitored loss so far */
    int best_epoch;          /* at epoch end: its epoch (1-based) */
    int wait;                /* at epoch end: epochs since it improved */
} recur_progress;

typedef int (*recur_progress_fn)(const recur_progress *p, void *user);

/* Data-parallel training across processes (recur_fit_opts.peers): `size`
 * processes run the same fit (same model, data, options and seed), each with
 * its own threads. fit cuts every batch of B samples into n chunks, a number
 * that depends on B alone (about one per 16 samples, 2..8 from B = 16);
 * process `rank` computes chunks [n*rank/size, n*(rank+1)/size) (none when
 * size > n), then calls exchange, which must leave every chunk's results in
 * every process. Each process then sums the chunks in chunk order and applies
 * the same update, so the weights are bit-identical to a single-process fit,
 * for any size. The recur program's MPI build (make MPI=1) provides one
 * through MPI_Allgatherv; anything that moves bytes between the processes
 * will do.
 * exchange: grads is (n_chunks, n_params), chunk c's gradient at
 *   grads + c*n_params, or NULL when only losses are exchanged (validation);
 *   loss holds the n_chunks chunks' summed losses. Called in the same order
 *   by every process (the same number of times, with the same n_chunks).
 *   Returns RECUR_OK, or another status with err filled, which fit returns. */
/* recur_forecaster_fit and recur_backtest_run use the same exchange to share
 * whole results between processes, a chunk per network or per series, with
 * n_params the floats of one chunk: exchange must move the floats' bytes
 * unchanged (a memcpy; MPI between hosts of one architecture). */
typedef struct recur_peers {
    int rank, size; /* 0 <= rank < size */
    recur_status (*exchange)(const struct recur_peers *p, recur_float *grads, double *loss, size_t n_params,
                             int n_chunks, recur_error *err);
    void *user; /* for exchange and reduce */
    /* Optional, for a fit's gradients (grads not NULL) instead of exchange:
     * leaves in chunk 0 of grads, in every process, the sum of all n_chunks
     * chunks taken in chunk order, ((c0 + c1) + c2) + ..., one float
     * addition per element at a time (what fit would compute from all the
     * chunks), and every chunk's loss in loss as exchange does; the other
     * chunks' contents are then unspecified. A chain does it with one
     * parameter block per hop instead of every chunk to every process. NULL:
     * exchange. */
    recur_status (*reduce)(const struct recur_peers *p, recur_float *grads, double *loss, size_t n_params,
                           int n_chunks, recur_error *err);
} recur_peers;

typedef struct {
    int epochs;              /* 50 */
    int batch_size;          /* 64 */
    int shuffle;             /* 1: reshuffle the training samples each epoch from the seed */
    uint64_t seed;           /* shuffling and dropout; default 42 */
    double validation_split; /* last fraction of samples kept for validation; 0 */
    int patience;            /* early stopping on val_loss (loss without validation); 0 = off */
    int restore_best;        /* with patience: restore the best epoch's weights; 1 */
    int threads;             /* worker threads; 0 = the cores this process may use */
    /* Resuming: epochs already completed by an earlier fit with the same seed,
     * data and options (Keras initial_epoch). Shuffling and dropout streams
     * continue exactly as if those epochs had run in this call, so with the
     * weights and optimizer state saved at that epoch's end the result is
     * bit-identical to an uninterrupted run. */
    int initial_epoch;
    double initial_best;     /* early-stopping state at that point (from recur_progress) */
    int initial_best_epoch;
    int initial_wait;
    recur_progress_fn progress;
    void *progress_user;
    /* Data-parallel fit across processes (see recur_peers); NULL: this
     * process alone. Only rank 0 need save the model: all end with the same
     * weights. The progress callback runs in every process. */
    const recur_peers *peers;
} recur_fit_opts;

recur_fit_opts recur_fit_opts_default(void);

/* Per-epoch history filled by fit (caller allocates `epochs` entries or passes NULL). */
typedef struct {
    int epochs_run;
    int best_epoch;          /* 1-based */
    double *loss;            /* [epochs] */
    double *val_loss;        /* [epochs], NaN without validation */
} recur_history;

/* Train on x (n,T,F) and y (n,O) -- or (n,T,O) for a sequence-output model.
 * Validation: if x_val is not NULL, (n_val,T,F)/(n_val,O) are used, else the last
 * validation_split of the samples (never shuffled into training). */
recur_status recur_model_fit(recur_model *m, const recur_float *x, const recur_float *y, size_t n, int T,
                             const recur_float *x_val, const recur_float *y_val, size_t n_val,
                             const recur_fit_opts *opts, recur_history *hist, recur_error *err);

/* Loss (compiled loss) and metrics over (x,y) in inference mode. Any out pointer may be NULL. */
recur_status recur_model_evaluate(recur_model *m, const recur_float *x, const recur_float *y, size_t n,
                                  int T, double *loss, double *mae, double *rmse, recur_error *err);

/* Inference on x (n,T,F) in batches; y_out is (n,O) or (n,T,O). */
recur_status recur_model_predict(recur_model *m, const recur_float *x, size_t n, int T, recur_float *y_out,
                                 recur_error *err);

/* ====== Low-level steps (used by tests and the reference checker) ====== */

/* Forward in training mode (dropout active when `training`), compiled loss
 * against y, gradients of that loss into recur_model_grads() (overwritten, not
 * accumulated). x (B,T,F); y_pred (B,O) or (B,T,O), may be NULL. */
recur_status recur_model_loss_grad(recur_model *m, const recur_float *x, const recur_float *y, int B, int T,
                                   int training, double *loss, recur_float *y_pred, recur_error *err);

/* Forward pass: x (B,T,F) -> y (B,O) or (B,T,O). `training` turns dropout on.
 * The activations are kept for a following recur_model_backward. */
recur_status recur_model_forward(recur_model *m, const recur_float *x, int B, int T, int training, recur_float *y,
                                 recur_error *err);
/* Backward pass of the last forward, given dL/dy (shape of y): parameter
 * gradients into recur_model_grads() (overwritten), dL/dx into dx (B,T,F) when
 * dx is not NULL. */
recur_status recur_model_backward(recur_model *m, const recur_float *dy, recur_float *dx, recur_error *err);
/* Initial state of recurrent layer `layer` for the next forward calls: h0 (B,H)
 * and, for LSTM, c0 (B,H); copied. NULL h0 restores zeros. B must match. */
recur_status recur_model_set_initial_state(recur_model *m, int layer, const recur_float *h0, const recur_float *c0,
                                           int B, recur_error *err);
/* After a backward with an initial state set: dL/dh0 and dL/dc0 (B,H) (c0 LSTM only; may be NULL). */
recur_status recur_model_initial_state_grad(const recur_model *m, int layer, recur_float *dh0, recur_float *dc0,
                                            recur_error *err);

/* One optimizer step with the current gradient block. */
recur_status recur_model_apply_grads(recur_model *m, recur_error *err);

/* Reset optimizer slots and iteration count (as a freshly compiled optimizer). */
void recur_model_reset_optimizer(recur_model *m);

/* Optimizer state, for checkpoints: the options the model was compiled with,
 * the number of applied steps, and the slot buffers (n_params values each,
 * Keras names "velocity", "momentum", "average_gradient", "velocity_hat";
 * NULL when the optimizer has no such slot). Slots are owned by the model. */
const recur_compile_opts *recur_model_compile_opts(const recur_model *m);
long recur_model_optimizer_iterations(const recur_model *m);
void recur_model_set_optimizer_iterations(recur_model *m, long iterations);
recur_float *recur_model_optimizer_slot(recur_model *m, const char *name);

/* ====== Stand-alone losses and optimizers (flat buffers) ====== */

/* Loss value over n = B*O elements (Keras sum_over_batch_size), gradient into
 * dy (may be NULL): MSE 2(p-t)/n, MAE sign(p-t)/n with 0 at a tie. */
double recur_loss_eval(recur_loss loss, const recur_float *y_true, const recur_float *y_pred, size_t n,
                       recur_float *dy);

typedef struct recur_optimizer_state recur_optimizer_state;
recur_status recur_optimizer_new(const recur_optim_opts *o, size_t n, recur_optimizer_state **out,
                                 recur_error *err);
void recur_optimizer_free(recur_optimizer_state *s);
/* One update of params (n) with grads (n). Clipping (if set) is applied to the
 * whole buffer as one tensor. */
void recur_optimizer_step(recur_optimizer_state *s, recur_float *params, const recur_float *grads);
/* Keras slot names: "velocity", "momentum", "average_gradient", "velocity_hat".
 * Returns NULL when the optimizer has no such slot. */
const recur_float *recur_optimizer_slot(const recur_optimizer_state *s, const char *name);

/* ====== Data: CSV, scaling, windows ====== */

/* A table of numeric columns read from a CSV file, sorted oldest first. */
typedef struct recur_table recur_table;

typedef enum { RECUR_MISSING_ERROR = 0, RECUR_MISSING_DROP, RECUR_MISSING_FFILL } recur_missing;

typedef struct {
    const char *date_column;   /* NULL: auto ("date", "timestamp", "time", "day", "month", "year", or none) */
    recur_missing missing;     /* what to do with null/empty/NaN cells in the wanted columns */
    const char *const *columns; /* the columns wanted (case-insensitive header names); */
    int n_columns;             /* others are not parsed, so their mess cannot fail the load */
} recur_csv_opts;

recur_csv_opts recur_csv_opts_default(void);

/* Reads `path` per RFC 4180 (quotes, CRLF, BOM, no final newline), finds the
 * columns by case-insensitive header name, parses numbers ("1,008.64" too) and
 * dates (YYYY-MM-DD, M/D/YYYY, timestamps, YYYY-MM, YYYY), sorts rows into time
 * order. Errors name the file and line. */
recur_status recur_table_read_csv(const char *path, const recur_csv_opts *o, recur_table **out,
                                  recur_error *err);
void recur_table_free(recur_table *t);
/* The first of names[0..n) that the header of `path` has (case-insensitive):
 * its index in *which (-1 when none) and, when found is not NULL, the name as
 * the header spells it. Reads the header only. */
recur_status recur_csv_pick_column(const char *path, const char *const *names, int n, char *found, size_t cap,
                                   int *which, recur_error *err);
size_t recur_table_rows(const recur_table *t);
int recur_table_cols(const recur_table *t);
/* Column j (0..n_columns-1, in the order asked for): n_rows doubles. */
const double *recur_table_col(const recur_table *t, int j);
/* Header name of column j as written in the file. */
const char *recur_table_col_name(const recur_table *t, int j);
/* Row i's date as days since 1970-01-01 (NaN when the file has no date column),
 * and the date text as written in the file (NULL when none). */
double recur_table_day(const recur_table *t, size_t i);
const char *recur_table_date_text(const recur_table *t, size_t i);
/* Rows dropped or filled because of missing values. */
size_t recur_table_n_missing(const recur_table *t);

typedef enum { RECUR_SCALER_MINMAX = 0, RECUR_SCALER_STANDARD } recur_scaler_kind;

/* Per-feature scaler: MinMax to [0,1] (sklearn MinMaxScaler) or standard
 * (zero mean, unit variance). Plain struct so it can be saved. */
#define RECUR_SCALER_MAX 64
typedef struct {
    recur_scaler_kind kind;
    int n;                        /* features */
    double a[RECUR_SCALER_MAX];   /* min or mean */
    double b[RECUR_SCALER_MAX];   /* max or std */
} recur_scaler;

/* Fit on `rows` rows of data (rows, n) row-major. A constant column scales to 0. */
recur_status recur_scaler_fit(recur_scaler *s, recur_scaler_kind kind, const double *data, size_t rows, int n,
                              recur_error *err);
double recur_scaler_apply(const recur_scaler *s, int j, double v);
double recur_scaler_invert(const recur_scaler *s, int j, double v);

/* Sliding windows over a series (rows, F) row-major. For each target row t in
 * [first, last) sample k = t - first gets x[k] = rows t-T .. t-1 (T,F) and
 * y[k] = column `target` of rows t .. t+horizon-1 (horizon values). Needs
 * first >= T and last + horizon - 1 <= rows. */
recur_status recur_window_make(const double *series, size_t rows, int F, int target, int T, int horizon,
                               size_t first, size_t last, recur_float *x, recur_float *y, recur_error *err);

/* ====== Plots (PLplot, cairo: PNG or SVG chosen by the file extension) ====== */

typedef struct {
    const char *label;  /* legend text */
    const double *y;    /* n values; NaN leaves a gap (e.g. predictions only on the test part) */
} recur_plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    const double *x;            /* n values, increasing: days since 1970-01-01 when x_is_date */
    int x_is_date;              /* 1: date axis labels */
    size_t n;
    const recur_plot_series *series;
    int n_series;
    double boundary_x;          /* vertical marker (train/test boundary); NaN for none */
    const char *boundary_label; /* e.g. "train | test" */
    int width, height;          /* pixels; 0 = 1200 x 600 */
} recur_plot_opts;

/* Line plot with title, axes, grid and legend, written atomically to `path`
 * (.png or .svg). */
recur_status recur_plot_lines(const char *path, const recur_plot_opts *o, recur_error *err);

/* ====== Data pipeline: table -> transformed, scaled windows ====== */

typedef enum { RECUR_TRANSFORM_NONE = 0, RECUR_TRANSFORM_DIFF, RECUR_TRANSFORM_LOGRETURN } recur_transform;

/* Everything needed to turn a table into model inputs and model outputs back
 * into data units. Saved with the model so predictions reproduce after reload. */
typedef struct {
    int n_features;                         /* columns fed to the model, in order */
    char features[RECUR_SCALER_MAX][64];    /* their header names */
    int target;                             /* index of the target among features */
    int timestep;                           /* T, window length (60) */
    int horizon;                            /* values predicted per window (1) */
    double test_fraction;                   /* 0.2: last rows scored, n_train_rows = ceil((1-f) n) */
    recur_transform transform;              /* NONE: levels; DIFF: v[t]-v[t-1]; LOGRETURN: log(v[t]/v[t-1]) */
    recur_scaler_kind scaler_kind;
    recur_scaler scaler;                    /* filled by recur_dataset_make (training rows only) */
    recur_missing missing;                  /* how the CSV's missing values were handled */
} recur_pipeline;

/* Defaults: 1 feature "Close" (target 0), T 60, horizon 1, test 0.2, no transform, MinMax. */
recur_pipeline recur_pipeline_default(void);

/* Windows cut from a table whose columns are p->features in order.
 * Rows 0..n_train_rows-1 are training rows: the scaler is fitted on their
 * (transformed) values only. Training samples have their first target row t in
 * [t0, n_train_rows - horizon + 1), t0 = T (+1 with a transform); test samples
 * have t in [n_train_rows, rows - horizon + 1) and take their T-row history from
 * the rows before t, so there is exactly one prediction per test row. */
typedef struct {
    size_t rows;            /* table rows */
    size_t n_train_rows;
    size_t n_train, n_test; /* samples */
    int T, F, horizon;
    recur_float *x_train;   /* (n_train, T, F), scaled */
    recur_float *y_train;   /* (n_train, horizon), scaled target */
    recur_float *x_test;    /* (n_test, T, F) */
    recur_float *y_test;    /* (n_test, horizon) */
    size_t *test_row;       /* (n_test) table row of each test sample's first target */
    double test_above, test_below; /* largest excursion of test targets above the scaler's
                                      training max / below its min, in data units (0 if inside) */
} recur_dataset;

/* Fits p->scaler and cuts the windows. RECUR_E_DATA with a message when there
 * are too few rows (fewer than T + horizon + 1 training rows, or no test row),
 * or non-positive values under LOGRETURN. */
recur_status recur_dataset_make(const recur_table *t, recur_pipeline *p, recur_dataset *out, recur_error *err);
void recur_dataset_free(recur_dataset *d);

/* Input window (T,F) whose first target would be table row `row` (row may equal
 * rows, for forecasting beyond the data). Needs row >= T (+1 with a transform). */
recur_status recur_dataset_window(const recur_table *t, const recur_pipeline *p, size_t row, recur_float *x,
                                  recur_error *err);

/* Model output (horizon values, scaled and transformed) for first target row
 * `row` back to data units: out[k] is the value predicted for row + k. Uses the
 * actual level at row - 1 to undo DIFF / LOGRETURN. */
void recur_dataset_invert(const recur_table *t, const recur_pipeline *p, size_t row, const recur_float *pred,
                          double *out);

/* The same without a table, for values that arrive one row at a time: model
 * output (horizon values) back to data units, `level` being the target's last
 * actual value (used by DIFF and LOGRETURN only). */
void recur_pipeline_invert(const recur_pipeline *p, double level, const recur_float *pred, double *out);
/* One row of raw values v (the pipeline's features, in order) to model input
 * x (n_features): transformed (prev, the row before, needed by DIFF and
 * LOGRETURN; may be NULL otherwise) and scaled with the fitted scaler.
 * RECUR_E_DATA naming the feature for a non-finite value, a non-positive one
 * under LOGRETURN, or one that overflows a float once scaled. */
recur_status recur_pipeline_apply_row(const recur_pipeline *p, const double *v, const double *prev, recur_float *x,
                                      recur_error *err);

/* ====== Layer spec strings ====== */

/* Adds the layers described by a readable spec such as the tutorial's
 * "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)". Items:
 * lstm(H[,seq]) gru(H[,seq][,reset_before]) rnn(H[,seq]) dense(N[,linear|relu|tanh|sigmoid])
 * dropout(R). Separators: spaces, commas or "->" between items. RECUR_E_PARSE with
 * the offending position on anything else (unknown layer, bad number, unbalanced
 * parentheses). */
recur_status recur_model_add_spec(recur_model *m, const char *spec, recur_error *err);
/* Writes the canonical spec of a model's layers into buf; returns needed length. */
size_t recur_model_spec(const recur_model *m, char *buf, size_t cap);

/* ====== Model files (safetensors layout; see docs/model-file.md) ====== */

/* Writes the architecture, weights and (if p is not NULL) the pipeline to `path`
 * atomically: temp file in the same folder, fsync, rename. A failure leaves an
 * existing file untouched. */
recur_status recur_model_save(const recur_model *m, const recur_pipeline *p, const char *path, recur_error *err);
/* Loads a compiled model (inference ready; the optimizer is fresh) and its
 * pipeline (p may be NULL). A Keras file (.keras zip or HDF5, told by its
 * content) is read with recur_keras_load. Every inconsistency is refused with a message;
 * nothing is read out of bounds. */
recur_status recur_model_load(const char *path, recur_model **out, recur_pipeline *p, recur_error *err);

/* ====== Checkpoints: resumable training ====== */

/* Where a fit stood at the end of an epoch, and the fit options that must be
 * the same when it is resumed (see recur_fit_opts.initial_epoch). */
typedef struct {
    int epoch;               /* completed epochs */
    int epochs;              /* planned epochs */
    double best;             /* early-stopping state (recur_progress.best, best_epoch, wait) */
    int best_epoch;
    int wait;
    int batch_size;
    uint64_t seed;           /* recur_fit_opts.seed */
    double validation_split;
    int patience;
    int shuffle;
} recur_train_state;

/* A model file (loadable by recur_model_load) that also holds the optimizer
 * (compile options, iterations, slot tensors "optimizer.<slot>") and the
 * training state. Written atomically like recur_model_save. */
recur_status recur_model_save_checkpoint(const recur_model *m, const recur_pipeline *p, const recur_train_state *ts,
                                         const char *path, recur_error *err);
/* Loads a checkpoint: the model compiled with its saved options, weights,
 * optimizer slots and iterations restored, ready for recur_model_fit with
 * initial_epoch = ts->epoch. RECUR_E_FORMAT when the file has no training state. */
recur_status recur_model_load_checkpoint(const char *path, recur_model **out, recur_pipeline *p,
                                         recur_train_state *ts, recur_error *err);


/* ====== Streaming and thread-safe inference (src/train/stream.c) ======
 *
 * A stream follows one sequence a time step at a time: each step costs one
 * step of every layer, whatever the length seen so far. It reads the model's
 * weights and writes only its own state and scratch, so any number of streams
 * may run on one model at once, each in its own thread, as long as nothing
 * changes the model meanwhile (fit, compile, apply_grads, load into it, free).
 * One stream is used by one thread at a time. */

typedef struct recur_stream recur_stream;

/* New stream over a compiled model, at the start of a sequence. The model must
 * outlive the stream. */
recur_status recur_stream_new(const recur_model *m, recur_stream **out, recur_error *err);
void recur_stream_free(recur_stream *s);
/* Back to the start of a sequence (zero states). */
void recur_stream_reset(recur_stream *s);
/* Steps taken since the last reset. */
size_t recur_stream_steps(const recur_stream *s);
/* Feeds x (F values, one time step) and writes into y (recur_model_n_outputs
 * values) the model's output for the sequence seen since the reset: after k
 * steps, what recur_model_predict gives for those k steps as one window (to
 * float rounding: the products are summed in another order). */
void recur_stream_step(recur_stream *s, const recur_float *x, recur_float *y);
/* One window x (T,F) from zero states: reset, then T steps; y as above.
 * Batch-1 inference without the training caches; thread-safe per stream. */
recur_status recur_stream_predict(recur_stream *s, const recur_float *x, int T, recur_float *y, recur_error *err);

/* ====== Forecasting: panels of series (src/forecast/panel.c) ======
 *
 * A panel is a set of series, each with an id, its values in time order and
 * their times. Long ("panel") CSV has one row per series and time
 * (`unique_id,ds,y`); a file without an id column is one series whose id is
 * the value column's name. Times are days since 1970-01-01 for dates, or the
 * plain integer step index (M4 has no dates). */

typedef struct recur_panel recur_panel;

typedef struct {
    const char *id_column;    /* NULL: the whole file is one series */
    const char *time_column;  /* NULL: auto, as recur_csv_opts.date_column */
    const char *value_column; /* NULL: the header's only column besides the id and time ones */
    recur_missing missing;    /* null/empty values: error (default), drop or ffill */
} recur_panel_opts;

recur_panel_opts recur_panel_opts_default(void);

/* Reads a long CSV. Errors (with file and line): unknown columns, duplicate
 * (id, time) rows, a series with a gap in an integer time index, missing
 * values under RECUR_MISSING_ERROR. Rows of one id need not be contiguous or
 * sorted: each series is sorted by time. Series keep first-appearance order. */
recur_status recur_panel_read_csv(const char *path, const recur_panel_opts *o, recur_panel **out, recur_error *err);
/* Reads the M4 competition's wide files: a header row, then one series per
 * row, `"H1","605","586",...`, shorter rows padded with empty fields. Times
 * are 1..n. */
recur_status recur_panel_read_wide(const char *path, recur_panel **out, recur_error *err);
/* Either layout, told apart by the header: an M4 wide file's begins with
 * the names V1, V2 (recur_panel_read_wide), anything else is long
 * (recur_panel_read_csv with o). */
recur_status recur_panel_read_any(const char *path, const recur_panel_opts *o, recur_panel **out, recur_error *err);
/* Interval levels of a long forecast file: L for every pair of columns loL
 * and hiL (lo95, hi95) in its header, in header order, at most cap. Returns
 * the count (0: none), or -1 with err filled. */
int recur_panel_levels(const char *path, double *levels, int cap, recur_error *err);
/* Empty panel to fill with recur_panel_add (tests, programs with data in memory). */
recur_status recur_panel_new(int time_is_index, recur_panel **out, recur_error *err);
/* Appends a series (copied). time may be NULL: 1..n. */
recur_status recur_panel_add(recur_panel *p, const char *id, const double *y, const double *time, size_t n,
                             recur_error *err);
void recur_panel_free(recur_panel *p);
size_t recur_panel_count(const recur_panel *p);
const char *recur_panel_id(const recur_panel *p, size_t s);
size_t recur_panel_length(const recur_panel *p, size_t s);
const double *recur_panel_values(const recur_panel *p, size_t s);
const double *recur_panel_times(const recur_panel *p, size_t s);
/* 1 when times are integer step indices, 0 when they are dates. */
int recur_panel_time_is_index(const recur_panel *p);
/* Index of series `id`, or -1. */
long recur_panel_find(const recur_panel *p, const char *id);
/* Seasonal period from the cadence of the times: hourly 24, daily 7 (5 for
 * business-day series), weekly 52, monthly 12, quarterly 4, otherwise 1 (also
 * for an integer index). */
int recur_panel_infer_season(const recur_panel *p);
/* Step between consecutive times (days; 1 for an index), used to continue a
 * series' times past its end: time of step k after the last row. Calendar
 * months and years are continued as such. Writes H times into out. */
void recur_panel_future_times(const recur_panel *p, size_t s, int H, double *out);
/* Time as text: the integer index, or the date in the file's precision. */
void recur_panel_time_text(const recur_panel *p, double time, char *buf, size_t cap);

/* ====== Forecasting: baselines and scores (src/forecast/baseline.c, score.c) ====== */

typedef enum {
    RECUR_BASE_NAIVE = 0, /* last value */
    RECUR_BASE_SNAIVE,    /* the value one season before the step */
    RECUR_BASE_DRIFT,     /* last value plus h times the mean change */
    RECUR_BASE_MEAN       /* mean of the history */
} recur_baseline;
#define RECUR_N_BASELINES 4

/* "naive", "snaive", "drift", "mean". */
const char *recur_baseline_name(recur_baseline b);
/* H-step forecast of history y[0..n): out[k] for step k+1. With n_levels > 0,
 * normal prediction intervals as in Hyndman & Athanasopoulos (FPP3 5.5) into
 * lo/hi (n_levels x H, level-major); lo/hi may be NULL. RECUR_E_DATA when n is
 * too short for the method (snaive needs n >= season). */
recur_status recur_baseline_forecast(recur_baseline b, const double *y, size_t n, int season, int H,
                                     const double *levels, int n_levels, double *out, double *lo, double *hi,
                                     recur_error *err);

/* MASE's scale: mean |y_t - y_{t-m}| over the training values (m = season, 1
 * when season <= 1 or n <= season). NaN when it cannot be computed. */
double recur_mase_scale(const double *train, size_t n, int season);

/* Accuracy of one method over the forecasts it made (see recur_scorer for
 * which are pooled and which are means over series). */
typedef struct {
    size_t n;        /* forecast values scored */
    double mae, rmse; /* pooled over every value */
    double mape;     /* %, pooled over the values whose actual is not 0; NaN when none */
    double smape;    /* %, per series 200/n sum |y-f|/(|y|+|f|) (a 0/0 term counts 0), mean over series */
    double mase;     /* per series MAE / recur_mase_scale, mean over series (NaN: no series has a scale) */
    double coverage; /* pooled share of actuals inside the widest interval; NaN without intervals */
} recur_scores;

/* Accumulates the scores of one method over series, forecast origins and
 * steps 1..H. The aggregates, pooled (step < 0) or for one step:
 *   n, mae, rmse, mape, coverage   over every forecast value scored (pooled);
 *   smape, mase                    per series first (that series' forecasts),
 *                                  then the mean over series (the M4 convention);
 *                                  a series without a MASE scale (NaN or 0) is
 *                                  left out of the MASE mean.
 * With one series and one origin, these are the textbook single-series scores. */
typedef struct recur_scorer recur_scorer;

recur_status recur_scorer_new(int H, recur_scorer **out, recur_error *err);
void recur_scorer_free(recur_scorer *s);
/* Adds a series (index 0, 1, ... in call order); `scale` is its MASE scale
 * (recur_mase_scale). */
recur_status recur_scorer_series(recur_scorer *s, double scale, recur_error *err);
/* One forecast of series `series`: steps 1..n (n <= H) of actual y and
 * forecast f; lo/hi (n values: the widest interval) may be NULL, and a NaN
 * bound leaves that value out of the coverage. A non-finite actual or
 * forecast is refused (RECUR_E_DATA). */
recur_status recur_scorer_add(recur_scorer *s, size_t series, const double *y, const double *f, const double *lo,
                              const double *hi, int n, recur_error *err);
/* Pooled scores (step < 0) or those of step 0..H-1. */
recur_scores recur_scorer_result(const recur_scorer *s, int step);

/* Scores a whole panel of forecasts, series by series in `actual`'s order:
 * series s of `actual` (its H_s <= H values) is matched by id with `train`
 * (its MASE scale, season m) and with `forecast` (its first H_s values); lo
 * and hi (NULL: none) are the widest interval as panels with the same ids.
 * With forecast NULL, baseline `b` is forecast from each train series
 * instead, with intervals at `level` (0: none). RECUR_E_DATA, naming the
 * files and the id, for an actual id missing from train or forecast, a
 * forecast shorter than the actual values, a forecast id unknown to actual,
 * and (when both have dates) a forecast step dated differently from the
 * actual value it is scored against. */
recur_status recur_scorer_add_panel(recur_scorer *s, const recur_panel *actual, const recur_panel *train, int season,
                                    const recur_panel *forecast, const recur_panel *lo, const recur_panel *hi,
                                    recur_baseline b, double level, recur_error *err);

/* ====== Forecasting: global models (src/forecast/forecaster.c) ======
 *
 * One network trained on windows drawn from every series of a panel, each
 * series scaled with statistics of its own training part, an ensemble of
 * `seeds` networks combined by median, and prediction intervals from
 * validation residuals. */

typedef struct recur_forecaster recur_forecaster;

typedef enum { RECUR_PRESET_TUTORIAL = 0, RECUR_PRESET_FORECAST } recur_preset;

/* Progress of one network of the ensemble: `net` 0..nets-1, then the fit's
 * own report (epochs and losses). Non-zero stops training (RECUR_E_INTERRUPTED). */
typedef int (*recur_forecaster_progress_fn)(int net, int nets, const recur_progress *p, void *user);

/* Presets (docs/forecasting.md has the measurements behind FORECAST):
 *   TUTORIAL  values MinMax-scaled per series, T 60 values, one per step,
 *             lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(H),
 *             RMSprop, MSE, 50 epochs, batch 64, every window each epoch.
 *   FORECAST  log of positive series, standardised per series; each window
 *             taken relative to the mean of its last season when seasonal
 *             naive beats naive on the training values, else to its last
 *             value (output 0 = that forecast); T = a quarter of the median
 *             series length within [max(3m, 2H, 16), 7m], fed one season (m
 *             values) per step; lstm(32|64|128) dense(H) by the number of
 *             training windows (< 8192, < 65536, more); Adam, MAE, batch 256,
 *             65536 windows drawn afresh each epoch (fewer: all, repeated to
 *             2048), at most 80 epochs, early stopping (patience 10) on the
 *             validation tail, 3 seeds, median. */
typedef struct {
    recur_preset preset;
    int horizon;          /* H values per forecast (1) */
    int season;           /* seasonal period (0: infer from the panel) */
    int timestep;         /* window length T in values (0: the preset's) */
    const char *layers;   /* layer spec (NULL: the preset's); last layer widened to H */
    int seeds;            /* ensemble size (preset: 1 tutorial, 3 forecast) */
    int epochs;           /* (preset) */
    int batch_size;       /* (preset) */
    int patience;         /* early stopping on the validation tail (preset; 0 = off) */
    int max_windows;      /* training windows drawn per epoch (preset; 0 = all) */
    int threads;          /* 0: every core */
    uint64_t seed;        /* 42; network k uses seed + k */
    recur_forecaster_progress_fn progress;
    void *progress_user;
    /* Training across processes (see recur_peers); NULL: this process alone.
     * The first K = size * floor(seeds / size) networks are split: rank r
     * trains [K*r/size, K*(r+1)/size), and one exchange (a chunk per
     * network: its weights, then its validation predictions) hands every
     * rank all of them; each of the other seeds - K networks is trained by
     * all ranks together, data-parallel (recur_fit_opts.peers). Every rank
     * ends with the forecaster a single process trains, bit for bit. Every
     * rank must call fit with the same panel and options. The progress
     * callback runs for the networks this rank takes part in; it may stop a
     * split network on its own rank (every rank then fails after the
     * exchange), but must return the same on every rank during a shared one. */
    const recur_peers *peers;
} recur_forecaster_opts;

recur_forecaster_opts recur_forecaster_opts_default(recur_preset preset);

/* Trains on each series' first n_train[s] values (NULL: all of them). The last
 * values of each series' training part (H, more when the panel has few series:
 * see docs) are its validation tail: windows ending there are never trained
 * on; they drive early stopping and the interval widths (split conformal:
 * per step, quantiles of the ensemble's absolute errors there, in the scaled
 * space). Series too short for one training window are skipped;
 * recur_forecaster_skipped says which. RECUR_E_DATA when every series is. */
recur_status recur_forecaster_fit(const recur_forecaster_opts *o, const recur_panel *p, const size_t *n_train,
                                  recur_forecaster **out, recur_error *err);
void recur_forecaster_free(recur_forecaster *f);
int recur_forecaster_horizon(const recur_forecaster *f);
int recur_forecaster_season(const recur_forecaster *f);
int recur_forecaster_timestep(const recur_forecaster *f); /* window length T in values */
int recur_forecaster_nets(const recur_forecaster *f);     /* ensemble size */
/* Series the forecaster knows (their ids, in panel order). */
size_t recur_forecaster_n_series(const recur_forecaster *f);
const char *recur_forecaster_id(const recur_forecaster *f, size_t i);
/* Series skipped by fit as too short (ids; NULL past the end). */
size_t recur_forecaster_n_skipped(const recur_forecaster *f);
const char *recur_forecaster_skipped(const recur_forecaster *f, size_t i);
/* Names of the training file's id, time and value columns (NULL: none),
 * kept in the file so that a forecast reads the same layout. which: 0 id,
 * 1 time, 2 value. */
recur_status recur_forecaster_set_columns(recur_forecaster *f, const char *id, const char *time, const char *value,
                                          recur_error *err);
const char *recur_forecaster_column(const recur_forecaster *f, int which);
/* One line describing the recipe (transform, window, layers, ensemble) into buf. */
size_t recur_forecaster_describe(const recur_forecaster *f, char *buf, size_t cap);
/* Forecast H (<= horizon) steps after y[0..n) of series `id` (its stored
 * scaling; RECUR_E_DATA for an unknown id). A history shorter than the
 * window is padded with its first value. levels in (0,100); lo/hi
 * (n_levels x H, level-major) may be NULL. */
recur_status recur_forecaster_predict(const recur_forecaster *f, const char *id, const double *y, size_t n, int H,
                                      const double *levels, int n_levels, double *mean, double *lo, double *hi,
                                      recur_error *err);
/* Forecaster files: safetensors like model files (tensors "net<k>.<weight>",
 * metadata "format": "recur-forecaster"; see docs/forecasting.md), written
 * atomically. recur_model_load refuses them and recur_forecaster_load refuses
 * model files, each with a message saying what the file is. */
recur_status recur_forecaster_save(const recur_forecaster *f, const char *path, recur_error *err);
recur_status recur_forecaster_load(const char *path, recur_forecaster **out, recur_error *err);
/* 1 when `path` is a readable forecaster file (by its header), else 0. */
int recur_forecaster_file(const char *path);

/* ====== Forecasting: rolling-origin backtests (src/forecast/backtest.c) ======
 *
 * Protocol: for a series of n values, ntr = floor((1-F) n) values are the
 * initial training part; forecasts are made from every origin t = ntr,
 * ntr+S, ..., n-H (t = values known), each for values t+1..t+H. refit 0 trains
 * once on the first ntr values; refit K retrains every K origins (warm, or
 * from scratch with cold). */

/* A method the backtest trains and queries. fit may be NULL (nothing to learn). */
typedef struct {
    const char *name;
    void *ctx;
    /* Train on each series' values [start[s], end[s]) (sliding or expanding window). */
    recur_status (*fit)(void *ctx, const recur_panel *p, const size_t *start, const size_t *end, recur_error *err);
    /* Forecast H steps after values [0, n) of series s; lo/hi (n_levels x H) may be NULL. */
    recur_status (*predict)(void *ctx, const recur_panel *p, size_t s, size_t n, int H, const double *levels,
                            int n_levels, double *mean, double *lo, double *hi, recur_error *err);
    /* Optional: forget the previous fit, so that the next starts from scratch
     * (needed by recur_backtest_opts.cold). */
    void (*reset)(void *ctx);
} recur_method;

typedef struct {
    int horizon;          /* H (1) */
    int season;           /* m (0: infer) */
    double test_fraction; /* F (0.2) */
    int stride;           /* S (1) */
    int refit;            /* 0: never; K: every K origins */
    int sliding;          /* 0: expanding window, 1: sliding (fixed length ntr) */
    const double *levels; /* interval levels, e.g. {80, 95}; coverage of the widest is reported */
    int n_levels;
    /* With refit: every fit starts from scratch (the method's reset) instead
     * of from the previous one's weights. The fits are then independent:
     * with peers, rank r takes fits [F*r/N, F*(r+1)/N) of each wave of F = N
     * fits, with the forecasts of their rounds, and the method must then
     * train alone (for the forecaster method: its options' peers NULL). */
    int cold;
    /* Forecasts across processes (see recur_peers); NULL: this process alone.
     * In every round rank r forecasts series [ns*r/size, ns*(r+1)/size) with
     * every method, one exchange (a chunk per series) hands every rank all
     * of them, and every rank scores them in the one-process order: the
     * scores are those of a single process, bit for bit. The model method
     * shares its fits itself (recur_forecaster_opts.peers). Every rank must
     * call run with the same panel and options. */
    const recur_peers *peers;
} recur_backtest_opts;

recur_backtest_opts recur_backtest_opts_default(void);

typedef struct recur_backtest recur_backtest;

/* A recur_method whose fit trains a forecaster with options `o` (copied; the
 * layer spec too) on the ranges it is given, warm-starting from the previous
 * fit when there is one, and whose predict uses it. Release with
 * recur_forecaster_method_free. */
recur_status recur_forecaster_method_new(const recur_forecaster_opts *o, recur_method *out, recur_error *err);
void recur_forecaster_method_free(recur_method *m);

/* Runs the four baselines and, when `model` is not NULL, the model on every
 * series of the panel. */
recur_status recur_backtest_run(const recur_panel *p, const recur_backtest_opts *o, const recur_method *model,
                                recur_backtest **out, recur_error *err);
void recur_backtest_free(recur_backtest *b);
size_t recur_backtest_origins(const recur_backtest *b); /* forecast origins over all series */
int recur_backtest_n_methods(const recur_backtest *b);  /* model first when present, then the baselines */
const char *recur_backtest_method(const recur_backtest *b, int k);
/* Pooled scores of method k (step < 0) or of one step (0..H-1). */
recur_scores recur_backtest_scores(const recur_backtest *b, int k, int step);
/* The method with the lowest pooled MASE (MAE when MASE is undefined). */
int recur_backtest_best(const recur_backtest *b);
/* Seasonal period used (o->season or the inferred one). */
int recur_backtest_season(const recur_backtest *b);

/* Forecasts of method k for the panel's first series, for plots: origin o
 * (0 <= o < n_origins) is value index first + o*stride (values known), its
 * forecasts for the next H values at mean[o*H + j], the widest interval at
 * lo/hi (NaN without levels). Pointers live as long as the backtest. */
typedef struct {
    size_t n_origins, first, stride;
    int H;
    const double *mean, *lo, *hi; /* (n_origins, H) */
} recur_backtest_path;

recur_backtest_path recur_backtest_first_series(const recur_backtest *b, int k);

/* ====== Keras files (src/io/keras_*.c) ====== */

/* Keras model files, read and written with libhdf5 and libzip (docs/keras.md):
 * Keras 3's `.keras` zip, and the legacy HDF5 files of Keras 3 and tf.keras 2.
 * Sequential models of InputLayer, LSTM, GRU, SimpleRNN, Dense and Dropout
 * with Keras's default cell activations; anything else is refused with one
 * line naming the layer and what is unsupported. */

typedef enum { RECUR_KERAS_NONE = 0, RECUR_KERAS_ZIP, RECUR_KERAS_H5 } recur_keras_format;

/* The format by the file's first bytes (zip or HDF5 signature); NONE for any
 * other file, or one that cannot be opened. Reads 8 bytes, never fails. */
recur_keras_format recur_keras_detect(const char *path);

/* What a Keras file says about itself besides the layers and weights. */
typedef struct {
    recur_keras_format format;
    char keras_version[32]; /* "3.4.1", "2.3.0-tf"; "" when the file does not say */
    int timesteps;          /* T of the saved input shape (None, T, F); 0 when None */
    char optimizer[32];     /* class of the optimizer it was compiled with ("Adam"); "" when none */
} recur_keras_info;

/* Reads a Keras file into a compiled model (inference ready, RMSprop fresh).
 * p (may be NULL) gets the recur pipeline a .keras written by recur_keras_save
 * keeps, else n_features 0 (no pipeline: Keras files have none). info may be
 * NULL. RECUR_E_FORMAT with one line for anything unsupported or malformed
 * (truncated or corrupt zip/HDF5, weights whose shapes contradict the
 * config, non-finite weights, absurd sizes); RECUR_E_IO when unreadable. */
recur_status recur_keras_load(const char *path, recur_model **out, recur_pipeline *p, recur_keras_info *info,
                              recur_error *err);

/* Writes a compiled model as a Keras 3 `.keras` file (config.json as Keras
 * 3.4 writes it, metadata.json, model.weights.h5 in Keras's layout) that
 * keras.saving.load_model reads; the input shape is (None, T, F) with T the
 * pipeline's timestep (None without a pipeline). The pipeline, when p is not
 * NULL, is kept in metadata.json for recur_keras_load. Written atomically. */
recur_status recur_keras_save(const recur_model *m, const recur_pipeline *p, const char *path, recur_error *err);

/* Fine-tuning: copies the optimizer state a Keras file holds (Adam's
 * momentum/velocity and iteration count, or RMSprop's velocity) into m, whose
 * weights must come from the same file and which must be compiled with that
 * optimizer. *loaded is 1 when state was copied, 0 when the file has none for
 * m's optimizer (not an error). */
recur_status recur_keras_load_optimizer(const char *path, recur_model *m, int *loaded, recur_error *err);

/* ====== Export as dependency-free C (src/export/) ====== */

/* Writes `dir`/`name`.h and `dir`/`name`.c (each atomically): C99 source that
 * needs nothing but libm and computes what recur_model_predict computes, with
 * the weights as static const float arrays and no allocation (docs/export.md):
 *   name_predict(window, out)       window (T,F) time-major -> out (O) or (T,O)
 *   name_reset(state), name_step(state, x_t, out)   one time step at a time
 *   name_scale_input / name_unscale_output          when p is not NULL
 *   name_selftest()                 0 when the embedded windows give recur's outputs
 * `timesteps` is T (0: p->timestep; needed when p is NULL). `name` must be a C
 * identifier of at most 40 characters; `dir` an existing writable folder. The
 * model is not const because its outputs for the embedded windows are computed
 * with recur_model_predict. */
recur_status recur_export_c(recur_model *m, const recur_pipeline *p, int timesteps, const char *dir,
                            const char *name, recur_error *err);

#ifdef __cplusplus
}
#endif
#endif /* RECUR_H */
