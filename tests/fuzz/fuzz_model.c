/*
 * fuzz_model.c -- libFuzzer target for recur_model_load and
 * recur_model_load_checkpoint (src/io/model_file.c, src/io/model_json.c).
 *
 * Each input is written to a temporary file and loaded, as a user's file would
 * be. Build and run: sh tests/fuzz/run.sh model (FUZZ_SECONDS=300 for 5 minutes).
 *
 * Properties checked beyond "no crash, no leak": a refused file leaves *out
 * NULL and a one-line message whose code matches the status; a loaded model
 * has weights and runs a prediction; a loaded checkpoint also loads as a plain
 * model with the same weights, and its training state is in range.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_to_file(data, size);

    recur_error err;
    memset(&err, 0, sizeof err);
    recur_model *m = (recur_model *)&err; /* must come back NULL on failure */
    recur_pipeline p;
    recur_status st = recur_model_load(path, &m, &p, &err);
    if (st != RECUR_OK) {
        check_refusal(st, m, &err);
        m = NULL;
    }

    /* The same bytes as a checkpoint: refused, or a model equal to the plain load. */
    recur_model *c = (recur_model *)&err;
    recur_train_state ts;
    recur_status cst = recur_model_load_checkpoint(path, &c, NULL, &ts, &err);
    if (cst != RECUR_OK) {
        check_refusal(cst, c, &err);
    } else {
        if (!m || recur_model_n_params(c) != recur_model_n_params(m)) abort(); /* a checkpoint is a model */
        if (memcmp(recur_model_params(c), recur_model_params(m), recur_model_n_params(m) * sizeof(recur_float)) != 0)
            abort();
        if (ts.epoch < 0 || ts.epoch > ts.epochs || ts.batch_size < 1 || ts.best_epoch > ts.epoch ||
            recur_model_optimizer_iterations(c) < 0)
            abort();
        recur_model_free(c);
    }
    if (!m) return 0;
    /* A Keras file (read by recur_keras_load) may be deflated: its weights are not bounded by its size. */
    if (!m || recur_model_n_weights(m) < 1 ||
        (recur_model_n_params(m) * 4 > size && recur_keras_detect(path) == RECUR_KERAS_NONE))
        abort();
    if (p.n_features != 0 && p.n_features != recur_model_n_features(m)) abort();

    /* A loaded model is usable: one small prediction (bounded by the file size). */
    fuzz_predict_small(m);
    recur_model_free(m);
    return 0;
}
