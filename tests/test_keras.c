/*
 * test_keras.c -- Keras files (src/io/keras_*.c) and the Keras 2 RMSprop.
 *
 *  - Real models: the four files of ../shared/keras (Keras 3 .keras, Keras 3
 *    HDF5, tf.keras 2 HDF5, a GRU) give the outputs of the independent float64
 *    forward pass in FILE.expected.json to 1e-5 of the output's scale, and
 *    their version, input shape, optimizer and Adam state as h5py reads them.
 *    Missing folder: a visible SKIP (the files have no licence and are never
 *    copied here). RECUR_KERAS_DIR overrides the folder.
 *  - Writer: every layer kind saved as .keras and read back gives the same
 *    weight bits, predictions and pipeline; recur_model_load reads it too.
 *  - Refusals: truncated and corrupted files, a zip without config.json, an
 *    HDF5 file without model_config, config edits (unknown classes, stateful,
 *    go_backwards, a relu recurrent_activation, functional models, shapes that contradict
 *    the weights, absurd sizes): RECUR_E_FORMAT, no model, one line.
 *  - RMSprop, Keras 2 rule: one step against hand-computed values, and the
 *    kind survives a checkpoint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"
#include "test_files.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

static char g_dir[64];

static const char *keras_dir(void)
{
    const char *d = getenv("RECUR_KERAS_DIR");
    return d && *d ? d : "../shared/keras";
}

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

/* x[n,t,f] = 0.5 + 0.4 sin(0.3 t + n + 0.7 f), the README's windows. */
static recur_float *readme_windows(int N, int T, int F)
{
    recur_float *x = malloc(sizeof *x * (size_t)N * T * F);
    assert_non_null(x);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) x[((size_t)n * T + t) * F + f] = (recur_float)(0.5 + 0.4 * sin(0.3 * t + n + 0.7 * f));
    return x;
}



/* ====== Real models ====== */

typedef struct {
    const char *file, *version, *optimizer;
    int T, F;
    long iterations;     /* optimizer/vars/0, adam/iteration or iter:0, read with h5py */
    float m_first;       /* first momentum ("m") value of the first kernel, read with h5py */
} real_model;

static const real_model reals[] = {
    {"arth.h5", "3.11.3", "Adam", 60, 1, 620, -6.8950221e-06f},
    {"bingqi.h5", "2.3.0-tf", "Adam", 90, 1, 206200, 0.02981009f},
    {"adjoa.keras", "3.4.1", "Adam", 10, 6, 2527, 2.4720594e-08f},
    {"rajeev_gru.h5", "3.13.2", "Adam", 60, 13, 2000, 0},
};

static int have_real(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/arth.h5", keras_dir());
    if (access(p, R_OK) == 0) return 1;
    printf("SKIP: %s not found: the real Keras models are not checked\n", keras_dir());
    return 0;
}

static void test_real_models(void **state)
{
    (void)state;
    if (!have_real()) skip();
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        const real_model *r = &reals[i];
        char path[512], exp_path[600];
        snprintf(path, sizeof path, "%s/%s", keras_dir(), r->file);
        snprintf(exp_path, sizeof exp_path, "%s.expected.json", path);
        json_error_t je;
        json_t *exp = json_load_file(exp_path, 0, &je);
        assert_non_null(exp);
        json_t *out = json_object_get(exp, "output");
        assert_int_equal(json_array_size(out), 4);

        recur_error err;
        recur_model *m = NULL;
        recur_keras_info info;
        recur_pipeline p;
        recur_status st = recur_keras_load(path, &m, &p, &info, &err);
        if (st != RECUR_OK) fail_msg("%s: %s", r->file, err.msg);
        assert_string_equal(info.keras_version, r->version);
        assert_string_equal(info.optimizer, r->optimizer);
        assert_int_equal(info.timesteps, r->T);
        assert_int_equal(recur_model_n_features(m), r->F);
        assert_int_equal(p.n_features, 0); /* Keras files hold no pipeline */

        recur_float *x = readme_windows(4, r->T, r->F), y[4];
        assert_int_equal(recur_model_predict(m, x, 4, r->T, y, &err), RECUR_OK);
        double scale = 0, worst = 0;
        for (int n = 0; n < 4; n++) scale = fmax(scale, fabs(json_real_value(json_array_get(out, n))));
        for (int n = 0; n < 4; n++) worst = fmax(worst, fabs(y[n] - json_real_value(json_array_get(out, n))));
        printf("%-14s max |recur - float64 reference| = %.3g (%.3g of the output scale)\n", r->file, worst,
               worst / scale);
        /* float32 through up to 90 steps and 3 layers against float64: 1e-5 of the scale (README). */
        assert_true(worst <= 1e-5 * scale);

        /* recur_model_load takes the same file (told by content) with the same weights. */
        recur_model *m2 = NULL;
        assert_int_equal(recur_model_load(path, &m2, &p, &err), RECUR_OK);
        assert_int_equal(recur_model_n_params(m2), recur_model_n_params(m));
        assert_memory_equal(recur_model_params(m2), recur_model_params(m),
                            recur_model_n_params(m) * sizeof(recur_float));
        recur_model_free(m2);

        /* The Adam state, for fine-tuning. */
        recur_compile_opts co = recur_compile_opts_default();
        co.optim = recur_optim_opts_default(RECUR_OPT_ADAM);
        size_t P = recur_model_n_params(m);
        recur_float *keep = malloc(P * sizeof *keep);
        memcpy(keep, recur_model_params(m), P * sizeof *keep);
        assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
        memcpy(recur_model_params(m), keep, P * sizeof *keep);
        int loaded = 0;
        st = recur_keras_load_optimizer(path, m, &loaded, &err);
        if (st != RECUR_OK) fail_msg("%s: %s", r->file, err.msg);
        assert_int_equal(loaded, 1);
        assert_int_equal(recur_model_optimizer_iterations(m), r->iterations);
        /* h5py printed 8 digits: equal to 1e-6 relative. */
        if (r->m_first != 0)
            assert_true(fabs(recur_model_optimizer_slot(m, "momentum")[0] - r->m_first) <= 1e-6 * fabs(r->m_first));
        /* RMSprop has no state in these files: nothing loaded, not an error. */
        co.optim = recur_optim_opts_default(RECUR_OPT_RMSPROP);
        assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
        assert_int_equal(recur_keras_load_optimizer(path, m, &loaded, &err), RECUR_OK);
        assert_int_equal(loaded, 0);
        free(keep);
        free(x);
        recur_model_free(m);
        json_decref(exp);
    }
}

/* ====== Writer round trip ====== */

static recur_model *small_model(uint64_t seed)
{
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(2, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "gru(3,seq) gru(4,seq,reset_before) lstm(5,seq) rnn(3) dropout(0.25) "
                                             "dense(4,relu) dense(3,tanh) dense(2,sigmoid) dense(1)",
                                          &err),
                     RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    co.seed = seed;
    assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
    /* Non-zero biases everywhere, so a bias read from the wrong place shows. */
    recur_float *p = recur_model_params(m);
    for (size_t i = 0; i < recur_model_n_params(m); i++) p[i] += (recur_float)(0.01 * sin((double)i));
    return m;
}

static void test_write_round_trip(void **state)
{
    (void)state;
    char path[128];
    recur_error err;
    recur_model *m = small_model(3), *back = NULL;
    recur_pipeline p = recur_pipeline_default(), q;
    p.n_features = 2;
    strcpy(p.features[0], "Close");
    strcpy(p.features[1], "Volume");
    p.timestep = 7;
    p.scaler.n = 2;
    p.scaler.a[0] = 1.5, p.scaler.b[0] = 99.25, p.scaler.a[1] = 10, p.scaler.b[1] = 1e6;
    path_in(path, sizeof path, "rt.keras");
    assert_int_equal(recur_keras_save(m, &p, path, &err), RECUR_OK);
    assert_int_equal(recur_keras_detect(path), RECUR_KERAS_ZIP);

    recur_keras_info info;
    if (recur_keras_load(path, &back, &q, &info, &err) != RECUR_OK) fail_msg("%s", err.msg);
    assert_int_equal(info.format, RECUR_KERAS_ZIP);
    assert_int_equal(info.timesteps, 7);
    assert_int_equal(recur_model_n_layers(back), recur_model_n_layers(m));
    for (int i = 0; i < recur_model_n_layers(m); i++) {
        recur_layer_info a, b;
        recur_model_layer(m, i, &a, NULL);
        recur_model_layer(back, i, &b, NULL);
        assert_int_equal(a.kind, b.kind);
        assert_int_equal(a.units, b.units);
        assert_int_equal(a.return_sequences, b.return_sequences);
        assert_int_equal(a.reset_after, b.reset_after);
        assert_int_equal(a.act, b.act);
        assert_true(a.rate == b.rate);
    }
    assert_int_equal(recur_model_n_params(back), recur_model_n_params(m));
    assert_memory_equal(recur_model_params(back), recur_model_params(m), recur_model_n_params(m) * sizeof(recur_float));
    assert_int_equal(q.n_features, 2);
    assert_string_equal(q.features[1], "Volume");
    assert_int_equal(q.timestep, 7);
    assert_true(q.scaler.b[1] == 1e6 && q.scaler.a[0] == 1.5);

    recur_float *x = readme_windows(3, 7, 2), y1[3], y2[3];
    assert_int_equal(recur_model_predict(m, x, 3, 7, y1, &err), RECUR_OK);
    assert_int_equal(recur_model_predict(back, x, 3, 7, y2, &err), RECUR_OK);
    assert_memory_equal(y1, y2, sizeof y1);
    recur_model_free(back);

    /* Without a pipeline: the input shape's T is None, and no pipeline comes back. */
    assert_int_equal(recur_keras_save(m, NULL, path, &err), RECUR_OK);
    assert_int_equal(recur_model_load(path, &back, &q, &err), RECUR_OK);
    assert_int_equal(q.n_features, 0);
    recur_model_free(back);
    assert_int_equal(recur_keras_load(path, &back, NULL, &info, &err) == RECUR_OK ? info.timesteps : -1, 0);
    recur_model_free(back);

    /* Not compiled: refused, and nothing written. */
    recur_model *raw = NULL;
    char p2[128];
    path_in(p2, sizeof p2, "never.keras");
    recur_model_new(1, &raw, NULL);
    recur_model_add_spec(raw, "lstm(2) dense(1)", NULL);
    assert_int_equal(recur_keras_save(raw, NULL, p2, &err), RECUR_E_STATE);
    assert_int_equal(access(p2, F_OK), -1);
    recur_model_free(raw);
    free(x);
    recur_model_free(m);
}

/* ====== Refusals ====== */

/* Loading `path` fails with RECUR_E_FORMAT (or `code`), no model, and a
 * one-line message that contains `needle`. */
static void expect_refused_code(const char *path, recur_status code, const char *needle)
{
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_model *m = (recur_model *)&err;
    recur_status st = recur_keras_load(path, &m, NULL, NULL, &err);
    if (st != code || m != NULL || !strstr(err.msg, needle) || strchr(err.msg, '\n'))
        fail_msg("%s: status %d (want %d), message \"%s\" (want \"%s\")", path, st, code, err.msg, needle);
    /* The same through recur_model_load, which tells Keras files by content. */
    m = (recur_model *)&err;
    if (recur_keras_detect(path) != RECUR_KERAS_NONE) {
        assert_int_equal(recur_model_load(path, &m, NULL, &err), code);
        assert_null(m);
    }
}
static void expect_refused(const char *path, const char *needle) { expect_refused_code(path, RECUR_E_FORMAT, needle); }

/* A copy of .keras `src` with config.json's first `from` replaced by `to`. */
static void edit_config(const char *src, const char *dst, const char *from, const char *to)
{
    size_t len;
    unsigned char *b = read_file(src, &len);
    write_file(dst, b, len);
    free(b);
    int ze;
    zip_t *z = zip_open(dst, 0, &ze);
    assert_non_null(z);
    zip_stat_t zs;
    assert_int_equal(zip_stat(z, "config.json", 0, &zs), 0);
    char *text = calloc(zs.size + 1, 1), *out = malloc(zs.size + strlen(to) + 1);
    zip_file_t *zf = zip_fopen(z, "config.json", 0);
    assert_int_equal(zip_fread(zf, text, zs.size), (zip_int64_t)zs.size);
    zip_fclose(zf);
    char *at = strstr(text, from);
    if (!at) fail_msg("config.json has no \"%s\"", from);
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    zip_source_t *s = zip_source_buffer(z, out, strlen(out), 0);
    assert_true(zip_file_replace(z, (zip_uint64_t)zip_name_locate(z, "config.json", 0), s, 0) == 0);
    assert_int_equal(zip_close(z), 0);
    free(text);
    free(out);
}

/* A zip holding only the given entry of .keras `src` (NULL: metadata.json). */
static void extract_entry(const char *src, const char *name, const char *dst)
{
    int ze;
    zip_t *z = zip_open(src, ZIP_RDONLY, &ze);
    assert_non_null(z);
    zip_stat_t zs;
    assert_int_equal(zip_stat(z, name, 0, &zs), 0);
    char *b = malloc(zs.size);
    zip_file_t *zf = zip_fopen(z, name, 0);
    assert_int_equal(zip_fread(zf, b, zs.size), (zip_int64_t)zs.size);
    zip_fclose(zf);
    zip_discard(z);
    write_file(dst, b, zs.size);
    free(b);
}

static void test_refusals(void **state)
{
    (void)state;
    char good[128], bad[128];
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(2, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "gru(3,seq) lstm(4) dense(1)", &err), RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
    path_in(good, sizeof good, "good.keras");
    path_in(bad, sizeof bad, "bad.keras");
    assert_int_equal(recur_keras_save(m, NULL, good, &err), RECUR_OK);
    recur_model_free(m);

    /* Truncations: every 97th length, and a few short ones. */
    size_t len;
    unsigned char *b = read_file(good, &len);
    for (size_t n = 0; n < len; n += n < 64 ? 7 : 97) {
        write_file(bad, b, n);
        recur_model *r = (recur_model *)&err;
        recur_status st = recur_keras_load(bad, &r, NULL, NULL, &err);
        if (st == RECUR_OK || r != NULL || strchr(err.msg, '\n')) fail_msg("truncated to %zu: %s", n, err.msg);
    }
    write_file(bad, b, len / 2);
    expect_refused(bad, "not a readable .keras (zip) file");
    /* A byte of the weights flipped: the zip's CRC no longer matches. */
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    c[len - 400] ^= 0x5a;
    write_file(bad, c, len);
    expect_refused(bad, "model.weights.h5");
    free(c);
    write_file(bad, "PK\003\004garbage", 11);
    expect_refused(bad, "not a readable .keras (zip) file");
    write_file(bad, "", 0);
    expect_refused(bad, "neither a .keras (zip) nor an HDF5 file");
    free(b);
    expect_refused_code("/nonexistent/model.keras", RECUR_E_IO, "cannot open");

    /* Entries missing. */
    extract_entry(good, "metadata.json", bad); /* a plain JSON file, not a zip */
    expect_refused(bad, "neither a .keras (zip) nor an HDF5 file");
    {
        int ze;
        zip_t *z = zip_open(bad, ZIP_CREATE | ZIP_TRUNCATE, &ze);
        static const char meta[] = "{\"keras_version\": \"3.4.1\"}";
        zip_file_add(z, "metadata.json", zip_source_buffer(z, meta, sizeof meta - 1, 0), 0);
        assert_int_equal(zip_close(z), 0);
        expect_refused(bad, "the zip has no config.json");
    }
    extract_entry(good, "model.weights.h5", bad);
    expect_refused(bad, "without a model_config attribute");

    /* Config edits, each refused with the layer and what is unsupported. */
    static const struct {
        const char *from, *to, *needle;
    } edits[] = {
        {"\"GRU\"", "\"Bidirectional\"", "layer 1 \"gru\" (Bidirectional): this layer class is not supported"},
        {"\"LSTM\"", "\"Conv1D\"", "(Conv1D): this layer class is not supported"},
        {"\"Dense\"", "\"Masking\"", "(Masking): this layer class is not supported"},
        {"\"stateful\": false", "\"stateful\": true", "stateful=True is not supported"},
        {"\"go_backwards\": false", "\"go_backwards\": true", "go_backwards=True is not supported"},
        {"\"return_state\": false", "\"return_state\": true", "return_state=True is not supported"},
        {"\"recurrent_activation\": \"sigmoid\"", "\"recurrent_activation\": \"relu\"",
         "recurrent_activation \"relu\" is not supported (sigmoid or hard_sigmoid)"},
        {"\"activation\": \"tanh\"", "\"activation\": \"relu\"", "activation \"relu\" is not supported"},
        {"\"activation\": \"linear\"", "\"activation\": \"softmax\"", "activation \"softmax\" is not supported"},
        {"\"class_name\": \"Sequential\"", "\"class_name\": \"Functional\"", "recur reads Sequential models only"},
        {"\"units\": 4", "\"units\": 6", "has shape (3, 16) in the file but the config implies (3, 24)"},
        {"\"batch_shape\": [null, null, 2]", "\"batch_shape\": [null, null, 3]", "implies (3, 9)"},
        {"\"units\": 4", "\"units\": 1000000", "but the weights file has"},
        {"\"units\": 4", "\"units\": 99999999999", "\"units\" must be an integer in 1.."},
        {"\"batch_shape\": [null, null, 2]", "\"batch_shape\": [null, 2]", "recur reads sequence models"},
        {"\"layers\": [", "\"layers\": 7, \"x\": [", "has no \"layers\" list"},
        {"{", "[", "config.json is not valid JSON"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        edit_config(good, bad, edits[i].from, edits[i].to);
        expect_refused(bad, edits[i].needle);
    }

    /* A real legacy HDF5 file, truncated and corrupted. */
    char real[512];
    snprintf(real, sizeof real, "%s/rajeev_gru.h5", keras_dir());
    if (access(real, R_OK) != 0) {
        printf("SKIP: %s not found: legacy HDF5 truncations not checked\n", real);
        return;
    }
    b = read_file(real, &len);
    for (size_t n = 8; n < len; n += len / 23) {
        write_file(bad, b, n);
        recur_model *r = (recur_model *)&err;
        recur_status st = recur_keras_load(bad, &r, NULL, NULL, &err);
        if (st == RECUR_OK || r != NULL || strchr(err.msg, '\n')) fail_msg("truncated HDF5 at %zu: %s", n, err.msg);
    }
    write_file(bad, b, len - 1000);
    expect_refused(bad, "not a readable HDF5 file");
    memset(b + 8, 0xff, 64); /* the superblock */
    write_file(bad, b, len);
    expect_refused(bad, "not a readable HDF5 file");
    free(b);
}

/* ====== RMSprop, Keras 2's rule ====== */

static void test_rmsprop_keras2(void **state)
{
    (void)state;
    recur_error err;
    recur_optim_opts o = recur_optim_opts_default(RECUR_OPT_RMSPROP_KERAS2);
    o.epsilon = 0.1; /* large, so where it is added shows */
    recur_optimizer_state *s = NULL;
    assert_int_equal(recur_optimizer_new(&o, 1, &s, &err), RECUR_OK);
    recur_float p = 1, g = 0.5;
    recur_optimizer_step(s, &p, &g);
    /* v = 0.1 * 0.25 = 0.025; p = 1 - 0.001 * 0.5 / (sqrt(0.025) + 0.1) = 0.998062883 */
    assert_true(fabs(p - 0.998062883) < 1e-6);
    assert_true(fabs(recur_optimizer_slot(s, "velocity")[0] - 0.025) < 1e-8); /* 1 - 0.9f is 0.1 to 3e-8 */
    recur_optimizer_free(s);
    /* Keras 3: 1 - 0.001 * 0.5 / sqrt(0.125) = 0.998585786 */
    o.kind = RECUR_OPT_RMSPROP;
    assert_int_equal(recur_optimizer_new(&o, 1, &s, &err), RECUR_OK);
    p = 1;
    recur_optimizer_step(s, &p, &g);
    assert_true(fabs(p - 0.998585786) < 1e-6);
    recur_optimizer_free(s);

    /* A checkpoint records the kind. */
    recur_model *m = NULL, *back = NULL;
    char path[128];
    path_in(path, sizeof path, "k2.ckpt");
    recur_model_new(1, &m, NULL);
    recur_model_add_spec(m, "lstm(3) dense(1)", NULL);
    recur_compile_opts co = recur_compile_opts_default();
    co.optim = recur_optim_opts_default(RECUR_OPT_RMSPROP_KERAS2);
    assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
    recur_train_state ts = {1, 2, 0.5, 1, 0, 32, 42, 0, 0, 1};
    assert_int_equal(recur_model_save_checkpoint(m, NULL, &ts, path, &err), RECUR_OK);
    if (recur_model_load_checkpoint(path, &back, NULL, &ts, &err) != RECUR_OK) fail_msg("%s", err.msg);
    assert_int_equal(recur_model_compile_opts(back)->optim.kind, RECUR_OPT_RMSPROP_KERAS2);
    recur_model_free(back);
    recur_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/recur_keras_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const names[] = {"rt.keras", "never.keras", "good.keras", "bad.keras", "k2.ckpt"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(p, sizeof p, names[i]);
        unlink(p);
    }
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_models),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_rmsprop_keras2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
