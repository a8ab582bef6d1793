/*
 * fuzz_keras.c -- libFuzzer target for recur_keras_load and
 * recur_keras_load_optimizer (src/io/keras_*.c): .keras zips and HDF5 files.
 *
 * Each input is written to a temporary file and loaded, as a user's file would
 * be. Build and run: sh tests/fuzz/run.sh keras (FUZZ_SECONDS=300 for 5 minutes).
 * The corpus holds small files written by recur (.keras) and a legacy HDF5
 * file made with h5py in Keras's layout; the real models of ../shared/keras
 * are never copied here (they have no licence).
 *
 * Properties checked beyond "no crash, no leak": a refused file leaves *out
 * NULL and a one-line printable message whose code matches the status; a
 * loaded model has finite weights, runs a prediction, and takes (or declines)
 * the file's optimizer state without failing on a file it just loaded.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    recur_keras_info info;
    recur_status st = recur_keras_load(path, &m, &p, &info, &err);
    if (st != RECUR_OK) {
        check_refusal(st, m, &err);
        return 0;
    }
    if (!m || recur_model_n_weights(m) < 1) abort();
    if (p.n_features != 0 && p.n_features != recur_model_n_features(m)) abort();
    const recur_float *w = recur_model_params(m);
    for (size_t i = 0; i < recur_model_n_params(m); i++)
        if (!isfinite(w[i])) abort();

    const int n = 2, T = 3;
    size_t F = (size_t)recur_model_n_features(m), O = (size_t)recur_model_n_outputs(m);
    size_t ylen = (size_t)n * (recur_model_returns_sequences(m) ? T : 1) * O;
    recur_float *x = calloc((size_t)n * T * F, sizeof *x), *y = calloc(ylen, sizeof *y);
    if (x && y && recur_model_predict(m, x, n, T, y, &err) != RECUR_OK && err.code != RECUR_E_NOMEM) abort();
    free(x);
    free(y);

    recur_compile_opts co = recur_compile_opts_default();
    co.optim = recur_optim_opts_default(RECUR_OPT_ADAM);
    int loaded = 0;
    if (recur_model_compile(m, &co, &err) == RECUR_OK) {
        st = recur_keras_load_optimizer(path, m, &loaded, &err);
        if (st != RECUR_OK) check_refusal(st, NULL, &err);
        if (st != RECUR_OK && loaded) abort();
    }
    recur_model_free(m);
    return 0;
}
