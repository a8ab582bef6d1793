/*
 * fuzz_file.h -- for the fuzz targets whose code under test reads a file:
 * fuzz_to_file() writes the input bytes to one temporary file per process
 * (created on first use, removed at exit) and returns its path;
 * check_refusal() checks how a loader refused a file, fuzz_predict_small()
 * that a loaded model runs.
 */
#ifndef RECUR_FUZZ_FILE_H
#define RECUR_FUZZ_FILE_H

#include "recur.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_remove_file(void) { unlink(fuzz_path); }

static const char *fuzz_to_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        strcpy(fuzz_path, "/tmp/recur_fuzz_XXXXXX");
        int fd = mkstemp(fuzz_path);
        if (fd < 0) abort();
        close(fd);
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return fuzz_path;
}

/* A refusal: no model, the status in err, and a message that is one line of
 * printable UTF-8 (file text quoted in it must not break the line). */
static inline void check_refusal(recur_status st, const recur_model *m, const recur_error *err)
{
    if (m != NULL || err->code != st || err->msg[0] == '\0' || !memchr(err->msg, '\0', sizeof err->msg)) abort();
    for (const unsigned char *u = (const unsigned char *)err->msg; *u; u++) {
        if (*u < 0x20 || *u == 0x7f) abort();
        if (*u >= 0x80) { /* a whole UTF-8 character */
            int n = (*u & 0xE0) == 0xC0 ? 1 : (*u & 0xF0) == 0xE0 ? 2 : (*u & 0xF8) == 0xF0 ? 3 : -1;
            if (n < 0) abort();
            for (int k = 1; k <= n; k++)
                if ((u[k] & 0xC0) != 0x80) abort();
            u += n;
        }
    }
}

/* A loaded model runs: a prediction on 2 zero windows of 3 steps. */
static inline void fuzz_predict_small(recur_model *m)
{
    recur_error err;
    const int n = 2, T = 3;
    size_t F = (size_t)recur_model_n_features(m), O = (size_t)recur_model_n_outputs(m);
    size_t ylen = (size_t)n * (recur_model_returns_sequences(m) ? T : 1) * O;
    recur_float *x = calloc((size_t)n * T * F, sizeof *x), *y = calloc(ylen, sizeof *y);
    if (x && y && recur_model_predict(m, x, n, T, y, &err) != RECUR_OK && err.code != RECUR_E_NOMEM) abort();
    free(x);
    free(y);
}

#endif
