/*
 * fuzz_keras.c -- libFuzzer target for recur_keras_load and
 * recur_keras_load_optimizer (src/io/keras_*.c).
 *
 * Default mode (`make fuzz`, CI's smoke): each input is the text of a
 * `config.json`, packed with libzip into a .keras beside fixed, valid weights
 * (a gru(3,seq) lstm(4) dense(1) model over 2 features, written once by
 * recur_keras_save) and loaded: the config parser, the mapping to recur
 * layers, the shape and size checks and the refusals, which are recur's code.
 *
 * FUZZ_KERAS_RAW=1: each input is a whole file (.keras zip or HDF5), as
 * tests/fuzz/corpus_keras_raw holds. That reaches libhdf5's parser, and on
 * Debian 12's libhdf5 1.10.8 it finds the library's own memory errors within a
 * minute (a heap read out of bounds in H5O__attr_exists on a corrupt object
 * header, leaks of object headers that fail to load): upstream bugs, listed in
 * docs/keras.md, that recur cannot check for. Run it by hand:
 *   FUZZ_KERAS_RAW=1 build-fuzz/fuzz_keras tests/fuzz/corpus_keras_raw -max_total_time=60
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
#include <unistd.h>
#include <zip.h>

#include "recur.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int raw_mode = -1;
static char keras_path[64];  /* the .keras each config is packed into */
static void *weights;        /* model.weights.h5 of the fixed model */
static size_t weights_len;

static void remove_keras(void) { unlink(keras_path); }

/* Once: the fixed model's weights file, read back out of a .keras recur wrote. */
static void init_weights(void)
{
    recur_model *m = NULL;
    recur_compile_opts co = recur_compile_opts_default();
    strcpy(keras_path, "/tmp/recur_fuzz_keras_XXXXXX");
    int fd = mkstemp(keras_path);
    if (fd < 0) abort();
    close(fd);
    atexit(remove_keras);
    if (recur_model_new(2, &m, NULL) || recur_model_add_spec(m, "gru(3,seq) lstm(4) dense(1)", NULL) ||
        recur_model_compile(m, &co, NULL) || recur_keras_save(m, NULL, keras_path, NULL))
        abort();
    recur_model_free(m);
    int ze;
    zip_t *z = zip_open(keras_path, ZIP_RDONLY, &ze);
    zip_stat_t st;
    if (!z || zip_stat(z, "model.weights.h5", 0, &st) != 0 || !(weights = malloc(st.size))) abort();
    zip_file_t *f = zip_fopen(z, "model.weights.h5", 0);
    if (!f || zip_fread(f, weights, st.size) != (zip_int64_t)st.size) abort();
    weights_len = st.size;
    zip_fclose(f);
    zip_discard(z);
}

/* The config text and the fixed weights as a .keras file. */
static const char *pack(const uint8_t *data, size_t size)
{
    static const char meta[] = "{\"keras_version\": \"3.4.1\"}";
    int ze;
    zip_t *z = zip_open(keras_path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    if (!z) abort();
    zip_source_t *a = zip_source_buffer(z, meta, sizeof meta - 1, 0), *b = zip_source_buffer(z, data, size, 0),
                 *c = zip_source_buffer(z, weights, weights_len, 0);
    if (zip_file_add(z, "metadata.json", a, 0) < 0 || zip_file_add(z, "config.json", b, 0) < 0 ||
        zip_file_add(z, "model.weights.h5", c, 0) < 0 || zip_close(z) != 0)
        abort();
    return keras_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (raw_mode < 0) {
        const char *r = getenv("FUZZ_KERAS_RAW");
        raw_mode = r && *r == '1';
        if (!raw_mode) init_weights();
    }
    if (!raw_mode && size > 65536) return 0;
    const char *path = raw_mode ? fuzz_to_file(data, size) : pack(data, size);
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
    fuzz_predict_small(m);

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
