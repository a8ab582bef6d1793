/*
 * fuzz_model.c -- libFuzzer target for recur_model_load (src/io/model_file.c).
 *
 * Each input is written to a temporary file and loaded, as a user's file would
 * be. Build (clang) and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       tests/fuzz/fuzz_model.c src/core/[a-z]*.c src/nn/[a-z]*.c src/train/[a-z]*.c src/io/model_file.c \
 *       $(pkg-config --cflags --libs jansson) -lm -lpthread -o build/fuzz_model
 *   build/fuzz_model -dict=tests/fuzz/fuzz_model.dict tests/fuzz/corpus_model -max_total_time=300
 *
 * Properties checked beyond "no crash, no leak": a refused file leaves *out
 * NULL and a non-empty message whose code matches the status; a loaded model
 * has weights and runs a prediction.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_model_XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    recur_error err;
    memset(&err, 0, sizeof err);
    recur_model *m = (recur_model *)&err; /* must come back NULL on failure */
    recur_pipeline p;
    recur_status st = recur_model_load(path, &m, &p, &err);
    if (st != RECUR_OK) {
        if (m != NULL || err.code != st || err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof err.msg)) abort();
        return 0;
    }
    if (!m || recur_model_n_weights(m) < 1 || recur_model_n_params(m) * 4 > size) abort();
    if (p.n_features != 0 && p.n_features != recur_model_n_features(m)) abort();

    /* A loaded model is usable: one small prediction (bounded by the file size). */
    const int n = 2, T = 3;
    size_t F = (size_t)recur_model_n_features(m), O = (size_t)recur_model_n_outputs(m);
    size_t ylen = (size_t)n * (recur_model_returns_sequences(m) ? T : 1) * O;
    recur_float *x = calloc((size_t)n * T * F, sizeof *x), *y = calloc(ylen, sizeof *y);
    if (x && y && recur_model_predict(m, x, n, T, y, &err) != RECUR_OK && err.code != RECUR_E_NOMEM) abort();
    free(x);
    free(y);
    recur_model_free(m);
    return 0;
}
