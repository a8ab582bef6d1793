/*
 * keras.h -- internal links between the Keras file sources (not installed):
 * keras_map.c maps Keras configs to recur layers and back (the one place that
 * knows Keras class names, config keys and defaults), keras_h5.c wraps the
 * HDF5 calls both directions need (errors, strings), keras_read.c reads the
 * three formats, keras_write.c writes a Keras 3 `.keras` file.
 * Names are prefixed rc_keras_. docs/keras.md describes the formats.
 */
#ifndef RECUR_IO_KERAS_H
#define RECUR_IO_KERAS_H

#include "io/io.h"

#include <hdf5.h>

/* One layer of a Sequential model as recur sees it. */
typedef struct {
    recur_layer_kind kind;
    int units, return_sequences, reset_after, use_bias;
    recur_activation act; /* Dense */
    recur_activation rec_act; /* LSTM, GRU gates */
    float rate;           /* Dropout */
    char name[128];       /* Keras layer name: the legacy HDF5 group */
    char path[96];        /* .keras weights group, "layers/lstm_1" */
} rc_keras_layer;

typedef struct {
    int n_features; /* F of the input shape */
    int timesteps;  /* T of the input shape; 0 when the file leaves it open (None) */
    int n_layers;
    rc_keras_layer layer[RC_MF_MAX_LAYERS];
} rc_keras_model;

/* ====== Mapping (keras_map.c) ====== */

/* The model config (`config.json`, or a legacy file's `model_config`) ->
 * *km. Refuses with one line naming the layer and what is unsupported. */
recur_status rc_keras_parse_config(const rc_mf_ctx *c, const json_t *root, int keras2, rc_keras_model *km);
/* A compiled recur model of km's layers (weights still Keras-initialised). */
recur_status rc_keras_build(const rc_mf_ctx *c, const rc_keras_model *km, recur_model **out);
/* The Keras 3 `config.json` document of a compiled model whose inputs are
 * (None, T, F) (T 0: None). NULL when out of memory. */
json_t *rc_keras_config_json(const recur_model *m, int timesteps);
/* Keras 3's name for the k-th (0-based) layer of a kind: "lstm", "lstm_1", ...
 * (default layer names, and the .keras weight groups under layers/). */
void rc_keras_layer_name(recur_layer_kind kind, int k, char *buf, size_t cap);
/* Weights of layer i in the file: 3 (RNN) or 2 (Dense) with a bias, one less
 * without, 0 for Dropout. */
int rc_keras_n_file_weights(const rc_keras_layer *L);

/* ====== HDF5 helpers (keras_h5.c) ====== */

/* Silences HDF5's own error printing (once) and clears its error stack. */
void rc_keras_h5_quiet(void);
/* HDF5's innermost error description (e.g. "truncated file: eof = 1000, ...")
 * into buf, or "" when there is none; clears the stack. */
void rc_keras_h5_why(char *buf, size_t cap);
/* A string attribute (fixed or variable length, scalar) as malloc'd text; NULL
 * when absent or not a string. */
char *rc_keras_h5_attr_text(hid_t obj, const char *name);
/* A 1-D string-array attribute, or its chunks NAME0, NAME1, ... (Keras splits
 * long ones): *n strings in one malloc'd block (*list, free once). An empty
 * numeric array (Keras writes one for a layer without weights) gives *n = 0.
 * -1 when absent or malformed. */
int rc_keras_h5_attr_list(hid_t obj, const char *name, char ***list, int *n);
/* A file access list that keeps the whole file in memory: reading from `image`
 * (copied) when it is not NULL, else an empty file that is never written to
 * disk. Closing the file closes every object opened in it. */
hid_t rc_keras_h5_fapl_core(const void *image, size_t len);

#endif
