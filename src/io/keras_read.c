/*
 * keras_read.c -- recur_keras_detect, recur_keras_load and
 * recur_keras_load_optimizer: Keras model files in the three formats users
 * have, read with libzip and libhdf5 (no zip or HDF5 parsing of our own).
 *
 *   .keras (Keras 3)       zip: config.json (the model), metadata.json,
 *                          model.weights.h5 with layers/<snake_case class>[_k]/
 *                          {cell/}vars/0..2 and optimizer/vars/0..
 *   HDF5 (Keras 3, 2)      root attribute model_config (JSON), group
 *                          model_weights with attribute layer_names; each layer
 *                          group lists its datasets in attribute weight_names
 *                          (kernel, recurrent_kernel, bias; tf.keras 2 names end
 *                          in ":0"), matched by that order, not by name.
 *
 * The config is mapped to recur layers by keras_map.c. Every dataset is
 * checked against the shape the config implies, and its values for being
 * finite, before the model is returned. Nothing here writes or prints.
 */
#include "io/keras.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define MAX_CONFIG (64u << 20)     /* bytes of config.json / metadata.json */
#define MAX_WEIGHTS (4096ull << 20) /* bytes of model.weights.h5 */

#ifdef RECUR_DOUBLE
#define H5_RECUR_FLOAT H5T_NATIVE_DOUBLE
#else
#define H5_RECUR_FLOAT H5T_NATIVE_FLOAT
#endif

recur_keras_format recur_keras_detect(const char *path)
{
    unsigned char b[8] = {0};
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return RECUR_KERAS_NONE;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n == 8 && memcmp(b, "\211HDF\r\n\032\n", 8) == 0) return RECUR_KERAS_H5;
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
        return RECUR_KERAS_ZIP;
    return RECUR_KERAS_NONE;
}

/* Everything a load holds open, released by src_close. */
typedef struct {
    rc_mf_ctx c;
    recur_keras_format fmt;
    hid_t file;          /* the HDF5 file (the zip's model.weights.h5 in memory) */
    size_t weights_size; /* bytes of that HDF5 file */
    char *config;        /* model config JSON text */
    char *metadata;      /* .keras metadata.json, or NULL */
    char *training;      /* legacy training_config JSON, or NULL */
    char *version;       /* keras_version, or NULL */
    rc_keras_model *km;
} src;

static void src_close(src *s)
{
    if (s->file >= 0) H5Fclose(s->file);
    free(s->config);
    free(s->metadata);
    free(s->training);
    free(s->version);
    free(s->km);
    H5Eclear2(H5E_DEFAULT);
}

/* "<path>: <what>: <HDF5's own reason>" */
static recur_status h5_bad(const src *s, const char *what)
{
    char why[256];
    rc_keras_h5_why(why, sizeof why);
    return rc_mf_bad(&s->c, "%s%s%s", what, why[0] ? ": " : "", why);
}

/* ====== The zip (.keras) ====== */

/* Entry `name` into *out (malloc'd, NUL-terminated). 1 when absent. */
static int zip_entry(const src *s, zip_t *z, const char *name, uint64_t max, char **out, size_t *len,
                     recur_status *st)
{
    zip_stat_t zs;
    *out = NULL;
    zip_stat_init(&zs);
    if (zip_stat(z, name, 0, &zs) != 0) return 1;
    if (!(zs.valid & ZIP_STAT_SIZE) || zs.size > max) {
        *st = rc_mf_bad(&s->c, "zip entry %s is %llu bytes; more than the %llu this reader takes", name,
                        (unsigned long long)zs.size, (unsigned long long)max);
        return 0;
    }
    if ((zs.valid & ZIP_STAT_COMP_SIZE) && zs.comp_method != ZIP_CM_STORE && zs.size / 1100 > zs.comp_size + 1024) {
        *st = rc_mf_bad(&s->c, "zip entry %s claims %llu bytes from %llu compressed: a zip bomb or a corrupt file",
                        name, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
        return 0;
    }
    char *buf = malloc((size_t)zs.size + 1);
    zip_file_t *zf = buf ? zip_fopen(z, name, 0) : NULL;
    if (!buf) {
        *st = rc_error(s->c.err, RECUR_E_NOMEM, "%s: out of memory for zip entry %s (%llu bytes)", s->c.path, name,
                       (unsigned long long)zs.size);
        return 0;
    }
    zip_uint64_t got = 0;
    while (zf && got < zs.size) {
        zip_int64_t r = zip_fread(zf, buf + got, zs.size - got);
        if (r <= 0) break;
        got += (zip_uint64_t)r;
    }
    /* libzip checks the entry's CRC when the read reaches its end: read to EOF. */
    char extra;
    if (zf && got == zs.size && zip_fread(zf, &extra, 1) != 0) got = zs.size + 1;
    if (!zf || got != zs.size) {
        const char *why = zf ? zip_error_strerror(zip_file_get_error(zf)) : zip_error_strerror(zip_get_error(z));
        *st = rc_mf_bad(&s->c, "cannot read zip entry %s: %s (truncated or corrupt file?)", name,
                        zf && zip_file_get_error(zf)->zip_err == 0 ? "its size is not what the zip says" : why);
        if (zf) zip_fclose(zf);
        free(buf);
        return 0;
    }
    zip_fclose(zf);
    buf[zs.size] = '\0';
    *out = buf;
    if (len) *len = (size_t)zs.size;
    return 0;
}

static recur_status open_zip(src *s)
{
    int ze = 0;
    recur_status st = RECUR_OK;
    zip_t *z = zip_open(s->c.path, ZIP_RDONLY, &ze);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, ze);
        st = rc_mf_bad(&s->c, "not a readable .keras (zip) file: %s", zip_error_strerror(&e));
        zip_error_fini(&e);
        return st;
    }
    char *h5 = NULL;
    size_t h5len = 0;
    if (zip_entry(s, z, "config.json", MAX_CONFIG, &s->config, NULL, &st) == 1)
        st = rc_mf_bad(&s->c, "the zip has no config.json: not a Keras 3 .keras file");
    if (!st && zip_entry(s, z, "model.weights.h5", MAX_WEIGHTS, &h5, &h5len, &st) == 1)
        st = rc_mf_bad(&s->c, "the zip has no model.weights.h5 (the weights of a .keras file)");
    if (!st) zip_entry(s, z, "metadata.json", MAX_CONFIG, &s->metadata, NULL, &st);
    zip_discard(z);
    if (!st) {
        hid_t fapl = rc_keras_h5_fapl_core(h5, h5len);
        s->file = fapl >= 0 ? H5Fopen("model.weights.h5", H5F_ACC_RDONLY, fapl) : -1;
        if (fapl >= 0) H5Pclose(fapl);
        if (s->file < 0) st = h5_bad(s, "model.weights.h5 in the zip is not a readable HDF5 file");
        s->weights_size = h5len;
    }
    free(h5);
    return st;
}

/* Whether Keras 2 wrote the file (its keras_version starts with "2."; legacy
 * HDF5 files keep it as a root attribute, .keras files in metadata.json):
 * "hard_sigmoid" means Keras 2's clip(0.2x + 0.5) there, Keras 3's
 * relu6(x + 3) / 6 elsewhere. */
static int written_by_keras2(const char *version, const json_t *meta)
{
    const char *v = version ? version : json_string_value(json_object_get(meta, "keras_version"));
    return v && v[0] == '2' && v[1] == '.';
}

/* ====== The legacy HDF5 file ====== */

static recur_status open_h5(src *s)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    s->file = fapl >= 0 ? H5Fopen(s->c.path, H5F_ACC_RDONLY, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (s->file < 0) return h5_bad(s, "not a readable HDF5 file (truncated or corrupt?)");
    hsize_t size = 0;
    H5Fget_filesize(s->file, &size);
    s->weights_size = (size_t)size;
    s->config = rc_keras_h5_attr_text(s->file, "model_config");
    if (!s->config)
        return rc_mf_bad(&s->c, "HDF5 file without a model_config attribute: weights only (save_weights), or not a "
                                "Keras model; save the whole model with model.save(\"x.h5\") or as .keras");
    s->training = rc_keras_h5_attr_text(s->file, "training_config");
    s->version = rc_keras_h5_attr_text(s->file, "keras_version");
    return RECUR_OK;
}

/* ====== Weights ====== */

/* The dataset holding file weight k of layer L (negative with a message). */
static hid_t open_weight(const src *s, const rc_keras_layer *L, int k, recur_status *st)
{
    char name[320];
    hid_t d = -1;
    if (s->fmt == RECUR_KERAS_ZIP) {
        int rnn = L->kind != RECUR_LAYER_DENSE;
        snprintf(name, sizeof name, "%s/%svars/%d", L->path, rnn ? "cell/" : "", k);
        if (H5Lexists(s->file, L->path, H5P_DEFAULT) > 0 && H5Lexists(s->file, name, H5P_DEFAULT) > 0)
            d = H5Dopen2(s->file, name, H5P_DEFAULT);
        if (d < 0)
            *st = rc_mf_bad(&s->c, "model.weights.h5 has no dataset %s (weight %d of layer \"%.60s\")", name, k,
                            L->name);
        return d;
    }
    snprintf(name, sizeof name, "model_weights/%s", L->name);
    hid_t g = -1;
    if (H5Lexists(s->file, "model_weights", H5P_DEFAULT) > 0 && H5Lexists(s->file, name, H5P_DEFAULT) > 0)
        g = H5Gopen2(s->file, name, H5P_DEFAULT);
    if (g < 0) {
        *st = rc_mf_bad(&s->c, "the file has no weights group %s for layer \"%.60s\"", name, L->name);
        return -1;
    }
    char **names = NULL;
    int n = 0, want = rc_keras_n_file_weights(L);
    if (rc_keras_h5_attr_list(g, "weight_names", &names, &n) != 0)
        *st = rc_mf_bad(&s->c, "weights group %s has no readable weight_names attribute", name);
    else if (n != want)
        *st = rc_mf_bad(&s->c, "layer \"%.60s\" has %d weights in the file but its config needs %d", L->name, n,
                        want);
    else if (H5Lexists(g, names[k], H5P_DEFAULT) <= 0 || (d = H5Dopen2(g, names[k], H5P_DEFAULT)) < 0)
        *st = rc_mf_bad(&s->c, "weights group %s has no dataset \"%.80s\" (listed in weight_names)", name, names[k]);
    H5Eclear2(H5E_DEFAULT);
    free(names);
    H5Gclose(g);
    return d;
}

static void dims_text(char *buf, size_t cap, int nd, const hsize_t *d)
{
    int len = snprintf(buf, cap, "(");
    for (int i = 0; i < nd && len > 0 && (size_t)len < cap; i++)
        len += snprintf(buf + len, cap - (size_t)len, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (len > 0 && (size_t)len < cap) snprintf(buf + len, cap - (size_t)len, ")");
}

/* Reads one dataset into w after checking its type and shape. */
static recur_status read_weight(const src *s, const rc_keras_layer *L, hid_t d, const recur_weight *w)
{
    recur_status st = RECUR_OK;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dims[8] = {0};
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (t < 0 || H5Tget_class(t) != H5T_FLOAT) st = rc_mf_bad(&s->c, "weight %s of layer \"%.60s\" is not floating point", w->name, L->name);
    else if (nd < 0 || nd > 8) st = rc_mf_bad(&s->c, "weight %s of layer \"%.60s\" has an unreadable shape", w->name, L->name);
    else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        int same = nd == w->ndim;
        for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)w->dims[i];
        if (!same) {
            char got[96], want[96];
            hsize_t wd[2] = {(hsize_t)w->dims[0], (hsize_t)w->dims[1]};
            dims_text(got, sizeof got, nd, dims);
            dims_text(want, sizeof want, w->ndim, wd);
            st = rc_mf_bad(&s->c, "weight %s of layer \"%.60s\" has shape %s in the file but the config implies %s",
                           w->name, L->name, got, want);
        } else if (H5Dread(d, H5_RECUR_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->data) < 0) {
            char what[160];
            snprintf(what, sizeof what, "cannot read weight %s of layer \"%.60s\"", w->name, L->name);
            st = h5_bad(s, what);
        } else {
            for (size_t i = 0; i < w->size && !st; i++)
                if (!isfinite(w->data[i]))
                    st = rc_mf_bad(&s->c, "weight %s of layer \"%.60s\" holds a non-finite value at %zu", w->name,
                                   L->name, i);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return st;
}

/* Parameters the config implies (a double: absurd configs must not overflow). */
static double config_params(const rc_keras_model *km)
{
    double total = 0, in = km->n_features;
    for (int i = 0; i < km->n_layers; i++) {
        const rc_keras_layer *L = &km->layer[i];
        double H = L->units, G = L->kind == RECUR_LAYER_LSTM ? 4 : L->kind == RECUR_LAYER_GRU ? 3 : 1;
        if (L->kind == RECUR_LAYER_DROPOUT) continue;
        if (L->kind == RECUR_LAYER_DENSE) total += (in + 1) * H;
        else total += (in + H + (L->kind == RECUR_LAYER_GRU && L->reset_after ? 2 : 1)) * G * H;
        in = H;
    }
    return total;
}

static recur_status fill_weights(src *s, recur_model *m)
{
    const rc_keras_model *km = s->km;
    int nw = recur_model_n_weights(m), wi = 0;
    for (int li = 0; li < km->n_layers; li++) {
        const rc_keras_layer *L = &km->layer[li];
        int nf = rc_keras_n_file_weights(L);
        for (int k = 0; wi < nw; k++, wi++) {
            recur_weight w;
            recur_error e2;
            if (recur_model_weight(m, wi, &w, &e2) != RECUR_OK) return rc_mf_bad(&s->c, "%s", e2.msg);
            if (w.layer != li) break;
            if (k >= nf) { /* use_bias=False: the bias is zero */
                memset(w.data, 0, w.size * sizeof *w.data);
                continue;
            }
            recur_status st = RECUR_OK;
            hid_t d = open_weight(s, L, k, &st);
            if (d < 0) return st ? st : h5_bad(s, "cannot open a weight");
            st = read_weight(s, L, d, &w);
            H5Dclose(d);
            if (st) return st;
        }
    }
    return RECUR_OK;
}

/* ====== Load ====== */

static recur_status parse_json(const src *s, const char *text, const char *what, json_t **out)
{
    json_error_t je;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!*out) return rc_mf_bad(&s->c, "%s is not valid JSON: %s (line %d)", what, je.text, je.line);
    return RECUR_OK;
}

/* The optimizer class named by the file's training or compile config. */
static void optimizer_name(const src *s, const json_t *cfg, char *buf, size_t cap)
{
    json_t *tr = NULL;
    const json_t *o = NULL;
    buf[0] = '\0';
    if (s->training && (tr = json_loads(s->training, 0, NULL)))
        o = json_object_get(json_object_get(tr, "optimizer_config"), "class_name");
    else
        o = json_object_get(json_object_get(json_object_get(cfg, "compile_config"), "optimizer"), "class_name");
    if (json_is_string(o)) snprintf(buf, cap, "%s", json_string_value(o));
    json_decref(tr);
}

/* The recur pipeline a .keras written by recur keeps in metadata.json. */
static recur_status read_pipeline(const src *s, const json_t *meta, const recur_model *m, recur_pipeline *p)
{
    memset(p, 0, sizeof *p);
    if (!json_is_object(meta) || !json_is_string(json_object_get(meta, "recur"))) return RECUR_OK;
    rc_mf_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return rc_error(s->c.err, RECUR_E_NOMEM, "%s: out of memory", s->c.path);
    recur_status st = rc_mf_parse_config(&s->c, meta, cfg);
    if (!st && cfg->has_pipeline) {
        if (cfg->pipe.n_features != recur_model_n_features(m))
            st = rc_mf_bad(&s->c, "metadata.json's recur pipeline has %d features, the model takes %d",
                           cfg->pipe.n_features, recur_model_n_features(m));
        else
            *p = cfg->pipe;
    }
    free(cfg);
    return st;
}

static recur_status load(src *s, recur_model **out, recur_pipeline *p, recur_keras_info *info)
{
    recur_status st;
    json_t *cfg = NULL, *meta = NULL;
    recur_model *m = NULL;
    s->fmt = recur_keras_detect(s->c.path);
    if (s->fmt == RECUR_KERAS_NONE) {
        FILE *f = fopen(s->c.path, "rb");
        if (!f) return rc_error(s->c.err, RECUR_E_IO, "cannot open \"%s\": %s", s->c.path, strerror(errno));
        fclose(f);
        return rc_mf_bad(&s->c, "neither a .keras (zip) nor an HDF5 file (by its first bytes)");
    }
    if ((st = s->fmt == RECUR_KERAS_ZIP ? open_zip(s) : open_h5(s))) return st;
    if ((st = parse_json(s, s->config, s->fmt == RECUR_KERAS_ZIP ? "config.json" : "model_config", &cfg))) goto done;
    if (s->metadata && (st = parse_json(s, s->metadata, "metadata.json", &meta))) goto done;
    if (!(s->km = malloc(sizeof *s->km))) {
        st = rc_error(s->c.err, RECUR_E_NOMEM, "%s: out of memory", s->c.path);
        goto done;
    }
    if ((st = rc_keras_parse_config(&s->c, cfg, written_by_keras2(s->version, meta), s->km))) goto done;
    double need = config_params(s->km);
    if (need * 4 > (double)s->weights_size) {
        st = rc_mf_bad(&s->c, "the config needs %.0f weights (%.0f bytes) but the weights file has %zu bytes", need,
                       need * 4, s->weights_size);
        goto done;
    }
    if ((st = rc_keras_build(&s->c, s->km, &m)) || (st = fill_weights(s, m))) goto done;
    if (p && (st = read_pipeline(s, meta, m, p))) goto done;
    if (info) {
        memset(info, 0, sizeof *info);
        info->format = s->fmt;
        info->timesteps = s->km->timesteps;
        const char *v = s->version ? s->version : json_string_value(json_object_get(meta, "keras_version"));
        if (v) snprintf(info->keras_version, sizeof info->keras_version, "%s", v);
        optimizer_name(s, cfg, info->optimizer, sizeof info->optimizer);
    }
    *out = m;
    m = NULL;
done:
    recur_model_free(m);
    json_decref(meta);
    json_decref(cfg);
    return st;
}

recur_status recur_keras_load(const char *path, recur_model **out, recur_pipeline *p, recur_keras_info *info,
                              recur_error *err)
{
    if (!path || !out) return rc_error(err, RECUR_E_INVALID, "recur_keras_load: path and out are required");
    *out = NULL;
    rc_keras_h5_quiet();
    src s = {.c = {.path = path, .err = err}, .file = -1};
    recur_status st = load(&s, out, p, info);
    src_close(&s);
    return st;
}

/* ====== Optimizer state ====== */

enum { SLOT_SKIP = -1, SLOT_MOMENTUM = 0, SLOT_VELOCITY = 1 };

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* Which slot a named optimizer variable is (legacy files name them). */
static int slot_of_name(const char *name)
{
    if (ends_with(name, "_momentum") || ends_with(name, "/m:0")) return SLOT_MOMENTUM;
    if (ends_with(name, "_velocity") || ends_with(name, "/v:0") || ends_with(name, "/rms:0")) return SLOT_VELOCITY;
    return SLOT_SKIP;
}

/* The optimizer variables in file order: *n datasets, names (legacy) or NULL. */
static recur_status optimizer_vars(src *s, hid_t *g, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    const char *grp = s->fmt == RECUR_KERAS_ZIP ? "optimizer/vars" : "optimizer_weights";
    if (s->fmt == RECUR_KERAS_ZIP && H5Lexists(s->file, "optimizer", H5P_DEFAULT) <= 0) return RECUR_OK;
    if (H5Lexists(s->file, grp, H5P_DEFAULT) <= 0 || (*g = H5Gopen2(s->file, grp, H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return RECUR_OK;
    }
    if (s->fmt != RECUR_KERAS_ZIP) {
        if (rc_keras_h5_attr_list(*g, "weight_names", names, n) != 0)
            return rc_mf_bad(&s->c, "optimizer_weights has no readable weight_names attribute");
        return RECUR_OK;
    }
    H5G_info_t gi;
    if (H5Gget_info(*g, &gi) < 0 || gi.nlinks > 1000000) return h5_bad(s, "optimizer/vars cannot be listed");
    *n = (int)gi.nlinks;
    return RECUR_OK;
}

static recur_status load_optimizer(src *s, recur_model *m, int *loaded)
{
    recur_status st;
    json_t *cfg = NULL;
    hid_t g = -1;
    char **names = NULL, optname[32];
    int n = 0;
    *loaded = 0;
    s->fmt = recur_keras_detect(s->c.path);
    if (s->fmt == RECUR_KERAS_NONE) return rc_mf_bad(&s->c, "not a Keras file (neither a .keras zip nor HDF5)");
    if ((st = s->fmt == RECUR_KERAS_ZIP ? open_zip(s) : open_h5(s))) return st;
    if ((st = parse_json(s, s->config, "the model config", &cfg))) return st;
    if (!(s->km = malloc(sizeof *s->km))) {
        json_decref(cfg);
        return rc_error(s->c.err, RECUR_E_NOMEM, "%s: out of memory", s->c.path);
    }
    st = rc_keras_parse_config(&s->c, cfg, written_by_keras2(s->version, NULL), s->km);
    optimizer_name(s, cfg, optname, sizeof optname);
    json_decref(cfg);
    if (st) return st;
    if (config_params(s->km) != (double)recur_model_n_params(m) || s->km->n_layers != recur_model_n_layers(m))
        return rc_mf_bad(&s->c, "its layers are not the model's: the optimizer state fits only the weights of the "
                                "same file");
    recur_optimizer kind = recur_model_compile_opts(m)->optim.kind;
    if (!((kind == RECUR_OPT_ADAM && strcmp(optname, "Adam") == 0) ||
          ((kind == RECUR_OPT_RMSPROP || kind == RECUR_OPT_RMSPROP_KERAS2) && strcmp(optname, "RMSprop") == 0)))
        return RECUR_OK; /* no state for this optimizer */
    if ((st = optimizer_vars(s, &g, &names, &n)) || n == 0) goto done;

    /* The file's weights, in order: the recur weight each one is. */
    int nw = recur_model_n_weights(m), nt = 0, *wmap = malloc(((size_t)nw + 1) * sizeof *wmap);
    int count[2] = {0, 0}, anon = 0;
    if (!wmap) {
        st = rc_error(s->c.err, RECUR_E_NOMEM, "%s: out of memory", s->c.path);
        goto done;
    }
    for (int li = 0, wi = 0; li < s->km->n_layers; li++) {
        int nf = rc_keras_n_file_weights(&s->km->layer[li]);
        for (int k = 0; wi < nw; k++, wi++) {
            recur_weight w;
            if (recur_model_weight(m, wi, &w, NULL) != RECUR_OK || w.layer != li) break;
            if (k < nf) wmap[nt++] = wi;
        }
    }
    recur_float *slot[2] = {recur_model_optimizer_slot(m, "momentum"), recur_model_optimizer_slot(m, "velocity")};
    long iterations = -1;
    for (int i = 0; i < n && !st; i++) {
        char dname[32];
        const char *name = names ? names[i] : (snprintf(dname, sizeof dname, "%d", i), dname);
        hid_t d = H5Lexists(g, name, H5P_DEFAULT) > 0 ? H5Dopen2(g, name, H5P_DEFAULT) : -1;
        if (d < 0) {
            st = rc_mf_bad(&s->c, "optimizer variable \"%.80s\" is missing", name);
            break;
        }
        hid_t sp = H5Dget_space(d);
        int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        if (nd == 0) { /* a scalar: the iteration count comes first, then the learning rate */
            long long it = 0;
            if (iterations < 0 && H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &it) >= 0 && it >= 0)
                iterations = (long)it;
            H5Dclose(d);
            continue;
        }
        int which = names ? slot_of_name(name) : kind == RECUR_OPT_ADAM ? (anon++ % 2 ? SLOT_VELOCITY : SLOT_MOMENTUM)
                                                                       : (anon++, SLOT_VELOCITY);
        if (which == SLOT_SKIP || !slot[which]) {
            H5Dclose(d);
            continue;
        }
        if (count[which] >= nt) st = rc_mf_bad(&s->c, "the optimizer holds more slots than the model has weights");
        else {
            recur_weight w;
            recur_model_weight(m, wmap[count[which]++], &w, NULL);
            w.data = slot[which] + w.offset;
            st = read_weight(s, &s->km->layer[w.layer], d, &w);
        }
        H5Dclose(d);
    }
    free(wmap);
    if (!st && (count[SLOT_VELOCITY] != nt || (slot[SLOT_MOMENTUM] && count[SLOT_MOMENTUM] != nt)))
        st = rc_mf_bad(&s->c, "the %s state covers %d of the %d weights: incomplete, not used", optname,
                       count[SLOT_VELOCITY], nt);
    if (!st) {
        if (iterations >= 0) recur_model_set_optimizer_iterations(m, iterations);
        *loaded = 1;
    } else { /* leave the optimizer fresh, not half-filled */
        for (int k = 0; k < 2; k++)
            if (slot[k]) memset(slot[k], 0, recur_model_n_params(m) * sizeof *slot[k]);
    }
done:
    free(names);
    if (g >= 0) H5Gclose(g);
    return st;
}

recur_status recur_keras_load_optimizer(const char *path, recur_model *m, int *loaded, recur_error *err)
{
    if (!path || !m || !loaded)
        return rc_error(err, RECUR_E_INVALID, "recur_keras_load_optimizer: path, m and loaded are required");
    *loaded = 0;
    if (recur_model_n_weights(m) <= 0)
        return rc_error(err, RECUR_E_STATE, "recur_keras_load_optimizer: compile the model first");
    rc_keras_h5_quiet();
    src s = {.c = {.path = path, .err = err}, .file = -1};
    recur_status st = load_optimizer(&s, m, loaded);
    src_close(&s);
    return st;
}
