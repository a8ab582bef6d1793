/*
 * model_file.c -- recur_model_save / recur_model_load and the checkpoint pair
 * recur_model_save_checkpoint / recur_model_load_checkpoint: the model file.
 *
 * Layout: safetensors (https://github.com/huggingface/safetensors), so Python's
 * safetensors, numpy and PyTorch read the weights as they are.
 *
 *   bytes 0..7      N, unsigned 64-bit little-endian: length of the JSON header
 *   bytes 8..8+N    JSON header, UTF-8, padded with spaces so that the data
 *                   section starts on an 8-byte boundary
 *   bytes 8+N..end  data: each tensor as little-endian float32, row-major,
 *                   contiguous, in recur_model_weight() order, no gaps; in a
 *                   checkpoint the optimizer slots follow
 *
 *   {"__metadata__": {"format": "recur-model", "format_version": "1",
 *                     "recur_version": "0.2.0", "recur": "<config as JSON text>",
 *                     "checkpoint": "<training state as JSON text>"},      (checkpoints only)
 *    "lstm.kernel": {"dtype": "F32", "shape": [1, 200], "data_offsets": [0, 800]}, ...
 *    "optimizer.velocity": {"dtype": "F32", "shape": [n_params], ...}}   (checkpoints only)
 *
 * The JSON documents (config, training state) are model_json.c's. A checkpoint
 * is a model file plus the optimizer: recur_model_load reads it as a model and
 * ignores the optimizer (after checking its tensors like any other).
 * Loading trusts nothing: sizes, JSON, every field, every tensor's dtype, shape
 * and byte range are checked before anything is allocated for the model; the
 * model is then rebuilt from the config and compiled, and the weights copied in.
 * Writing is atomic: a temporary file NAME.tmp.XXXXXX in the same folder,
 * fsync, rename. docs/model-file.md has the full schema and the version policy.
 */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MF_FORMAT "recur-model"
#define MF_VERSION "1"
#define MF_MAX_HEADER 100000000ULL /* the limit safetensors itself enforces */
#define MF_MAX_DIMS 8
#define SLOT_PREFIX "optimizer."

/* What a file holds besides the layers and weights. */
typedef struct {
    const recur_pipeline *p;                /* NULL: no pipeline */
    const rc_mf_checkpoint *ck;             /* NULL: a plain model file */
    const recur_float *slot[RC_MF_N_SLOTS]; /* checkpoint: slot buffers, n_params each (NULL: none) */
} mf_extra;

/* ====== Save ====== */

static json_t *tensor_json(int ndim, const int *dims, size_t size, uint64_t off)
{
    json_t *shape = ndim == 1 ? json_pack("[i]", dims[0]) : json_pack("[i, i]", dims[0], dims[1]);
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)off,
                     (json_int_t)(off + 4 * (uint64_t)size));
}

/* The header text padded with spaces to a multiple of 8 bytes: *out (malloc'd), *len. */
static recur_status header_text(const recur_model *m, const mf_extra *x, char **out, size_t *len, recur_error *err)
{
    recur_error e2; /* config_json and the weight loop report here, so the code survives err == NULL */
    recur_status st = RECUR_OK;
    char *cfg_text = NULL, *ck_text = NULL, *text = NULL;
    json_t *root = NULL, *ckj = NULL, *cfg = rc_mf_config_json(m, x->p, &e2);
    *out = NULL;
    if (!cfg) return rc_error(err, e2.code, "%s", e2.msg);
    cfg_text = rc_mf_dump_exact(cfg);
    root = cfg_text ? json_pack("{s:{s:s, s:s, s:s, s:s}}", "__metadata__", "format", MF_FORMAT, "format_version",
                                MF_VERSION, "recur_version", RECUR_VERSION, "recur", cfg_text)
                    : NULL;
    if (!root) goto nomem;
    if (x->ck) {
        ckj = rc_mf_checkpoint_json(x->ck);
        if (!ckj || !(ck_text = rc_mf_dump_exact(ckj)) ||
            json_object_set_new(json_object_get(root, "__metadata__"), "checkpoint", json_string(ck_text)))
            goto nomem;
    }
    uint64_t off = 0;
    size_t n_params = 0;
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        if (recur_model_weight(m, i, &w, &e2) != RECUR_OK) {
            st = rc_error(err, RECUR_E_STATE, "%s", e2.msg);
            goto done;
        }
        size_t prod = 1;
        for (int d = 0; d < w.ndim && d < 2; d++) prod *= (size_t)(w.dims[d] > 0 ? w.dims[d] : 0);
        if (!w.data || w.ndim < 1 || w.ndim > 2 || prod != w.size || w.size == 0 ||
            !memchr(w.name, '\0', sizeof w.name) || json_object_get(root, w.name) ||
            strncmp(w.name, SLOT_PREFIX, strlen(SLOT_PREFIX)) == 0) {
            st = rc_error(err, RECUR_E_STATE,
                          "weight %d (\"%.63s\") is inconsistent (no data, bad shape or duplicate name)", i, w.name);
            goto done;
        }
        if (json_object_set_new(root, w.name, tensor_json(w.ndim, w.dims, w.size, off))) goto nomem;
        off += 4 * (uint64_t)w.size;
        n_params += w.size;
    }
    for (int s = 0; s < RC_MF_N_SLOTS; s++) {
        if (!x->slot[s]) continue;
        char name[64];
        int dims[1] = {(int)n_params};
        if (n_params > INT_MAX) {
            st = rc_error(err, RECUR_E_INVALID, "a checkpoint holds at most %d parameters (model has %zu)", INT_MAX,
                          n_params);
            goto done;
        }
        snprintf(name, sizeof name, SLOT_PREFIX "%s", rc_mf_slot_names[s]);
        if (json_object_set_new(root, name, tensor_json(1, dims, n_params, off))) goto nomem;
        off += 4 * (uint64_t)n_params;
    }
    if (!(text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)))) goto nomem;
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    if (!(*out = malloc(padded))) goto nomem;
    memcpy(*out, text, n);
    memset(*out + n, ' ', padded - n);
    *len = padded;
    goto done;
nomem:
    st = rc_error(err, RECUR_E_NOMEM, "out of memory writing the model header");
done:
    free(text);
    free(cfg_text);
    free(ck_text);
    json_decref(ckj);
    json_decref(cfg);
    json_decref(root);
    return st;
}

/* Appends n values as little-endian float32 through buf (cap bytes, *used filled). */
int rc_mf_put_floats(FILE *f, unsigned char *buf, size_t cap, size_t *used, const recur_float *v, size_t n)
{
    for (size_t e = 0; e < n; e++) {
        float x = (float)v[e];
        uint32_t u;
        memcpy(&u, &x, 4);
        for (int k = 0; k < 4; k++) buf[(*used)++] = (unsigned char)(u >> (8 * k));
        if (*used == cap) {
            if (fwrite(buf, 1, *used, f) != *used) return -1;
            *used = 0;
        }
    }
    return 0;
}

/* Length prefix, header, every weight, then the optimizer slots. */
static int write_body(FILE *f, const char *hdr, size_t hlen, const recur_model *m, const mf_extra *x)
{
    unsigned char buf[4096 * 4];
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    if (fwrite(buf, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen) return -1;
    size_t used = 0;
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        if (recur_model_weight(m, i, &w, NULL) != RECUR_OK ||
            rc_mf_put_floats(f, buf, sizeof buf, &used, w.data, w.size) != 0)
            return -1;
    }
    for (int s = 0; s < RC_MF_N_SLOTS; s++)
        if (x->slot[s] && rc_mf_put_floats(f, buf, sizeof buf, &used, x->slot[s], recur_model_n_params(m)) != 0) return -1;
    return fwrite(buf, 1, used, f) == used ? 0 : -1;
}

/* Flushes the folder holding `path` so the rename survives a crash. Best
 * effort: some file systems refuse fsync on folders, and the file is already
 * complete and in place. */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 1);
    if (!dir) return;
    if (!slash) memcpy(dir, ".", 1);
    else if (n == 0) memcpy(dir, "/", (n = 1));
    else memcpy(dir, path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Checks shared by both save functions. */
static recur_status check_save(const recur_model *m, const recur_pipeline *p, const char *path, const char *fn,
                               recur_error *err)
{
    if (!m || !path || !*path) return rc_error(err, RECUR_E_INVALID, "%s: model and path are required", fn);
    if (recur_model_n_weights(m) <= 0)
        return rc_error(err, RECUR_E_STATE,
                        "cannot save \"%s\": the model has no weights yet; call recur_model_compile first", path);
    if (p) return rc_mf_check_pipeline(p, recur_model_n_features(m), RECUR_E_INVALID, path, err);
    return RECUR_OK;
}

/* Writes a file atomically: NAME.tmp.XXXXXX in the same folder, fsync, rename. */
recur_status rc_mf_write_atomic(const char *path, int (*body)(FILE *f, void *ctx), void *ctx, recur_error *err)
{
    recur_status st;
    const char *step = "creating a temporary file in its folder";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    FILE *f = NULL;
    int fd = -1, e = 0;
    if (!tmp) return rc_error(err, RECUR_E_NOMEM, "out of memory saving \"%s\"", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        free(tmp);
        return rc_error(err, RECUR_E_IO, "cannot save \"%s\": %s (%s)", path, strerror(e), step);
    }
    /* mkstemp creates 0600; keep an existing file's mode, else the usual 0644. */
    struct stat sb;
    mode_t mode = (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ? (sb.st_mode & 07777) : 0644;
    errno = 0;
    step = "setting permissions";
    if (fchmod(fd, mode) != 0) goto fail;
    step = "opening the temporary file";
    if (!(f = fdopen(fd, "wb"))) goto fail;
    fd = -1;
    step = "writing";
    if (body(f, ctx) != 0) goto fail;
    step = "flushing";
    if (fflush(f) != 0) goto fail;
    step = "syncing to disk";
    if (fsync(fileno(f)) != 0) goto fail;
    step = "closing";
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) goto fail;
    step = "renaming the temporary file onto it";
    if (rename(tmp, path) != 0) goto fail;
    sync_folder(path);
    free(tmp);
    return RECUR_OK;
fail:
    e = errno ? errno : EIO;
    if (f) fclose(f);
    if (fd >= 0) close(fd);
    unlink(tmp);
    st = rc_error(err, RECUR_E_IO, "cannot save \"%s\": %s (%s)", path, strerror(e), step);
    free(tmp);
    return st;
}

typedef struct {
    const char *hdr;
    size_t hlen;
    const recur_model *m;
    const mf_extra *x;
} mf_body;

static int model_body(FILE *f, void *ctx)
{
    const mf_body *b = ctx;
    return write_body(f, b->hdr, b->hlen, b->m, b->x);
}

static recur_status save_file(const recur_model *m, const mf_extra *x, const char *path, recur_error *err)
{
    size_t hlen = 0;
    char *hdr = NULL;
    recur_status st = header_text(m, x, &hdr, &hlen, err);
    if (st != RECUR_OK) return st;
    mf_body b = {hdr, hlen, m, x};
    st = rc_mf_write_atomic(path, model_body, &b, err);
    free(hdr);
    return st;
}

recur_status recur_model_save(const recur_model *m, const recur_pipeline *p, const char *path, recur_error *err)
{
    recur_status st = check_save(m, p, path, "recur_model_save", err);
    if (st != RECUR_OK) return st;
    mf_extra x;
    memset(&x, 0, sizeof x);
    x.p = p;
    return save_file(m, &x, path, err);
}

recur_status recur_model_save_checkpoint(const recur_model *m, const recur_pipeline *p, const recur_train_state *ts,
                                         const char *path, recur_error *err)
{
    recur_status st = check_save(m, p, path, "recur_model_save_checkpoint", err);
    if (st != RECUR_OK) return st;
    if (!ts) return rc_error(err, RECUR_E_INVALID, "recur_model_save_checkpoint: the training state is required");
    if ((st = rc_mf_check_train_state(ts, RECUR_E_INVALID, path, err))) return st;
    rc_mf_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.co = *recur_model_compile_opts(m);
    ck.iterations = recur_model_optimizer_iterations(m);
    ck.ts = *ts;
    if ((unsigned)ck.co.loss > (unsigned)RECUR_LOSS_MAE || (unsigned)ck.co.optim.kind > (unsigned)RECUR_OPT_RMSPROP_KERAS2)
        return rc_error(err, RECUR_E_STATE, "cannot save \"%s\": unknown loss or optimizer kind", path);
    mf_extra x;
    memset(&x, 0, sizeof x);
    x.p = p;
    x.ck = &ck;
    for (int s = 0; s < RC_MF_N_SLOTS; s++) {
        /* The accessor takes a non-const model (it hands out writable slots); nothing is written here. */
        x.slot[s] = recur_model_optimizer_slot((recur_model *)m, rc_mf_slot_names[s]);
        ck.slot[s] = x.slot[s] != NULL;
    }
    return save_file(m, &x, path, err);
}

/* ====== Load: reading ====== */

recur_status rc_mf_read_all(const char *path, unsigned char **out, size_t *len, recur_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rc_error(err, RECUR_E_IO, "cannot open \"%s\": %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) sb.st_size = 0;
    else if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return rc_error(err, RECUR_E_IO, "cannot read \"%s\": it is a folder, not a model file", path);
    }
    size_t cap = (sb.st_size > 0 && (uintmax_t)sb.st_size < SIZE_MAX) ? (size_t)sb.st_size + 1 : 65536, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return rc_error(err, RECUR_E_NOMEM, "out of memory reading \"%s\" (%zu bytes)", path, cap);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return rc_error(err, RECUR_E_IO, "cannot read \"%s\": %s", path, strerror(e));
    }
    fclose(f);
    *out = buf;
    *len = n;
    return RECUR_OK;
}

/* ====== Load: tensors ====== */

typedef struct {
    const char *name; /* owned by the header JSON */
    int ndim;
    uint64_t dims[MF_MAX_DIMS];
    uint64_t begin, end; /* bytes, relative to the data section */
    int used;
    int slot; /* index in rc_mf_slot_names for "optimizer.<slot>", else -1 */
} mf_tensor;

typedef struct {
    char name[64];
    int ndim, layer;
    uint64_t dims[2];
} mf_expect;

/* Keras names and shapes of every weight the config needs (at most 3 per layer). */
static int expected_tensors(const rc_mf_config *cfg, mf_expect *e)
{
    int count[5] = {0}, n = 0;
    uint64_t in = (uint64_t)cfg->n_features;
    for (int i = 0; i < cfg->n_layers; i++) {
        const rc_mf_layer *L = &cfg->layer[i];
        char base[32];
        int c = count[L->kind]++;
        if (c) snprintf(base, sizeof base, "%s_%d", rc_mf_kind_names[L->kind], c);
        else snprintf(base, sizeof base, "%s", rc_mf_kind_names[L->kind]);
        if (L->kind == RECUR_LAYER_DROPOUT) continue;
        uint64_t H = (uint64_t)L->units;
        uint64_t GH = H * (L->kind == RECUR_LAYER_LSTM ? 4 : L->kind == RECUR_LAYER_GRU ? 3 : 1);
        mf_expect *k = &e[n++];
        snprintf(k->name, sizeof k->name, "%s.kernel", base);
        k->layer = i;
        k->ndim = 2;
        k->dims[0] = in;
        k->dims[1] = GH;
        if (L->kind != RECUR_LAYER_DENSE) {
            mf_expect *u = &e[n++];
            snprintf(u->name, sizeof u->name, "%s.recurrent_kernel", base);
            u->layer = i;
            u->ndim = 2;
            u->dims[0] = H;
            u->dims[1] = GH;
        }
        mf_expect *b = &e[n++];
        snprintf(b->name, sizeof b->name, "%s.bias", base);
        b->layer = i;
        b->ndim = 1;
        b->dims[0] = GH;
        if (L->kind == RECUR_LAYER_GRU && L->reset_after) b->ndim = 2, b->dims[0] = 2, b->dims[1] = GH;
        in = H;
    }
    return n;
}

static void shape_text(char *buf, size_t cap, int ndim, const uint64_t *dims)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static recur_status parse_tensor(const rc_mf_ctx *c, const char *name, const json_t *o, uint64_t data_len,
                                 mf_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->slot = -1;
    if (strncmp(name, SLOT_PREFIX, strlen(SLOT_PREFIX)) == 0)
        for (int s = 0; s < RC_MF_N_SLOTS; s++)
            if (strcmp(name + strlen(SLOT_PREFIX), rc_mf_slot_names[s]) == 0) t->slot = s;
    if (!json_is_object(o)) return rc_mf_bad(c, "tensor \"%.64s\": entry must be an object", name);
    json_t *dt = json_object_get(o, "dtype"), *sh = json_object_get(o, "shape"),
           *of = json_object_get(o, "data_offsets");
    if (!json_is_string(dt)) return rc_mf_bad(c, "tensor \"%.64s\": \"dtype\" missing or not a string", name);
    if (strcmp(json_string_value(dt), "F32") != 0)
        return rc_mf_bad(c, "tensor \"%.64s\": dtype %.16s is not supported (recur stores and reads F32 only)", name,
                         json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > MF_MAX_DIMS)
        return rc_mf_bad(c, "tensor \"%.64s\": \"shape\" is missing or not an array of at most %d sizes", name,
                         MF_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t count = 1;
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
        json_t *v = json_array_get(sh, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return rc_mf_bad(c, "tensor \"%.64s\": shape[%d] is not a non-negative integer", name, d);
        t->dims[d] = (uint64_t)json_integer_value(v);
        if (t->dims[d] && count > UINT64_MAX / 4 / t->dims[d]) overflow = 1;
        else count *= t->dims[d];
    }
    if (!json_is_array(of) || json_array_size(of) != 2 || !json_is_integer(json_array_get(of, 0)) ||
        !json_is_integer(json_array_get(of, 1)) || json_integer_value(json_array_get(of, 0)) < 0 ||
        json_integer_value(json_array_get(of, 1)) < 0)
        return rc_mf_bad(c, "tensor \"%.64s\": \"data_offsets\" must be [begin, end], two non-negative integers",
                         name);
    t->begin = (uint64_t)json_integer_value(json_array_get(of, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(of, 1));
    if (t->end < t->begin)
        return rc_mf_bad(c, "tensor \"%.64s\": data_offsets end %llu is before begin %llu", name,
                         (unsigned long long)t->end, (unsigned long long)t->begin);
    if (t->end > data_len)
        return rc_mf_bad(c,
                         "tensor \"%.64s\": data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
                         "truncated file?",
                         name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_len);
    if (overflow || t->end - t->begin != count * 4)
        return rc_mf_bad(c, "tensor \"%.64s\": %llu bytes of data, but its shape needs %s%llu (4 bytes per F32)",
                         name, (unsigned long long)(t->end - t->begin), overflow ? "more than " : "",
                         (unsigned long long)(count * 4));
    return RECUR_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const mf_tensor *x = *(const mf_tensor *const *)a, *y = *(const mf_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* safetensors' own rule: byte ranges tile the data section exactly. */
static recur_status check_layout(const rc_mf_ctx *c, mf_tensor *t, int n, uint64_t data_len)
{
    mf_tensor **s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return rc_error(c->err, RECUR_E_NOMEM, "%s: out of memory checking tensors", c->path);
    for (int i = 0; i < n; i++) s[i] = &t[i];
    qsort(s, (size_t)n, sizeof *s, cmp_begin);
    recur_status st = RECUR_OK;
    uint64_t pos = 0;
    for (int i = 0; i < n && !st; i++) {
        if (s[i]->begin < pos)
            st = rc_mf_bad(c, "tensors \"%.64s\" and \"%.64s\" overlap (bytes %llu..%llu and %llu..%llu)",
                           s[i - 1]->name, s[i]->name, (unsigned long long)s[i - 1]->begin,
                           (unsigned long long)s[i - 1]->end, (unsigned long long)s[i]->begin,
                           (unsigned long long)s[i]->end);
        else if (s[i]->begin > pos)
            st = rc_mf_bad(c, "%llu bytes before tensor \"%.64s\" belong to no tensor (the data must be fully indexed)",
                           (unsigned long long)(s[i]->begin - pos), s[i]->name);
        pos = s[i]->end;
    }
    if (!st && pos != data_len)
        st = rc_mf_bad(c, "%llu bytes after the last tensor belong to no tensor (the data must be fully indexed)",
                       (unsigned long long)(data_len - pos));
    free(s);
    return st;
}

/* Every tensor the config needs, with its shape; optimizer slots of shape
 * [n_params] when the file is a checkpoint; nothing else. *n_params: the sum
 * of the weights' sizes. */
static recur_status match_tensors(const rc_mf_ctx *c, const rc_mf_config *cfg, const mf_expect *e, int ne,
                                  mf_tensor *t, int nt, int is_ckpt, uint64_t *n_params)
{
    uint64_t total = 0;
    for (int i = 0; i < ne; i++) {
        mf_tensor *f = NULL;
        for (int j = 0; j < nt && !f; j++)
            if (strcmp(t[j].name, e[i].name) == 0) f = &t[j];
        const rc_mf_layer *L = &cfg->layer[e[i].layer];
        if (!f)
            return rc_mf_bad(c, "tensor \"%s\" is missing (layer %d, %s(%d), needs it)", e[i].name, e[i].layer,
                             rc_mf_kind_names[L->kind], L->units);
        int same = f->ndim == e[i].ndim;
        for (int d = 0; d < e[i].ndim && same; d++) same = f->dims[d] == e[i].dims[d];
        if (!same) {
            char want[96], got[96];
            shape_text(want, sizeof want, e[i].ndim, e[i].dims);
            shape_text(got, sizeof got, f->ndim, f->dims);
            return rc_mf_bad(c, "tensor \"%s\" has shape %s but the config (layer %d, %s(%d)) needs %s", e[i].name,
                             got, e[i].layer, rc_mf_kind_names[L->kind], L->units, want);
        }
        f->used = 1;
        total += (f->end - f->begin) / 4;
    }
    for (int j = 0; j < nt; j++) {
        if (t[j].used) continue;
        if (t[j].slot < 0)
            return rc_mf_bad(c, "unexpected tensor \"%.64s\": the config's layers have no such weight", t[j].name);
        if (!is_ckpt)
            return rc_mf_bad(c, "unexpected tensor \"%.64s\": optimizer state without __metadata__.checkpoint",
                             t[j].name);
        if (t[j].ndim != 1 || t[j].dims[0] != total)
            return rc_mf_bad(c, "tensor \"%.64s\" must have shape [%llu] (one value per parameter)", t[j].name,
                             (unsigned long long)total);
        t[j].used = 1;
    }
    *n_params = total;
    return RECUR_OK;
}

/* ====== Load: rebuilding the model ====== */

recur_status rc_mf_add_layer(recur_model *m, const rc_mf_layer *L, recur_error *err)
{
    recur_status st;
    const recur_activation ga = L->rec_act == RECUR_ACT_LINEAR ? RECUR_ACT_SIGMOID : L->rec_act;
    switch (L->kind) {
    case RECUR_LAYER_LSTM:
    case RECUR_LAYER_GRU:
        st = L->kind == RECUR_LAYER_LSTM ? recur_model_add_lstm(m, L->units, L->return_sequences, err)
                                         : recur_model_add_gru(m, L->units, L->return_sequences, L->reset_after, err);
        if (st || ga == RECUR_ACT_SIGMOID) return st;
        return recur_model_set_recurrent_activation(m, recur_model_n_layers(m) - 1, ga, err);
    case RECUR_LAYER_RNN: return recur_model_add_rnn(m, L->units, L->return_sequences, err);
    case RECUR_LAYER_DENSE: return recur_model_add_dense(m, L->units, L->act, err);
    case RECUR_LAYER_DROPOUT: return recur_model_add_dropout(m, L->rate, err);
    }
    return rc_error(err, RECUR_E_INVALID, "unknown layer kind %d", (int)L->kind);
}

/* The model of the config, compiled with `co` (the checkpoint's options, or the defaults when ck is 0). */
static recur_status build_model(const rc_mf_ctx *c, const rc_mf_config *cfg, const recur_compile_opts *co, int ck,
                                recur_model **out)
{
    recur_error e2;
    recur_model *m = NULL;
    recur_status st = recur_model_new(cfg->n_features, &m, &e2);
    for (int i = 0; i < cfg->n_layers && st == RECUR_OK; i++) {
        const rc_mf_layer *L = &cfg->layer[i];
        st = rc_mf_add_layer(m, L, &e2);
        if (st != RECUR_OK && st != RECUR_E_NOMEM) {
            recur_model_free(m);
            return rc_mf_bad(c, "config layer %d (%s) cannot be built: %s", i, rc_mf_kind_names[L->kind], e2.msg);
        }
    }
    if (st == RECUR_OK) st = recur_model_compile(m, co, &e2);
    if (st != RECUR_OK) {
        recur_model_free(m);
        if (st == RECUR_E_NOMEM) return rc_error(c->err, st, "%s: %s", c->path, e2.msg);
        if (ck) return rc_mf_bad(c, "the checkpoint's loss or optimizer options are refused: %s", e2.msg);
        return rc_mf_bad(c, "the model in the config cannot be built: %s", e2.msg);
    }
    *out = m;
    return RECUR_OK;
}

/* n float32 little-endian values at s -> recur_float. */
static void get_floats(recur_float *dst, const unsigned char *s, size_t n)
{
    for (size_t k = 0; k < n; k++, s += 4) {
        uint32_t u = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
        float v;
        memcpy(&v, &u, 4);
        dst[k] = (recur_float)v;
    }
}

/* Copies each file tensor into the model. */
static recur_status fill_weights(const rc_mf_ctx *c, recur_model *m, const unsigned char *data, const mf_tensor *t,
                                 int nt)
{
    int nw = recur_model_n_weights(m), nf = 0;
    for (int j = 0; j < nt; j++) nf += t[j].slot < 0;
    if (nw != nf) return rc_mf_bad(c, "the built model has %d weight tensors but the file has %d", nw, nf);
    for (int i = 0; i < nw; i++) {
        recur_weight w;
        recur_error e2;
        if (recur_model_weight(m, i, &w, &e2) != RECUR_OK) return rc_mf_bad(c, "%s", e2.msg);
        const mf_tensor *f = NULL;
        for (int j = 0; j < nt && !f; j++)
            if (strcmp(t[j].name, w.name) == 0) f = &t[j];
        if (!f || (uint64_t)w.size * 4 != f->end - f->begin || f->ndim != w.ndim ||
            f->dims[0] != (uint64_t)w.dims[0] || (w.ndim == 2 && f->dims[1] != (uint64_t)w.dims[1]))
            return rc_mf_bad(c, "the built model's weight \"%.63s\" has no tensor of its shape in the file", w.name);
        get_floats(w.data, data + f->begin, w.size);
    }
    return RECUR_OK;
}

/* Checkpoint: the slots the compiled optimizer has, exactly those in the file,
 * finite (and, for the squared-gradient averages, not negative). */
static recur_status fill_slots(const rc_mf_ctx *c, recur_model *m, const unsigned char *data, const mf_tensor *t,
                               int nt, const rc_mf_checkpoint *ck)
{
    static const char *const kinds[] = {"rmsprop", "adam", "sgd", "rmsprop-keras2"};
    size_t n = recur_model_n_params(m);
    for (int s = 0; s < RC_MF_N_SLOTS; s++) {
        recur_float *dst = recur_model_optimizer_slot(m, rc_mf_slot_names[s]);
        const mf_tensor *f = NULL;
        for (int j = 0; j < nt && !f; j++)
            if (t[j].slot == s) f = &t[j];
        const char *kind = kinds[(unsigned)ck->co.optim.kind < 4u ? ck->co.optim.kind : 0];
        if (dst && !f)
            return rc_mf_bad(c, "tensor \"" SLOT_PREFIX "%s\" is missing (the checkpoint's %s optimizer needs it)",
                             rc_mf_slot_names[s], kind);
        if (!dst && f)
            return rc_mf_bad(c, "unexpected tensor \"" SLOT_PREFIX "%s\": the checkpoint's %s optimizer has no such "
                                "slot",
                             rc_mf_slot_names[s], kind);
        if (!dst) continue;
        if ((f->end - f->begin) / 4 != n)
            return rc_mf_bad(c, "tensor \"" SLOT_PREFIX "%s\" has %llu values, the model %zu parameters",
                             rc_mf_slot_names[s], (unsigned long long)((f->end - f->begin) / 4), n);
        get_floats(dst, data + f->begin, n);
        int squares = s == 0 || s == 3; /* velocity, velocity_hat: averages of g^2 (not SGD's velocity) */
        if (ck->co.optim.kind == RECUR_OPT_SGD) squares = 0;
        for (size_t k = 0; k < n; k++)
            if (!isfinite(dst[k]) || (squares && dst[k] < 0))
                return rc_mf_bad(c, "tensor \"" SLOT_PREFIX "%s\" value %zu is %s: the optimizer state is corrupt",
                                 rc_mf_slot_names[s], k, isfinite(dst[k]) ? "negative" : "not finite");
    }
    recur_model_set_optimizer_iterations(m, ck->iterations);
    return RECUR_OK;
}

/* ====== Load ====== */

static recur_status check_metadata(const rc_mf_ctx *c, const json_t *root, const json_t **meta_out)
{
    const json_t *meta = json_object_get(root, "__metadata__");
    if (!meta) return rc_mf_bad(c, "no __metadata__ in the header: a safetensors file, but not a recur model");
    if (!json_is_object(meta)) return rc_mf_bad(c, "__metadata__ must be an object of strings");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)meta, key, v)
    {
        if (!json_is_string(v))
            return rc_mf_bad(c, "__metadata__.%.40s is not a string (safetensors allows only strings)", key);
    }
    json_t *fmt = json_object_get(meta, "format"), *ver = json_object_get(meta, "format_version");
    if (fmt && strcmp(json_string_value(fmt), "recur-forecaster") == 0)
        return rc_mf_bad(c, "this is a recur forecaster (one model for many series, with its series' scaling), not "
                            "a single model: load it with recur_forecaster_load, or use it with recur forecast");
    if (!fmt || strcmp(json_string_value(fmt), MF_FORMAT) != 0)
        return rc_mf_bad(c, "__metadata__.format is %s%.40s%s, not \"" MF_FORMAT "\": not a recur model file",
                         fmt ? "\"" : "", fmt ? json_string_value(fmt) : "missing", fmt ? "\"" : "");
    if (!ver) return rc_mf_bad(c, "__metadata__ has no format_version");
    if (strcmp(json_string_value(ver), MF_VERSION) != 0)
        return rc_mf_bad(c,
                         "format_version \"%.20s\" is not supported: this recur reads format_version \"" MF_VERSION
                         "\" (written by a newer recur? upgrade it)",
                         json_string_value(ver));
    *meta_out = meta;
    return RECUR_OK;
}

/* The length prefix and the JSON header of a safetensors file in memory: the
 * header object into *root (caller decrefs), its length into *hlen. */
recur_status rc_mf_header(const rc_mf_ctx *cx, const unsigned char *buf, size_t len, json_t **root, uint64_t *hlen)
{
    const rc_mf_ctx *c = cx;
    *root = NULL;
    *hlen = 0;
    if (len == 0) return rc_mf_bad(c, "file is empty");
    if (len < 8) return rc_mf_bad(c, "file is only %zu bytes, shorter than the 8-byte header length", len);
    uint64_t h = 0;
    for (int k = 0; k < 8; k++) h |= (uint64_t)buf[k] << (8 * k);
    if (h == 0 || h > MF_MAX_HEADER)
        return rc_mf_bad(c, "header length %llu is absurd (1..%llu allowed): not a model file", (unsigned long long)h,
                         MF_MAX_HEADER);
    if (h > len - 8)
        return rc_mf_bad(c, "header length %llu runs past the end of the file (%zu bytes): truncated?",
                         (unsigned long long)h, len);
    json_error_t je;
    json_t *r = json_loadb((const char *)buf + 8, (size_t)h, JSON_REJECT_DUPLICATES, &je);
    if (!r) return rc_mf_bad(c, "header is not valid JSON: %s (byte %d of the header)", je.text, je.position);
    if (!json_is_object(r)) {
        json_decref(r);
        return rc_mf_bad(c, "header is not a JSON object");
    }
    *root = r;
    *hlen = h;
    return RECUR_OK;
}

/* Both loads: ck NULL reads the model (a checkpoint's optimizer is checked and
 * ignored), else the checkpoint with its optimizer state into *ck. */
static recur_status load_file(const char *path, recur_model **out, recur_pipeline *p, rc_mf_checkpoint *ck,
                              recur_error *err)
{
    *out = NULL;
    rc_mf_ctx c = {path, err};
    unsigned char *buf = NULL;
    size_t len = 0;
    recur_status st = rc_mf_read_all(path, &buf, &len, err);
    if (st) return st;

    json_t *root = NULL;
    rc_mf_config *cfg = NULL;
    mf_expect *exp = NULL;
    mf_tensor *ten = NULL;
    recur_model *m = NULL;
    uint64_t hlen = 0;
    if ((st = rc_mf_header(&c, buf, len, &root, &hlen))) goto done;
    const json_t *meta = NULL;
    if ((st = check_metadata(&c, root, &meta))) goto done;
    cfg = malloc(sizeof *cfg);
    exp = malloc(3 * RC_MF_MAX_LAYERS * sizeof *exp);
    size_t nt_max = json_object_size(root);
    ten = malloc((nt_max ? nt_max : 1) * sizeof *ten);
    if (!cfg || !exp || !ten) {
        st = rc_error(err, RECUR_E_NOMEM, "%s: out of memory reading the header", path);
        goto done;
    }
    if ((st = rc_mf_parse_config(&c, meta, cfg))) goto done;
    if (ck && (st = rc_mf_parse_checkpoint(&c, meta, ck))) goto done;
    int is_ckpt = json_object_get(meta, "checkpoint") != NULL;

    uint64_t data_len = (uint64_t)(len - 8) - hlen, n_params = 0;
    int nt = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) continue;
        if ((st = parse_tensor(&c, key, v, data_len, &ten[nt]))) goto done;
        nt++;
    }
    int ne = expected_tensors(cfg, exp);
    if (ne == 0) {
        st = rc_mf_bad(&c, "config has no layer with weights");
        goto done;
    }
    if ((st = match_tensors(&c, cfg, exp, ne, ten, nt, is_ckpt, &n_params)) ||
        (st = check_layout(&c, ten, nt, data_len)))
        goto done;
    recur_compile_opts co = ck ? ck->co : recur_compile_opts_default();
    const unsigned char *data = buf + 8 + (size_t)hlen;
    if ((st = build_model(&c, cfg, &co, ck != NULL, &m)) || (st = fill_weights(&c, m, data, ten, nt))) goto done;
    if (ck && (st = fill_slots(&c, m, data, ten, nt, ck))) goto done;
    if (p) {
        if (cfg->has_pipeline) *p = cfg->pipe;
        else memset(p, 0, sizeof *p); /* n_features 0: the file has no pipeline */
    }
    *out = m;
    m = NULL;
done:
    recur_model_free(m);
    free(ten);
    free(exp);
    free(cfg);
    json_decref(root);
    free(buf);
    return st;
}

recur_status recur_model_load(const char *path, recur_model **out, recur_pipeline *p, recur_error *err)
{
    if (!path || !out) return rc_error(err, RECUR_E_INVALID, "recur_model_load: path and out are required");
    /* A Keras file (zip or HDF5 by its first bytes) is read by the Keras reader. */
    if (recur_keras_detect(path) != RECUR_KERAS_NONE) return recur_keras_load(path, out, p, NULL, err);
    return load_file(path, out, p, NULL, err);
}

recur_status recur_model_load_checkpoint(const char *path, recur_model **out, recur_pipeline *p,
                                         recur_train_state *ts, recur_error *err)
{
    if (!path || !out || !ts)
        return rc_error(err, RECUR_E_INVALID, "recur_model_load_checkpoint: path, out and ts are required");
    rc_mf_checkpoint ck;
    recur_status st = load_file(path, out, p, &ck, err);
    if (st == RECUR_OK) *ts = ck.ts;
    return st;
}
