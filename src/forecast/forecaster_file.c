/*
 * forecaster_file.c -- recur_forecaster_save / recur_forecaster_load.
 *
 * The same safetensors layout as a model file (io/model_file.c: 8-byte header
 * length, JSON header, little-endian float32 tensors), written atomically
 * with the same writer:
 *
 *   {"__metadata__": {"format": "recur-forecaster", "format_version": "1",
 *                     "recur_version": "0.1.0", "forecaster": "<config as JSON text>"},
 *    "net0.lstm.kernel": {"dtype": "F32", "shape": [24, 256], "data_offsets": [...]}, ...
 *    "net2.dense.bias": ...,
 *    "residuals": {"dtype": "F32", "shape": [H, n], ...}}
 *
 * config: {"columns": ["unique_id", "ds", "y"], "preset": "forecast", "horizon": 48, "season": 24, "timestep": 96,
 *          "chunk": 24, "anchor": 24, "log": 1, "scaler": "standard",
 *          "layers": "lstm(64) dense(48)", "nets": 3,
 *          "series": [{"id": "H1", "log": 1, "a": 6.4, "b": 0.3}, ...],
 *          "skipped": ["H9", ...]}
 * Numbers are written with the fewest digits that read back exactly, so a
 * reloaded forecaster predicts bit for bit what the saved one did.
 * A model file is refused here, and recur_model_load refuses this one, each
 * with a message naming what the file is.
 */
#include "forecast/forecaster.h"
#include "io/io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FC_FORMAT "recur-forecaster"
#define FC_VERSION "1"

/* ====== Save ====== */

static json_t *tensor_json(uint64_t d0, uint64_t d1, int ndim, uint64_t off)
{
    json_t *shape = ndim == 1 ? json_pack("[I]", (json_int_t)d0) : json_pack("[I, I]", (json_int_t)d0, (json_int_t)d1);
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)off,
                     (json_int_t)(off + 4 * d0 * d1));
}

static json_t *config_json(const recur_forecaster *f)
{
    json_t *series = json_array(), *skipped = json_array();
    for (size_t s = 0; series && s < f->n_series; s++) {
        const rc_fc_series *r = &f->series[s];
        json_array_append_new(series, json_pack("{s:s, s:i, s:f, s:f}", "id", r->id, "log", r->use_log, "a", r->a,
                                                "b", r->b));
    }
    for (size_t s = 0; skipped && s < f->n_skipped; s++) json_array_append_new(skipped, json_string(f->skipped[s]));
    if (!series || !skipped || json_array_size(series) != f->n_series || json_array_size(skipped) != f->n_skipped) {
        json_decref(series);
        json_decref(skipped);
        return NULL;
    }
    return json_pack("{s:[s, s, s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:i, s:o, s:o}", "columns",
                     f->columns[0], f->columns[1], f->columns[2], "preset",
                     f->preset == RECUR_PRESET_FORECAST ? "forecast" : "tutorial", "horizon", f->H, "season",
                     f->season, "timestep", f->T, "chunk", f->chunk, "anchor", f->anchor, "log", f->log_ok, "scaler",
                     f->scaler == RECUR_SCALER_STANDARD ? "standard" : "minmax", "layers", f->spec, "nets", f->n_nets,
                     "series", series, "skipped", skipped);
}

/* Header text padded with spaces to a multiple of 8 bytes. */
static char *header_text(const recur_forecaster *f, size_t *len)
{
    json_t *cfg = config_json(f), *root = NULL;
    char *cfg_text = cfg ? rc_mf_dump_exact(cfg) : NULL, *text = NULL, *out = NULL;
    if (cfg_text)
        root = json_pack("{s:{s:s, s:s, s:s, s:s}}", "__metadata__", "format", FC_FORMAT, "format_version",
                         FC_VERSION, "recur_version", RECUR_VERSION, "forecaster", cfg_text);
    uint64_t off = 0;
    int ok = root != NULL;
    for (int k = 0; ok && k < f->n_nets; k++)
        for (int i = 0; ok && i < recur_model_n_weights(f->net[k]); i++) {
            recur_weight w;
            char name[96];
            ok = recur_model_weight(f->net[k], i, &w, NULL) == RECUR_OK;
            snprintf(name, sizeof name, "net%d.%s", k, w.name);
            ok = ok && json_object_set_new(root, name,
                                           tensor_json((uint64_t)w.dims[0], w.ndim == 2 ? (uint64_t)w.dims[1] : 1,
                                                       w.ndim, off)) == 0;
            off += 4 * (uint64_t)w.size;
        }
    ok = ok && json_object_set_new(root, "residuals", tensor_json((uint64_t)f->H, f->n_res, 2, off)) == 0;
    if (ok && (text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS))) {
        size_t n = strlen(text), pad = (8 - n % 8) % 8;
        if ((out = malloc(n + pad + 1))) {
            memcpy(out, text, n);
            memset(out + n, ' ', pad);
            out[n + pad] = '\0';
            *len = n + pad;
        }
    }
    free(text);
    free(cfg_text);
    json_decref(cfg);
    json_decref(root);
    return out;
}

typedef struct {
    const recur_forecaster *f;
    const char *hdr;
    size_t hlen;
} body_ctx;

static int write_body(FILE *fp, void *ctx)
{
    const body_ctx *b = ctx;
    const recur_forecaster *f = b->f;
    unsigned char buf[16384];
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)b->hlen >> (8 * k));
    if (fwrite(buf, 1, 8, fp) != 8 || fwrite(b->hdr, 1, b->hlen, fp) != b->hlen) return -1;
    size_t used = 0;
    for (int k = 0; k < f->n_nets; k++)
        for (int i = 0; i < recur_model_n_weights(f->net[k]); i++) {
            recur_weight w;
            if (recur_model_weight(f->net[k], i, &w, NULL) != RECUR_OK ||
                rc_mf_put_floats(fp, buf, sizeof buf, &used, w.data, w.size) != 0)
                return -1;
        }
    for (size_t i = 0; i < (size_t)f->H * f->n_res; i++) {
        recur_float v = (recur_float)f->res[i];
        if (rc_mf_put_floats(fp, buf, sizeof buf, &used, &v, 1) != 0) return -1;
    }
    return fwrite(buf, 1, used, fp) == used ? 0 : -1;
}

recur_status recur_forecaster_save(const recur_forecaster *f, const char *path, recur_error *err)
{
    if (!f || !path || !*path) return rc_error(err, RECUR_E_INVALID, "recur_forecaster_save: f and path are required");
    body_ctx b = {f, NULL, 0};
    char *hdr = header_text(f, &b.hlen);
    if (!hdr) return rc_error(err, RECUR_E_NOMEM, "cannot save \"%s\": out of memory for the header", path);
    b.hdr = hdr;
    recur_status st = rc_mf_write_atomic(path, write_body, &b, err);
    free(hdr);
    return st;
}

/* ====== Load ====== */

/* Tensor `name` of shape (d0[, d1]) in the data section (data_len bytes): *at. */
static recur_status find_tensor(const rc_mf_ctx *c, const json_t *root, const char *name, int ndim, uint64_t d0,
                                uint64_t d1, uint64_t data_len, uint64_t *at)
{
    json_int_t b = -1, e = -1, s0 = -1, s1 = -1;
    const char *dtype = NULL;
    json_t *t = json_object_get(root, name);
    if (!t) return rc_mf_bad(c, "tensor \"%.80s\" is missing", name);
    int ok = ndim == 1 ? json_unpack(t, "{s:s, s:[I], s:[I, I]}", "dtype", &dtype, "shape", &s0, "data_offsets", &b, &e)
                       : json_unpack(t, "{s:s, s:[I, I], s:[I, I]}", "dtype", &dtype, "shape", &s0, &s1,
                                     "data_offsets", &b, &e);
    if (ndim == 1) s1 = 1;
    if (ok != 0 || strcmp(dtype, "F32") != 0)
        return rc_mf_bad(c, "tensor \"%.80s\" must be F32 with %d dimension%s", name, ndim, ndim == 1 ? "" : "s");
    if ((uint64_t)s0 != d0 || (uint64_t)s1 != d1)
        return rc_mf_bad(c, "tensor \"%.80s\" has shape [%lld, %lld], the config needs [%llu, %llu]", name,
                         (long long)s0, (long long)s1, (unsigned long long)d0, (unsigned long long)d1);
    if (b < 0 || e < b || (uint64_t)e > data_len || (uint64_t)(e - b) != 4 * d0 * d1)
        return rc_mf_bad(c, "tensor \"%.80s\" has data_offsets [%lld, %lld] outside the %llu data bytes or of the "
                            "wrong size",
                         name, (long long)b, (long long)e, (unsigned long long)data_len);
    *at = (uint64_t)b;
    return RECUR_OK;
}

static float get_float(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static recur_status parse_config(const rc_mf_ctx *c, const char *text, json_t **cfg_out, recur_forecaster **out)
{
    json_error_t je;
    json_t *cfg = json_loads(text, JSON_REJECT_DUPLICATES, &je), *series = NULL, *skipped = NULL;
    const char *preset = NULL, *scaler = NULL, *layers = NULL, *col[3] = {NULL, NULL, NULL};
    int H = 0, season = 0, T = 0, chunk = 0, anchor = 0, lg = 0, nets = 0;
    *cfg_out = cfg;
    if (!cfg) return rc_mf_bad(c, "__metadata__.forecaster is not valid JSON: %s", je.text);
    if (json_unpack(cfg, "{s:[s, s, s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:i, s:o, s:o}", "columns",
                    &col[0], &col[1], &col[2], "preset", &preset, "horizon",
                    &H, "season", &season, "timestep", &T, "chunk", &chunk, "anchor", &anchor, "log", &lg, "scaler",
                    &scaler, "layers", &layers, "nets", &nets, "series", &series, "skipped", &skipped) != 0 ||
        !json_is_array(series) || !json_is_array(skipped))
        return rc_mf_bad(c, "__metadata__.forecaster lacks a field or has one of the wrong type (columns, preset, "
                            "horizon, season, timestep, chunk, anchor, log, scaler, layers, nets, series, skipped)");
    if (H < 1 || H > 100000 || nets < 1 || nets > 1000 || json_array_size(series) < 1 ||
        strlen(layers) >= RC_FC_SPEC_MAX)
        return rc_mf_bad(c, "forecaster config out of range (horizon %d, %d networks, %zu series)", H, nets,
                         json_array_size(series));
    size_t ns = json_array_size(series), nk = json_array_size(skipped);
    recur_forecaster *f = NULL;
    recur_status st = rc_fc_alloc(ns, nets, H, 0, &f, c->err);
    if (st) return st;
    *out = f;
    f->preset = strcmp(preset, "forecast") == 0 ? RECUR_PRESET_FORECAST : RECUR_PRESET_TUTORIAL;
    f->season = season;
    f->T = T;
    f->chunk = chunk;
    f->anchor = anchor;
    f->log_ok = lg != 0;
    f->scaler = strcmp(scaler, "standard") == 0 ? RECUR_SCALER_STANDARD : RECUR_SCALER_MINMAX;
    memcpy(f->spec, layers, strlen(layers) + 1);
    if ((st = recur_forecaster_set_columns(f, col[0], col[1], col[2], c->err))) return st;
    for (size_t s = 0; s < ns; s++) {
        const char *id = NULL;
        int use_log = 0;
        double a = NAN, b = NAN;
        if (json_unpack(json_array_get(series, s), "{s:s, s:i, s:F, s:F}", "id", &id, "log", &use_log, "a", &a, "b",
                        &b) != 0)
            return rc_mf_bad(c, "series %zu of the config needs id, log, a and b", s);
        f->series[s].use_log = use_log != 0;
        f->series[s].a = a;
        f->series[s].b = b;
        if (!(f->series[s].id = strdup(id))) return rc_error(c->err, RECUR_E_NOMEM, "%s: out of memory", c->path);
    }
    if (nk > 0 && !(f->skipped = calloc(nk, sizeof *f->skipped)))
        return rc_error(c->err, RECUR_E_NOMEM, "%s: out of memory", c->path);
    for (size_t s = 0; s < nk; s++) {
        const char *id = json_string_value(json_array_get(skipped, s));
        if (!id) return rc_mf_bad(c, "skipped series %zu is not a string", s);
        if (!(f->skipped[s] = strdup(id))) return rc_error(c->err, RECUR_E_NOMEM, "%s: out of memory", c->path);
        f->n_skipped++;
    }
    return RECUR_OK;
}

static recur_status check_metadata(const rc_mf_ctx *c, const json_t *root, const char **cfg_text)
{
    const json_t *meta = json_object_get(root, "__metadata__");
    const char *fmt = json_string_value(json_object_get(meta, "format"));
    const char *ver = json_string_value(json_object_get(meta, "format_version"));
    if (fmt && strcmp(fmt, "recur-model") == 0)
        return rc_mf_bad(c, "this is a single-series recur model (recur train without --id-column or --preset), not "
                            "a forecaster: load it with recur_model_load, or use it with recur predict / forecast");
    if (!fmt || strcmp(fmt, FC_FORMAT) != 0)
        return rc_mf_bad(c, "__metadata__.format is not \"" FC_FORMAT "\": not a recur forecaster file");
    if (!ver || strcmp(ver, FC_VERSION) != 0)
        return rc_mf_bad(c, "format_version \"%.20s\" is not supported: this recur reads forecaster format_version "
                            "\"" FC_VERSION "\" (written by a newer recur? upgrade it)",
                         ver ? ver : "(missing)");
    if (!(*cfg_text = json_string_value(json_object_get(meta, "forecaster"))))
        return rc_mf_bad(c, "__metadata__ has no \"forecaster\" config string");
    return RECUR_OK;
}

recur_status recur_forecaster_load(const char *path, recur_forecaster **out, recur_error *err)
{
    if (!path || !out) return rc_error(err, RECUR_E_INVALID, "recur_forecaster_load: path and out are required");
    *out = NULL;
    rc_mf_ctx c = {path, err};
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *root = NULL, *cfg = NULL;
    recur_forecaster *f = NULL;
    uint64_t hlen = 0;
    const char *cfg_text = NULL;
    recur_status st = rc_mf_read_all(path, &buf, &len, err);
    if (st) return st;
    if ((st = rc_mf_header(&c, buf, len, &root, &hlen)) || (st = check_metadata(&c, root, &cfg_text)) ||
        (st = parse_config(&c, cfg_text, &cfg, &f)))
        goto done;
    if (f->chunk < 1 || f->chunk > 100000 || f->T < 1 || f->T % f->chunk != 0) {
        st = rc_mf_bad(&c, "forecaster config: timestep %d is not a multiple of chunk %d", f->T, f->chunk);
        goto done;
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = (uint64_t)(len - 8) - hlen, at = 0;
    recur_compile_opts co = recur_compile_opts_default();
    for (int k = 0; k < f->n_nets; k++) {
        if ((st = rc_fc_build_net(f->spec, f->chunk, f->H, &co, &f->net[k], err))) goto done;
        for (int i = 0; i < recur_model_n_weights(f->net[k]); i++) {
            recur_weight w;
            char name[96];
            recur_model_weight(f->net[k], i, &w, NULL);
            snprintf(name, sizeof name, "net%d.%s", k, w.name);
            if ((st = find_tensor(&c, root, name, w.ndim, (uint64_t)w.dims[0], w.ndim == 2 ? (uint64_t)w.dims[1] : 1,
                                  data_len, &at)))
                goto done;
            for (size_t e = 0; e < w.size; e++) w.data[e] = (recur_float)get_float(data + at + 4 * e);
        }
    }
    json_t *rt = json_object_get(root, "residuals");
    json_int_t nres = -1;
    if (!rt || json_unpack(rt, "{s:[I, I]}", "shape", &(json_int_t){0}, &nres) != 0 || nres < 0 ||
        (uint64_t)nres > data_len) {
        st = rc_mf_bad(&c, "tensor \"residuals\" is missing or has a bad shape");
        goto done;
    }
    if ((st = find_tensor(&c, root, "residuals", 2, (uint64_t)f->H, (uint64_t)nres, data_len, &at))) goto done;
    free(f->res);
    f->n_res = (size_t)nres;
    if (!(f->res = malloc(((size_t)f->H * f->n_res + 1) * sizeof *f->res))) {
        st = rc_error(err, RECUR_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < (size_t)f->H * f->n_res; i++) f->res[i] = get_float(data + at + 4 * i);
    if ((st = rc_fc_check(f, path, err))) goto done;
    *out = f;
    f = NULL;
done:
    recur_forecaster_free(f);
    json_decref(cfg);
    json_decref(root);
    free(buf);
    return st;
}

int recur_forecaster_file(const char *path)
{
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) return 0;
    unsigned char b[8];
    int ok = 0;
    if (fread(b, 1, 8, fp) == 8) {
        uint64_t h = 0;
        for (int k = 0; k < 8; k++) h |= (uint64_t)b[k] << (8 * k);
        /* The whole header: its keys are sorted, so the long config string comes before "format". */
        size_t n = h <= 100000000ULL ? (size_t)h : 0;
        char *txt = n ? malloc(n + 1) : NULL;
        if (txt && fread(txt, 1, n, fp) == n) {
            txt[n] = '\0';
            ok = strstr(txt, "\"format\":\"" FC_FORMAT "\"") != NULL;
        }
        free(txt);
    }
    fclose(fp);
    return ok;
}
