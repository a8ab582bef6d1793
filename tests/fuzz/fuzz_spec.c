/*
 * fuzz_spec.c -- libFuzzer target for recur_model_add_spec / recur_model_spec.
 *
 * Build (clang):
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       $(pkg-config --cflags plplot) tests/fuzz/fuzz_spec.c $(find src -name '*.c') \
 *       $(pkg-config --libs jansson plplot) -lm -lpthread -o build/fuzz_spec
 *   build/fuzz_spec tests/fuzz/corpus_spec -max_total_time=60
 *
 * Properties checked beyond "no crash": a refused spec adds no layer and leaves
 * a one-line, terminated message; an accepted spec prints a canonical text that
 * parses again to the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0; /* long inputs add nothing but time */
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';

    recur_error err;
    recur_model *m = NULL;
    if (recur_model_new(3, &m, &err) != RECUR_OK) {
        free(spec);
        return 0;
    }
    recur_status st = recur_model_add_spec(m, spec, &err);
    if (st != RECUR_OK) {
        /* Every refusal is found before any layer is added. */
        if (recur_model_n_layers(m) != 0) abort();
        if (!memchr(err.msg, '\0', sizeof err.msg) || strchr(err.msg, '\n')) abort();
    } else {
        size_t need = recur_model_spec(m, NULL, 0);
        char *text = malloc(need + 1), *again = malloc(need + 1);
        recur_model *m2 = NULL;
        if (text && again && recur_model_new(3, &m2, &err) == RECUR_OK) {
            if (recur_model_spec(m, text, need + 1) != need) abort();
            if (recur_model_add_spec(m2, text, &err) != RECUR_OK) abort();
            if (recur_model_spec(m2, again, need + 1) != need || strcmp(text, again) != 0) abort();
        }
        recur_model_free(m2);
        free(text);
        free(again);
    }
    recur_model_free(m);
    free(spec);
    return 0;
}
