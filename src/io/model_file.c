/*
 * model_file.c -- recur_model_save / recur_model_load: the model file.
 *
 * Layout: safetensors (https://github.com/huggingface/safetensors), so Python's
 * safetensors, numpy and PyTorch read the weights as they are.
 *
 *   bytes 0..7      N, unsigned 64-bit little-endian: length of the JSON header
 *   bytes 8..8+N    JSON header, UTF-8, padded with spaces so that the data
 *                   section starts on an 8-byte boundary
 *   bytes 8+N..end  data: each tensor as little-endian float32, row-major,
 *                   contiguous, in recur_model_weight() order, no gaps
 *
 *   {"__metadata__": {"format": "recur-model", "format_version": "1",
 *                     "recur_version": "0.1.0", "recur": "<config as JSON text>"},
 *    "lstm.kernel": {"dtype": "F32", "shape": [1, 200], "data_offsets": [0, 800]}, ...}
 *
 * safetensors allows only strings as metadata values, so the config is one JSON
 * document serialised into __metadata__.recur:
 *
 *   {"n_features": 1,
 *    "layers": [{"kind": "lstm", "units": 50, "return_sequences": true},
 *               {"kind": "gru", "units": 8, "return_sequences": false, "reset_after": true},
 *               {"kind": "simple_rnn", "units": 8, "return_sequences": false},
 *               {"kind": "dropout", "rate": 0.2}, {"kind": "dense", "units": 1, "activation": "linear"}],
 *    "pipeline": {"features": ["Close"], "target": 0, "timestep": 60, "horizon": 1,
 *                 "test_fraction": 0.2, "transform": "none", "scaler_kind": "minmax",
 *                 "scaler": {"kind": "minmax", "a": [..], "b": [..]}}}     (pipeline optional)
 *
 * Doubles are written with 17 significant digits, so they read back bit for bit.
 * Loading trusts nothing: sizes, JSON, every field, every tensor's dtype, shape
 * and byte range are checked before anything is allocated for the model; the
 * model is then rebuilt from the config and compiled, and the weights copied in.
 * Not stored: the optimizer state (a loaded model has a fresh optimizer).
 * docs/model-file.md has the full schema and the version policy.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MF_FORMAT "recur-model"
#define MF_VERSION "1"
#define MF_MAX_HEADER 100000000ULL /* the limit safetensors itself enforces */
#define MF_MAX_LAYERS 256
#define MF_MAX_WIDTH (1 << 20) /* units and n_features */
#define MF_MAX_DIMS 8

static const char *const kind_names[] = {"lstm", "gru", "simple_rnn", "dense", "dropout"};
static const char *const act_names[] = {"linear", "relu", "tanh", "sigmoid"};
static const char *const transform_names[] = {"none", "diff", "logreturn"};
static const char *const scaler_names[] = {"minmax", "standard"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* ====== Pipeline rules, shared by save (RECUR_E_INVALID) and load (RECUR_E_FORMAT) ====== */

static recur_status check_pipeline(const recur_pipeline *p, int n_features, recur_status code, const char *path,
                                   recur_error *err)
{
    if (p->n_features != n_features || n_features > RECUR_SCALER_MAX)
        return rc_error(err, code, "%s: pipeline has %d features but the model takes %d per step", path,
                        p->n_features, n_features);
    for (int j = 0; j < p->n_features; j++) {
        if (!memchr(p->features[j], '\0', sizeof p->features[j]) || p->features[j][0] == '\0')
            return rc_error(err, code, "%s: pipeline feature %d has an empty or unterminated name", path, j);
        json_t *s = json_string(p->features[j]); /* NULL when not UTF-8 */
        if (!s)
            return rc_error(err, code, "%s: pipeline feature %d name \"%.63s\" is not UTF-8 text", path, j,
                            p->features[j]);
        json_decref(s);
    }
    if (p->target < 0 || p->target >= p->n_features)
        return rc_error(err, code, "%s: pipeline target %d is not a feature index (0..%d)", path, p->target,
                        p->n_features - 1);
    if (p->timestep < 1 || p->horizon < 1)
        return rc_error(err, code, "%s: pipeline timestep (%d) and horizon (%d) must be at least 1", path,
                        p->timestep, p->horizon);
    if (!(p->test_fraction >= 0 && p->test_fraction < 1))
        return rc_error(err, code, "%s: pipeline test_fraction %g is not in [0, 1)", path, p->test_fraction);
    if ((unsigned)p->transform >= (unsigned)N_OF(transform_names) ||
        (unsigned)p->scaler_kind >= (unsigned)N_OF(scaler_names) ||
        (unsigned)p->scaler.kind >= (unsigned)N_OF(scaler_names))
        return rc_error(err, code, "%s: pipeline has an unknown transform or scaler kind", path);
    if (p->scaler.n < 0 || p->scaler.n > RECUR_SCALER_MAX)
        return rc_error(err, code, "%s: pipeline scaler has %d features (0..%d allowed)", path, p->scaler.n,
                        RECUR_SCALER_MAX);
    for (int j = 0; j < p->scaler.n; j++)
        if (!isfinite(p->scaler.a[j]) || !isfinite(p->scaler.b[j]))
            return rc_error(err, code, "%s: pipeline scaler value %d is not finite", path, j);
    return RECUR_OK;
}

/* ====== Save ====== */

/* The double with the fewest significant digits that rounds to the float f:
 * a dropout rate of 0.2f is written 0.2, and still reads back as 0.2f. */
static double short_float(float f)
{
    char buf[32];
    double v = (double)f;
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        v = strtod(buf, NULL);
        if ((float)v == f) break;
    }
    return v;
}

/* Config text with the fewest digits (15, 16 or 17) that read back to exactly
 * the same numbers; 17 always does for IEEE doubles. */
static char *dump_exact(const json_t *cfg)
{
    for (int prec = 15; prec <= 17; prec++) {
        char *text = json_dumps(cfg, JSON_COMPACT | JSON_REAL_PRECISION(prec));
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        int same = back && json_equal(cfg, back);
        json_decref(back);
        if (same) return text;
        free(text);
    }
    return NULL;
}

static json_t *layer_json(const recur_layer_info *li)
{
    const char *k = kind_names[li->kind];
    switch (li->kind) {
    case RECUR_LAYER_DROPOUT: return json_pack("{s:s, s:f}", "kind", k, "rate", short_float(li->rate));
    case RECUR_LAYER_DENSE:
        return json_pack("{s:s, s:i, s:s}", "kind", k, "units", li->units, "activation", act_names[li->act]);
    case RECUR_LAYER_GRU:
        return json_pack("{s:s, s:i, s:b, s:b}", "kind", k, "units", li->units, "return_sequences",
                         li->return_sequences, "reset_after", li->reset_after);
    default:
        return json_pack("{s:s, s:i, s:b}", "kind", k, "units", li->units, "return_sequences", li->return_sequences);
    }
}

static json_t *real_array(const double *v, int n)
{
    json_t *a = json_array();
    for (int j = 0; j < n && a; j++)
        if (json_array_append_new(a, json_real(v[j]))) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* The pipeline object; names were checked to be UTF-8 by the caller. */
static json_t *pipeline_json(const recur_pipeline *p)
{
    json_t *feat = json_array();
    for (int j = 0; j < p->n_features && feat; j++)
        if (json_array_append_new(feat, json_string(p->features[j]))) {
            json_decref(feat);
            feat = NULL;
        }
    return json_pack("{s:o, s:i, s:i, s:i, s:f, s:s, s:s, s:{s:s, s:o, s:o}}", "features", feat, "target",
                     p->target, "timestep", p->timestep, "horizon", p->horizon, "test_fraction", p->test_fraction,
                     "transform", transform_names[p->transform], "scaler_kind", scaler_names[p->scaler_kind],
                     "scaler", "kind", scaler_names[p->scaler.kind], "a", real_array(p->scaler.a, p->scaler.n), "b",
                     real_array(p->scaler.b, p->scaler.n));
}

/* The config document: n_features, layers, pipeline (when p is not NULL). */
static json_t *config_json(const recur_model *m, const recur_pipeline *p, recur_error *err)
{
    json_t *layers = json_array();
    for (int i = 0; i < recur_model_n_layers(m) && layers; i++) {
        recur_layer_info li;
        if (recur_model_layer(m, i, &li, err) != RECUR_OK) {
            json_decref(layers);
            return NULL;
        }
        if ((unsigned)li.kind >= (unsigned)N_OF(kind_names) || (unsigned)li.act >= (unsigned)N_OF(act_names)) {
            json_decref(layers);
            rc_error(err, RECUR_E_STATE, "layer %d has an unknown kind or activation", i);
            return NULL;
        }
        if (json_array_append_new(layers, layer_json(&li))) {
            json_decref(layers);
            layers = NULL;
        }
    }
    json_t *cfg = json_pack("{s:i, s:o}", "n_features", recur_model_n_features(m), "layers", layers);
    if (cfg && p && json_object_set_new(cfg, "pipeline", pipeline_json(p))) {
        json_decref(cfg);
        cfg = NULL;
    }
    if (!cfg) rc_error(err, RECUR_E_NOMEM, "out of memory writing the model config");
    return cfg;
}

/* One tensor entry; its bytes are [off, off + 4 * size) of the data section. */
static json_t *tensor_json(const recur_weight *w, uint64_t off)
{
    json_t *shape = w->ndim == 1 ? json_pack("[i]", w->dims[0]) : json_pack("[i, i]", w->dims[0], w->dims[1]);
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)off,
                     (json_int_t)(off + 4 * (uint64_t)w->size));
}

/* The header text padded with spaces to a multiple of 8 bytes: *out (malloc'd), *len. */
static recur_status header_text(const recur_model *m, const recur_pipeline *p, char **out, size_t *len,
                                recur_error *err)
{
    recur_error e2; /* config_json and the weight loop report here, so the code survives err == NULL */
    recur_status st = RECUR_OK;
    char *cfg_text = NULL, *text = NULL;
    json_t *root = NULL, *cfg = config_json(m, p, &e2);
    *out = NULL;
    if (!cfg) return rc_error(err, e2.code, "%s", e2.msg);
    cfg_text = dump_exact(cfg);
    root = cfg_text ? json_pack("{s:{s:s, s:s, s:s, s:s}}", "__metadata__", "format", MF_FORMAT, "format_version",
                                MF_VERSION, "recur_version", RECUR_VERSION, "recur", cfg_text)
                    : NULL;
    if (!root) goto nomem;
    uint64_t off = 0;
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        if (recur_model_weight(m, i, &w, &e2) != RECUR_OK) {
            st = rc_error(err, RECUR_E_STATE, "%s", e2.msg);
            goto done;
        }
        size_t prod = 1;
        for (int d = 0; d < w.ndim && d < 2; d++) prod *= (size_t)(w.dims[d] > 0 ? w.dims[d] : 0);
        if (!w.data || w.ndim < 1 || w.ndim > 2 || prod != w.size || w.size == 0 ||
            !memchr(w.name, '\0', sizeof w.name) || json_object_get(root, w.name)) {
            st = rc_error(err, RECUR_E_STATE,
                          "weight %d (\"%.63s\") is inconsistent (no data, bad shape or duplicate name)", i, w.name);
            goto done;
        }
        if (json_object_set_new(root, w.name, tensor_json(&w, off))) goto nomem;
        off += 4 * (uint64_t)w.size;
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
    json_decref(cfg);
    json_decref(root);
    return st;
}

/* Length prefix, header, then every weight as little-endian float32. */
static int write_body(FILE *f, const char *hdr, size_t hlen, const recur_model *m)
{
    unsigned char buf[4096 * 4];
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    if (fwrite(buf, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen) return -1;
    size_t used = 0;
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        if (recur_model_weight(m, i, &w, NULL) != RECUR_OK) return -1;
        for (size_t e = 0; e < w.size; e++) {
            float v = (float)w.data[e];
            uint32_t u;
            memcpy(&u, &v, 4);
            for (int k = 0; k < 4; k++) buf[used++] = (unsigned char)(u >> (8 * k));
            if (used == sizeof buf) {
                if (fwrite(buf, 1, used, f) != used) return -1;
                used = 0;
            }
        }
    }
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

recur_status recur_model_save(const recur_model *m, const recur_pipeline *p, const char *path, recur_error *err)
{
    if (!m || !path || !*path) return rc_error(err, RECUR_E_INVALID, "recur_model_save: model and path are required");
    if (recur_model_n_weights(m) <= 0)
        return rc_error(err, RECUR_E_STATE,
                        "cannot save \"%s\": the model has no weights yet; call recur_model_compile first", path);
    if (p) {
        recur_status st = check_pipeline(p, recur_model_n_features(m), RECUR_E_INVALID, path, err);
        if (st != RECUR_OK) return st;
    }
    size_t hlen = 0;
    char *hdr = NULL;
    recur_status st = header_text(m, p, &hdr, &hlen, err);
    if (st != RECUR_OK) return st;

    const char *step = "creating a temporary file in its folder";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    FILE *f = NULL;
    int fd = -1, e = 0;
    if (!tmp) {
        free(hdr);
        return rc_error(err, RECUR_E_NOMEM, "out of memory saving \"%s\"", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        free(tmp);
        free(hdr);
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
    if (write_body(f, hdr, hlen, m) != 0) goto fail;
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
    free(hdr);
    return RECUR_OK;
fail:
    e = errno ? errno : EIO;
    if (f) fclose(f);
    if (fd >= 0) close(fd);
    unlink(tmp);
    st = rc_error(err, RECUR_E_IO, "cannot save \"%s\": %s (%s)", path, strerror(e), step);
    free(tmp);
    free(hdr);
    return st;
}

/* ====== Load: reading and refusing ====== */

typedef struct {
    const char *path;
    recur_error *err;
} mf_ctx;

static recur_status bad(const mf_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static recur_status bad(const mf_ctx *c, const char *fmt, ...)
{
    char msg[RECUR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rc_error(c->err, RECUR_E_FORMAT, "%s: %s", c->path, msg);
}

static recur_status read_all(const char *path, unsigned char **out, size_t *len, recur_error *err)
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

/* ====== Load: config ====== */

typedef struct {
    recur_layer_kind kind;
    int units, return_sequences, reset_after;
    recur_activation act;
    float rate;
} mf_layer;

typedef struct {
    int n_features, n_layers, has_pipeline;
    mf_layer layer[MF_MAX_LAYERS];
    recur_pipeline pipe;
} mf_config;

static recur_status cfg_int(const mf_ctx *c, const json_t *o, const char *key, long long lo, long long hi, int *out,
                            const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(c, "config %s: \"%s\" must be an integer in %lld..%lld", where, key, lo, hi);
    *out = (int)json_integer_value(v);
    return RECUR_OK;
}

static recur_status cfg_bool(const mf_ctx *c, const json_t *o, const char *key, int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) return bad(c, "config %s: \"%s\" must be true or false", where, key);
    *out = json_is_true(v);
    return RECUR_OK;
}

static recur_status cfg_real(const mf_ctx *c, const json_t *o, const char *key, double *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return bad(c, "config %s: \"%s\" must be a number", where, key);
    *out = json_number_value(v);
    return RECUR_OK;
}

static recur_status cfg_enum(const mf_ctx *c, const json_t *o, const char *key, const char *const *names, int n,
                             int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    int k = json_is_string(v) ? name_index(names, n, json_string_value(v)) : -1;
    if (k < 0) {
        char list[160] = "";
        for (int i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", names[i]);
        if (json_is_string(v))
            return bad(c, "config %s: unknown %s \"%.40s\" (known: %s)", where, key, json_string_value(v), list);
        return bad(c, "config %s: \"%s\" must be one of %s", where, key, list);
    }
    *out = k;
    return RECUR_OK;
}

static recur_status parse_doubles(const mf_ctx *c, const json_t *arr, double *out, int n, const char *what)
{
    for (int j = 0; j < n; j++) {
        json_t *v = json_array_get(arr, (size_t)j);
        if (!json_is_number(v)) return bad(c, "config pipeline: %s[%d] must be a number", what, j);
        out[j] = json_number_value(v);
    }
    return RECUR_OK;
}

static recur_status parse_pipeline(const mf_ctx *c, const json_t *o, int n_features, recur_pipeline *p)
{
    recur_status st;
    int k = 0;
    memset(p, 0, sizeof *p);
    if (!json_is_object(o)) return bad(c, "config: \"pipeline\" must be an object");
    json_t *feat = json_object_get(o, "features");
    if (!json_is_array(feat) || json_array_size(feat) != (size_t)n_features)
        return bad(c, "config pipeline: \"features\" must be an array of %d names (one per model input)",
                   n_features);
    p->n_features = n_features;
    for (int j = 0; j < n_features; j++) {
        json_t *s = json_array_get(feat, (size_t)j);
        if (!json_is_string(s) || json_string_length(s) < 1 || json_string_length(s) >= sizeof p->features[j])
            return bad(c, "config pipeline: features[%d] must be a name of 1..%zu bytes", j,
                       sizeof p->features[j] - 1);
        memcpy(p->features[j], json_string_value(s), json_string_length(s));
    }
    if ((st = cfg_int(c, o, "target", 0, n_features - 1, &p->target, "pipeline")) ||
        (st = cfg_int(c, o, "timestep", 1, INT_MAX, &p->timestep, "pipeline")) ||
        (st = cfg_int(c, o, "horizon", 1, INT_MAX, &p->horizon, "pipeline")) ||
        (st = cfg_real(c, o, "test_fraction", &p->test_fraction, "pipeline")))
        return st;
    if ((st = cfg_enum(c, o, "transform", transform_names, N_OF(transform_names), &k, "pipeline"))) return st;
    p->transform = (recur_transform)k;
    if ((st = cfg_enum(c, o, "scaler_kind", scaler_names, N_OF(scaler_names), &k, "pipeline"))) return st;
    p->scaler_kind = (recur_scaler_kind)k;
    json_t *sc = json_object_get(o, "scaler");
    if (!json_is_object(sc)) return bad(c, "config pipeline: \"scaler\" must be an object");
    if ((st = cfg_enum(c, sc, "kind", scaler_names, N_OF(scaler_names), &k, "pipeline scaler"))) return st;
    p->scaler.kind = (recur_scaler_kind)k;
    json_t *a = json_object_get(sc, "a"), *b = json_object_get(sc, "b");
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b) ||
        json_array_size(a) > RECUR_SCALER_MAX)
        return bad(c, "config pipeline: scaler \"a\" and \"b\" must be arrays of the same length (at most %d)",
                   RECUR_SCALER_MAX);
    p->scaler.n = (int)json_array_size(a);
    if ((st = parse_doubles(c, a, p->scaler.a, p->scaler.n, "scaler.a")) ||
        (st = parse_doubles(c, b, p->scaler.b, p->scaler.n, "scaler.b")))
        return st;
    return check_pipeline(p, n_features, RECUR_E_FORMAT, c->path, c->err);
}

static recur_status parse_layer(const mf_ctx *c, const json_t *o, int i, mf_layer *L)
{
    char where[32];
    int k = 0;
    recur_status st;
    snprintf(where, sizeof where, "layer %d", i);
    memset(L, 0, sizeof *L);
    if (!json_is_object(o)) return bad(c, "config %s must be an object", where);
    if ((st = cfg_enum(c, o, "kind", kind_names, N_OF(kind_names), &k, where))) return st;
    L->kind = (recur_layer_kind)k;
    if (L->kind == RECUR_LAYER_DROPOUT) {
        double rate = 0;
        if ((st = cfg_real(c, o, "rate", &rate, where))) return st;
        if (!(rate >= 0 && rate < 1)) return bad(c, "config %s: dropout rate %g is not in [0, 1)", where, rate);
        L->rate = (float)rate;
        return RECUR_OK;
    }
    if ((st = cfg_int(c, o, "units", 1, MF_MAX_WIDTH, &L->units, where))) return st;
    if (L->kind == RECUR_LAYER_DENSE) {
        if ((st = cfg_enum(c, o, "activation", act_names, N_OF(act_names), &k, where))) return st;
        L->act = (recur_activation)k;
        return RECUR_OK;
    }
    if ((st = cfg_bool(c, o, "return_sequences", &L->return_sequences, where))) return st;
    if (L->kind == RECUR_LAYER_GRU) return cfg_bool(c, o, "reset_after", &L->reset_after, where);
    return RECUR_OK;
}

static recur_status parse_config(const mf_ctx *c, const json_t *meta, mf_config *cfg)
{
    json_t *text = json_object_get(meta, "recur");
    if (!text) return bad(c, "__metadata__ has no \"recur\" entry (the model config)");
    json_error_t je;
    json_t *o = json_loadb(json_string_value(text), json_string_length(text), JSON_REJECT_DUPLICATES, &je);
    recur_status st = RECUR_OK;
    if (!o) return bad(c, "__metadata__.recur is not valid JSON: %s (byte %d)", je.text, je.position);
    memset(cfg, 0, sizeof *cfg);
    json_t *layers = json_object_get(o, "layers");
    if (!json_is_object(o)) {
        st = bad(c, "__metadata__.recur must hold a JSON object");
        goto done;
    }
    if ((st = cfg_int(c, o, "n_features", 1, MF_MAX_WIDTH, &cfg->n_features, "top level"))) goto done;
    if (!json_is_array(layers) || json_array_size(layers) < 1 || json_array_size(layers) > MF_MAX_LAYERS) {
        st = bad(c, "config: \"layers\" must be an array of 1..%d layers", MF_MAX_LAYERS);
        goto done;
    }
    cfg->n_layers = (int)json_array_size(layers);
    for (int i = 0; i < cfg->n_layers; i++)
        if ((st = parse_layer(c, json_array_get(layers, (size_t)i), i, &cfg->layer[i]))) goto done;
    json_t *pp = json_object_get(o, "pipeline");
    cfg->has_pipeline = pp && !json_is_null(pp);
    if (cfg->has_pipeline) st = parse_pipeline(c, pp, cfg->n_features, &cfg->pipe);
done:
    json_decref(o);
    return st;
}

/* ====== Load: tensors ====== */

typedef struct {
    const char *name; /* owned by the header JSON */
    int ndim;
    uint64_t dims[MF_MAX_DIMS];
    uint64_t begin, end; /* bytes, relative to the data section */
    int used;
} mf_tensor;

typedef struct {
    char name[64];
    int ndim, layer;
    uint64_t dims[2];
} mf_expect;

/* Keras names and shapes of every weight the config needs (at most 3 per layer). */
static int expected_tensors(const mf_config *cfg, mf_expect *e)
{
    int count[N_OF(kind_names)] = {0}, n = 0;
    uint64_t in = (uint64_t)cfg->n_features;
    for (int i = 0; i < cfg->n_layers; i++) {
        const mf_layer *L = &cfg->layer[i];
        char base[32];
        int c = count[L->kind]++;
        if (c) snprintf(base, sizeof base, "%s_%d", kind_names[L->kind], c);
        else snprintf(base, sizeof base, "%s", kind_names[L->kind]);
        if (L->kind == RECUR_LAYER_DROPOUT) continue;
        uint64_t H = (uint64_t)L->units;
        uint64_t GH = H * (L->kind == RECUR_LAYER_LSTM ? 4 : L->kind == RECUR_LAYER_GRU ? 3 : 1);
        mf_expect *k = &e[n++];
        snprintf(k->name, sizeof k->name, "%s.kernel", base);
        k->layer = i, k->ndim = 2, k->dims[0] = in, k->dims[1] = GH;
        if (L->kind != RECUR_LAYER_DENSE) {
            mf_expect *u = &e[n++];
            snprintf(u->name, sizeof u->name, "%s.recurrent_kernel", base);
            u->layer = i, u->ndim = 2, u->dims[0] = H, u->dims[1] = GH;
        }
        mf_expect *b = &e[n++];
        snprintf(b->name, sizeof b->name, "%s.bias", base);
        b->layer = i, b->ndim = 1, b->dims[0] = GH;
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

static recur_status parse_tensor(const mf_ctx *c, const char *name, const json_t *o, uint64_t data_len,
                                 mf_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    if (!json_is_object(o)) return bad(c, "tensor \"%.64s\": entry must be an object", name);
    json_t *dt = json_object_get(o, "dtype"), *sh = json_object_get(o, "shape"),
           *of = json_object_get(o, "data_offsets");
    if (!json_is_string(dt))
        return bad(c, "tensor \"%.64s\": \"dtype\" missing or not a string", name);
    if (strcmp(json_string_value(dt), "F32") != 0)
        return bad(c, "tensor \"%.64s\": dtype %.16s is not supported (recur stores and reads F32 only)", name,
                   json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > MF_MAX_DIMS)
        return bad(c, "tensor \"%.64s\": \"shape\" is missing or not an array of at most %d sizes", name,
                   MF_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t count = 1;
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
        json_t *v = json_array_get(sh, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return bad(c, "tensor \"%.64s\": shape[%d] is not a non-negative integer", name, d);
        t->dims[d] = (uint64_t)json_integer_value(v);
        if (t->dims[d] && count > UINT64_MAX / 4 / t->dims[d]) overflow = 1;
        else count *= t->dims[d];
    }
    if (!json_is_array(of) || json_array_size(of) != 2 || !json_is_integer(json_array_get(of, 0)) ||
        !json_is_integer(json_array_get(of, 1)) || json_integer_value(json_array_get(of, 0)) < 0 ||
        json_integer_value(json_array_get(of, 1)) < 0)
        return bad(c, "tensor \"%.64s\": \"data_offsets\" must be [begin, end], two non-negative integers", name);
    t->begin = (uint64_t)json_integer_value(json_array_get(of, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(of, 1));
    if (t->end < t->begin)
        return bad(c, "tensor \"%.64s\": data_offsets end %llu is before begin %llu", name,
                   (unsigned long long)t->end, (unsigned long long)t->begin);
    if (t->end > data_len)
        return bad(c, "tensor \"%.64s\": data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
                      "truncated file?",
                   name, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_len);
    if (overflow || t->end - t->begin != count * 4)
        return bad(c, "tensor \"%.64s\": %llu bytes of data, but its shape needs %s%llu (4 bytes per F32)", name,
                   (unsigned long long)(t->end - t->begin), overflow ? "more than " : "",
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
static recur_status check_layout(const mf_ctx *c, mf_tensor *t, int n, uint64_t data_len)
{
    mf_tensor **s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return rc_error(c->err, RECUR_E_NOMEM, "%s: out of memory checking tensors", c->path);
    for (int i = 0; i < n; i++) s[i] = &t[i];
    qsort(s, (size_t)n, sizeof *s, cmp_begin);
    recur_status st = RECUR_OK;
    uint64_t pos = 0;
    for (int i = 0; i < n && !st; i++) {
        if (s[i]->begin < pos)
            st = bad(c, "tensors \"%.64s\" and \"%.64s\" overlap (bytes %llu..%llu and %llu..%llu)", s[i - 1]->name,
                     s[i]->name, (unsigned long long)s[i - 1]->begin, (unsigned long long)s[i - 1]->end,
                     (unsigned long long)s[i]->begin, (unsigned long long)s[i]->end);
        else if (s[i]->begin > pos)
            st = bad(c, "%llu bytes before tensor \"%.64s\" belong to no tensor (the data must be fully indexed)",
                     (unsigned long long)(s[i]->begin - pos), s[i]->name);
        pos = s[i]->end;
    }
    if (!st && pos != data_len)
        st = bad(c, "%llu bytes after the last tensor belong to no tensor (the data must be fully indexed)",
                 (unsigned long long)(data_len - pos));
    free(s);
    return st;
}

/* Every tensor the config needs, with its shape; nothing else. */
static recur_status match_tensors(const mf_ctx *c, const mf_config *cfg, const mf_expect *e, int ne, mf_tensor *t,
                                  int nt)
{
    for (int i = 0; i < ne; i++) {
        mf_tensor *f = NULL;
        for (int j = 0; j < nt && !f; j++)
            if (strcmp(t[j].name, e[i].name) == 0) f = &t[j];
        const mf_layer *L = &cfg->layer[e[i].layer];
        if (!f)
            return bad(c, "tensor \"%s\" is missing (layer %d, %s(%d), needs it)", e[i].name, e[i].layer,
                       kind_names[L->kind], L->units);
        int same = f->ndim == e[i].ndim;
        for (int d = 0; d < e[i].ndim && same; d++) same = f->dims[d] == e[i].dims[d];
        if (!same) {
            char want[96], got[96];
            shape_text(want, sizeof want, e[i].ndim, e[i].dims);
            shape_text(got, sizeof got, f->ndim, f->dims);
            return bad(c, "tensor \"%s\" has shape %s but the config (layer %d, %s(%d)) needs %s", e[i].name, got,
                       e[i].layer, kind_names[L->kind], L->units, want);
        }
        f->used = 1;
    }
    for (int j = 0; j < nt; j++)
        if (!t[j].used)
            return bad(c, "unexpected tensor \"%.64s\": the config's layers have no such weight", t[j].name);
    return RECUR_OK;
}

/* ====== Load: rebuilding the model ====== */

static recur_status build_model(const mf_ctx *c, const mf_config *cfg, recur_model **out)
{
    recur_error e2;
    recur_model *m = NULL;
    recur_status st = recur_model_new(cfg->n_features, &m, &e2);
    for (int i = 0; i < cfg->n_layers && st == RECUR_OK; i++) {
        const mf_layer *L = &cfg->layer[i];
        switch (L->kind) {
        case RECUR_LAYER_LSTM: st = recur_model_add_lstm(m, L->units, L->return_sequences, &e2); break;
        case RECUR_LAYER_GRU: st = recur_model_add_gru(m, L->units, L->return_sequences, L->reset_after, &e2); break;
        case RECUR_LAYER_RNN: st = recur_model_add_rnn(m, L->units, L->return_sequences, &e2); break;
        case RECUR_LAYER_DENSE: st = recur_model_add_dense(m, L->units, L->act, &e2); break;
        case RECUR_LAYER_DROPOUT: st = recur_model_add_dropout(m, L->rate, &e2); break;
        }
        if (st != RECUR_OK && st != RECUR_E_NOMEM) {
            recur_model_free(m);
            return bad(c, "config layer %d (%s) cannot be built: %s", i, kind_names[L->kind], e2.msg);
        }
    }
    if (st == RECUR_OK) {
        recur_compile_opts co = recur_compile_opts_default();
        st = recur_model_compile(m, &co, &e2);
    }
    if (st != RECUR_OK) {
        recur_model_free(m);
        if (st == RECUR_E_NOMEM) return rc_error(c->err, st, "%s: %s", c->path, e2.msg);
        return bad(c, "the model in the config cannot be built: %s", e2.msg);
    }
    *out = m;
    return RECUR_OK;
}

/* Copies each file tensor into the model, float32 little-endian -> recur_float. */
static recur_status fill_weights(const mf_ctx *c, recur_model *m, const unsigned char *data, const mf_tensor *t,
                                 int nt)
{
    int nw = recur_model_n_weights(m);
    if (nw != nt) return bad(c, "the built model has %d weight tensors but the file has %d", nw, nt);
    for (int i = 0; i < nw; i++) {
        recur_weight w;
        recur_error e2;
        if (recur_model_weight(m, i, &w, &e2) != RECUR_OK) return bad(c, "%s", e2.msg);
        const mf_tensor *f = NULL;
        for (int j = 0; j < nt && !f; j++)
            if (strcmp(t[j].name, w.name) == 0) f = &t[j];
        if (!f || (uint64_t)w.size * 4 != f->end - f->begin || f->ndim != w.ndim ||
            f->dims[0] != (uint64_t)w.dims[0] || (w.ndim == 2 && f->dims[1] != (uint64_t)w.dims[1]))
            return bad(c, "the built model's weight \"%.63s\" has no tensor of its shape in the file", w.name);
        const unsigned char *s = data + f->begin;
        for (size_t k = 0; k < w.size; k++, s += 4) {
            uint32_t u = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
            float v;
            memcpy(&v, &u, 4);
            w.data[k] = (recur_float)v;
        }
    }
    return RECUR_OK;
}

/* ====== Load ====== */

static recur_status check_metadata(const mf_ctx *c, const json_t *root, const json_t **meta_out)
{
    const json_t *meta = json_object_get(root, "__metadata__");
    if (!meta) return bad(c, "no __metadata__ in the header: a safetensors file, but not a recur model");
    if (!json_is_object(meta)) return bad(c, "__metadata__ must be an object of strings");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)meta, key, v)
    {
        if (!json_is_string(v))
            return bad(c, "__metadata__.%.40s is not a string (safetensors allows only strings)", key);
    }
    json_t *fmt = json_object_get(meta, "format"), *ver = json_object_get(meta, "format_version");
    if (!fmt || strcmp(json_string_value(fmt), MF_FORMAT) != 0)
        return bad(c, "__metadata__.format is %s%.40s%s, not \"" MF_FORMAT "\": not a recur model file",
                   fmt ? "\"" : "", fmt ? json_string_value(fmt) : "missing", fmt ? "\"" : "");
    if (!ver) return bad(c, "__metadata__ has no format_version");
    if (strcmp(json_string_value(ver), MF_VERSION) != 0)
        return bad(c, "format_version \"%.20s\" is not supported: this recur reads format_version \"" MF_VERSION
                      "\" (written by a newer recur? upgrade it)",
                   json_string_value(ver));
    *meta_out = meta;
    return RECUR_OK;
}

recur_status recur_model_load(const char *path, recur_model **out, recur_pipeline *p, recur_error *err)
{
    if (!path || !out) return rc_error(err, RECUR_E_INVALID, "recur_model_load: path and out are required");
    *out = NULL;
    mf_ctx c = {path, err};
    unsigned char *buf = NULL;
    size_t len = 0;
    recur_status st = read_all(path, &buf, &len, err);
    if (st) return st;

    json_t *root = NULL;
    mf_config *cfg = NULL;
    mf_expect *exp = NULL;
    mf_tensor *ten = NULL;
    recur_model *m = NULL;
    uint64_t hlen = 0;
    if (len == 0) {
        st = bad(&c, "file is empty");
        goto done;
    }
    if (len < 8) {
        st = bad(&c, "file is only %zu bytes, shorter than the 8-byte header length", len);
        goto done;
    }
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)buf[k] << (8 * k);
    if (hlen == 0 || hlen > MF_MAX_HEADER) {
        st = bad(&c, "header length %llu is absurd (1..%llu allowed): not a model file", (unsigned long long)hlen,
                 MF_MAX_HEADER);
        goto done;
    }
    if (hlen > len - 8) {
        st = bad(&c, "header length %llu runs past the end of the file (%zu bytes): truncated?",
                 (unsigned long long)hlen, len);
        goto done;
    }
    json_error_t je;
    root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        st = bad(&c, "header is not valid JSON: %s (byte %d of the header)", je.text, je.position);
        goto done;
    }
    if (!json_is_object(root)) {
        st = bad(&c, "header is not a JSON object");
        goto done;
    }
    const json_t *meta = NULL;
    if ((st = check_metadata(&c, root, &meta))) goto done;
    cfg = malloc(sizeof *cfg);
    exp = malloc(3 * MF_MAX_LAYERS * sizeof *exp);
    size_t nt_max = json_object_size(root);
    ten = malloc((nt_max ? nt_max : 1) * sizeof *ten);
    if (!cfg || !exp || !ten) {
        st = rc_error(err, RECUR_E_NOMEM, "%s: out of memory reading the header", path);
        goto done;
    }
    if ((st = parse_config(&c, meta, cfg))) goto done;

    uint64_t data_len = (uint64_t)(len - 8) - hlen;
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
        st = bad(&c, "config has no layer with weights");
        goto done;
    }
    if ((st = match_tensors(&c, cfg, exp, ne, ten, nt)) || (st = check_layout(&c, ten, nt, data_len))) goto done;
    if ((st = build_model(&c, cfg, &m)) ||
        (st = fill_weights(&c, m, buf + 8 + (size_t)hlen, ten, nt)))
        goto done;
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
