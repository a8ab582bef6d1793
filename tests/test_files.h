/*
 * test_files.h -- whole-file read and write for the cmocka tests that edit
 * model files byte by byte (test_model_file.c, test_keras.c). Include after
 * cmocka.h; failures are test failures.
 */
#ifndef RECUR_TEST_FILES_H
#define RECUR_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* The file's bytes (malloc'd, one spare byte at the end) and their count. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

#endif
