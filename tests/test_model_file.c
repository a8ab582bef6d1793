/*
 * test_model_file.c -- recur_model_save / recur_model_load.
 *
 *  - Round trip: the tutorial model, GRUs (reset_after 0 and 1), SimpleRNN +
 *    Dense(relu) and a sequence-output model come back with the same layers,
 *    the same weight bits, the same predictions and the same pipeline; saving
 *    the loaded model again writes the same bytes.
 *  - Atomicity: a failing save (model not compiled, bad pipeline, target is a
 *    folder, file size limit hit mid-write, missing or read-only folder) leaves
 *    an existing file byte-identical and no temporary file behind.
 *  - Refusals: truncations (every length up to 64 and random ones), bad header
 *    lengths, bad JSON, and a table of header/tensor/config corruptions, each
 *    refused with RECUR_E_FORMAT and a message naming the problem.
 *  - Random byte flips never crash (run this binary under ASan/UBSan).
 *  - Checkpoints: every optimizer's slots, iterations, compile options and the
 *    training state come back bit for bit; recur_model_load reads a checkpoint
 *    as a plain model; fit 2 epochs, checkpoint, load, fit to 4 gives the same
 *    weight bits as fit 4 straight; corruptions of the checkpoint's JSON and
 *    optimizer tensors are refused. pipeline.missing round-trips, and a file
 *    written without it reads as RECUR_MISSING_ERROR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"
#include "test_files.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64]; /* per-run temporary folder */
static int g_ckpt_mode; /* 1: expect_refused_* load with recur_model_load_checkpoint */

/* ====== Helpers ====== */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) /* xorshift64*: fixed sequence, so failures reproduce */
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ULL;
}
static float rnd_unit(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0) * 2.0f - 1.0f; }

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

/* Files in g_dir whose name contains ".tmp." (leftovers of a failed save). */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

typedef struct {
    int F;
    const char *layers; /* letters: see build() */
} model_def;

/* Builds and compiles a model, then overwrites every weight with random values
 * so that nothing depends on the initialiser. Layer codes (one per item):
 *   L<units><s?>  LSTM, s = return sequences      G<units><s?><r?>  GRU, r = reset_after
 *   R<units><s?>  SimpleRNN                        D<units><a>  Dense, a = l|r|t|g
 *   P<percent>    Dropout                          items separated by spaces */
static recur_model *build(int F, const char *spec)
{
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(F, &m, &err), RECUR_OK);
    const char *s = spec;
    while (*s) {
        char kind = *s++;
        int n = (int)strtol(s, (char **)&s, 10);
        int seq = 0, ra = 0;
        recur_activation act = RECUR_ACT_LINEAR;
        while (*s && *s != ' ') {
            char c = *s++;
            if (c == 's') seq = 1;
            if (c == 'r') ra = 1;
            if (kind == 'D' && c != 'l')
                act = c == 'r' ? RECUR_ACT_RELU : c == 't' ? RECUR_ACT_TANH : RECUR_ACT_SIGMOID;
        }
        while (*s == ' ') s++;
        recur_status st = RECUR_E_INVALID;
        switch (kind) {
        case 'L': st = recur_model_add_lstm(m, n, seq, &err); break;
        case 'G': st = recur_model_add_gru(m, n, seq, ra, &err); break;
        case 'R': st = recur_model_add_rnn(m, n, seq, &err); break;
        case 'D': st = recur_model_add_dense(m, n, act, &err); break;
        case 'P': st = recur_model_add_dropout(m, (float)n / 100.0f, &err); break;
        }
        if (st != RECUR_OK) fail_msg("building \"%s\": %s", spec, err.msg);
    }
    recur_compile_opts co = recur_compile_opts_default();
    if (recur_model_compile(m, &co, &err) != RECUR_OK) fail_msg("compile \"%s\": %s", spec, err.msg);
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        assert_int_equal(recur_model_weight(m, i, &w, &err), RECUR_OK);
        for (size_t k = 0; k < w.size; k++) w.data[k] = (recur_float)(0.5f * rnd_unit());
    }
    return m;
}

static recur_pipeline make_pipeline(int F)
{
    static const char *names[] = {"Close", "Volume", "Open \"adj\" \xc3\xa9", "High"};
    recur_pipeline p;
    memset(&p, 0, sizeof p);
    p.n_features = F;
    for (int j = 0; j < F; j++) snprintf(p.features[j], sizeof p.features[j], "%s", names[j % 4]);
    p.target = F - 1;
    p.timestep = 60;
    p.horizon = 3;
    p.test_fraction = 0.1 + 0.2; /* 0.30000000000000004: needs all 17 digits */
    p.transform = RECUR_TRANSFORM_LOGRETURN;
    p.scaler_kind = RECUR_SCALER_STANDARD;
    p.missing = RECUR_MISSING_FFILL;
    p.scaler.kind = RECUR_SCALER_STANDARD;
    p.scaler.n = F;
    for (int j = 0; j < F; j++) {
        p.scaler.a[j] = j == 0 ? -0.0 : 1.0 / 3.0 * j;
        p.scaler.b[j] = j == 0 ? 4.9e-324 : 1e300 / (j + 7) + DBL_EPSILON;
    }
    return p;
}

static void assert_same_pipeline(const recur_pipeline *a, const recur_pipeline *b)
{
    assert_int_equal(a->n_features, b->n_features);
    for (int j = 0; j < a->n_features; j++) assert_string_equal(a->features[j], b->features[j]);
    assert_int_equal(a->target, b->target);
    assert_int_equal(a->timestep, b->timestep);
    assert_int_equal(a->horizon, b->horizon);
    assert_memory_equal(&a->test_fraction, &b->test_fraction, sizeof(double));
    assert_int_equal(a->transform, b->transform);
    assert_int_equal(a->scaler_kind, b->scaler_kind);
    assert_int_equal(a->missing, b->missing);
    assert_int_equal(a->scaler.kind, b->scaler.kind);
    assert_int_equal(a->scaler.n, b->scaler.n);
    assert_memory_equal(a->scaler.a, b->scaler.a, (size_t)a->scaler.n * sizeof(double)); /* bits, -0.0 too */
    assert_memory_equal(a->scaler.b, b->scaler.b, (size_t)a->scaler.n * sizeof(double));
}

/* Same layers, same weight names, shapes and bits. */
static void assert_same_model(const recur_model *a, const recur_model *b)
{
    recur_error err;
    assert_int_equal(recur_model_n_features(a), recur_model_n_features(b));
    assert_int_equal(recur_model_n_layers(a), recur_model_n_layers(b));
    for (int i = 0; i < recur_model_n_layers(a); i++) {
        recur_layer_info x, y;
        assert_int_equal(recur_model_layer(a, i, &x, &err), RECUR_OK);
        assert_int_equal(recur_model_layer(b, i, &y, &err), RECUR_OK);
        assert_int_equal(x.kind, y.kind);
        assert_int_equal(x.units, y.units);
        assert_int_equal(x.in_dim, y.in_dim);
        if (x.kind <= RECUR_LAYER_RNN) assert_int_equal(x.return_sequences, y.return_sequences);
        if (x.kind == RECUR_LAYER_GRU) assert_int_equal(x.reset_after, y.reset_after);
        if (x.kind == RECUR_LAYER_DENSE) assert_int_equal(x.act, y.act);
        if (x.kind == RECUR_LAYER_DROPOUT) assert_memory_equal(&x.rate, &y.rate, sizeof x.rate);
    }
    assert_int_equal(recur_model_n_weights(a), recur_model_n_weights(b));
    for (int i = 0; i < recur_model_n_weights(a); i++) {
        recur_weight x, y;
        assert_int_equal(recur_model_weight(a, i, &x, &err), RECUR_OK);
        assert_int_equal(recur_model_weight(b, i, &y, &err), RECUR_OK);
        assert_string_equal(x.name, y.name);
        assert_int_equal(x.ndim, y.ndim);
        assert_int_equal(x.dims[0], y.dims[0]);
        if (x.ndim == 2) assert_int_equal(x.dims[1], y.dims[1]);
        assert_int_equal(x.size, y.size);
        assert_memory_equal(x.data, y.data, x.size * sizeof(recur_float));
    }
}

/* ====== Round trip ====== */

static void round_trip(int F, const char *spec, int with_pipeline)
{
    char path[128], path2[128];
    path_in(path, sizeof path, "rt.recur");
    path_in(path2, sizeof path2, "rt2.recur");
    recur_error err;
    recur_model *m = build(F, spec), *l = NULL;
    recur_pipeline p = make_pipeline(F), q;
    memset(&q, 0x5a, sizeof q);
    if (recur_model_save(m, with_pipeline ? &p : NULL, path, &err) != RECUR_OK) fail_msg("save: %s", err.msg);
    if (recur_model_load(path, &l, &q, &err) != RECUR_OK) fail_msg("load \"%s\": %s", spec, err.msg);
    assert_same_model(m, l);
    if (with_pipeline) assert_same_pipeline(&p, &q);
    else assert_int_equal(q.n_features, 0); /* no pipeline in the file */

    /* Predictions bit for bit. */
    const int n = 5, T = 7;
    size_t ylen = (size_t)n * (recur_model_returns_sequences(m) ? T : 1) * (size_t)recur_model_n_outputs(m);
    recur_float *x = malloc(sizeof *x * (size_t)n * T * F), *y1 = calloc(ylen, sizeof *y1),
                *y2 = calloc(ylen, sizeof *y2);
    assert_true(x && y1 && y2);
    for (size_t k = 0; k < (size_t)n * T * F; k++) x[k] = rnd_unit();
    assert_int_equal(recur_model_predict(m, x, n, T, y1, &err), RECUR_OK);
    assert_int_equal(recur_model_predict(l, x, n, T, y2, &err), RECUR_OK);
    assert_memory_equal(y1, y2, ylen * sizeof *y1);

    /* Saving the loaded model writes the same bytes: the format is deterministic. */
    assert_int_equal(recur_model_save(l, with_pipeline ? &q : NULL, path2, &err), RECUR_OK);
    size_t n1, n2;
    unsigned char *b1 = read_file(path, &n1), *b2 = read_file(path2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    /* safetensors layout: header length is a multiple of 8, so data is aligned. */
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)b1[k] << (8 * k);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(b1[8], '{');
    assert_int_equal(n1 - 8 - hlen, recur_model_n_params(m) * 4);
    assert_int_equal(count_temp_files(g_dir), 0);

    free(b1);
    free(b2);
    free(x);
    free(y1);
    free(y2);
    recur_model_free(l);
    recur_model_free(m);
}

static void test_round_trip_tutorial(void **state)
{
    (void)state;
    round_trip(1, "L50s P20 L100 P20 D1l", 1);
    round_trip(1, "L50s P20 L100 P20 D1l", 0);
}

static void test_round_trip_gru(void **state)
{
    (void)state;
    round_trip(3, "G8sr G6 D2t", 1);   /* reset_after 1 then 0 */
    round_trip(2, "G5s G4sr P10 G3r D1g", 1);
}

static void test_round_trip_rnn_dense(void **state)
{
    (void)state;
    round_trip(2, "R6s R4 D3r D1l", 1);
    round_trip(4, "L4s D2r", 1); /* sequence output, Dense per step */
}

/* Special float values keep their exact bits (the file stores float32 as is). */
static void test_special_values(void **state)
{
    (void)state;
    char path[128];
    path_in(path, sizeof path, "special.recur");
    recur_error err;
    recur_model *m = build(1, "D3l"), *l = NULL;
    recur_weight w;
    assert_int_equal(recur_model_weight(m, 0, &w, &err), RECUR_OK);
    uint32_t bits[3] = {0x80000000u /* -0 */, 0x00000001u /* smallest subnormal */, 0x7fc01234u /* NaN payload */};
    for (int k = 0; k < 3; k++) memcpy(&w.data[k], &bits[k], 4);
    assert_int_equal(recur_model_weight(m, 1, &w, &err), RECUR_OK);
    w.data[0] = FLT_MAX, w.data[1] = -INFINITY, w.data[2] = FLT_MIN;
    assert_int_equal(recur_model_save(m, NULL, path, &err), RECUR_OK);
    assert_int_equal(recur_model_load(path, &l, NULL, &err), RECUR_OK);
    assert_same_model(m, l);
    recur_model_free(l);
    recur_model_free(m);
}

/* ====== Atomic save ====== */

static void assert_untouched(const char *path, const unsigned char *old, size_t old_len)
{
    size_t n;
    unsigned char *now = read_file(path, &n);
    assert_int_equal(n, old_len);
    assert_memory_equal(now, old, n);
    free(now);
    assert_int_equal(count_temp_files(g_dir), 0);
}

static void test_atomic_save(void **state)
{
    (void)state;
    char path[128], folder[128], inner[160];
    path_in(path, sizeof path, "keep.recur");
    recur_error err;
    recur_model *good = build(1, "R3 D1l"), *big = build(1, "L50s P20 L100 P20 D1l"), *raw = NULL;
    assert_int_equal(recur_model_save(good, NULL, path, &err), RECUR_OK);
    size_t old_len;
    unsigned char *old = read_file(path, &old_len);

    /* Not compiled: RECUR_E_STATE before anything is written. */
    assert_int_equal(recur_model_new(1, &raw, &err), RECUR_OK);
    assert_int_equal(recur_model_add_lstm(raw, 4, 0, &err), RECUR_OK);
    assert_int_equal(recur_model_save(raw, NULL, path, &err), RECUR_E_STATE);
    assert_non_null(strstr(err.msg, "compile"));
    assert_untouched(path, old, old_len);

    /* A pipeline that cannot be written. */
    recur_pipeline p = make_pipeline(1);
    p.test_fraction = NAN;
    assert_int_equal(recur_model_save(big, &p, path, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "test_fraction"));
    p = make_pipeline(2); /* model takes 1 feature */
    assert_int_equal(recur_model_save(big, &p, path, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "features"));
    p = make_pipeline(1);
    snprintf(p.features[0], sizeof p.features[0], "bad \xff utf8");
    assert_int_equal(recur_model_save(big, &p, path, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_untouched(path, old, old_len);

    /* File size limit hit in the middle of writing: EFBIG, temp file removed. */
    struct rlimit rl, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    small = rl;
    small.rlim_cur = 10000; /* the LSTM model needs ~280 kB */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    recur_status st = recur_model_save(big, NULL, path, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    signal(SIGXFSZ, old_sig);
    assert_int_equal(st, RECUR_E_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, strerror(EFBIG)));
    assert_untouched(path, old, old_len);

    /* The target is a folder: the rename fails after the temp file is complete. */
    path_in(folder, sizeof folder, "a_folder");
    assert_int_equal(mkdir(folder, 0755), 0);
    snprintf(inner, sizeof inner, "%s/x", folder);
    write_file(inner, "x", 1);
    assert_int_equal(recur_model_save(good, NULL, folder, &err), RECUR_E_IO);
    assert_non_null(strstr(err.msg, "renaming"));
    assert_int_equal(count_temp_files(g_dir), 0);
    assert_int_equal(unlink(inner), 0);
    assert_int_equal(rmdir(folder), 0);

    /* Missing folder. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/m.recur", g_dir);
    assert_int_equal(recur_model_save(good, NULL, missing, &err), RECUR_E_IO);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));

    /* An existing file keeps its permissions; a new one gets 0644. */
    struct stat sb;
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(recur_model_save(big, NULL, path, &err), RECUR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    char fresh[128];
    path_in(fresh, sizeof fresh, "fresh.recur");
    assert_int_equal(recur_model_save(good, NULL, fresh, &err), RECUR_OK);
    assert_int_equal(stat(fresh, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(count_temp_files(g_dir), 0);

    free(old);
    recur_model_free(raw);
    recur_model_free(big);
    recur_model_free(good);
}

static void test_read_only_folder(void **state)
{
    (void)state;
    if (geteuid() == 0) skip(); /* root writes into read-only folders */
    char ro[128], path[160];
    path_in(ro, sizeof ro, "ro");
    snprintf(path, sizeof path, "%s/m.recur", ro);
    assert_int_equal(mkdir(ro, 0755), 0);
    recur_error err;
    recur_model *m = build(1, "D1l");
    assert_int_equal(recur_model_save(m, NULL, path, &err), RECUR_OK);
    size_t old_len;
    unsigned char *old = read_file(path, &old_len);
    assert_int_equal(chmod(ro, 0555), 0);
    recur_model *m2 = build(1, "D1l");
    recur_status st = recur_model_save(m2, NULL, path, &err);
    assert_int_equal(chmod(ro, 0755), 0);
    assert_int_equal(st, RECUR_E_IO);
    assert_non_null(strstr(err.msg, strerror(EACCES)));
    size_t n;
    unsigned char *now = read_file(path, &n);
    assert_int_equal(n, old_len);
    assert_memory_equal(now, old, n);
    assert_int_equal(count_temp_files(ro), 0);
    unlink(path);
    rmdir(ro);
    free(now);
    free(old);
    recur_model_free(m2);
    recur_model_free(m);
}

/* ====== Refusals ====== */

/* A small valid file to corrupt: header JSON, config JSON and data. */
typedef struct {
    unsigned char *bytes;
    size_t len;
    json_t *header; /* parsed header */
    json_t *config; /* parsed __metadata__.recur */
    const unsigned char *data;
    size_t data_len;
} base_file;

/* Reads a saved file into b: its bytes, parsed header, the JSON document
 * held as a string in __metadata__[key] (into config) and the data part. */
static void base_read(base_file *b, const char *path, const char *key)
{
    b->bytes = read_file(path, &b->len);
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)b->bytes[k] << (8 * k);
    json_error_t je;
    b->header = json_loadb((const char *)b->bytes + 8, hlen, 0, &je);
    assert_non_null(b->header);
    const char *doc = json_string_value(json_object_get(json_object_get(b->header, "__metadata__"), key));
    assert_non_null(doc);
    b->config = json_loads(doc, 0, &je);
    assert_non_null(b->config);
    b->data = b->bytes + 8 + hlen;
    b->data_len = b->len - 8 - hlen;
}

static void base_make(base_file *b)
{
    char path[128];
    path_in(path, sizeof path, "base.recur");
    recur_error err;
    recur_model *m = build(2, "R5s R4 P25 D3r D1l");
    recur_pipeline p = make_pipeline(2);
    assert_int_equal(recur_model_save(m, &p, path, &err), RECUR_OK);
    recur_model_free(m);
    base_read(b, path, "recur");
}

static void base_free(base_file *b)
{
    json_decref(b->header);
    json_decref(b->config);
    free(b->bytes);
}

/* Loads bytes from a file; expects refusal with `code` and `want` in the message. */
static void expect_refused_bytes(const void *bytes, size_t len, recur_status code, const char *want, const char *what)
{
    char path[128];
    path_in(path, sizeof path, "bad.recur");
    write_file(path, bytes, len);
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_model *m = (recur_model *)&err; /* must be reset to NULL */
    recur_pipeline p;
    recur_train_state ts;
    recur_status st = g_ckpt_mode ? recur_model_load_checkpoint(path, &m, &p, &ts, &err)
                                  : recur_model_load(path, &m, &p, &err);
    if (st == RECUR_OK) fail_msg("%s: loaded a corrupt file", what);
    assert_null(m);
    assert_int_equal(err.code, st);
    if (code != RECUR_OK && st != code) fail_msg("%s: status %d (%s), wanted %d", what, st, err.msg, code);
    assert_non_null(strstr(err.msg, path));
    if (want && !strstr(err.msg, want)) fail_msg("%s: message \"%s\" lacks \"%s\"", what, err.msg, want);
    if (getenv("RECUR_TEST_VERBOSE")) printf("%-40.40s %s\n", what, err.msg);
}

/* Serialises a header (unpadded) in front of data. */
static void expect_refused_json(const json_t *header, const void *data, size_t data_len, const char *want,
                                const char *what)
{
    char *text = json_dumps(header, JSON_COMPACT);
    assert_non_null(text);
    size_t n = strlen(text);
    unsigned char *buf = malloc(8 + n + data_len + 1);
    assert_non_null(buf);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)n >> (8 * k));
    memcpy(buf + 8, text, n);
    if (data_len) memcpy(buf + 8 + n, data, data_len);
    expect_refused_bytes(buf, 8 + n + data_len, RECUR_E_FORMAT, want, what);
    free(buf);
    free(text);
}

/* Header with the config replaced by `cfg`. */
static json_t *header_with_config(const base_file *b, const json_t *cfg)
{
    json_t *h = json_deep_copy(b->header);
    char *text = json_dumps(cfg, JSON_COMPACT);
    json_object_set_new(json_object_get(h, "__metadata__"), "recur", json_string(text));
    free(text);
    return h;
}

static void test_truncated(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    char what[64];
    for (size_t n = 0; n <= 64; n++) {
        snprintf(what, sizeof what, "truncated to %zu bytes", n);
        expect_refused_bytes(b.bytes, n, RECUR_E_FORMAT, n == 0 ? "empty" : n < 8 ? "shorter than" : NULL, what);
    }
    for (int i = 0; i < 300; i++) {
        size_t n = 65 + (size_t)(rnd() % (b.len - 65));
        snprintf(what, sizeof what, "truncated to %zu bytes", n);
        expect_refused_bytes(b.bytes, n, RECUR_E_FORMAT, NULL, what);
    }
    expect_refused_bytes(b.bytes, b.len - 1, RECUR_E_FORMAT, "past the end", "last byte cut");
    expect_refused_bytes(b.bytes, b.len - 4, RECUR_E_FORMAT, "past the end", "last float cut");

    /* Header length fields. */
    unsigned char *c = malloc(b.len + 4);
    assert_non_null(c);
    memcpy(c, b.bytes, b.len);
    memset(c, 0, 8);
    expect_refused_bytes(c, b.len, RECUR_E_FORMAT, "absurd", "header length 0");
    c[5] = 1; /* 2^40 */
    expect_refused_bytes(c, b.len, RECUR_E_FORMAT, "absurd", "header length 2^40");
    memset(c, 0xff, 8);
    expect_refused_bytes(c, b.len, RECUR_E_FORMAT, "absurd", "header length 2^64-1");
    uint64_t past = b.len - 7;
    for (int k = 0; k < 8; k++) c[k] = (unsigned char)(past >> (8 * k));
    expect_refused_bytes(c, b.len, RECUR_E_FORMAT, "past the end", "header length past the end");
    /* Extra bytes after the last tensor. */
    memcpy(c, b.bytes, b.len);
    memset(c + b.len, 0, 4);
    expect_refused_bytes(c, b.len + 4, RECUR_E_FORMAT, "no tensor", "4 trailing bytes");
    free(c);

    /* Not even a file. */
    recur_error err;
    recur_model *m = NULL;
    char path[128];
    path_in(path, sizeof path, "does-not-exist.recur");
    assert_int_equal(recur_model_load(path, &m, NULL, &err), RECUR_E_IO);
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    assert_int_equal(recur_model_load(g_dir, &m, NULL, &err), RECUR_E_IO);
    assert_null(m);
    base_free(&b);
}

static void test_bad_json(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    unsigned char *c = malloc(b.len);
    assert_non_null(c);
    memcpy(c, b.bytes, b.len);
    c[8] = 'x';
    expect_refused_bytes(c, b.len, RECUR_E_FORMAT, "not valid JSON", "header starts with x");
    free(c);

    static const char *texts[][2] = {
        {"[1,2,3]", "not a JSON object"},
        {"{}", "no __metadata__"},
        {"{\"a\":1,\"a\":2}", "not valid JSON"}, /* duplicate key */
        {"{\"__metadata__\":[]}", "__metadata__ must be"},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":1}}", "not a string"},
        {"{\"__metadata__\":{\"format\":\"gguf\",\"format_version\":\"1\"}}", "not a recur model"},
        {"{\"__metadata__\":{\"format_version\":\"1\"}}", "not a recur model"},
        {"{\"__metadata__\":{\"format\":\"recur-model\"}}", "no format_version"},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":\"1\"}}", "no \"recur\""},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":\"1\",\"recur\":\"{\"}}", "not valid JSON"},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":\"1\",\"recur\":\"[]\"}}", "object"},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":\"1\",\"recur\":\"{}\"}}", "n_features"},
        {"{\"__metadata__\":{\"format\":\"recur\\u0000-model\"}}", "\\u0000 is not allowed"},
        {"{\"__metadata__\":{\"format\":\"recur-model\",\"format_version\":\"1\",\"recur\":\"{\\\"n_features\\\":1,"
         "\\\"layers\\\":[]}\"}}",
         "layers"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i][0]);
        unsigned char buf[512];
        for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)n >> (8 * k));
        memcpy(buf + 8, texts[i][0], n);
        expect_refused_bytes(buf, 8 + n, RECUR_E_FORMAT, texts[i][1], texts[i][0]);
    }
    base_free(&b);
}

static void test_version(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    json_t *h = json_deep_copy(b.header);
    json_object_set_new(json_object_get(h, "__metadata__"), "format_version", json_string("2"));
    expect_refused_json(h, b.data, b.data_len, "format_version \"2\"", "version 2");
    expect_refused_json(h, b.data, b.data_len, "reads format_version \"1\"", "version 2 names ours");
    json_decref(h);
    base_free(&b);
}

/* Sets h[name][field] (field "dtype", "shape" or "data_offsets") to v. */
static json_t *tensor_edit(const base_file *b, const char *name, const char *field, json_t *v)
{
    json_t *h = json_deep_copy(b->header);
    json_t *t = json_object_get(h, name);
    assert_non_null(t);
    if (v) json_object_set_new(t, field, v);
    else json_object_del(t, field);
    return h;
}

static void test_tensor_corruptions(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    /* Offsets of the last tensor, "dense_1.bias" (1 float). */
    json_t *offs = json_object_get(json_object_get(b.header, "dense_1.bias"), "data_offsets");
    json_int_t lb = json_integer_value(json_array_get(offs, 0)), le = json_integer_value(json_array_get(offs, 1));
    json_t *kern = json_object_get(json_object_get(b.header, "simple_rnn_1.kernel"), "data_offsets");
    json_int_t kb = json_integer_value(json_array_get(kern, 0)), ke = json_integer_value(json_array_get(kern, 1));
    const json_int_t big = (json_int_t)1 << 40;
    struct {
        const char *name, *field;
        json_t *value;
        const char *want;
    } cases[] = {
        {"dense.kernel", "dtype", json_string("F64"), "F64"},
        {"dense.kernel", "dtype", json_string("BF16"), "BF16"},
        {"dense.kernel", "dtype", NULL, "dtype"},
        {"dense.kernel", "dtype", json_integer(32), "dtype"},
        {"simple_rnn.kernel", "shape", json_pack("[i,i]", 5, 2), "has shape [5, 2]"}, /* transposed */
        {"simple_rnn.kernel", "shape", json_pack("[i]", 10), "has shape [10]"},
        {"simple_rnn.bias", "shape", json_pack("[i,i]", 1, 5), "needs [5]"},
        {"simple_rnn.bias", "shape", json_pack("[i]", 6), "shape needs 24"},
        {"simple_rnn.bias", "shape", json_pack("[i]", -5), "shape[0]"},
        {"simple_rnn.bias", "shape", json_pack("[I,I,I]", big, big, big), "more than"},
        {"simple_rnn.bias", "shape", json_string("5"), "shape"},
        {"simple_rnn.bias", "shape", json_pack("[i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 1, 5), "at most 8"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", lb + 4, le + 4), "past the end"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", lb - 4, le - 4), "overlap"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", le, lb), "before begin"},
        {"dense_1.bias", "data_offsets", json_pack("[f,f]", (double)lb, (double)le), "data_offsets"},
        {"dense_1.bias", "data_offsets", json_pack("[I]", lb), "data_offsets"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I,I]", lb, le, le), "data_offsets"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", (json_int_t)-4, (json_int_t)0), "data_offsets"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", lb, le + ((json_int_t)1 << 62)), "past the end"},
        {"dense_1.bias", "data_offsets", json_pack("[I,I]", kb, kb + 4), "overlap"},
        {"simple_rnn_1.kernel", "data_offsets", json_pack("[I,I]", kb + 4, ke + 4), "belong to no tensor"},
        {"dense_1.bias", "data_offsets", NULL, "data_offsets"},
        {"dense.kernel", "shape", NULL, "\"shape\" is missing"},
    };
    char what[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *h = tensor_edit(&b, cases[i].name, cases[i].field, cases[i].value);
        snprintf(what, sizeof what, "case %zu: %s.%s", i, cases[i].name, cases[i].field);
        expect_refused_json(h, b.data, b.data_len, cases[i].want, what);
        json_decref(h);
    }

    /* Missing tensor (header entry removed; its bytes stay unindexed). */
    json_t *h = json_deep_copy(b.header);
    json_object_del(h, "simple_rnn_1.recurrent_kernel");
    expect_refused_json(h, b.data, b.data_len, "\"simple_rnn_1.recurrent_kernel\" is missing", "missing tensor");
    json_decref(h);
    /* Extra tensor, with its own 4 bytes of data. */
    h = json_deep_copy(b.header);
    json_object_set_new(h, "extra.weight",
                        json_pack("{s:s,s:[i],s:[I,I]}", "dtype", "F32", "shape", 1, "data_offsets",
                                  (json_int_t)b.data_len, (json_int_t)b.data_len + 4));
    unsigned char *more = calloc(b.data_len + 4, 1);
    assert_non_null(more);
    memcpy(more, b.data, b.data_len);
    expect_refused_json(h, more, b.data_len + 4, "unexpected tensor \"extra.weight\"", "extra tensor");
    json_decref(h);
    /* A tensor entry that is not an object. */
    h = json_deep_copy(b.header);
    json_object_set_new(h, "dense.bias", json_integer(3));
    expect_refused_json(h, b.data, b.data_len, "must be an object", "tensor entry 3");
    json_decref(h);
    /* Two tensors swap byte ranges of different sizes: sizes no longer match shapes. */
    h = tensor_edit(&b, "dense_1.bias", "data_offsets", json_pack("[I,I]", kb, ke));
    expect_refused_json(h, b.data, b.data_len, "bytes of data", "range of another size");
    json_decref(h);
    /* A gap: the data section has 4 bytes no tensor claims, in the middle. */
    h = json_deep_copy(b.header);
    const char *key;
    json_t *t;
    json_object_foreach(h, key, t)
    {
        json_t *o = json_object_get(t, "data_offsets");
        if (!o || json_integer_value(json_array_get(o, 0)) < ke) continue;
        json_array_set_new(o, 0, json_integer(json_integer_value(json_array_get(o, 0)) + 4));
        json_array_set_new(o, 1, json_integer(json_integer_value(json_array_get(o, 1)) + 4));
    }
    memcpy(more, b.data, b.data_len);
    expect_refused_json(h, more, b.data_len + 4, "belong to no tensor", "gap in the middle");
    json_decref(h);
    free(more);
    base_free(&b);
}

/* Edits the config: layer i's key set to v (i < 0: top level; NULL v deletes). */
static void expect_config_refused(const base_file *b, int i, const char *key, json_t *v, const char *want)
{
    json_t *cfg = json_deep_copy(b->config);
    json_t *o = i < 0 ? cfg : json_array_get(json_object_get(cfg, "layers"), (size_t)i);
    assert_non_null(o);
    if (v) json_object_set_new(o, key, v);
    else json_object_del(o, key);
    json_t *h = header_with_config(b, cfg);
    char what[128];
    snprintf(what, sizeof what, "config layer %d key %s", i, key);
    expect_refused_json(h, b->data, b->data_len, want, what);
    json_decref(h);
    json_decref(cfg);
}

static void expect_pipeline_refused(const base_file *b, const char *key, json_t *v, const char *want)
{
    json_t *cfg = json_deep_copy(b->config);
    json_t *pp = json_object_get(cfg, "pipeline");
    if (v) json_object_set_new(pp, key, v);
    else json_object_del(pp, key);
    json_t *h = header_with_config(b, cfg);
    char what[128];
    snprintf(what, sizeof what, "pipeline key %s", key);
    expect_refused_json(h, b->data, b->data_len, want, what);
    json_decref(h);
    json_decref(cfg);
}

static void test_config_corruptions(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    /* Layers of the base: 0 R5s, 1 R4, 2 P25, 3 D3r, 4 D1l; n_features 2. */
    expect_config_refused(&b, 0, "kind", json_string("conv1d"), "unknown kind \"conv1d\"");
    expect_config_refused(&b, 0, "kind", NULL, "\"kind\" must be one of");
    expect_config_refused(&b, 0, "units", json_integer(6), "has shape [2, 5] but the config");
    expect_config_refused(&b, 0, "units", json_integer(0), "units");
    expect_config_refused(&b, 0, "units", json_integer(1 << 30), "units");
    expect_config_refused(&b, 0, "units", json_real(5.0), "units");
    expect_config_refused(&b, 0, "units", json_string("5"), "units");
    expect_config_refused(&b, 0, "return_sequences", json_integer(1), "true or false");
    expect_config_refused(&b, 0, "return_sequences", json_false(), "cannot be built"); /* R4 after no sequence */
    expect_config_refused(&b, 3, "units", json_integer(2), "has shape");
    expect_config_refused(&b, 3, "activation", json_string("gelu"), "unknown activation");
    expect_config_refused(&b, 2, "rate", json_real(1.0), "rate");
    expect_config_refused(&b, 2, "rate", json_string("0.2"), "rate");
    expect_config_refused(&b, 2, "kind", json_string("dense"), "units"); /* dropout -> dense: needs units */
    expect_config_refused(&b, -1, "n_features", json_integer(3), "features"); /* pipeline has 2 */
    expect_config_refused(&b, -1, "n_features", json_integer(0), "n_features");
    expect_config_refused(&b, -1, "layers", json_pack("[s]", "lstm"), "must be an object");
    expect_config_refused(&b, -1, "layers", json_pack("[{s:s,s:f}]", "kind", "dropout", "rate", 0.1),
                          "no layer with weights");
    /* Layers that exist in the config but not in the tensors, and the reverse. */
    json_t *cfg = json_deep_copy(b.config);
    json_array_append_new(json_object_get(cfg, "layers"), json_pack("{s:s,s:i,s:s}", "kind", "dense", "units", 1,
                                                                     "activation", "linear"));
    json_t *h = header_with_config(&b, cfg);
    expect_refused_json(h, b.data, b.data_len, "\"dense_2.kernel\" is missing", "config has an extra layer");
    json_decref(h);
    json_decref(cfg);
    cfg = json_deep_copy(b.config);
    json_array_remove(json_object_get(cfg, "layers"), 4);
    h = header_with_config(&b, cfg);
    expect_refused_json(h, b.data, b.data_len, "unexpected tensor", "config lacks a layer");
    json_decref(h);
    json_decref(cfg);
    /* A GRU whose reset_after disagrees with its bias shape. */
    recur_error err;
    char path[128];
    path_in(path, sizeof path, "gru.recur");
    recur_model *g = build(1, "G3r D1l");
    assert_int_equal(recur_model_save(g, NULL, path, &err), RECUR_OK);
    recur_model_free(g);
    base_file gb;
    gb.bytes = read_file(path, &gb.len);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++) hl |= (uint64_t)gb.bytes[k] << (8 * k);
    json_error_t je;
    gb.header = json_loadb((const char *)gb.bytes + 8, hl, 0, &je);
    json_t *gmeta = json_object_get(gb.header, "__metadata__");
    gb.config = json_loads(json_string_value(json_object_get(gmeta, "recur")), 0, &je);
    assert_true(gb.header && gb.config);
    gb.data = gb.bytes + 8 + hl;
    gb.data_len = gb.len - 8 - hl;
    expect_config_refused(&gb, 0, "reset_after", json_false(), "\"gru.bias\" has shape [2, 9] but the config");
    expect_config_refused(&gb, 0, "reset_after", NULL, "reset_after");
    expect_config_refused(&gb, -1, "n_features", json_integer(2), "\"gru.kernel\" has shape [1, 9] but the config");
    base_free(&gb);

    /* Pipeline fields. */
    expect_pipeline_refused(&b, "features", json_pack("[s]", "Close"), "features");
    expect_pipeline_refused(&b, "features", json_pack("[s,i]", "Close", 3), "features[1]");
    expect_pipeline_refused(&b, "features", json_pack("[s,s]", "Close", ""), "features[1]");
    expect_pipeline_refused(&b, "features",
                            json_pack("[s,s]", "Close",
                                      "0123456789012345678901234567890123456789012345678901234567890123"),
                            "features[1]");
    expect_pipeline_refused(&b, "target", json_integer(2), "target");
    expect_pipeline_refused(&b, "timestep", json_integer(0), "timestep");
    expect_pipeline_refused(&b, "horizon", NULL, "horizon");
    expect_pipeline_refused(&b, "test_fraction", json_real(1.5), "test_fraction");
    expect_pipeline_refused(&b, "test_fraction", json_string("0.2"), "test_fraction");
    expect_pipeline_refused(&b, "transform", json_string("log"), "unknown transform \"log\"");
    expect_pipeline_refused(&b, "missing", json_string("zero"), "unknown missing \"zero\"");
    expect_pipeline_refused(&b, "missing", json_integer(1), "\"missing\" must be one of");
    expect_pipeline_refused(&b, "scaler_kind", json_string("robust"), "unknown scaler_kind");
    expect_pipeline_refused(&b, "scaler", json_integer(1), "scaler");
    expect_pipeline_refused(&b, "scaler", json_pack("{s:s,s:[f],s:[]}", "kind", "minmax", "a", 1.0, "b"),
                            "same length");
    expect_pipeline_refused(&b, "scaler", json_pack("{s:s,s:[s],s:[f]}", "kind", "minmax", "a", "x", "b", 1.0),
                            "scaler.a[0]");
    cfg = json_deep_copy(b.config);
    json_object_set_new(cfg, "pipeline", json_string("none"));
    h = header_with_config(&b, cfg);
    expect_refused_json(h, b.data, b.data_len, "\"pipeline\" must be an object", "pipeline a string");
    json_decref(h);
    json_decref(cfg);
    base_free(&b);
}

/* Unknown extra keys are ignored (forward compatible additions), and a file
 * whose header is not padded (as another writer may produce) still loads. */
static void test_tolerated(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    json_t *cfg = json_deep_copy(b.config);
    json_object_set_new(cfg, "comment", json_string("added by a newer writer"));
    json_object_del(json_object_get(cfg, "pipeline"), "missing"); /* files from before "missing" */
    json_t *h = header_with_config(&b, cfg);
    json_object_set_new(json_object_get(h, "__metadata__"), "author", json_string("me"));
    char *text = json_dumps(h, JSON_COMPACT);
    size_t n = strlen(text);
    unsigned char *buf = malloc(8 + n + b.data_len);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)n >> (8 * k));
    memcpy(buf + 8, text, n);
    memcpy(buf + 8 + n, b.data, b.data_len);
    char path[128];
    path_in(path, sizeof path, "tolerated.recur");
    write_file(path, buf, 8 + n + b.data_len);
    recur_error err;
    recur_model *m = NULL;
    recur_pipeline p;
    memset(&p, 0x5a, sizeof p);
    if (recur_model_load(path, &m, &p, &err) != RECUR_OK) fail_msg("%s", err.msg);
    assert_int_equal(p.missing, RECUR_MISSING_ERROR);
    recur_model_free(m);
    free(buf);
    free(text);
    json_decref(h);
    json_decref(cfg);
    base_free(&b);
}

/* Random byte flips: any outcome but a crash or a leak (ASan build). */
static void test_random_flips(void **state)
{
    (void)state;
    base_file b;
    base_make(&b);
    unsigned char *c = malloc(b.len);
    assert_non_null(c);
    char path[128];
    path_in(path, sizeof path, "flip.recur");
    int refused = 0;
    for (int i = 0; i < 1500; i++) {
        memcpy(c, b.bytes, b.len);
        int flips = 1 + (int)(rnd() % 3);
        size_t span = i % 2 ? b.len : b.len - b.data_len; /* half the time only in the header */
        for (int f = 0; f < flips; f++) c[rnd() % span] ^= (unsigned char)(1u << (rnd() % 8));
        write_file(path, c, b.len);
        recur_error err;
        recur_model *m = NULL;
        recur_pipeline p;
        recur_status st = recur_model_load(path, &m, &p, &err);
        if (st != RECUR_OK) {
            refused++;
            assert_null(m);
            assert_true(err.msg[0] != '\0');
        }
        recur_model_free(m);
    }
    assert_true(refused > 100);
    free(c);
    base_free(&b);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    recur_error err;
    recur_model *m = build(1, "D1l"), *l = NULL;
    assert_int_equal(recur_model_save(NULL, NULL, "x", &err), RECUR_E_INVALID);
    assert_int_equal(recur_model_save(m, NULL, NULL, &err), RECUR_E_INVALID);
    assert_int_equal(recur_model_save(m, NULL, "", NULL), RECUR_E_INVALID);
    assert_int_equal(recur_model_load(NULL, &l, NULL, &err), RECUR_E_INVALID);
    assert_int_equal(recur_model_load("x", NULL, NULL, NULL), RECUR_E_INVALID);
    recur_model_free(m);
}

/* ====== Checkpoints ====== */

#define CK_N 120
#define CK_T 10
#define CK_SPEC "lstm(6,seq) dropout(0.2) gru(5) dense(1)"

/* Windows of a sine with a little deterministic noise; y is the next value. */
static void ck_data(recur_float *x, recur_float *y)
{
    for (int k = 0; k < CK_N; k++) {
        for (int t = 0; t <= CK_T; t++) {
            int i = k + t;
            recur_float v = (recur_float)(0.5 + 0.4 * sin(0.3 * i) + 0.01 * ((i * 7919) % 13 - 6) / 6.0);
            if (t < CK_T) x[k * CK_T + t] = v;
            else y[k] = v;
        }
    }
}

static recur_model *ck_model(const recur_compile_opts *co)
{
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    if (recur_model_add_spec(m, CK_SPEC, &err) != RECUR_OK) fail_msg("%s", err.msg);
    if (recur_model_compile(m, co, &err) != RECUR_OK) fail_msg("compile: %s", err.msg);
    return m;
}

/* At each epoch end: the training state, and the checkpoint when a path is
 * set -- in the callback, as recur train --checkpoint does, because fit may
 * restore the best epoch's weights after the last one. */
typedef struct {
    recur_model *m;
    const char *path;
    recur_fit_opts fo;
    recur_train_state ts;
} ck_run;

static int ck_capture(const recur_progress *p, void *user)
{
    ck_run *r = user;
    recur_train_state *ts = &r->ts;
    if (!p->epoch_end) return 0;
    ts->epoch = p->epoch, ts->epochs = p->epochs;
    ts->best = p->best, ts->best_epoch = p->best_epoch, ts->wait = p->wait;
    ts->batch_size = r->fo.batch_size, ts->seed = r->fo.seed, ts->validation_split = r->fo.validation_split;
    ts->patience = r->fo.patience, ts->shuffle = r->fo.shuffle;
    recur_error err;
    if (r->path && recur_model_save_checkpoint(r->m, NULL, ts, r->path, &err) != RECUR_OK) fail_msg("%s", err.msg);
    return 0;
}

static recur_fit_opts ck_fit_opts(int epochs)
{
    recur_fit_opts fo = recur_fit_opts_default();
    fo.epochs = epochs, fo.batch_size = 16, fo.seed = 5, fo.validation_split = 0.2, fo.patience = 10;
    fo.threads = 1;
    return fo;
}

/* Fits `epochs` epochs, saving a checkpoint to `path` (if not NULL) after
 * each; *ts: the state after the last. */
static void ck_fit(recur_model *m, int epochs, const char *path, recur_train_state *ts)
{
    static recur_float x[CK_N * CK_T], y[CK_N];
    ck_data(x, y);
    ck_run r;
    memset(&r, 0, sizeof r);
    r.m = m, r.path = path, r.fo = ck_fit_opts(epochs);
    r.fo.progress = ck_capture, r.fo.progress_user = &r;
    recur_error err;
    if (recur_model_fit(m, x, y, CK_N, CK_T, NULL, NULL, 0, &r.fo, NULL, &err) != RECUR_OK) fail_msg("%s", err.msg);
    *ts = r.ts;
}

static void assert_same_optimizer(recur_model *a, recur_model *b)
{
    const recur_compile_opts *x = recur_model_compile_opts(a), *y = recur_model_compile_opts(b);
    assert_int_equal(x->loss, y->loss);
    assert_true(x->seed == y->seed);
    assert_int_equal(x->optim.kind, y->optim.kind);
    const double *dx[] = {&x->optim.lr, &x->optim.rho, &x->optim.momentum, &x->optim.epsilon, &x->optim.beta_1,
                          &x->optim.beta_2, &x->optim.clipnorm, &x->optim.clipvalue};
    const double *dy[] = {&y->optim.lr, &y->optim.rho, &y->optim.momentum, &y->optim.epsilon, &y->optim.beta_1,
                          &y->optim.beta_2, &y->optim.clipnorm, &y->optim.clipvalue};
    for (int i = 0; i < 8; i++) assert_memory_equal(dx[i], dy[i], sizeof(double));
    assert_int_equal(x->optim.centered, y->optim.centered);
    assert_int_equal(x->optim.amsgrad, y->optim.amsgrad);
    assert_int_equal(x->optim.nesterov, y->optim.nesterov);
    assert_true(recur_model_optimizer_iterations(a) > 0);
    assert_int_equal(recur_model_optimizer_iterations(a), recur_model_optimizer_iterations(b));
    static const char *slots[] = {"velocity", "momentum", "average_gradient", "velocity_hat"};
    for (int i = 0; i < 4; i++) {
        recur_float *sa = recur_model_optimizer_slot(a, slots[i]), *sb = recur_model_optimizer_slot(b, slots[i]);
        assert_true((sa == NULL) == (sb == NULL));
        if (sa) assert_memory_equal(sa, sb, recur_model_n_params(a) * sizeof *sa);
    }
}

static void assert_same_state(const recur_train_state *a, const recur_train_state *b)
{
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->epochs, b->epochs);
    assert_memory_equal(&a->best, &b->best, sizeof a->best);
    assert_int_equal(a->best_epoch, b->best_epoch);
    assert_int_equal(a->wait, b->wait);
    assert_int_equal(a->batch_size, b->batch_size);
    assert_true(a->seed == b->seed);
    assert_memory_equal(&a->validation_split, &b->validation_split, sizeof(double));
    assert_int_equal(a->patience, b->patience);
    assert_int_equal(a->shuffle, b->shuffle);
}

/* Compile options for each optimizer and every slot combination. */
static recur_compile_opts ck_opts(int which)
{
    recur_compile_opts co = recur_compile_opts_default();
    co.seed = 18446744073709551557ULL; /* above 2^63: stored as text */
    switch (which) {
    case 0: break; /* RMSprop: velocity */
    case 1:        /* centered RMSprop with momentum: velocity, momentum, average_gradient */
        co.optim.centered = 1, co.optim.momentum = 0.5, co.optim.lr = 0.003, co.optim.clipnorm = 1.0;
        co.loss = RECUR_LOSS_MAE;
        break;
    case 2: /* Adam with amsgrad: velocity, momentum, velocity_hat */
        co.optim = recur_optim_opts_default(RECUR_OPT_ADAM);
        co.optim.amsgrad = 1, co.optim.lr = 0.01, co.optim.clipvalue = 0.5, co.optim.epsilon = 1e-6;
        break;
    default: /* SGD with Nesterov momentum: momentum */
        co.optim = recur_optim_opts_default(RECUR_OPT_SGD);
        co.optim.momentum = 0.9, co.optim.nesterov = 1, co.optim.lr = 0.05;
        break;
    }
    return co;
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[128], path2[128];
    path_in(path, sizeof path, "ck.recur");
    path_in(path2, sizeof path2, "ck2.recur");
    recur_error err;
    for (int which = 0; which < 4; which++) {
        recur_compile_opts co = ck_opts(which);
        recur_model *m = ck_model(&co), *l = NULL, *plain = NULL;
        recur_train_state ts, ts2;
        ck_fit(m, 2, NULL, &ts);
        assert_int_equal(ts.epoch, 2);
        assert_true(ts.best_epoch > 0);
        recur_pipeline p = make_pipeline(1), q, q2;
        if (recur_model_save_checkpoint(m, &p, &ts, path, &err) != RECUR_OK) fail_msg("save: %s", err.msg);
        memset(&ts2, 0x5a, sizeof ts2);
        if (recur_model_load_checkpoint(path, &l, &q, &ts2, &err) != RECUR_OK) fail_msg("load: %s", err.msg);
        assert_same_model(m, l);
        assert_same_optimizer(m, l);
        assert_same_state(&ts, &ts2);
        assert_same_pipeline(&p, &q);

        /* A checkpoint is a model file too: recur_model_load ignores the optimizer. */
        if (recur_model_load(path, &plain, &q2, &err) != RECUR_OK) fail_msg("plain load: %s", err.msg);
        assert_same_model(m, plain);
        assert_same_pipeline(&p, &q2);
        assert_int_equal(recur_model_optimizer_iterations(plain), 0);

        /* Saving the loaded checkpoint writes the same bytes; data = weights + slots. */
        assert_int_equal(recur_model_save_checkpoint(l, &q, &ts2, path2, &err), RECUR_OK);
        size_t n1, n2;
        unsigned char *b1 = read_file(path, &n1), *b2 = read_file(path2, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        uint64_t hlen = 0;
        for (int k = 0; k < 8; k++) hlen |= (uint64_t)b1[k] << (8 * k);
        size_t slots = which == 0 ? 1 : which == 3 ? 1 : 3;
        assert_int_equal(n1 - 8 - hlen, recur_model_n_params(m) * 4 * (1 + slots));
        assert_int_equal(count_temp_files(g_dir), 0);
        free(b1);
        free(b2);
        recur_model_free(plain);
        recur_model_free(l);
        recur_model_free(m);
    }
    /* No pipeline, and nothing monitored yet (epoch 0: best is null in the file). */
    recur_compile_opts co = ck_opts(0);
    recur_model *m = ck_model(&co), *l = NULL;
    recur_train_state ts = {0, 3, INFINITY, 0, 0, 8, 1, 0.0, 0, 1}, ts2;
    recur_pipeline q;
    assert_int_equal(recur_model_save_checkpoint(m, NULL, &ts, path, &err), RECUR_OK);
    assert_int_equal(recur_model_load_checkpoint(path, &l, &q, &ts2, &err), RECUR_OK);
    assert_int_equal(q.n_features, 0);
    assert_same_state(&ts, &ts2);
    recur_model_free(l);
    recur_model_free(m);
}

/* The promise, through the files: fit 2 epochs, save a checkpoint,
 * load it, fit to 4 == fit 4 straight, bit for bit (dropout, shuffling,
 * validation and early-stopping state included). */
static void test_checkpoint_resume(void **state)
{
    (void)state;
    static recur_float x[CK_N * CK_T], y[CK_N];
    ck_data(x, y);
    char path[128];
    path_in(path, sizeof path, "resume.recur");
    recur_error err;
    for (int which = 0; which < 4; which++) {
        recur_compile_opts co = ck_opts(which);
        recur_model *a = ck_model(&co), *b = ck_model(&co), *c = NULL;
        recur_train_state ts, half, ts2;
        ck_fit(a, 4, NULL, &ts);
        ck_fit(b, 2, path, &half);
        recur_model_free(b);
        if (recur_model_load_checkpoint(path, &c, NULL, &ts2, &err) != RECUR_OK) fail_msg("%s", err.msg);
        recur_fit_opts fo = ck_fit_opts(4);
        fo.batch_size = ts2.batch_size, fo.seed = ts2.seed, fo.validation_split = ts2.validation_split;
        fo.patience = ts2.patience, fo.shuffle = ts2.shuffle;
        fo.initial_epoch = ts2.epoch, fo.initial_best = ts2.best, fo.initial_best_epoch = ts2.best_epoch;
        fo.initial_wait = ts2.wait;
        fo.threads = 2; /* and another thread count */
        if (recur_model_fit(c, x, y, CK_N, CK_T, NULL, NULL, 0, &fo, NULL, &err) != RECUR_OK) fail_msg("%s", err.msg);
        assert_memory_equal(recur_model_params(a), recur_model_params(c),
                            recur_model_n_params(a) * sizeof(recur_float));
        assert_int_equal(recur_model_optimizer_iterations(a), recur_model_optimizer_iterations(c));
        recur_model_free(a);
        recur_model_free(c);
    }
}

/* A checkpoint to corrupt: Adam with amsgrad (slots velocity, momentum, velocity_hat). */
static void ck_base_make(base_file *b)
{
    char path[128];
    path_in(path, sizeof path, "ckbase.recur");
    recur_error err;
    recur_compile_opts co = ck_opts(2);
    recur_model *m = ck_model(&co);
    recur_train_state ts;
    ck_fit(m, 2, NULL, &ts);
    recur_pipeline p = make_pipeline(1);
    assert_int_equal(recur_model_save_checkpoint(m, &p, &ts, path, &err), RECUR_OK);
    recur_model_free(m);
    base_read(b, path, "checkpoint"); /* config: here the checkpoint document */
}

/* Checkpoint document with doc[obj][key] (obj NULL: top level) set to v (NULL deletes). */
static void expect_ck_refused(const base_file *b, const char *obj, const char *key, json_t *v, const char *want)
{
    json_t *doc = json_deep_copy(b->config);
    json_t *o = obj ? json_object_get(doc, obj) : doc;
    assert_non_null(o);
    if (v) json_object_set_new(o, key, v);
    else json_object_del(o, key);
    json_t *h = json_deep_copy(b->header);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_object_set_new(json_object_get(h, "__metadata__"), "checkpoint", json_string(text));
    char what[128];
    snprintf(what, sizeof what, "checkpoint %s.%s", obj ? obj : "", key);
    expect_refused_json(h, b->data, b->data_len, want, what);
    free(text);
    json_decref(h);
    json_decref(doc);
}

/* Byte offsets of tensor `name` in the data section. */
static void ck_offsets(const base_file *b, const char *name, size_t *begin, size_t *end)
{
    json_t *o = json_object_get(json_object_get(b->header, name), "data_offsets");
    assert_non_null(o);
    *begin = (size_t)json_integer_value(json_array_get(o, 0));
    *end = (size_t)json_integer_value(json_array_get(o, 1));
}

static void test_checkpoint_refusals(void **state)
{
    (void)state;
    base_file b, plain;
    ck_base_make(&b);
    base_make(&plain);
    recur_error err;
    g_ckpt_mode = 1;

    /* A model file is not a checkpoint. */
    expect_refused_bytes(plain.bytes, plain.len, RECUR_E_FORMAT, "no training state", "model as checkpoint");

    /* The checkpoint document. */
    expect_ck_refused(&b, NULL, "loss", NULL, "\"loss\" must be one of");
    expect_ck_refused(&b, NULL, "loss", json_string("huber"), "unknown loss \"huber\"");
    expect_ck_refused(&b, NULL, "seed", json_integer(42), "decimal digits");
    expect_ck_refused(&b, NULL, "seed", json_string("18446744073709551616"), "decimal digits");
    expect_ck_refused(&b, NULL, "seed", json_string("-1"), "decimal digits");
    expect_ck_refused(&b, NULL, "iterations", json_integer(-1), "iterations");
    expect_ck_refused(&b, NULL, "iterations", json_real(3.0), "iterations");
    expect_ck_refused(&b, NULL, "optimizer", json_string("adam"), "\"optimizer\" must be an object");
    expect_ck_refused(&b, NULL, "train", NULL, "\"train\" must be an object");
    expect_ck_refused(&b, "optimizer", "kind", json_string("adagrad"), "unknown kind \"adagrad\"");
    expect_ck_refused(&b, "optimizer", "learning_rate", NULL, "learning_rate");
    expect_ck_refused(&b, "optimizer", "learning_rate", json_real(0.0), "optimizer options are refused");
    expect_ck_refused(&b, "optimizer", "beta_1", json_real(1.5), "beta_1");
    expect_ck_refused(&b, "optimizer", "amsgrad", json_integer(1), "true or false");
    expect_ck_refused(&b, "optimizer", "amsgrad", json_false(), "unexpected tensor \"optimizer.velocity_hat\"");
    expect_ck_refused(&b, "optimizer", "kind", json_string("rmsprop"), "unexpected tensor \"optimizer.momentum\"");
    expect_ck_refused(&b, "train", "epoch", json_integer(5), "epoch 5 of");
    expect_ck_refused(&b, "train", "epochs", json_integer(0), "epochs");
    expect_ck_refused(&b, "train", "best_epoch", json_integer(3), "early-stopping state");
    expect_ck_refused(&b, "train", "best", json_null(), "\"best\" is null");
    expect_ck_refused(&b, "train", "best", json_string("0.1"), "\"best\" must be a number or null");
    expect_ck_refused(&b, "train", "batch_size", json_integer(0), "batch_size");
    expect_ck_refused(&b, "train", "validation_split", json_real(1.0), "validation_split");
    expect_ck_refused(&b, "train", "shuffle", json_integer(1), "true or false");
    expect_ck_refused(&b, "train", "seed", NULL, "seed");
    json_t *h = json_deep_copy(b.header);
    json_object_set_new(json_object_get(h, "__metadata__"), "checkpoint", json_string("{"));
    expect_refused_json(h, b.data, b.data_len, "__metadata__.checkpoint is not valid JSON", "checkpoint {");
    json_object_set_new(json_object_get(h, "__metadata__"), "checkpoint", json_string("[1]"));
    expect_refused_json(h, b.data, b.data_len, "must hold a JSON object", "checkpoint [1]");
    json_decref(h);

    /* Optimizer tensors. */
    size_t hb, he, vb, ve;
    ck_offsets(&b, "optimizer.velocity_hat", &hb, &he);
    ck_offsets(&b, "optimizer.velocity", &vb, &ve);
    assert_int_equal(he, b.data_len); /* the last tensor */
    h = json_deep_copy(b.header);
    json_object_del(h, "optimizer.velocity_hat");
    expect_refused_json(h, b.data, hb, "\"optimizer.velocity_hat\" is missing", "slot missing");
    json_decref(h);
    unsigned char *more = malloc(b.data_len + (he - hb));
    assert_non_null(more);
    memcpy(more, b.data, b.data_len);
    memcpy(more + b.data_len, b.data + hb, he - hb);
    h = json_deep_copy(b.header);
    json_object_set_new(h, "optimizer.average_gradient",
                        json_pack("{s:s,s:[I],s:[I,I]}", "dtype", "F32", "shape", (json_int_t)((he - hb) / 4),
                                  "data_offsets", (json_int_t)b.data_len, (json_int_t)(b.data_len + he - hb)));
    expect_refused_json(h, more, b.data_len + he - hb, "unexpected tensor \"optimizer.average_gradient\"",
                        "extra slot");
    json_decref(h);
    h = json_deep_copy(b.header);
    json_object_set_new(h, "optimizer.foo", json_object_get(b.header, "optimizer.velocity_hat"));
    json_incref(json_object_get(b.header, "optimizer.velocity_hat"));
    json_object_del(h, "optimizer.velocity_hat");
    expect_refused_json(h, b.data, b.data_len, "unexpected tensor \"optimizer.foo\"", "unknown slot");
    json_decref(h);
    h = tensor_edit(&b, "optimizer.velocity", "shape", json_pack("[I,i]", (json_int_t)((ve - vb) / 4), 1));
    expect_refused_json(h, b.data, b.data_len, "must have shape", "slot of shape [n, 1]");
    json_decref(h);
    h = tensor_edit(&b, "optimizer.velocity", "dtype", json_string("F16"));
    expect_refused_json(h, b.data, b.data_len, "F16", "slot F16");
    json_decref(h);
    memcpy(more, b.data, b.data_len);
    float bad = NAN;
    memcpy(more + vb + 4, &bad, 4);
    expect_refused_json(b.header, more, b.data_len, "\"optimizer.velocity\" value 1 is not finite", "slot NaN");
    bad = -1.0f;
    memcpy(more + vb + 4, &bad, 4);
    expect_refused_json(b.header, more, b.data_len, "\"optimizer.velocity\" value 1 is negative", "slot < 0");
    /* ... which a plain model load does not read. */
    g_ckpt_mode = 0;
    h = json_deep_copy(b.header);
    json_object_del(json_object_get(h, "__metadata__"), "checkpoint");
    expect_refused_json(h, b.data, b.data_len, "optimizer state without __metadata__.checkpoint", "slots, no state");
    json_decref(h);
    h = tensor_edit(&b, "optimizer.momentum", "shape", json_pack("[I,i]", (json_int_t)((ve - vb) / 4), 1));
    expect_refused_json(h, b.data, b.data_len, "must have shape", "plain load: slot shape");
    json_decref(h);
    char path[128];
    path_in(path, sizeof path, "nan-slot.recur");
    write_file(path, b.bytes, 8);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(b.bytes + 8, 1, b.len - 8 - b.data_len, f), b.len - 8 - b.data_len);
    assert_int_equal(fwrite(more, 1, b.data_len, f), b.data_len);
    assert_int_equal(fclose(f), 0);
    recur_model *m = NULL;
    if (recur_model_load(path, &m, NULL, &err) != RECUR_OK) fail_msg("plain load ignores slot values: %s", err.msg);
    recur_model_free(m);
    free(more);

    /* Truncated anywhere: both loads refuse. */
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(rnd() % b.len);
        char what[64];
        snprintf(what, sizeof what, "checkpoint truncated to %zu bytes", n);
        g_ckpt_mode = i % 2;
        expect_refused_bytes(b.bytes, n, RECUR_E_FORMAT, NULL, what);
    }
    g_ckpt_mode = 0;

    /* Saving refuses what it could not load back. */
    recur_compile_opts co = ck_opts(0);
    recur_model *good = ck_model(&co), *raw = NULL;
    recur_train_state ts = {2, 4, 0.5, 1, 1, 16, 5, 0.2, 10, 1};
    assert_int_equal(recur_model_save_checkpoint(good, NULL, NULL, path, &err), RECUR_E_INVALID);
    ts.epoch = 5;
    assert_int_equal(recur_model_save_checkpoint(good, NULL, &ts, path, &err), RECUR_E_INVALID);
    assert_non_null(strstr(err.msg, "epoch 5 of 4"));
    ts.epoch = 2, ts.best = NAN;
    assert_int_equal(recur_model_save_checkpoint(good, NULL, &ts, path, &err), RECUR_E_INVALID);
    ts.best = 0.5, ts.batch_size = 0;
    assert_int_equal(recur_model_save_checkpoint(good, NULL, &ts, path, &err), RECUR_E_INVALID);
    ts.batch_size = 16;
    assert_int_equal(recur_model_new(1, &raw, &err), RECUR_OK);
    assert_int_equal(recur_model_add_dense(raw, 1, RECUR_ACT_LINEAR, &err), RECUR_OK);
    assert_int_equal(recur_model_save_checkpoint(raw, NULL, &ts, path, &err), RECUR_E_STATE);
    assert_int_equal(recur_model_load_checkpoint(path, &m, NULL, NULL, &err), RECUR_E_INVALID);
    recur_model_free(raw);
    recur_model_free(good);
    base_free(&plain);
    base_free(&b);
}

/* ====== Runner ====== */

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/recur_test_mf_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_tutorial),
        cmocka_unit_test(test_round_trip_gru),
        cmocka_unit_test(test_round_trip_rnn_dense),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_read_only_folder),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_tensor_corruptions),
        cmocka_unit_test(test_config_corruptions),
        cmocka_unit_test(test_tolerated),
        cmocka_unit_test(test_random_flips),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_checkpoint_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
