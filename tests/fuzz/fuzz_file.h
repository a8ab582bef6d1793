/*
 * fuzz_file.h -- for the fuzz targets whose code under test reads a file:
 * fuzz_to_file() writes the input bytes to one temporary file per process
 * (created on first use, removed at exit) and returns its path.
 */
#ifndef RECUR_FUZZ_FILE_H
#define RECUR_FUZZ_FILE_H

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

#endif
