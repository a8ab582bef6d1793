/*
 * refparse.h -- reader for recur reference vectors, format v1
 * (tests/ref/README.md, "Format (v1)").
 *
 * Implements: reading a whole reference file into cases, each with its `param`
 * lines (key -> text, with int/double getters) and its `tensor` records (name,
 * dims, float64 values, row-major). Value lines may be arbitrarily long; the
 * whole file is read into memory first, so there is no line-length limit.
 * Every malformed record is refused with "file:line: what" in a recur_error.
 *
 * Does not: interpret cases (that is refcheck.c), write the format, or stream
 * files larger than memory.
 */
#ifndef RECUR_REFPARSE_H
#define RECUR_REFPARSE_H

#include "recur.h"

#include <stddef.h>

#define REF_MAX_DIMS 8 /* most dims a tensor header may give */

typedef struct {
    char *key;   /* [A-Za-z0-9_.]+ */
    char *value; /* one token, as written */
    int line;    /* line of the `param` record */
} ref_param;

typedef struct {
    char *name;              /* [A-Za-z0-9_.]+ */
    int ndim;                /* 0 (scalar) .. REF_MAX_DIMS */
    int dims[REF_MAX_DIMS];  /* dims[0..ndim-1] */
    size_t size;             /* prod(dims); 1 for a scalar */
    double *v;               /* (size), row-major: last index fastest; NULL when size is 0 */
    int line;                /* line of the `tensor` header */
} ref_tensor;

typedef struct {
    char *name;
    const char *file;        /* path of the file it came from (owned by ref_file) */
    int line;                /* line of the `case` record */
    ref_param *params;       /* (n_params) in file order */
    size_t n_params, cap_params;
    ref_tensor *tensors;     /* (n_tensors) in file order */
    size_t n_tensors, cap_tensors;
} ref_case;

typedef struct {
    char *path;
    ref_case *cases;         /* (n_cases) in file order */
    size_t n_cases, cap_cases;
} ref_file;

/* Reads and parses `path` into *out (zeroed first). On failure *out is left
 * empty (nothing to free, ref_file_free is still safe) and err says
 * "path:line: what": RECUR_E_IO (cannot read), RECUR_E_PARSE (malformed),
 * RECUR_E_NOMEM. */
recur_status ref_file_read(const char *path, ref_file *out, recur_error *err);

/* Same, from `len` bytes of text already in memory (need not be NUL-terminated);
 * `name` is used in messages and as ref_file.path. The text is copied. */
recur_status ref_file_parse(const char *name, const char *text, size_t len, ref_file *out, recur_error *err);

/* Releases everything ref_file_read/ref_file_parse allocated; f may be NULL. */
void ref_file_free(ref_file *f);

/* Lookups within a case; NULL when absent. */
const ref_param *ref_param_find(const ref_case *c, const char *key);
const char *ref_param_str(const ref_case *c, const char *key);
const ref_tensor *ref_tensor_find(const ref_case *c, const char *name);

/* Typed parameter getters. A missing key gives `dflt` and RECUR_OK; a value that
 * is not a whole number (int) or not a finite number (double) gives
 * RECUR_E_PARSE with "file:line: param KEY: ...". Out is untouched on error. */
recur_status ref_param_int(const ref_case *c, const char *key, long dflt, long *out, recur_error *err);
recur_status ref_param_double(const ref_case *c, const char *key, double dflt, double *out, recur_error *err);

#endif
