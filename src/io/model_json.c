/*
 * model_json.c -- the JSON documents inside a model file's header: the model
 * config (__metadata__.recur: layers and data pipeline) and, in checkpoints,
 * the training state (__metadata__.checkpoint: loss, optimizer options and
 * iterations, seed, where the fit stood). Both directions: writing from a
 * model, and reading with every field checked for type and range.
 *
 * Not here: the bytes of the file, tensors, atomic writes (model_file.c).
 * docs/model-file.md has the schema.
 */
#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rc_mf_slot_names[RC_MF_N_SLOTS] = {"velocity", "momentum", "average_gradient", "velocity_hat"};
const char *const rc_mf_kind_names[5] = {"lstm", "gru", "simple_rnn", "dense", "dropout"};
static const char *const act_names[] = {"linear", "relu", "tanh", "sigmoid"};
/* An LSTM's or GRU's "recurrent_activation", written only when it is not sigmoid. */
static const char *const gate_names[] = {"sigmoid", "hard_sigmoid", "hard_sigmoid_k2"};
static const recur_activation gate_acts[] = {RECUR_ACT_SIGMOID, RECUR_ACT_HARD_SIGMOID, RECUR_ACT_HARD_SIGMOID_K2};
static const char *const transform_names[] = {"none", "diff", "logreturn"};
static const char *const scaler_names[] = {"minmax", "standard"};
static const char *const missing_names[] = {"error", "drop", "ffill"};
static const char *const loss_names[] = {"mse", "mae"};
static const char *const optim_names[] = {"rmsprop", "adam", "sgd", "rmsprop-keras2"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_EPOCHS 1000000 /* recur_model_fit's limits */
#define MAX_BATCH (1 << 20)

/* Makes a message one printable line: control characters (a "\n" in a JSON
 * key comes out as a real newline) and bytes that are not UTF-8 (a name cut
 * by %.40s in the middle of a character) become '?'. */
static void one_line(char *s)
{
    unsigned char *u = (unsigned char *)s;
    while (*u) {
        unsigned c = *u;
        size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 1 : (c & 0xF0) == 0xE0 ? 2
                                                                   : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        size_t k = 1;
        while (n < 9 && k <= n && (u[k] & 0xC0) == 0x80) k++;
        if (n == 9 || k <= n) { /* not a whole UTF-8 character */
            *u++ = '?';
            continue;
        }
        if (c < 0x20 || c == 0x7f) *u = '?';
        u += n + 1;
    }
}

recur_status rc_mf_bad(const rc_mf_ctx *c, const char *fmt, ...)
{
    char msg[RECUR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    recur_status st = rc_error(c->err, RECUR_E_FORMAT, "%s: %s", c->path, msg);
    if (c->err) one_line(c->err->msg);
    return st;
}

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* ====== Pipeline rules ====== */

recur_status rc_mf_check_pipeline(const recur_pipeline *p, int n_features, recur_status code, const char *path,
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
        (unsigned)p->scaler.kind >= (unsigned)N_OF(scaler_names) ||
        (unsigned)p->missing >= (unsigned)N_OF(missing_names))
        return rc_error(err, code, "%s: pipeline has an unknown transform, scaler kind or missing-value policy", path);
    if (p->scaler.n < 0 || p->scaler.n > RECUR_SCALER_MAX)
        return rc_error(err, code, "%s: pipeline scaler has %d features (0..%d allowed)", path, p->scaler.n,
                        RECUR_SCALER_MAX);
    for (int j = 0; j < p->scaler.n; j++)
        if (!isfinite(p->scaler.a[j]) || !isfinite(p->scaler.b[j]))
            return rc_error(err, code, "%s: pipeline scaler value %d is not finite", path, j);
    return RECUR_OK;
}

/* ====== Writing ====== */

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

char *rc_mf_dump_exact(const json_t *doc)
{
    for (int prec = 15; prec <= 17; prec++) {
        char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(prec));
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        int same = back && json_equal(doc, back);
        json_decref(back);
        if (same) return text;
        free(text);
    }
    return NULL;
}

static json_t *layer_json(const recur_layer_info *li)
{
    const char *k = rc_mf_kind_names[li->kind];
    json_t *o = NULL;
    switch (li->kind) {
    case RECUR_LAYER_DROPOUT: return json_pack("{s:s, s:f}", "kind", k, "rate", short_float(li->rate));
    case RECUR_LAYER_DENSE:
        return json_pack("{s:s, s:i, s:s}", "kind", k, "units", li->units, "activation", act_names[li->act]);
    case RECUR_LAYER_GRU:
        o = json_pack("{s:s, s:i, s:b, s:b}", "kind", k, "units", li->units, "return_sequences", li->return_sequences,
                      "reset_after", li->reset_after);
        break;
    default:
        o = json_pack("{s:s, s:i, s:b}", "kind", k, "units", li->units, "return_sequences", li->return_sequences);
    }
    for (int g = 1; o && g < 3; g++)
        if (li->recurrent_act == gate_acts[g]) json_object_set_new(o, "recurrent_activation", json_string(gate_names[g]));
    return o;
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
    return json_pack("{s:o, s:i, s:i, s:i, s:f, s:s, s:s, s:{s:s, s:o, s:o}, s:s}", "features", feat, "target",
                     p->target, "timestep", p->timestep, "horizon", p->horizon, "test_fraction", p->test_fraction,
                     "transform", transform_names[p->transform], "scaler_kind", scaler_names[p->scaler_kind],
                     "scaler", "kind", scaler_names[p->scaler.kind], "a", real_array(p->scaler.a, p->scaler.n), "b",
                     real_array(p->scaler.b, p->scaler.n), "missing", missing_names[p->missing]);
}

json_t *rc_mf_config_json(const recur_model *m, const recur_pipeline *p, recur_error *err)
{
    json_t *layers = json_array();
    for (int i = 0; i < recur_model_n_layers(m) && layers; i++) {
        recur_layer_info li;
        if (recur_model_layer(m, i, &li, err) != RECUR_OK) {
            json_decref(layers);
            return NULL;
        }
        if ((unsigned)li.kind >= 5u || (unsigned)li.act >= (unsigned)N_OF(act_names)) {
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

static json_t *seed_json(uint64_t seed)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, seed);
    return json_string(buf);
}

json_t *rc_mf_checkpoint_json(const rc_mf_checkpoint *ck)
{
    const recur_optim_opts *o = &ck->co.optim;
    const recur_train_state *ts = &ck->ts;
    json_t *optim = json_pack("{s:s, s:f, s:f, s:f, s:f, s:b, s:f, s:f, s:b, s:b, s:f, s:f}", "kind",
                              optim_names[o->kind], "learning_rate", o->lr, "rho", o->rho, "momentum", o->momentum,
                              "epsilon", o->epsilon, "centered", o->centered, "beta_1", o->beta_1, "beta_2",
                              o->beta_2, "amsgrad", o->amsgrad, "nesterov", o->nesterov, "clipnorm", o->clipnorm,
                              "clipvalue", o->clipvalue);
    json_t *train = json_pack("{s:i, s:i, s:o, s:i, s:i, s:i, s:o, s:f, s:i, s:b}", "epoch", ts->epoch, "epochs",
                              ts->epochs, "best", ts->best_epoch > 0 ? json_real(ts->best) : json_null(),
                              "best_epoch", ts->best_epoch, "wait", ts->wait, "batch_size", ts->batch_size, "seed",
                              seed_json(ts->seed), "validation_split", ts->validation_split, "patience", ts->patience,
                              "shuffle", ts->shuffle);
    return json_pack("{s:s, s:o, s:o, s:I, s:o}", "loss", loss_names[ck->co.loss], "seed", seed_json(ck->co.seed),
                     "optimizer", optim, "iterations", (json_int_t)ck->iterations, "train", train);
}

/* ====== Reading: field helpers ====== */

static recur_status cfg_int(const rc_mf_ctx *c, const json_t *o, const char *key, long long lo, long long hi,
                            int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return rc_mf_bad(c, "%s: \"%s\" must be an integer in %lld..%lld", where, key, lo, hi);
    *out = (int)json_integer_value(v);
    return RECUR_OK;
}

static recur_status cfg_bool(const rc_mf_ctx *c, const json_t *o, const char *key, int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) return rc_mf_bad(c, "%s: \"%s\" must be true or false", where, key);
    *out = json_is_true(v);
    return RECUR_OK;
}

static recur_status cfg_real(const rc_mf_ctx *c, const json_t *o, const char *key, double *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return rc_mf_bad(c, "%s: \"%s\" must be a number", where, key);
    *out = json_number_value(v);
    return RECUR_OK;
}

static recur_status cfg_enum(const rc_mf_ctx *c, const json_t *o, const char *key, const char *const *names, int n,
                             int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    int k = json_is_string(v) ? name_index(names, n, json_string_value(v)) : -1;
    if (k < 0) {
        char list[160] = "";
        for (int i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", names[i]);
        if (json_is_string(v))
            return rc_mf_bad(c, "%s: unknown %s \"%.40s\" (known: %s)", where, key, json_string_value(v), list);
        return rc_mf_bad(c, "%s: \"%s\" must be one of %s", where, key, list);
    }
    *out = k;
    return RECUR_OK;
}

/* A seed: a string of 1..20 decimal digits that fits 64 bits. */
static recur_status cfg_seed(const rc_mf_ctx *c, const json_t *o, const char *key, uint64_t *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    int ok = s && n >= 1 && n <= 20 && n == json_string_length(v) && strspn(s, "0123456789") == n;
    if (ok) {
        errno = 0;
        unsigned long long u = strtoull(s, NULL, 10);
        ok = errno == 0;
        *out = (uint64_t)u;
    }
    if (!ok) return rc_mf_bad(c, "%s: \"%s\" must be a string of decimal digits below 2^64", where, key);
    return RECUR_OK;
}

static recur_status parse_doubles(const rc_mf_ctx *c, const json_t *arr, double *out, int n, const char *what)
{
    for (int j = 0; j < n; j++) {
        json_t *v = json_array_get(arr, (size_t)j);
        if (!json_is_number(v)) return rc_mf_bad(c, "config pipeline: %s[%d] must be a number", what, j);
        out[j] = json_number_value(v);
    }
    return RECUR_OK;
}

/* ====== Reading the config ====== */

static recur_status parse_pipeline(const rc_mf_ctx *c, const json_t *o, int n_features, recur_pipeline *p)
{
    recur_status st;
    int k = 0;
    const char *w = "config pipeline";
    memset(p, 0, sizeof *p);
    if (!json_is_object(o)) return rc_mf_bad(c, "config: \"pipeline\" must be an object");
    json_t *feat = json_object_get(o, "features");
    if (!json_is_array(feat) || json_array_size(feat) != (size_t)n_features)
        return rc_mf_bad(c, "%s: \"features\" must be an array of %d names (one per model input)", w, n_features);
    p->n_features = n_features;
    for (int j = 0; j < n_features; j++) {
        json_t *s = json_array_get(feat, (size_t)j);
        if (!json_is_string(s) || json_string_length(s) < 1 || json_string_length(s) >= sizeof p->features[j])
            return rc_mf_bad(c, "%s: features[%d] must be a name of 1..%zu bytes", w, j, sizeof p->features[j] - 1);
        memcpy(p->features[j], json_string_value(s), json_string_length(s));
    }
    if ((st = cfg_int(c, o, "target", 0, n_features - 1, &p->target, w)) ||
        (st = cfg_int(c, o, "timestep", 1, INT_MAX, &p->timestep, w)) ||
        (st = cfg_int(c, o, "horizon", 1, INT_MAX, &p->horizon, w)) ||
        (st = cfg_real(c, o, "test_fraction", &p->test_fraction, w)))
        return st;
    if ((st = cfg_enum(c, o, "transform", transform_names, N_OF(transform_names), &k, w))) return st;
    p->transform = (recur_transform)k;
    if ((st = cfg_enum(c, o, "scaler_kind", scaler_names, N_OF(scaler_names), &k, w))) return st;
    p->scaler_kind = (recur_scaler_kind)k;
    /* "missing" came with checkpoints; files written before have none and meant "error". */
    p->missing = RECUR_MISSING_ERROR;
    if (json_object_get(o, "missing")) {
        if ((st = cfg_enum(c, o, "missing", missing_names, N_OF(missing_names), &k, w))) return st;
        p->missing = (recur_missing)k;
    }
    json_t *sc = json_object_get(o, "scaler");
    if (!json_is_object(sc)) return rc_mf_bad(c, "%s: \"scaler\" must be an object", w);
    if ((st = cfg_enum(c, sc, "kind", scaler_names, N_OF(scaler_names), &k, "config pipeline scaler"))) return st;
    p->scaler.kind = (recur_scaler_kind)k;
    json_t *a = json_object_get(sc, "a"), *b = json_object_get(sc, "b");
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b) ||
        json_array_size(a) > RECUR_SCALER_MAX)
        return rc_mf_bad(c, "%s: scaler \"a\" and \"b\" must be arrays of the same length (at most %d)", w,
                         RECUR_SCALER_MAX);
    p->scaler.n = (int)json_array_size(a);
    if ((st = parse_doubles(c, a, p->scaler.a, p->scaler.n, "scaler.a")) ||
        (st = parse_doubles(c, b, p->scaler.b, p->scaler.n, "scaler.b")))
        return st;
    return rc_mf_check_pipeline(p, n_features, RECUR_E_FORMAT, c->path, c->err);
}

static recur_status parse_layer(const rc_mf_ctx *c, const json_t *o, int i, rc_mf_layer *L)
{
    char where[32];
    int k = 0;
    recur_status st;
    snprintf(where, sizeof where, "config layer %d", i);
    memset(L, 0, sizeof *L);
    if (!json_is_object(o)) return rc_mf_bad(c, "%s must be an object", where);
    if ((st = cfg_enum(c, o, "kind", rc_mf_kind_names, 5, &k, where))) return st;
    L->kind = (recur_layer_kind)k;
    if (L->kind == RECUR_LAYER_DROPOUT) {
        double rate = 0;
        if ((st = cfg_real(c, o, "rate", &rate, where))) return st;
        if (!(rate >= 0 && rate < 1)) return rc_mf_bad(c, "%s: dropout rate %g is not in [0, 1)", where, rate);
        L->rate = (float)rate;
        return RECUR_OK;
    }
    if ((st = cfg_int(c, o, "units", 1, RC_MF_MAX_WIDTH, &L->units, where))) return st;
    if (L->kind == RECUR_LAYER_DENSE) {
        if ((st = cfg_enum(c, o, "activation", act_names, N_OF(act_names), &k, where))) return st;
        L->act = (recur_activation)k;
        return RECUR_OK;
    }
    if ((st = cfg_bool(c, o, "return_sequences", &L->return_sequences, where))) return st;
    L->rec_act = RECUR_ACT_SIGMOID;
    if (L->kind != RECUR_LAYER_RNN && json_object_get(o, "recurrent_activation")) {
        if ((st = cfg_enum(c, o, "recurrent_activation", gate_names, 3, &k, where))) return st;
        L->rec_act = gate_acts[k];
    }
    if (L->kind == RECUR_LAYER_GRU) return cfg_bool(c, o, "reset_after", &L->reset_after, where);
    return RECUR_OK;
}

/* The JSON text held in the string __metadata__.<key>, parsed (NULL + message when it is not JSON). */
static json_t *load_text(const rc_mf_ctx *c, const json_t *meta, const char *key, recur_status *st)
{
    json_t *text = json_object_get(meta, key);
    json_error_t je;
    json_t *o = json_loadb(json_string_value(text), json_string_length(text), JSON_REJECT_DUPLICATES, &je);
    *st = RECUR_OK;
    if (!o) *st = rc_mf_bad(c, "__metadata__.%s is not valid JSON: %s (byte %d)", key, je.text, je.position);
    else if (!json_is_object(o)) {
        json_decref(o);
        o = NULL;
        *st = rc_mf_bad(c, "__metadata__.%s must hold a JSON object", key);
    }
    return o;
}

recur_status rc_mf_parse_config(const rc_mf_ctx *c, const json_t *meta, rc_mf_config *cfg)
{
    if (!json_object_get(meta, "recur")) return rc_mf_bad(c, "__metadata__ has no \"recur\" entry (the model config)");
    recur_status st;
    json_t *o = load_text(c, meta, "recur", &st);
    if (!o) return st;
    memset(cfg, 0, sizeof *cfg);
    json_t *layers = json_object_get(o, "layers");
    if ((st = cfg_int(c, o, "n_features", 1, RC_MF_MAX_WIDTH, &cfg->n_features, "config top level"))) goto done;
    if (!json_is_array(layers) || json_array_size(layers) < 1 || json_array_size(layers) > RC_MF_MAX_LAYERS) {
        st = rc_mf_bad(c, "config: \"layers\" must be an array of 1..%d layers", RC_MF_MAX_LAYERS);
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

/* ====== Reading the checkpoint ====== */

recur_status rc_mf_check_train_state(const recur_train_state *ts, recur_status code, const char *path,
                                     recur_error *err)
{
    const char *what = code == RECUR_E_FORMAT ? "checkpoint train" : "training state";
    if (ts->epochs < 1 || ts->epochs > MAX_EPOCHS || ts->epoch < 0 || ts->epoch > ts->epochs)
        return rc_error(err, code, "%s: %s: epoch %d of %d: need 0 <= epoch <= epochs <= %d", path, what, ts->epoch,
                        ts->epochs, MAX_EPOCHS);
    if (ts->batch_size < 1 || ts->batch_size > MAX_BATCH)
        return rc_error(err, code, "%s: %s: batch_size %d is not in 1..%d", path, what, ts->batch_size, MAX_BATCH);
    if (!(ts->validation_split >= 0 && ts->validation_split < 1))
        return rc_error(err, code, "%s: %s: validation_split %g is not in [0, 1)", path, what, ts->validation_split);
    if (ts->patience < 0 || ts->patience > MAX_EPOCHS || (ts->shuffle != 0 && ts->shuffle != 1))
        return rc_error(err, code, "%s: %s: patience %d (0..%d) or shuffle %d (0 or 1) out of range", path, what,
                        ts->patience, MAX_EPOCHS, ts->shuffle);
    if (ts->best_epoch < 0 || ts->best_epoch > ts->epoch || ts->wait < 0 || ts->wait > ts->epoch ||
        (ts->best_epoch > 0 && !isfinite(ts->best)))
        return rc_error(err, code, "%s: %s: early-stopping state (best %g at epoch %d, wait %d) does not fit epoch %d",
                        path, what, ts->best, ts->best_epoch, ts->wait, ts->epoch);
    return RECUR_OK;
}

static recur_status parse_optimizer(const rc_mf_ctx *c, const json_t *o, recur_optim_opts *op)
{
    const char *w = "checkpoint optimizer";
    recur_status st;
    int k = 0;
    memset(op, 0, sizeof *op);
    if (!json_is_object(o)) return rc_mf_bad(c, "checkpoint: \"optimizer\" must be an object");
    if ((st = cfg_enum(c, o, "kind", optim_names, N_OF(optim_names), &k, w))) return st;
    op->kind = (recur_optimizer)k;
    if ((st = cfg_real(c, o, "learning_rate", &op->lr, w)) || (st = cfg_real(c, o, "rho", &op->rho, w)) ||
        (st = cfg_real(c, o, "momentum", &op->momentum, w)) || (st = cfg_real(c, o, "epsilon", &op->epsilon, w)) ||
        (st = cfg_bool(c, o, "centered", &op->centered, w)) || (st = cfg_real(c, o, "beta_1", &op->beta_1, w)) ||
        (st = cfg_real(c, o, "beta_2", &op->beta_2, w)) || (st = cfg_bool(c, o, "amsgrad", &op->amsgrad, w)) ||
        (st = cfg_bool(c, o, "nesterov", &op->nesterov, w)) || (st = cfg_real(c, o, "clipnorm", &op->clipnorm, w)) ||
        (st = cfg_real(c, o, "clipvalue", &op->clipvalue, w)))
        return st;
    /* The remaining ranges are the optimizer's own; recur_model_compile checks them on load. */
    return RECUR_OK;
}

static recur_status parse_train(const rc_mf_ctx *c, const json_t *o, recur_train_state *ts)
{
    const char *w = "checkpoint train";
    recur_status st;
    memset(ts, 0, sizeof *ts);
    if (!json_is_object(o)) return rc_mf_bad(c, "checkpoint: \"train\" must be an object");
    if ((st = cfg_int(c, o, "epoch", 0, MAX_EPOCHS, &ts->epoch, w)) ||
        (st = cfg_int(c, o, "epochs", 1, MAX_EPOCHS, &ts->epochs, w)) ||
        (st = cfg_int(c, o, "best_epoch", 0, MAX_EPOCHS, &ts->best_epoch, w)) ||
        (st = cfg_int(c, o, "wait", 0, MAX_EPOCHS, &ts->wait, w)) ||
        (st = cfg_int(c, o, "batch_size", 1, MAX_BATCH, &ts->batch_size, w)) ||
        (st = cfg_seed(c, o, "seed", &ts->seed, w)) ||
        (st = cfg_real(c, o, "validation_split", &ts->validation_split, w)) ||
        (st = cfg_int(c, o, "patience", 0, MAX_EPOCHS, &ts->patience, w)) ||
        (st = cfg_bool(c, o, "shuffle", &ts->shuffle, w)))
        return st;
    json_t *best = json_object_get(o, "best");
    if (json_is_null(best)) ts->best = INFINITY; /* nothing monitored yet */
    else if (json_is_number(best)) ts->best = json_number_value(best);
    else return rc_mf_bad(c, "%s: \"best\" must be a number or null", w);
    if (ts->best_epoch == 0 && !json_is_null(best))
        return rc_mf_bad(c, "%s: \"best\" must be null while \"best_epoch\" is 0", w);
    if (ts->best_epoch > 0 && json_is_null(best))
        return rc_mf_bad(c, "%s: \"best\" is null but \"best_epoch\" is %d", w, ts->best_epoch);
    return rc_mf_check_train_state(ts, RECUR_E_FORMAT, c->path, c->err);
}

recur_status rc_mf_parse_checkpoint(const rc_mf_ctx *c, const json_t *meta, rc_mf_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    if (!json_object_get(meta, "checkpoint"))
        return rc_mf_bad(c, "no training state (__metadata__.checkpoint): a model file, not a checkpoint; write "
                            "checkpoints with recur train --checkpoint");
    recur_status st;
    json_t *o = load_text(c, meta, "checkpoint", &st);
    if (!o) return st;
    int k = 0;
    json_t *it = json_object_get(o, "iterations");
    if ((st = cfg_enum(c, o, "loss", loss_names, N_OF(loss_names), &k, "checkpoint"))) goto done;
    ck->co.loss = (recur_loss)k;
    if ((st = cfg_seed(c, o, "seed", &ck->co.seed, "checkpoint"))) goto done;
    if (!json_is_integer(it) || json_integer_value(it) < 0 || json_integer_value(it) > LONG_MAX) {
        st = rc_mf_bad(c, "checkpoint: \"iterations\" must be an integer >= 0");
        goto done;
    }
    ck->iterations = (long)json_integer_value(it);
    if ((st = parse_optimizer(c, json_object_get(o, "optimizer"), &ck->co.optim))) goto done;
    st = parse_train(c, json_object_get(o, "train"), &ck->ts);
done:
    json_decref(o);
    return st;
}
