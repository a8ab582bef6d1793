/*
 * io.h -- internal links between the model-file sources (not installed):
 * model_file.c owns the bytes (safetensors layout, atomic writes, tensors) and
 * model_json.c the JSON documents inside the header (the model config and the
 * checkpoint's optimizer and training state). Names are prefixed rc_mf_.
 */
#ifndef RECUR_IO_H
#define RECUR_IO_H

#include "core/core.h"

#include <jansson.h>
#include <stdio.h>

#define RC_MF_MAX_LAYERS RECUR_MAX_LAYERS /* the model's own limit: one, not two */
#define RC_MF_MAX_WIDTH (1 << 20) /* units and n_features */
#define RC_MF_N_SLOTS 4

/* Keras names of the optimizer slots, in the order the file stores them. */
extern const char *const rc_mf_slot_names[RC_MF_N_SLOTS];
/* File names of the layer kinds, indexed by recur_layer_kind. */
extern const char *const rc_mf_kind_names[5];

/* Where a load stands, for messages: every refusal starts with the path. */
typedef struct {
    const char *path;
    recur_error *err;
} rc_mf_ctx;

/* RECUR_E_FORMAT with "<path>: <message>". */
recur_status rc_mf_bad(const rc_mf_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ====== Bytes (model_file.c; forecaster files use them too) ====== */

/* Writes `path` atomically: NAME.tmp.XXXXXX in its folder, body(f, ctx) (0 on
 * success), fsync, rename; on failure the temporary file is removed and an
 * existing file left untouched. */
recur_status rc_mf_write_atomic(const char *path, int (*body)(FILE *f, void *ctx), void *ctx, recur_error *err);
/* The whole file into *out (malloc'd), *len bytes. */
recur_status rc_mf_read_all(const char *path, unsigned char **out, size_t *len, recur_error *err);
/* Appends n values as little-endian float32 through buf (cap bytes, *used filled, flushed when full). */
int rc_mf_put_floats(FILE *f, unsigned char *buf, size_t cap, size_t *used, const recur_float *v, size_t n);
/* Length prefix and JSON header of a safetensors image: *root (caller decrefs), *hlen. */
recur_status rc_mf_header(const rc_mf_ctx *c, const unsigned char *buf, size_t len, json_t **root, uint64_t *hlen);

/* ====== The config: layers and pipeline ====== */

typedef struct {
    recur_layer_kind kind;
    int units, return_sequences, reset_after;
    recur_activation act;
    recur_activation rec_act; /* LSTM, GRU gates (0 or RECUR_ACT_SIGMOID: sigmoid) */
    float rate;
} rc_mf_layer;

typedef struct {
    int n_features, n_layers, has_pipeline;
    rc_mf_layer layer[RC_MF_MAX_LAYERS];
    recur_pipeline pipe;
} rc_mf_config;

/* Adds layer L to m (recur_model_add_<kind>). */
recur_status rc_mf_add_layer(recur_model *m, const rc_mf_layer *L, recur_error *err);
/* Pipeline rules shared by save (code RECUR_E_INVALID) and load (RECUR_E_FORMAT). */
recur_status rc_mf_check_pipeline(const recur_pipeline *p, int n_features, recur_status code, const char *path,
                                  recur_error *err);
/* The config document of a compiled model (pipeline when p is not NULL). */
json_t *rc_mf_config_json(const recur_model *m, const recur_pipeline *p, recur_error *err);
/* __metadata__.recur -> *cfg, every field checked. */
recur_status rc_mf_parse_config(const rc_mf_ctx *c, const json_t *meta, rc_mf_config *cfg);
/* JSON text with the fewest digits (15..17) that read back to exactly the same
 * numbers (malloc'd; NULL when out of memory). */
char *rc_mf_dump_exact(const json_t *doc);

/* ====== The checkpoint: optimizer and training state ====== */

typedef struct {
    recur_compile_opts co;
    long iterations;
    recur_train_state ts;
    int slot[RC_MF_N_SLOTS]; /* 1: the file has tensor "optimizer.<slot name>" */
} rc_mf_checkpoint;

/* Training-state rules shared by save (RECUR_E_INVALID) and load (RECUR_E_FORMAT). */
recur_status rc_mf_check_train_state(const recur_train_state *ts, recur_status code, const char *path,
                                     recur_error *err);
/* The checkpoint document (NULL when out of memory). */
json_t *rc_mf_checkpoint_json(const rc_mf_checkpoint *ck);
/* __metadata__.checkpoint -> *ck, every field checked (the slots are checked
 * against the tensors by the caller). */
recur_status rc_mf_parse_checkpoint(const rc_mf_ctx *c, const json_t *meta, rc_mf_checkpoint *ck);

#endif
