/*
 * keras_write.c -- recur_keras_save: a compiled model as a Keras 3 `.keras`
 * file, the zip keras.saving.save_model writes (entries stored, not deflated):
 *
 *   metadata.json      {"keras_version": "3.4.1", "date_saved": ..., "recur": <recur config>}
 *   config.json        the Sequential config (keras_map.c), without compile_config,
 *                      so load_model looks for no optimizer state
 *   model.weights.h5   layers/<snake_case class>[_k]/vars/0..1 (Dense) and
 *                      layers/<...>/cell/vars/0..2 (recurrent: kernel,
 *                      recurrent_kernel, bias), float32; an empty vars group
 *                      for each layer and the model, as Keras writes them
 *
 * The HDF5 file is built in memory (core driver, no backing store) and the
 * zip in a libzip buffer source; the bytes are then written atomically.
 * The "recur" entry of metadata.json (ignored by Keras) keeps the data
 * pipeline so that recur_keras_load gives it back.
 */
#include "io/keras.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>

#define KERAS_VERSION "3.4.1" /* the release whose config keys and defaults config.json follows */

#ifdef RECUR_DOUBLE
#define H5_RECUR_FLOAT H5T_NATIVE_DOUBLE
#else
#define H5_RECUR_FLOAT H5T_NATIVE_FLOAT
#endif

/* ====== model.weights.h5 ====== */

static int make_group(hid_t f, const char *name)
{
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    H5Gclose(g);
    return 0;
}

static int put_dataset(hid_t f, const char *name, const recur_weight *w)
{
    hsize_t dims[2] = {(hsize_t)w->dims[0], (hsize_t)w->dims[1]};
    hid_t sp = H5Screate_simple(w->ndim, dims, NULL);
    hid_t d = sp >= 0 ? H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int rc = d >= 0 && H5Dwrite(d, H5_RECUR_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->data) >= 0 ? 0 : -1;
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* The weights file as bytes (*out malloc'd). */
static recur_status weights_image(const recur_model *m, const char *path, void **out, size_t *len, recur_error *err)
{
    char why[256], name[160];
    int count[5] = {0}, ok = 1, wi = 0, nw = recur_model_n_weights(m);
    *out = NULL;
    hid_t fapl = rc_keras_h5_fapl_core(NULL, 0);
    hid_t f = fapl >= 0 ? H5Fcreate("model.weights.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) goto fail;
    ok = make_group(f, "layers") == 0 && make_group(f, "vars") == 0;
    for (int li = 0; ok && li < recur_model_n_layers(m); li++) {
        recur_layer_info L;
        char base[96], sn[64];
        if (recur_model_layer(m, li, &L, NULL) != RECUR_OK || (unsigned)L.kind > 4u) goto fail;
        rc_keras_layer_name(L.kind, count[L.kind]++, sn, sizeof sn);
        snprintf(base, sizeof base, "layers/%s", sn);
        int rnn = L.kind <= RECUR_LAYER_RNN;
        ok = make_group(f, base) == 0;
        snprintf(name, sizeof name, "%s/vars", base);
        ok = ok && make_group(f, name) == 0;
        if (ok && rnn) {
            snprintf(name, sizeof name, "%s/cell", base);
            ok = make_group(f, name) == 0;
            snprintf(name, sizeof name, "%s/cell/vars", base);
            ok = ok && make_group(f, name) == 0;
        }
        for (int k = 0; ok && wi < nw; k++, wi++) {
            recur_weight w;
            if (recur_model_weight(m, wi, &w, NULL) != RECUR_OK) goto fail;
            if (w.layer != li) break;
            snprintf(name, sizeof name, "%s/%svars/%d", base, rnn ? "cell/" : "", k);
            ok = put_dataset(f, name, &w) == 0;
        }
    }
    if (!ok || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) goto fail;
    ssize_t n = H5Fget_file_image(f, NULL, 0);
    void *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (!buf || H5Fget_file_image(f, buf, (size_t)n) != n) {
        free(buf);
        goto fail;
    }
    H5Fclose(f);
    *out = buf;
    *len = (size_t)n;
    return RECUR_OK;
fail:
    rc_keras_h5_why(why, sizeof why);
    if (f >= 0) H5Fclose(f);
    return rc_error(err, RECUR_E_IO, "cannot save \"%s\": building model.weights.h5 failed%s%s", path,
                    why[0] ? ": " : "", why);
}

/* ====== The zip ====== */

typedef struct {
    const char *name;
    const void *data;
    size_t len;
} entry;

/* The zip of the entries, stored, as bytes (*out malloc'd). 0 or -1. */
static int zip_bytes(const entry *e, int n, void **out, size_t *len, const char **why)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = NULL;
    int rc = -1;
    *out = NULL;
    *why = "out of memory";
    if (!src) goto done;
    zip_source_keep(src);
    if (!(z = zip_open_from_source(src, ZIP_TRUNCATE, &ze))) goto done;
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, e[i].data, e[i].len, 0);
        zip_int64_t idx = s ? zip_file_add(z, e[i].name, s, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            if (s) zip_source_free(s);
            *why = zip_strerror(z);
            zip_discard(z);
            z = NULL;
            goto done;
        }
        zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    int closed = zip_close(z);
    if (closed != 0) {
        *why = zip_strerror(z);
        zip_discard(z);
    }
    z = NULL;
    if (closed != 0) goto done;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) != 0) goto done;
    unsigned char *buf = malloc(st.size ? st.size : 1);
    zip_int64_t got = buf ? zip_source_read(src, buf, st.size) : -1;
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(buf);
        goto done;
    }
    *out = buf;
    *len = st.size;
    rc = 0;
done:
    if (src) zip_source_free(src);
    zip_error_fini(&ze);
    return rc;
}

typedef struct {
    const void *data;
    size_t len;
} bytes;

static int write_bytes(FILE *f, void *ctx)
{
    const bytes *b = ctx;
    return fwrite(b->data, 1, b->len, f) == b->len ? 0 : -1;
}

/* metadata.json: Keras's two keys, and recur's config (layers and pipeline). */
static char *metadata_text(const recur_model *m, const recur_pipeline *p, recur_error *err)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm)) strcpy(date, "");
    json_t *cfg = rc_mf_config_json(m, p, err);
    char *cfg_text = cfg ? rc_mf_dump_exact(cfg) : NULL;
    json_t *meta = cfg_text ? json_pack("{s:s, s:s, s:s, s:s}", "keras_version", KERAS_VERSION, "date_saved", date,
                                        "recur_version", RECUR_VERSION, "recur", cfg_text)
                            : NULL;
    char *text = meta ? json_dumps(meta, JSON_PRESERVE_ORDER) : NULL;
    json_decref(meta);
    free(cfg_text);
    json_decref(cfg);
    return text;
}

recur_status recur_keras_save(const recur_model *m, const recur_pipeline *p, const char *path, recur_error *err)
{
    if (!m || !path || !*path) return rc_error(err, RECUR_E_INVALID, "recur_keras_save: model and path are required");
    if (recur_model_n_weights(m) <= 0)
        return rc_error(err, RECUR_E_STATE,
                        "cannot save \"%s\": the model has no weights yet; call recur_model_compile first", path);
    recur_status st;
    if (p && (st = rc_mf_check_pipeline(p, recur_model_n_features(m), RECUR_E_INVALID, path, err))) return st;
    for (int l = 0; l < recur_model_n_layers(m); l++) {
        recur_layer_info li;
        if (recur_model_layer(m, l, &li, NULL) == RECUR_OK && li.recurrent_act == RECUR_ACT_HARD_SIGMOID_K2)
            return rc_error(err, RECUR_E_INVALID,
                            "cannot save \"%s\": layer %d's gates use Keras 2's hard_sigmoid (clip(0.2x + 0.5)), "
                            "which Keras 3 has no name for (its hard_sigmoid is relu6(x + 3) / 6); export to C, or "
                            "keep the recur model file", path, l + 1);
    }
    rc_keras_h5_quiet();
    void *h5 = NULL, *zipbuf = NULL;
    size_t h5len = 0, ziplen = 0;
    char *meta = NULL, *cfg_text = NULL;
    json_t *cfg = rc_keras_config_json(m, p ? p->timestep : 0);
    if (!cfg || !(cfg_text = json_dumps(cfg, JSON_PRESERVE_ORDER)) || !(meta = metadata_text(m, p, err))) {
        st = rc_error(err, RECUR_E_NOMEM, "out of memory saving \"%s\"", path);
        goto done;
    }
    if ((st = weights_image(m, path, &h5, &h5len, err))) goto done;
    entry e[3] = {{"metadata.json", meta, strlen(meta)},
                  {"config.json", cfg_text, strlen(cfg_text)},
                  {"model.weights.h5", h5, h5len}};
    const char *why = NULL;
    if (zip_bytes(e, 3, &zipbuf, &ziplen, &why) != 0) {
        st = rc_error(err, RECUR_E_IO, "cannot save \"%s\": building the zip failed: %s", path, why);
        goto done;
    }
    bytes b = {zipbuf, ziplen};
    st = rc_mf_write_atomic(path, write_bytes, &b, err);
done:
    free(zipbuf);
    free(h5);
    free(meta);
    free(cfg_text);
    json_decref(cfg);
    return st;
}
