/*
 * keras_h5.c -- the HDF5 calls the Keras reader and writer share: HDF5's own
 * error printing silenced and its innermost message kept for ours, string
 * attributes (fixed and variable length, Keras's chunked NAME0, NAME1, ...),
 * and in-memory files (the core driver: a `.keras` zip holds its weights as
 * an HDF5 image, read and written without a temporary file).
 */
#include "io/keras.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LIST 1000000    /* strings in a list attribute */
#define MAX_TEXT (64 << 20) /* bytes of one string attribute */

void rc_keras_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

static herr_t first_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    char **out = data;
    if (n == 0 && e && e->desc && !*out) *out = (char *)e->desc;
    return 0;
}

void rc_keras_h5_why(char *buf, size_t cap)
{
    char *desc = NULL;
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_desc, &desc);
    if (desc) snprintf(buf, cap, "%s", desc);
    H5Eclear2(H5E_DEFAULT);
}

/* Opens attribute `name` when it exists (negative otherwise). */
static hid_t open_attr(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    return H5Aopen(obj, name, H5P_DEFAULT);
}

char *rc_keras_h5_attr_text(hid_t obj, const char *name)
{
    char *out = NULL;
    hid_t a = open_attr(obj, name), t = -1, mt = -1, sp = -1;
    if (a < 0) return NULL;
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) goto done;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t)); /* h5py writes str as UTF-8: read it as such (no conversion) */
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, &s) < 0) goto done;
        if (s) {
            size_t n = strnlen(s, MAX_TEXT);
            if (n < MAX_TEXT && (out = malloc(n + 1))) memcpy(out, s, n + 1);
            H5free_memory(s);
        }
    } else {
        size_t n = H5Tget_size(t);
        /* NULLPAD: a NULLTERM memory type would give up the last byte for the terminator. */
        if (n == 0 || n > MAX_TEXT || H5Tset_size(mt, n) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
            !(out = calloc(n + 1, 1)))
            goto done;
        if (H5Aread(a, mt, out) < 0) {
            free(out);
            out = NULL;
        }
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return out;
}

/* A growing list of malloc'd strings. */
typedef struct {
    char **s;
    int n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s, size_t len)
{
    if (l->n >= MAX_LIST) return -1;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **ns = realloc(l->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        l->s = ns;
        l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    l->s[l->n++] = c;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
}

/* Appends the strings of one attribute. 0, or -1 when it is not a string list. */
static int read_list(hid_t a, strlist *l)
{
    int rc = -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (t < 0 || n < 0 || n > MAX_LIST || H5Sget_simple_extent_ndims(sp) > 1) goto done;
    if (H5Tget_class(t) != H5T_STRING) {
        rc = n == 0 ? 0 : -1; /* Keras writes an empty float array for "no weights" */
        goto done;
    }
    if (n == 0) {
        rc = 0;
        goto done;
    }
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Tis_variable_str(t) > 0) {
        char **v = calloc((size_t)n, sizeof *v);
        if (!v || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            goto done;
        }
        rc = 0;
        for (hssize_t i = 0; i < n; i++)
            if (rc == 0 && (!v[i] || strlist_add(l, v[i], strnlen(v[i], MAX_TEXT)) != 0)) rc = -1;
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        free(v);
    } else {
        size_t sz = H5Tget_size(t);
        char *buf = sz > 0 && sz <= 65536 ? calloc((size_t)n, sz) : NULL;
        if (!buf || H5Tset_size(mt, sz) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            goto done;
        }
        rc = 0;
        for (hssize_t i = 0; i < n && rc == 0; i++) rc = strlist_add(l, buf + i * sz, strnlen(buf + i * sz, sz));
        free(buf);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

int rc_keras_h5_attr_list(hid_t obj, const char *name, char ***list, int *n)
{
    strlist l = {NULL, 0, 0};
    int rc = -1;
    *list = NULL;
    *n = 0;
    hid_t a = open_attr(obj, name);
    if (a >= 0) {
        rc = read_list(a, &l);
        H5Aclose(a);
    } else {
        char chunk[160];
        for (int k = 0; k < 10000; k++) {
            snprintf(chunk, sizeof chunk, "%s%d", name, k);
            if ((a = open_attr(obj, chunk)) < 0) break;
            rc = read_list(a, &l);
            H5Aclose(a);
            if (rc != 0) break;
        }
    }
    if (rc == 0) {
        size_t total = 0;
        for (int i = 0; i < l.n; i++) total += strlen(l.s[i]) + 1;
        char **blk = malloc((size_t)l.n * sizeof *blk + total + 1);
        if (!blk) rc = -1;
        else {
            char *p = (char *)(blk + l.n);
            for (int i = 0; i < l.n; i++) {
                size_t len = strlen(l.s[i]) + 1;
                memcpy(p, l.s[i], len);
                blk[i] = p;
                p += len;
            }
            *list = blk;
            *n = l.n;
        }
    }
    strlist_free(&l);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

hid_t rc_keras_h5_fapl_core(const void *image, size_t len)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        (image && H5Pset_file_image(fapl, (void *)image, len) < 0)) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}
