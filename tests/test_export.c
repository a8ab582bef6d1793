/*
 * test_export.c -- recur_export_c: the generated C, compiled and run.
 *
 * For each model (the tutorial stack with a pipeline; GRU reset_after and
 * reset_before; SimpleRNN with Dense relu/tanh/sigmoid heads; a sequence
 * output; several features; a Dense-only model; no Dense head), initialised
 * as Keras does from a seed, with random biases (so none is zero, GRU's
 * recurrent bias included):
 *  - export, compile the two files with a small driver under gcc and clang
 *    (-std=c99 -Wall -Wextra -Werror -pedantic -O2; clang skipped, visibly,
 *    when absent), run NAME_selftest();
 *  - the driver runs NAME_predict on windows the generated file has never
 *    seen, and NAME_step T times from a reset on each: predict must match
 *    recur_model_predict to 1e-6 relative to the output scale (the largest
 *    |output|), and step must equal predict bit for bit;
 *  - with a pipeline (MinMax, standard; no transform, diff, logreturn), the
 *    generated scaling must give the values computed here by hand from the
 *    scaler's formulas, and the unscaling recur_dataset_invert's rule.
 * A last case has every parameter uniform in [-0.6, 0.6], where recur's own
 * float32 rounding exceeds 1e-6 of the output scale: its self-test must pass
 * all the same (the export widens the tolerance to what it measured).
 * Also: bad names, a missing or read-only folder, a model without weights,
 * no window length without a pipeline, a pipeline that does not fit the model,
 * a NaN weight: refused with a one-line message, no file left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];
static int g_have_cc[2]; /* gcc, clang */

/* ====== Helpers ====== */

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;
static double rnd_unit(void) /* [0, 1), xorshift64*: failures reproduce */
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return (double)((rnd_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Compiled model from a spec: Keras's initialisation from a seed (glorot
 * kernels, orthogonal recurrent kernels), then every bias uniform in [-a, a]
 * so that no bias is zero (GRU's recurrent one included); with `all`, every
 * parameter. */
static recur_model *make_model(int F, const char *spec, double a, int all)
{
    recur_model *m = NULL;
    recur_error err;
    assert_int_equal(recur_model_new(F, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, spec, &err), RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    co.seed = 7;
    assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
    for (int i = 0; i < recur_model_n_weights(m); i++) {
        recur_weight w;
        assert_int_equal(recur_model_weight(m, i, &w, &err), RECUR_OK);
        if (all || strstr(w.name, ".bias"))
            for (size_t k = 0; k < w.size; k++) w.data[k] = (recur_float)(a * (2 * rnd_unit() - 1));
    }
    return m;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void write_bin(const char *path, const void *p, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, bytes, f), bytes);
    assert_int_equal(fclose(f), 0);
}

static void read_bin(const char *path, void *p, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(p, 1, bytes, f), bytes);
    assert_int_equal(fclose(f), 0);
}

/* The driver: argv[1] windows from in.bin; writes out.bin with, per window,
 * NAME_predict's output then NAME_step's output after T steps from a reset;
 * with a pipeline, also scales raw.bin (RAW_ROWS x F doubles) to scaled.bin
 * and unscales out.bin's first window (with last = 100) to unscaled.bin.
 * Exit status: NAME_selftest's count of mismatches (0: all pass). */
static const char *const driver =
    "#include \"@.h\"\n#include <stdio.h>\n#include <stdlib.h>\n"
    "#define T @@_TIMESTEPS\n#define F @@_FEATURES\n#define O @@_OUTPUTS\n#define S @@_OUTPUT_SIZE\n"
    "int main(int argc, char **argv)\n{\n"
    "    static float x[64][T * F], y[64][S + O];\n"
    "    int n = argc > 1 ? atoi(argv[1]) : 0, i, t;\n    FILE *f;\n    @_state s;\n"
    "    if (n > 64 || !(f = fopen(\"in.bin\", \"rb\")) || fread(x, sizeof x[0], (size_t)n, f) != (size_t)n) return 99;\n"
    "    fclose(f);\n"
    "    for (i = 0; i < n; i++) {\n"
    "        @_predict(x[i], y[i]);\n        @_reset(&s);\n"
    "        for (t = 0; t < T; t++) @_step(&s, x[i] + t * F, y[i] + S);\n"
    "        if (s.steps != T) return 98;\n"
    "    }\n"
    "    if (!(f = fopen(\"out.bin\", \"wb\"))) return 97;\n"
    "    fwrite(y, sizeof y[0], (size_t)n, f);\n    fclose(f);\n"
    "#ifdef @@_HAS_PIPELINE\n"
    "    {\n        static double raw[@@_RAW_ROWS * F], un[O];\n        static float sc[T * F];\n"
    "        if (!(f = fopen(\"raw.bin\", \"rb\")) || fread(raw, sizeof raw, 1, f) != 1) return 96;\n"
    "        fclose(f);\n"
    "        if (@_scale_input(raw, sc) != 0) return 95;\n"
    "        @_unscale_output(y[0], 100.0, un);\n"
    "        f = fopen(\"scaled.bin\", \"wb\");\n        fwrite(sc, sizeof sc, 1, f);\n        fclose(f);\n"
    "        f = fopen(\"unscaled.bin\", \"wb\");\n        fwrite(un, sizeof un, 1, f);\n        fclose(f);\n"
    "    }\n#endif\n"
    "    i = @_selftest();\n    return i > 49 ? 49 : i;\n}\n";

/* The driver's text for `name` ('@' -> name, "@@" -> NAME). */
static void write_driver(const char *path, const char *name)
{
    char up[64];
    size_t i = 0;
    for (; name[i] && i < sizeof up - 1; i++) up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    up[i] = '\0';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (const char *s = driver; *s; s++) {
        if (s[0] == '@' && s[1] == '@') fputs(up, f), s++;
        else if (s[0] == '@') fputs(name, f);
        else fputc(*s, f);
    }
    assert_int_equal(fclose(f), 0);
}

typedef struct {
    int F, T;
    const char *spec, *name;
    int pipe;                  /* 0 none, else 1 + transform */
    recur_scaler_kind scaler;
    int wide;                  /* every parameter uniform in [-0.6, 0.6]: recur's rounding is larger */
} model_case;

/* Exports, builds with each compiler, runs, compares; returns the largest
 * error relative to the output scale (and *rel_max the largest plain relative). */
static double check_case(const model_case *c, double *rel_max)
{
    recur_error err;
    recur_model *m = make_model(c->F, c->spec, c->wide ? 0.6 : 0.2, c->wide);
    recur_pipeline p = recur_pipeline_default();
    const recur_pipeline *pp = NULL;
    if (c->pipe) {
        p.n_features = c->F;
        for (int j = 0; j < c->F; j++) snprintf(p.features[j], sizeof p.features[j], "c%d", j);
        p.target = c->F - 1;
        p.timestep = c->T;
        p.horizon = recur_model_n_outputs(m);
        p.transform = (recur_transform)(c->pipe - 1);
        p.scaler_kind = c->scaler;
        p.scaler.kind = c->scaler;
        p.scaler.n = c->F;
        for (int j = 0; j < c->F; j++) {
            p.scaler.a[j] = c->scaler == RECUR_SCALER_MINMAX ? 10 + j : 0.1 * j - 0.05;
            p.scaler.b[j] = c->scaler == RECUR_SCALER_MINMAX ? 30 + 3 * j : 2.5 + j;
        }
        p.scaler.b[0] = p.scaler.a[0]; /* a constant column: range (std) 0 */
        if (c->scaler == RECUR_SCALER_STANDARD) p.scaler.b[0] = 0;
        pp = &p;
    }
    char dir[128], cmd[1024];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, c->name);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (recur_export_c(m, pp, pp ? 0 : c->T, dir, c->name, &err) != RECUR_OK) fail_msg("export: %s", err.msg);

    /* windows the generated file has not seen, recur's outputs for them */
    enum { N = 16 };
    int T = c->T, F = c->F, O = recur_model_n_outputs(m), seq = recur_model_returns_sequences(m);
    size_t S = (size_t)O * (seq ? (size_t)T : 1);
    float *x = malloc(sizeof(float) * N * T * F), *y = malloc(sizeof(float) * N * S);
    float *got = malloc(sizeof(float) * N * (S + O));
    assert_true(x && y && got);
    for (size_t k = 0; k < (size_t)N * T * F; k++) x[k] = (float)(3 * rnd_unit() - 1.5);
    assert_int_equal(recur_model_predict(m, x, N, T, y, &err), RECUR_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/in.bin", dir);
    write_bin(path, x, sizeof(float) * N * T * F);
    int rawrows = T + (c->pipe > 1);
    double *raw = malloc(sizeof(double) * rawrows * F);
    assert_non_null(raw);
    for (int k = 0; k < rawrows * F; k++) raw[k] = 5 + 40 * rnd_unit(); /* positive: logreturn works */
    snprintf(path, sizeof path, "%s/raw.bin", dir);
    write_bin(path, raw, sizeof(double) * rawrows * F);
    write_driver(strcat(strcpy(path, dir), "/drv.c"), c->name);

    if (!g_have_cc[0] && !g_have_cc[1]) fail_msg("neither gcc nor clang is installed: the generated code cannot be built");
    double worst = 0, rel = 0, scale = 0;
    int selftest_failed = 0;
    for (size_t k = 0; k < (size_t)N * S; k++) scale = fmax(scale, fabs((double)y[k]));
    const char *cc[] = {"gcc", "clang"};
    for (int ci = 0; ci < 2; ci++) {
        if (!g_have_cc[ci]) continue;
        snprintf(cmd, sizeof cmd, "cd %s && %s -std=c99 -Wall -Wextra -Werror -pedantic -O2 -o drv drv.c %s.c -lm",
                 dir, cc[ci], c->name);
        if (run(cmd) != 0) fail_msg("%s: the generated code does not compile: %s", c->spec, cmd);
        snprintf(cmd, sizeof cmd, "cd %s && ./drv %d", dir, N);
        int rc = run(cmd);
        if (rc != 0 && rc < 50) print_message("  %s: %s: %d self-test mismatches\n", c->name, cc[ci], rc);
        if (rc != 0) selftest_failed = 1;
        if (rc >= 50) fail_msg("%s: %s: driver failed (exit %d): %s", c->spec, cc[ci], rc, cmd);
        snprintf(path, sizeof path, "%s/out.bin", dir);
        read_bin(path, got, sizeof(float) * N * (S + O));
        for (int n = 0; n < N; n++) {
            const float *g = got + (size_t)n * (S + O), *r = y + (size_t)n * S;
            for (size_t k = 0; k < S; k++) {
                double d = fabs((double)g[k] - (double)r[k]);
                worst = fmax(worst, d / scale);
                if (r[k] != 0) rel = fmax(rel, d / fabs((double)r[k]));
            }
            for (int k = 0; k < O; k++)
                if (memcmp(&g[S + k], &g[S - O + k], sizeof(float)) != 0)
                    fail_msg("%s: %s: step %d after T steps %.9g != predict %.9g", c->spec, cc[ci], k, g[S + k],
                             g[S - O + k]);
        }
        if (c->pipe) {
            float *sc = malloc(sizeof(float) * T * F);
            double un[64];
            assert_non_null(sc);
            snprintf(path, sizeof path, "%s/scaled.bin", dir);
            read_bin(path, sc, sizeof(float) * T * F);
            snprintf(path, sizeof path, "%s/unscaled.bin", dir);
            read_bin(path, un, sizeof(double) * O);
            for (int t = 0; t < T; t++)
                for (int j = 0; j < F; j++) {
                    const double *cur = raw + (size_t)(t + (c->pipe > 1)) * F, *prev = cur - F;
                    double z = c->pipe == 1 ? cur[j] : c->pipe == 2 ? cur[j] - prev[j] : log(cur[j] / prev[j]);
                    double a = p.scaler.a[j], b = p.scaler.b[j];
                    double want = c->scaler == RECUR_SCALER_MINMAX ? (b > a ? (z - a) / (b - a) : z - a)
                                                                   : (b > 0 ? (z - a) / b : z - a);
                    assert_true(sc[(size_t)t * F + j] == (float)want);
                }
            double want[64];
            double acc = 0, a = p.scaler.a[p.target], b = p.scaler.b[p.target];
            for (int k = 0; k < O; k++) {
                double v = (double)got[k];
                double u = c->scaler == RECUR_SCALER_MINMAX ? (b > a ? a + v * (b - a) : a + v) : (b > 0 ? a + v * b : a + v);
                acc += u;
                want[k] = c->pipe == 1 ? u : c->pipe == 2 ? 100 + acc : 100 * exp(acc);
                assert_true(fabs(un[k] - want[k]) <= 1e-12 * fabs(want[k]));
            }
            free(sc);
        }
    }
    print_message("  %-58s %-9s max |err| / output scale %.2e, max relative %.2e\n", c->spec, c->name, worst, rel);
    *rel_max = rel;
    if (selftest_failed) fail_msg("%s: NAME_selftest() failed", c->spec);
    free(raw);
    free(x);
    free(y);
    free(got);
    recur_model_free(m);
    return worst;
}

/* ====== Tests ====== */

static void test_models(void **state)
{
    (void)state;
    static const model_case cases[] = {
        {1, 60, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", "tutorial", 1, RECUR_SCALER_MINMAX, 0},
        {3, 20, "gru(16,seq) gru(8) dense(2,tanh)", "gru_ra", 2, RECUR_SCALER_STANDARD, 0},
        {2, 25, "gru(12,seq,reset_before) rnn(10) dense(3,relu) dense(1,sigmoid)", "gru_rb", 3, RECUR_SCALER_MINMAX, 0},
        {1, 30, "rnn(20) dense(4,tanh) dense(1)", "rnn", 0, RECUR_SCALER_MINMAX, 0},
        {2, 15, "lstm(8,seq) gru(6,seq,reset_before) dense(2)", "seqout", 0, RECUR_SCALER_MINMAX, 0},
        {4, 1, "dense(8,relu) dropout(0.1) dense(2,sigmoid)", "mlp", 0, RECUR_SCALER_MINMAX, 0},
        {2, 40, "lstm(32,seq) lstm(16)", "nohead", 0, RECUR_SCALER_MINMAX, 0},
        {1, 60, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", "wide", 1, RECUR_SCALER_MINMAX, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double rel;
        double w = check_case(&cases[i], &rel);
        /* the generated code computes in double: the difference is recur's
         * float32 rounding, which weights far larger than Keras's or
         * training's make exceed 1e-6 (the self-test then widens its
         * tolerance to it, and must still pass) */
        if (!cases[i].wide && !(w <= 1e-6)) fail_msg("%s: error %.3g relative to the output scale, above 1e-6", cases[i].spec, w);
    }
}

static int file_count(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void expect_refused(recur_model *m, const recur_pipeline *p, int T, const char *dir, const char *name,
                           recur_status code, const char *words)
{
    recur_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(recur_export_c(m, p, T, dir, name, &err), code);
    if (!strstr(err.msg, words)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, words);
    assert_null(strchr(err.msg, '\n'));
}

static void test_refusals(void **state)
{
    (void)state;
    char dir[128], ro[128], file[160];
    snprintf(dir, sizeof dir, "%s/refuse", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    recur_model *m = make_model(1, "rnn(4) dense(1)", 0.5, 0);
    expect_refused(m, NULL, 10, dir, "1abc", RECUR_E_INVALID, "not a C identifier");
    expect_refused(m, NULL, 10, dir, "a-b", RECUR_E_INVALID, "not a C identifier");
    expect_refused(m, NULL, 10, dir, "a/b", RECUR_E_INVALID, "not a C identifier");
    expect_refused(m, NULL, 10, dir, "", RECUR_E_INVALID, "empty");
    expect_refused(m, NULL, 10, dir, "abcdefghijabcdefghijabcdefghijabcdefghijx", RECUR_E_INVALID, "at most 40");
    expect_refused(m, NULL, 0, dir, "ok", RECUR_E_INVALID, "--timestep");
    snprintf(file, sizeof file, "%s/missing", g_dir);
    expect_refused(m, NULL, 10, file, "ok", RECUR_E_IO, "does not exist");
    snprintf(file, sizeof file, "%s/tutorial/tutorial.h", g_dir);
    if (access(file, F_OK) == 0) expect_refused(m, NULL, 10, file, "ok", RECUR_E_IO, "not a folder");
    snprintf(ro, sizeof ro, "%s/readonly", g_dir);
    assert_int_equal(mkdir(ro, 0555), 0);
    if (access(ro, W_OK) != 0) { /* root writes anywhere: skip then */
        expect_refused(m, NULL, 10, ro, "ok", RECUR_E_IO, "not writable");
        assert_int_equal(file_count(ro), 0);
    } else {
        /* root writes in any folder, but not in /proc */
        expect_refused(m, NULL, 10, "/proc", "ok", RECUR_E_IO, "cannot create \"/proc/ok.h\"");
    }
    assert_int_equal(file_count(dir), 0);
    recur_model *bare = NULL;
    assert_int_equal(recur_model_new(1, &bare, NULL), RECUR_OK);
    assert_int_equal(recur_model_add_rnn(bare, 3, 0, NULL), RECUR_OK);
    expect_refused(bare, NULL, 10, dir, "ok", RECUR_E_STATE, "no weights");
    recur_model_free(bare);
    /* pipelines that do not fit the model */
    recur_pipeline p = recur_pipeline_default(); /* 1 feature, horizon 1, scaler not fitted */
    expect_refused(m, &p, 0, dir, "ok", RECUR_E_INVALID, "scaler fitted on 0 of 1 features");
    p.scaler.n = 1, p.scaler.b[0] = 1, p.horizon = 2;
    expect_refused(m, &p, 0, dir, "ok", RECUR_E_INVALID, "predicts 2 values but the model outputs 1");
    p.n_features = 2;
    expect_refused(m, &p, 0, dir, "ok", RECUR_E_INVALID, "2 features but the model takes 1");
    /* a non-finite weight */
    recur_model_params(m)[0] = NAN;
    expect_refused(m, NULL, 10, dir, "ok", RECUR_E_INVALID, "non-finite");
    assert_int_equal(file_count(dir), 0);
    recur_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/recur_export_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    g_have_cc[0] = run("gcc --version >/dev/null 2>&1") == 0;
    g_have_cc[1] = run("clang --version >/dev/null 2>&1") == 0;
    if (!g_have_cc[0]) print_message("SKIP gcc: not installed\n");
    if (!g_have_cc[1]) print_message("SKIP clang: not installed\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s", g_dir, g_dir);
    return run(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
