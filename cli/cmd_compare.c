/*
 * cmd_compare.c -- `recur compare`: LSTM, GRU, SimpleRNN and an MLP trained on
 * the same windows with the same epochs and seeds, scored on the same test
 * part beside the persistence baseline.
 *
 * The MLP reads the flattened window: x (n,T,F) is the same memory as
 * (n,1,T*F), so it is a Dense stack on a model with T*F features, fitted and
 * run with T = 1. Output: one table on stdout (medians and min..max over the
 * seeds), DIR/compare.csv (every run) and DIR/compare.png (true values and
 * each model's median-seed predictions over the test part).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name, *spec;
    int flat;
} arch;

static const arch archs[] = {
    {"lstm", "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", 0},
    {"gru", "gru(50,seq) dropout(0.2) gru(100) dropout(0.2) dense(1)", 0},
    {"rnn", "rnn(50,seq) dropout(0.2) rnn(100) dropout(0.2) dense(1)", 0},
    {"mlp", "dense(64,relu) dense(32,relu) dense(1)", 1},
};
#define N_ARCH 4

typedef struct {
    size_t params;
    double *seconds, *mae, *rmse; /* [seeds] */
    double *pred;                 /* [seeds][n_test], first step */
} arch_runs;

static void help(void)
{
    printf("Usage: recur compare --data FILE [options]\n"
           "\n"
           "Trains four models on the same windows, epochs and seeds and prints one table:\n"
           "  lstm  " "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)\n"
           "  gru   the same with gru, rnn  the same with rnn (SimpleRNN)\n"
           "  mlp   dense(64,relu) dense(32,relu) dense(1) on the flattened window (T*F inputs)\n"
           "with parameters, median training time, MAE and RMSE (median and min..max over the\n"
           "seeds, data units) and the persistence baseline. Writes DIR/compare.csv (every\n"
           "run) and DIR/compare.png (true test values and each model's median-seed predictions).\n"
           "\n"
           "Data:\n"
           "  --data FILE             CSV file with a header row (required)\n"
           "  --column NAME           target column (default: Close; without one, the close of other\n"
           "                          exports: Close/Last, Close Price, Last, Price, Adj Close)\n"
           "  --features A,B,...      input columns; the target is added when absent (default: the target)\n"
           "  --missing MODE          empty/null/NaN cells: error, drop or ffill (default: error)\n"
           "  --timestep T            window length in rows (default: 60)\n"
           "  --horizon H             values predicted per window (default: 1)\n"
           "  --test-fraction F       last fraction of rows held out, in (0, 1) (default: 0.2)\n"
           "  --transform MODE        none, diff or logreturn (default: none)\n"
           "  --scaler MODE           minmax or standard (default: minmax)\n"
           "\n"
           "Training (RMSprop, MSE, as in recur train):\n"
           "  --epochs N              (default: 50)\n"
           "  --batch-size N          (default: 64)\n"
           "  --seeds N               runs per model, seeds S, S+1, ... (default: 3)\n"
           "  --seed S                first seed (default: 42)\n"
           "  --threads N             worker threads, 0 = every core (default: 0)\n"
           "\n"
           "Output:\n"
           "  --out DIR               folder for compare.csv and compare.png, created if missing\n"
           "                          (default: recur-compare)\n"
           "  --quiet                 no per-run lines on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur compare --data data/AAPL.csv --epochs 20 --seeds 3 --out cmp\n");
}

enum {
    O_DATA = 256, O_COLUMN, O_FEATURES, O_MISSING, O_TIMESTEP, O_HORIZON, O_TEST, O_TRANSFORM, O_SCALER, O_EPOCHS,
    O_BATCH, O_SEEDS, O_SEED, O_THREADS, O_OUT, O_QUIET
};

static const struct option longopts[] = {
    {"data", required_argument, NULL, O_DATA},         {"column", required_argument, NULL, O_COLUMN},
    {"features", required_argument, NULL, O_FEATURES}, {"missing", required_argument, NULL, O_MISSING},
    {"timestep", required_argument, NULL, O_TIMESTEP}, {"horizon", required_argument, NULL, O_HORIZON},
    {"test-fraction", required_argument, NULL, O_TEST}, {"transform", required_argument, NULL, O_TRANSFORM},
    {"scaler", required_argument, NULL, O_SCALER},     {"epochs", required_argument, NULL, O_EPOCHS},
    {"batch-size", required_argument, NULL, O_BATCH},  {"seeds", required_argument, NULL, O_SEEDS},
    {"seed", required_argument, NULL, O_SEED},         {"threads", required_argument, NULL, O_THREADS},
    {"out", required_argument, NULL, O_OUT},           {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (lower middle for an even count), min and max of v[n]. */
static void stats(const double *v, int n, double *med, double *lo, double *hi)
{
    double tmp[256];
    int m = n < 256 ? n : 256;
    memcpy(tmp, v, (size_t)m * sizeof *tmp);
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_double);
    *med = tmp[(m - 1) / 2];
    *lo = tmp[0];
    *hi = tmp[m - 1];
}

/* Index of the run whose MAE is the median. */
static int median_run(const double *mae, int n)
{
    double med, lo, hi;
    stats(mae, n, &med, &lo, &hi);
    for (int i = 0; i < n; i++)
        if (mae[i] == med) return i;
    return 0;
}

static int make_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : cli_errorf("--out: \"%s\" is not a folder", dir);
    if (mkdir(dir, 0777) != 0) return cli_errorf("--out: cannot create folder \"%s\": %s", dir, strerror(errno));
    return 0;
}

static int plot(const char *path, const cli_session *s, const arch_runs *runs, int seeds, uint64_t seed0, size_t nt)
{
    const recur_pipeline *p = &s->pipe;
    double *x = malloc((nt ? nt : 1) * sizeof *x), *truth = malloc((nt ? nt : 1) * sizeof *truth);
    if (!x || !truth) {
        free(x);
        free(truth);
        return cli_errorf("out of memory");
    }
    const double *col = recur_table_col(s->table, p->target);
    int dates = nt > 0;
    for (size_t i = 0; i < nt; i++) {
        size_t r = s->ds.test_row[i];
        x[i] = recur_table_day(s->table, r);
        truth[i] = col[r];
        if (!isfinite(x[i]) || (i > 0 && x[i] < x[i - 1])) dates = 0;
    }
    if (!dates)
        for (size_t i = 0; i < nt; i++) x[i] = (double)s->ds.test_row[i];
    char label[1 + N_ARCH][64];
    recur_plot_series ser[1 + N_ARCH];
    snprintf(label[0], sizeof label[0], "true %s", p->features[p->target]);
    ser[0].label = label[0];
    ser[0].y = truth;
    for (int k = 0; k < N_ARCH; k++) {
        int med = median_run(runs[k].mae, seeds);
        snprintf(label[k + 1], sizeof label[k + 1], "%s (seed %llu)", archs[k].name,
                 (unsigned long long)(seed0 + (uint64_t)med));
        ser[k + 1].label = label[k + 1];
        ser[k + 1].y = runs[k].pred + (size_t)med * nt;
    }
    char title[128];
    snprintf(title, sizeof title, "%s: test part, median-seed predictions", p->features[p->target]);
    int rc = cli_plot(path, title, dates ? "date" : "row", p->features[p->target], x, dates, nt, ser, 1 + N_ARCH, NAN);
    free(x);
    free(truth);
    return rc;
}

static int write_runs(const char *path, const arch_runs *runs, int seeds, uint64_t seed0)
{
    cli_out o;
    int rc = cli_out_open(&o, "--out", path);
    if (rc) return rc;
    fprintf(o.f, "model,seed,params,seconds,mae,rmse\n");
    for (int k = 0; k < N_ARCH; k++)
        for (int i = 0; i < seeds; i++)
            fprintf(o.f, "%s,%llu,%zu,%.3f,%.10g,%.10g\n", archs[k].name, (unsigned long long)(seed0 + (uint64_t)i),
                    runs[k].params, runs[k].seconds[i], runs[k].mae[i], runs[k].rmse[i]);
    return cli_out_close(&o, 1);
}

/* Trains every architecture with every seed; fills runs. */
static int run_all(cli_session *s, arch_runs *runs, int seeds, uint64_t seed0, recur_fit_opts fo, int quiet)
{
    size_t *rows = NULL, nt = 0;
    int rc = cli_rows(s, 0, &rows, &nt);
    int T = s->pipe.timestep, F = s->pipe.n_features;
    for (int k = 0; !rc && k < N_ARCH; k++) {
        for (int i = 0; !rc && i < seeds; i++) {
            recur_compile_opts co = recur_compile_opts_default();
            cli_preds pr;
            cli_report r;
            co.seed = fo.seed = seed0 + (uint64_t)i;
            rc = cli_session_model(s, "compare", archs[k].spec, archs[k].flat ? T * F : F, 1, archs[k].flat, &co, 1);
            if (!rc) rc = cli_session_fit(s, fo, archs[k].flat ? 1 : T, 1);
            if (!rc) rc = cli_predict_rows(s->model, s->table, &s->pipe, rows, nt, &pr);
            if (rc) break;
            cli_report_make(&pr, &s->ds, &r);
            runs[k].params = recur_model_n_params(s->model);
            runs[k].seconds[i] = s->fit_seconds;
            runs[k].mae[i] = r.model.mae;
            runs[k].rmse[i] = r.model.rmse;
            for (size_t j = 0; j < nt; j++) runs[k].pred[(size_t)i * nt + j] = pr.pred[j * (size_t)pr.h];
            if (!quiet)
                cli_log("compare: %-4s seed %llu: %zu params, %.1fs, MAE %.4f, RMSE %.4f\n", archs[k].name,
                        (unsigned long long)co.seed, runs[k].params, s->fit_seconds, r.model.mae, r.model.rmse);
            cli_report_free(&r);
            cli_preds_free(&pr);
        }
    }
    free(rows);
    return rc;
}

static void print_table(const cli_session *s, const arch_runs *runs, int seeds, const cli_report *naive)
{
    printf("%-12s %9s %10s   %-30s %s\n", "model", "params", "time (s)", "MAE median [min..max]",
           "RMSE median [min..max]");
    for (int k = 0; k < N_ARCH; k++) {
        double tm, tl, th, m, ml, mh, r, rl, rh;
        char a[64], b[64];
        stats(runs[k].seconds, seeds, &tm, &tl, &th);
        stats(runs[k].mae, seeds, &m, &ml, &mh);
        stats(runs[k].rmse, seeds, &r, &rl, &rh);
        snprintf(a, sizeof a, "%.4f [%.4f..%.4f]", m, ml, mh);
        snprintf(b, sizeof b, "%.4f [%.4f..%.4f]", r, rl, rh);
        printf("%-12s %9zu %10.1f   %-30s %s\n", archs[k].name, runs[k].params, tm, a, b);
    }
    printf("%-12s %9d %10s   %-30.4f %.4f\n", "persistence", 0, "-", naive->naive.mae, naive->naive.rmse);
    (void)s;
}

int cmd_compare(int argc, char **argv)
{
    static const char *const missings[] = {"error", "drop", "ffill"};
    static const char *const scalers[] = {"minmax", "standard"};
    static const char *const transforms[] = {"none", "diff", "logreturn"};
    const char *cmd = "compare", *data = NULL, *column = NULL, *features = NULL, *dir = "recur-compare";
    recur_pipeline pipe = recur_pipeline_default();
    recur_fit_opts fo = recur_fit_opts_default();
    int rc = 0, c, v, missing = RECUR_MISSING_ERROR, seeds = 3, quiet = 0;
    uint64_t seed0 = 42;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &column); break;
        case O_FEATURES: rc = cli_opt_text(cmd, "--features", optarg, &features); break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        case O_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 1000000, &pipe.timestep); break;
        case O_HORIZON: rc = cli_opt_int(cmd, "--horizon", optarg, 1, 1000000, &pipe.horizon); break;
        case O_TEST: rc = cli_opt_double(cmd, "--test-fraction", optarg, 0, 1, 1, 1, &pipe.test_fraction); break;
        case O_TRANSFORM:
            if (!(rc = cli_opt_choice(cmd, "--transform", optarg, transforms, 3, &v))) pipe.transform = (recur_transform)v;
            break;
        case O_SCALER:
            if (!(rc = cli_opt_choice(cmd, "--scaler", optarg, scalers, 2, &v))) pipe.scaler_kind = (recur_scaler_kind)v;
            break;
        case O_EPOCHS: rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &fo.epochs); break;
        case O_BATCH: rc = cli_opt_int(cmd, "--batch-size", optarg, 1, 1000000, &fo.batch_size); break;
        case O_SEEDS: rc = cli_opt_int(cmd, "--seeds", optarg, 1, 100, &seeds); break;
        case O_SEED: rc = cli_opt_u64(cmd, "--seed", optarg, &seed0); break;
        case O_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 0, 4096, &fo.threads); break;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &dir); break;
        case O_QUIET: quiet = 1; break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!data) return cli_usage(cmd, "--data: missing (the CSV file to compare on)");

    cli_session s;
    arch_runs runs[N_ARCH];
    double *block = NULL;
    memset(&s, 0, sizeof s);
    memset(runs, 0, sizeof runs);
    s.pipe = pipe;
    char close[256];
    if (!column) column = cli_default_column(data, close, sizeof close, quiet);
    if ((rc = cli_pipe_columns(cmd, &s.pipe, column, features))) return rc;
    if ((rc = make_dir(dir))) return rc;
    rc = cli_session_data(&s, data, (recur_missing)missing, quiet);
    if (!rc) {
        cli_warn_range(&s);
        size_t nt = s.ds.n_test, per = 3 * (size_t)seeds + (size_t)seeds * nt;
        block = calloc(per * N_ARCH, sizeof *block);
        if (!block) rc = cli_errorf("out of memory");
        for (int k = 0; !rc && k < N_ARCH; k++) {
            double *b = block + (size_t)k * per;
            runs[k].seconds = b;
            runs[k].mae = b + seeds;
            runs[k].rmse = b + 2 * seeds;
            runs[k].pred = b + 3 * seeds;
        }
        if (!rc) rc = run_all(&s, runs, seeds, seed0, fo, quiet);
        if (!rc) {
            cli_preds pr;
            cli_report naive;
            size_t *rows = NULL, n = 0;
            /* The baseline needs no model: reuse the last one's rows and truth. */
            rc = cli_rows(&s, 0, &rows, &n);
            if (!rc) rc = cli_predict_rows(s.model, s.table, &s.pipe, rows, n, &pr);
            free(rows);
            if (!rc) {
                cli_report_make(&pr, &s.ds, &naive);
                printf("%s: target %s, %zu test windows, T=%d, horizon %d, %d epochs, batch %d, seeds %llu..%llu\n",
                       data, s.pipe.features[s.pipe.target], s.ds.n_test, s.pipe.timestep, s.pipe.horizon, fo.epochs,
                       fo.batch_size, (unsigned long long)seed0, (unsigned long long)(seed0 + (uint64_t)seeds - 1));
                print_table(&s, runs, seeds, &naive);
                cli_report_free(&naive);
                cli_preds_free(&pr);
                char path[4096];
                snprintf(path, sizeof path, "%s/compare.csv", dir);
                rc = write_runs(path, runs, seeds, seed0);
                snprintf(path, sizeof path, "%s/compare.png", dir);
                if (!rc) rc = plot(path, &s, runs, seeds, seed0, nt);
                if (!rc) printf("Wrote %s/compare.csv and %s/compare.png\n", dir, dir);
            }
        }
    }
    if (rc >= 128) fprintf(stderr, "recur: interrupted; compare stopped before finishing every run\n");
    free(block);
    cli_session_free(&s);
    return rc;
}
