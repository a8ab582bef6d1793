/*
 * keras_map.c -- the mapping between Keras model configs and recur layers,
 * both ways: reading a Sequential config (Keras 3's `config.json`, the
 * `model_config` attribute of Keras 3 and tf.keras 2 HDF5 files) into recur
 * layers, and writing a recur model as the config Keras 3 writes.
 *
 *   Keras class   recur layer            weights (Keras get_weights order)
 *   InputLayer    (input shape only)     -
 *   LSTM          RECUR_LAYER_LSTM       kernel (F,4H), recurrent_kernel (H,4H), bias (4H)   gates i,f,c,o
 *   GRU           RECUR_LAYER_GRU        kernel (F,3H), recurrent_kernel (H,3H), bias (2,3H) or (3H)   z,r,h
 *   SimpleRNN     RECUR_LAYER_RNN        kernel (F,H), recurrent_kernel (H,H), bias (H)
 *   Dense         RECUR_LAYER_DENSE      kernel (in,N), bias (N)
 *   Dropout       RECUR_LAYER_DROPOUT    -
 *
 * recur computes exactly Keras's default cells (activation tanh, recurrent
 * activation sigmoid). Everything else is refused with one line naming the
 * layer: other classes (Bidirectional, Conv1D, Masking, ...), stateful,
 * go_backwards, return_state, time_major, other activations (hard_sigmoid
 * included: Keras 2 computes clip(0.2x+0.5, 0, 1), Keras 3 clip(x/6+0.5, 0, 1),
 * see docs/keras.md), and models that are not Sequential. use_bias=False is
 * read as a zero bias (exact at inference; recur trains a bias from there).
 * Input and recurrent dropout are training-time only: read, and not applied.
 */
#include "io/keras.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The classes, in recur_layer_kind order, with the snake_case names Keras 3
 * gives their weight groups and default layer names. */
static const struct {
    const char *cls, *snake;
} kinds[5] = {{"LSTM", "lstm"}, {"GRU", "gru"}, {"SimpleRNN", "simple_rnn"}, {"Dense", "dense"}, {"Dropout", "dropout"}};
static const char *const act_names[] = {"linear", "relu", "tanh", "sigmoid"};
#define N_ACT 4

void rc_keras_layer_name(recur_layer_kind kind, int k, char *buf, size_t cap)
{
    const char *sn = kinds[(unsigned)kind < 5u ? kind : 0].snake;
    if (k > 0) snprintf(buf, cap, "%s_%d", sn, k);
    else snprintf(buf, cap, "%s", sn);
}

int rc_keras_n_file_weights(const rc_keras_layer *L)
{
    if (L->kind == RECUR_LAYER_DROPOUT) return 0;
    return (L->kind == RECUR_LAYER_DENSE ? 1 : 2) + (L->use_bias ? 1 : 0);
}

/* ====== Reading a config ====== */

typedef struct {
    const rc_mf_ctx *c;
    int index;        /* position in the config's layer list */
    const char *name; /* the layer's Keras name */
    const char *cls;
} where;

/* "<path>: layer 3 \"lstm_1\" (LSTM): <what>" */
static recur_status refuse(const where *w, const char *what, const char *detail)
{
    return rc_mf_bad(w->c, "layer %d \"%.60s\" (%.40s): %s%s", w->index, w->name, w->cls, what, detail ? detail : "");
}

/* A boolean config key: its value, `dflt` when absent or null, -1 when it is not a boolean. */
static int get_bool(const json_t *o, const char *key, int dflt)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return dflt;
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

static recur_status want_false(const where *w, const json_t *o, const char *key)
{
    int v = get_bool(o, key, 0);
    char buf[160];
    if (v == 0) return RECUR_OK;
    snprintf(buf, sizeof buf, "%s=%s is not supported", key, v < 0 ? "<not a boolean>" : "True");
    return refuse(w, buf, v > 0 ? " (recur runs each window forward from a zero state)" : NULL);
}

/* The activation's name: a string, null (linear), or Keras 2's {"class_name": ...}. */
static const char *act_text(const json_t *v)
{
    if (!v || json_is_null(v)) return "linear";
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) {
        const json_t *cn = json_object_get(v, "class_name");
        if (json_is_string(cn)) return json_string_value(cn);
    }
    return NULL;
}

static int act_index(const char *s)
{
    for (int i = 0; i < N_ACT; i++)
        if (s && strcmp(s, act_names[i]) == 0) return i;
    return -1;
}

/* A recurrent cell's activations must be Keras's defaults, which recur computes. */
static recur_status check_cell_act(const where *w, const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);
    if (!v) return RECUR_OK; /* the Keras default */
    const char *s = act_text(v);
    if (s && strcmp(s, want) == 0) return RECUR_OK;
    char buf[200];
    snprintf(buf, sizeof buf, "%s \"%.40s\" is not supported (recur's cells use %s)", key, s ? s : "<not a name>",
             want);
    return refuse(w, buf,
                  s && strcmp(s, "hard_sigmoid") == 0
                      ? "; hard_sigmoid is Keras 2's clip(0.2x+0.5) and Keras 3's clip(x/6+0.5): retrain with sigmoid"
                      : NULL);
}

/* An LSTM's or GRU's recurrent_activation: sigmoid (also when absent), or
 * hard_sigmoid, which is Keras 2's clip(0.2x + 0.5) in a file Keras 2 wrote
 * and Keras 3's relu6(x + 3) / 6 otherwise. */
static recur_status gate_act(const where *w, const json_t *o, int keras2, recur_activation *out)
{
    const json_t *v = json_object_get(o, "recurrent_activation");
    const char *s = v ? act_text(v) : "sigmoid";
    *out = RECUR_ACT_SIGMOID;
    if (s && strcmp(s, "sigmoid") == 0) return RECUR_OK;
    if (s && strcmp(s, "hard_sigmoid") == 0) {
        *out = keras2 ? RECUR_ACT_HARD_SIGMOID_K2 : RECUR_ACT_HARD_SIGMOID;
        return RECUR_OK;
    }
    char buf[200];
    snprintf(buf, sizeof buf, "recurrent_activation \"%.40s\" is not supported (sigmoid or hard_sigmoid)",
             s ? s : "<not a name>");
    return refuse(w, buf, NULL);
}

static recur_status get_units(const where *w, const json_t *o, int *units)
{
    const json_t *v = json_object_get(o, "units");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > RC_MF_MAX_WIDTH) {
        char buf[96];
        snprintf(buf, sizeof buf, "\"units\" must be an integer in 1..%d", RC_MF_MAX_WIDTH);
        return refuse(w, buf, NULL);
    }
    *units = (int)json_integer_value(v);
    return RECUR_OK;
}

/* An input shape [null, T, F] (T may be null). 0, or -1 when malformed. */
static int parse_shape(const json_t *s, int *T, int *F)
{
    if (!json_is_array(s)) return -1;
    if (json_array_size(s) != 3) return -2;
    const json_t *t = json_array_get(s, 1), *f = json_array_get(s, 2);
    if (!json_is_integer(f) || json_integer_value(f) < 1 || json_integer_value(f) > RC_MF_MAX_WIDTH) return -1;
    if (json_is_null(t)) *T = 0;
    else if (json_is_integer(t) && json_integer_value(t) >= 1 && json_integer_value(t) <= 100000000)
        *T = (int)json_integer_value(t);
    else
        return -1;
    *F = (int)json_integer_value(f);
    return 0;
}

/* The first input shape found among the keys Keras versions have used. */
static recur_status find_shape(const where *w, const json_t *lc, int *found, rc_keras_model *km)
{
    static const char *const keys[] = {"batch_shape", "batch_input_shape"};
    for (int k = 0; k < 2 && !*found; k++) {
        const json_t *s = json_object_get(lc, keys[k]);
        if (!s || json_is_null(s)) continue;
        int rc = parse_shape(s, &km->timesteps, &km->n_features);
        if (rc == -2)
            return refuse(w, "the input must be (batch, timesteps, features): ",
                          "recur reads sequence models (inputs of rank 3)");
        if (rc) {
            char buf[96];
            snprintf(buf, sizeof buf, "\"%s\" is not [null, T, F] with T, F >= 1", keys[k]);
            return refuse(w, buf, NULL);
        }
        *found = 1;
    }
    return RECUR_OK;
}

static recur_status parse_layer(const where *w, const json_t *lc, int keras2, rc_keras_layer *L)
{
    recur_status st;
    L->use_bias = get_bool(lc, "use_bias", 1);
    if (L->use_bias < 0) return refuse(w, "\"use_bias\" is not a boolean", NULL);
    if (L->kind == RECUR_LAYER_DROPOUT) {
        const json_t *r = json_object_get(lc, "rate");
        double rate = json_is_number(r) ? json_number_value(r) : -1;
        if (!(rate >= 0 && rate < 1)) return refuse(w, "\"rate\" must be a number in [0, 1)", NULL);
        L->rate = (float)rate;
        return RECUR_OK;
    }
    if ((st = get_units(w, lc, &L->units))) return st;
    if (L->kind == RECUR_LAYER_DENSE) {
        const char *s = act_text(json_object_get(lc, "activation"));
        int a = act_index(s);
        if (a < 0) {
            char buf[160];
            snprintf(buf, sizeof buf, "activation \"%.40s\" is not supported (linear, relu, tanh or sigmoid)",
                     s ? s : "<not a name>");
            return refuse(w, buf, NULL);
        }
        L->act = (recur_activation)a;
        return RECUR_OK;
    }
    /* Recurrent layers. */
    static const char *const no[] = {"stateful", "go_backwards", "return_state", "time_major"};
    for (int k = 0; k < 4; k++)
        if ((st = want_false(w, lc, no[k]))) return st;
    L->return_sequences = get_bool(lc, "return_sequences", 0);
    if (L->return_sequences < 0) return refuse(w, "\"return_sequences\" is not a boolean", NULL);
    if ((st = check_cell_act(w, lc, "activation", "tanh"))) return st;
    if (L->kind != RECUR_LAYER_RNN && (st = gate_act(w, lc, keras2, &L->rec_act))) return st;
    if (L->kind == RECUR_LAYER_GRU) {
        L->reset_after = get_bool(lc, "reset_after", 1);
        if (L->reset_after < 0) return refuse(w, "\"reset_after\" is not a boolean", NULL);
    }
    return RECUR_OK;
}

recur_status rc_keras_parse_config(const rc_mf_ctx *c, const json_t *root, int keras2, rc_keras_model *km)
{
    memset(km, 0, sizeof *km);
    const json_t *cn = json_object_get(root, "class_name"), *cfg = json_object_get(root, "config");
    if (!json_is_object(root) || !json_is_string(cn))
        return rc_mf_bad(c, "the model config is not a Keras model (no \"class_name\")");
    if (strcmp(json_string_value(cn), "Sequential") != 0)
        return rc_mf_bad(c,
                         "the model is a Keras \"%.40s\": recur reads Sequential models only (a functional model may "
                         "branch); rebuild it as keras.Sequential with the same layers and weights",
                         json_string_value(cn));
    /* Keras 2.2 and older wrote the layer list as the config itself. */
    const json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    if (!json_is_array(layers) || json_array_size(layers) < 1)
        return rc_mf_bad(c, "the Sequential config has no \"layers\" list");
    if (json_array_size(layers) > RC_MF_MAX_LAYERS + 1)
        return rc_mf_bad(c, "the model has %zu layers; recur reads at most %d", json_array_size(layers),
                         RC_MF_MAX_LAYERS);
    int have_shape = 0, count[5] = {0};
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *lj = json_array_get(layers, i), *lc = json_object_get(lj, "config");
        const json_t *lcn = json_object_get(lj, "class_name"), *nm = json_object_get(lc, "name");
        where w = {c, (int)i, json_is_string(nm) ? json_string_value(nm) : "?",
                   json_is_string(lcn) ? json_string_value(lcn) : "?"};
        if (!json_is_string(lcn) || !json_is_object(lc)) return refuse(&w, "no class_name or config", NULL);
        recur_status st = find_shape(&w, lc, &have_shape, km);
        if (st) return st;
        if (strcmp(w.cls, "InputLayer") == 0) {
            if (km->n_layers > 0) return refuse(&w, "an input layer after other layers is not supported", NULL);
            continue;
        }
        int k = -1;
        for (int j = 0; j < 5; j++)
            if (strcmp(w.cls, kinds[j].cls) == 0) k = j;
        if (k < 0)
            return refuse(&w, "this layer class is not supported: ",
                          "recur reads InputLayer, LSTM, GRU, SimpleRNN, Dense and Dropout");
        if (km->n_layers >= RC_MF_MAX_LAYERS) return refuse(&w, "too many layers", NULL);
        rc_keras_layer *L = &km->layer[km->n_layers];
        memset(L, 0, sizeof *L);
        L->kind = (recur_layer_kind)k;
        snprintf(L->name, sizeof L->name, "%s", w.name);
        char sn[64];
        rc_keras_layer_name(L->kind, count[k]++, sn, sizeof sn);
        snprintf(L->path, sizeof L->path, "layers/%s", sn);
        if ((st = parse_layer(&w, lc, keras2, L))) return st;
        km->n_layers++;
    }
    if (km->n_layers == 0) return rc_mf_bad(c, "the Sequential model has no layers besides its input");
    if (!have_shape) {
        /* Keras 3 also keeps it on the model: build_input_shape. */
        const json_t *s = json_object_get(cfg, "build_input_shape");
        if (s && parse_shape(s, &km->timesteps, &km->n_features) == 0) have_shape = 1;
    }
    if (!have_shape)
        return rc_mf_bad(c, "the config gives no input shape [null, timesteps, features] (no InputLayer "
                            "batch_shape, batch_input_shape or build_input_shape)");
    return RECUR_OK;
}

recur_status rc_keras_build(const rc_mf_ctx *c, const rc_keras_model *km, recur_model **out)
{
    recur_error e2;
    recur_model *m = NULL;
    recur_status st = recur_model_new(km->n_features, &m, &e2);
    for (int i = 0; i < km->n_layers && st == RECUR_OK; i++) {
        const rc_keras_layer *L = &km->layer[i];
        rc_mf_layer ml = {.kind = L->kind, .units = L->units, .return_sequences = L->return_sequences,
                          .reset_after = L->reset_after, .act = L->act, .rec_act = L->rec_act, .rate = L->rate};
        st = rc_mf_add_layer(m, &ml, &e2);
        if (st != RECUR_OK && st != RECUR_E_NOMEM) {
            recur_model_free(m);
            return rc_mf_bad(c, "layer \"%.60s\" (%s) cannot follow the layers before it: %s", L->name,
                             kinds[L->kind].cls, e2.msg);
        }
    }
    if (st == RECUR_OK) {
        recur_compile_opts co = recur_compile_opts_default();
        st = recur_model_compile(m, &co, &e2);
    }
    if (st != RECUR_OK) {
        recur_model_free(m);
        return rc_error(c->err, st, "%s: %s", c->path, e2.msg);
    }
    *out = m;
    return RECUR_OK;
}

/* ====== Writing a config (Keras 3.4's keys, order and defaults) ====== */

static json_t *dtype_policy(void)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:n}", "module", "keras", "class_name", "DTypePolicy", "config", "name",
                     "float32", "registered_name");
}

/* Keras 3.4 names the orthogonal initializer class "OrthogonalInitializer". */
static json_t *initializer(const char *cls)
{
    json_t *cfg = strcmp(cls, "Zeros") == 0                     ? json_object()
                  : strcmp(cls, "OrthogonalInitializer") == 0 ? json_pack("{s:f, s:n}", "gain", 1.0, "seed")
                                                                : json_pack("{s:n}", "seed");
    return json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.initializers", "class_name", cls, "config", cfg,
                     "registered_name");
}

/* [null, T or null, F] or [null, F] */
static json_t *shape(int seq, int T, int F)
{
    json_t *s = json_array();
    json_array_append_new(s, json_null());
    if (seq) json_array_append_new(s, T > 0 ? json_integer(T) : json_null());
    json_array_append_new(s, json_integer(F));
    return s;
}

/* Adds the keys every layer's config starts with. */
static void put_common(json_t *lc, const char *name)
{
    json_object_set_new(lc, "name", json_string(name));
    json_object_set_new(lc, "trainable", json_true());
    json_object_set_new(lc, "dtype", dtype_policy());
}

static void put_nulls(json_t *lc, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++) json_object_set_new(lc, keys[i], json_null());
}

/* The double with the fewest digits that is the same float (0.2f -> 0.2, as
 * Keras writes the rate it was given). */
static double shortest(float f)
{
    char buf[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

static json_t *layer_config(const recur_layer_info *L, const char *name)
{
    json_t *lc = json_object();
    put_common(lc, name);
    if (L->kind == RECUR_LAYER_DROPOUT) {
        json_object_set_new(lc, "rate", json_real(shortest(L->rate)));
        put_nulls(lc, (const char *const[]){"seed", "noise_shape"}, 2);
        return lc;
    }
    if (L->kind == RECUR_LAYER_DENSE) {
        json_object_set_new(lc, "units", json_integer(L->units));
        json_object_set_new(lc, "activation", json_string(act_names[(unsigned)L->act < N_ACT ? L->act : 0]));
        json_object_set_new(lc, "use_bias", json_true());
        json_object_set_new(lc, "kernel_initializer", initializer("GlorotUniform"));
        json_object_set_new(lc, "bias_initializer", initializer("Zeros"));
        put_nulls(lc, (const char *const[]){"kernel_regularizer", "bias_regularizer", "kernel_constraint",
                                            "bias_constraint"},
                  4);
        return lc;
    }
    json_object_set_new(lc, "return_sequences", json_boolean(L->return_sequences));
    static const char *const off[] = {"return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask"};
    for (int i = 0; i < 5; i++) json_object_set_new(lc, off[i], json_false());
    json_object_set_new(lc, "units", json_integer(L->units));
    json_object_set_new(lc, "activation", json_string("tanh"));
    if (L->kind != RECUR_LAYER_RNN)
        json_object_set_new(lc, "recurrent_activation",
                            json_string(L->recurrent_act == RECUR_ACT_HARD_SIGMOID ? "hard_sigmoid" : "sigmoid"));
    json_object_set_new(lc, "use_bias", json_true());
    json_object_set_new(lc, "kernel_initializer", initializer("GlorotUniform"));
    json_object_set_new(lc, "recurrent_initializer", initializer("OrthogonalInitializer"));
    json_object_set_new(lc, "bias_initializer", initializer("Zeros"));
    if (L->kind == RECUR_LAYER_LSTM) json_object_set_new(lc, "unit_forget_bias", json_true());
    put_nulls(lc, (const char *const[]){"kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                                        "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                                        "bias_constraint"},
              7);
    json_object_set_new(lc, "dropout", json_real(0.0));
    json_object_set_new(lc, "recurrent_dropout", json_real(0.0));
    if (L->kind == RECUR_LAYER_GRU) json_object_set_new(lc, "reset_after", json_boolean(L->reset_after));
    json_object_set_new(lc, "seed", json_null());
    return lc;
}

static json_t *layer_entry(const char *cls, json_t *lc, json_t *input_shape)
{
    json_t *e = json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.layers", "class_name", cls, "config", lc,
                          "registered_name");
    if (e && input_shape) json_object_set_new(e, "build_config", json_pack("{s:o}", "input_shape", input_shape));
    return e;
}

json_t *rc_keras_config_json(const recur_model *m, int timesteps)
{
    int F = recur_model_n_features(m), seq = 1, count[5] = {0};
    json_t *layers = json_array(), *root = NULL;
    if (!layers) return NULL;
    json_t *in = json_pack("{s:o, s:s, s:b, s:s}", "batch_shape", shape(1, timesteps, F), "dtype", "float32",
                           "sparse", 0, "name", "input_layer");
    json_array_append_new(layers, layer_entry("InputLayer", in, NULL));
    for (int i = 0; i < recur_model_n_layers(m); i++) {
        recur_layer_info L;
        if (recur_model_layer(m, i, &L, NULL) != RECUR_OK || (unsigned)L.kind > 4u) goto fail;
        char name[64];
        rc_keras_layer_name(L.kind, count[L.kind]++, name, sizeof name);
        json_t *e = layer_entry(kinds[L.kind].cls, layer_config(&L, name), shape(seq, timesteps, L.in_dim));
        if (!e || json_array_append_new(layers, e) != 0) goto fail;
        if (L.kind <= RECUR_LAYER_RNN) seq = L.return_sequences;
    }
    json_t *cfg = json_pack("{s:s, s:b, s:o, s:o, s:o}", "name", "sequential", "trainable", 1, "dtype",
                            dtype_policy(), "layers", layers, "build_input_shape", shape(1, timesteps, F));
    layers = NULL;
    root = cfg ? json_pack("{s:s, s:s, s:o, s:n, s:{s:o}}", "module", "keras", "class_name", "Sequential", "config",
                           cfg, "registered_name", "build_config", "input_shape", shape(1, timesteps, F))
               : NULL;
    return root;
fail:
    json_decref(layers);
    return NULL;
}
