/*
 * bench_export.c -- single-window latency of the C that `recur export --c`
 * generates, beside recur_model_predict(n = 1) on the same model, in one run.
 *
 * The model is the tutorial's (LSTM(50,seq) Dropout(0.2) LSTM(100)
 * Dropout(0.2) Dense(1), F = 1, T = 60, Keras initialisation from seed 42),
 * or --model FILE. It is exported to a temporary folder, compiled with
 * `$CC -std=c99 -O2` (CC defaults to cc; --cflags adds flags, e.g.
 * "-march=native") with a timing driver, and run; the driver calls the
 * generated NAME_predict on 3 windows in turn, each call timed on its own with
 * CLOCK_MONOTONIC, and prints the median and the 10th/90th percentiles. recur's
 * predict is timed the same way in this process (recur's default threads,
 * which a batch of 1 does not split).
 *
 *   bench_export [--model FILE] [--reps R] [--warmup W] [--cflags FLAGS] [--json]
 *
 * The generated code's self-test must pass first (else exit 1); the largest
 * difference of its outputs on the timed windows to recur's is printed, and
 * above 1e-4 of the output scale (a wrong export, not rounding) is exit 1.
 * Not here: accuracy over many models (tests/test_export.c).
 */
#define _GNU_SOURCE
#include "recur.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_WIN 3

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Timing driver for the generated code: argv reps warmup; prints
 * "median p10 p90" in microseconds, then the outputs for the N_WIN windows
 * of win.bin. Exits 2 when the self-test fails. */
static const char *const driver =
    "#define _POSIX_C_SOURCE 199309L\n"
    "#include \"bm.h\"\n#include <stdio.h>\n#include <stdlib.h>\n#include <time.h>\n"
    "static double now(void)\n{\n    struct timespec ts;\n    clock_gettime(CLOCK_MONOTONIC, &ts);\n"
    "    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;\n}\n"
    "static int cmp(const void *a, const void *b)\n{\n"
    "    double x = *(const double *)a, y = *(const double *)b;\n    return x < y ? -1 : x > y;\n}\n"
    "int main(int argc, char **argv)\n{\n"
    "    static float x[3][BM_TIMESTEPS * BM_FEATURES], y[3][BM_OUTPUT_SIZE];\n"
    "    int reps = argc > 2 ? atoi(argv[1]) : 1000, warm = argc > 2 ? atoi(argv[2]) : 100, i, k;\n"
    "    double *t = malloc(sizeof *t * (size_t)reps);\n"
    "    FILE *f = fopen(\"win.bin\", \"rb\");\n"
    "    if (!t || !f || fread(x, sizeof x, 1, f) != 1) return 3;\n    fclose(f);\n"
    "    if (bm_selftest() != 0) return 2;\n"
    "    for (i = 0; i < warm; i++) bm_predict(x[i % 3], y[i % 3]);\n"
    "    for (i = 0; i < reps; i++) {\n"
    "        double t0 = now();\n        bm_predict(x[i % 3], y[i % 3]);\n        t[i] = now() - t0;\n    }\n"
    "    qsort(t, (size_t)reps, sizeof *t, cmp);\n"
    "    printf(\"%.3f %.3f %.3f\\n\", 1e6 * t[reps / 2], 1e6 * t[reps / 10], 1e6 * t[reps * 9 / 10]);\n"
    "    for (i = 0; i < 3; i++)\n        for (k = 0; k < BM_OUTPUT_SIZE; k++) printf(\"%a\\n\", (double)y[i][k]);\n"
    "    free(t);\n    return 0;\n}\n";

static int fail(const char *what, const recur_error *err)
{
    fprintf(stderr, "bench_export: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *cflags = "", *cc = getenv("CC");
    int reps = 2000, warmup = 200, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cflags") == 0 && i + 1 < argc) cflags = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) json = 1;
        else {
            fprintf(stderr, "Usage: bench_export [--model FILE] [--reps R] [--warmup W] [--cflags FLAGS] [--json]\n");
            return 2;
        }
    }
    if (reps < 10 || warmup < 0) return fail("--reps must be >= 10 and --warmup >= 0", NULL);
    if (!cc || !*cc) cc = "cc";

    recur_error err;
    recur_model *m = NULL;
    recur_pipeline p;
    int T = 60;
    if (model) {
        if (recur_model_load(model, &m, &p, &err) != RECUR_OK) return fail("loading the model", &err);
        if (p.n_features > 0) T = p.timestep;
    } else {
        recur_compile_opts co = recur_compile_opts_default();
        if (recur_model_new(1, &m, &err) || recur_model_add_spec(m, "lstm(50,seq) dropout(0.2) lstm(100) "
                                                                    "dropout(0.2) dense(1)", &err) ||
            recur_model_compile(m, &co, &err))
            return fail("building the tutorial model", &err);
    }
    int F = recur_model_n_features(m);
    size_t out = (size_t)recur_model_n_outputs(m) * (recur_model_returns_sequences(m) ? (size_t)T : 1);

    char dir[] = "/tmp/recur-bench-export.XXXXXX", cmd[2048], path[600];
    if (!mkdtemp(dir)) return fail("cannot create a temporary folder", NULL);
    if (recur_export_c(m, NULL, T, dir, "bm", &err) != RECUR_OK) return fail("export", &err);
    float *x = malloc(sizeof *x * N_WIN * (size_t)T * F), *y = malloc(sizeof *y * N_WIN * out);
    double *t = malloc(sizeof *t * (size_t)reps);
    if (!x || !y || !t) return fail("out of memory", NULL);
    srand(1);
    for (size_t k = 0; k < N_WIN * (size_t)T * F; k++) x[k] = (float)rand() / (float)RAND_MAX;
    snprintf(path, sizeof path, "%s/win.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof *x, N_WIN * (size_t)T * F, f) != N_WIN * (size_t)T * F || fclose(f) != 0)
        return fail("cannot write the windows", NULL);
    snprintf(path, sizeof path, "%s/drv.c", dir);
    if (!(f = fopen(path, "w")) || fputs(driver, f) < 0 || fclose(f) != 0) return fail("cannot write the driver", NULL);

    /* the generated code: build, self-test, time */
    snprintf(cmd, sizeof cmd, "cd %s && %s -std=c99 -O2 %s -o drv drv.c bm.c -lm && ./drv %d %d > times.txt", dir, cc,
             cflags, reps, warmup);
    int rc = system(cmd);
    double g_med = NAN, g_p10 = NAN, g_p90 = NAN, worst = 0, scale = 1e-3;
    snprintf(path, sizeof path, "%s/times.txt", dir);
    f = rc == 0 ? fopen(path, "r") : NULL;
    if (!f || fscanf(f, "%lf %lf %lf", &g_med, &g_p10, &g_p90) != 3)
        return fail(rc == 2 << 8 ? "the generated self-test failed" : "building or running the generated code",
                    NULL);

    /* recur, batch of 1, same windows */
    if (recur_model_predict(m, x, N_WIN, T, y, &err) != RECUR_OK) return fail("predict", &err);
    for (size_t k = 0; k < N_WIN * out; k++) {
        double v;
        if (fscanf(f, "%la", &v) != 1) return fail("reading the generated outputs", NULL);
        worst = fmax(worst, fabs(v - (double)y[k]));
        scale = fmax(scale, fabs((double)y[k]));
    }
    fclose(f);
    for (int i = 0; i < warmup; i++) recur_model_predict(m, x + (size_t)(i % N_WIN) * T * F, 1, T, y, &err);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        recur_model_predict(m, x + (size_t)(i % N_WIN) * T * F, 1, T, y, &err);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double r_med = 1e6 * t[reps / 2], r_p10 = 1e6 * t[reps / 10], r_p90 = 1e6 * t[reps * 9 / 10];

    char spec[256];
    recur_model_spec(m, spec, sizeof spec);
    if (json)
        printf("{\"case\":\"export_latency\",\"model\":\"%s\",\"T\":%d,\"reps\":%d,\"cc\":\"%s -std=c99 -O2 %s\","
               "\"generated_us\":%.3f,\"generated_p10_us\":%.3f,\"generated_p90_us\":%.3f,\"recur_us\":%.3f,"
               "\"recur_p10_us\":%.3f,\"recur_p90_us\":%.3f,\"max_err_rel_scale\":%.3g}\n",
               spec, T, reps, cc, cflags, g_med, g_p10, g_p90, r_med, r_p10, r_p90, worst / scale);
    else
        printf("Single-window latency, %s, T=%d, median of %d calls (10th-90th percentile):\n"
               "  generated C (%s -std=c99 -O2%s%s)  %9.1f us  (%.1f-%.1f)\n"
               "  recur_model_predict(n=1)          %9.1f us  (%.1f-%.1f)\n"
               "  generated / recur: %.2f; largest difference %.2g of the output scale\n",
               spec, T, reps, cc, *cflags ? " " : "", cflags, g_med, g_p10, g_p90, r_med, r_p10, r_p90, g_med / r_med,
               worst / scale);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_export: could not remove %s\n", dir);
    free(x);
    free(y);
    free(t);
    recur_model_free(m);
    return worst <= 1e-4 * scale ? 0 : fail("the generated outputs differ from recur's by more than 1e-4", NULL);
}
