/*
 * cmd_backtest.c -- `recur backtest`: rolling-origin evaluation of the global
 * model (recur_forecaster) and the four baselines on every series of a CSV,
 * as a table, JSON, and a plot of the first series.
 *
 * The protocol and the scores are the library's (recur_backtest_run,
 * recur.h); this file reads options, builds the model method and prints.
 */
#include "cli.h"
#include "mpi_glue.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("Usage: recur backtest --data FILE --horizon H [options]\n"
           "\n"
           "Rolling-origin evaluation. With n values in a series, the first\n"
           "ntr = floor((1-F) n) are the initial training part; forecasts are made from every\n"
           "origin t = ntr, ntr+S, ..., n-H (t = values known), each for values t+1..t+H.\n"
           "The model is trained once on the first ntr values of every series (--refit never),\n"
           "or again every K origins, warm-started (--refit K); the baselines (naive, seasonal\n"
           "naive, drift, mean) use the history before each origin. Scores: MAE, RMSE, MAPE and\n"
           "coverage pooled over every forecast; sMAPE and MASE per series, then the mean over\n"
           "series (M4); MASE's scale is mean |y_t - y_{t-m}| over a series' first ntr values.\n"
           "\n"
           "Data:\n"
           "  --data FILE             long CSV (one row per series and time), one series, or an M4\n"
           "                          wide file (header V1,V2,...)\n"
           "  --id-column C           series id column (default: the whole file is one series)\n"
           "  --date-column C         time column: dates or an integer step (default: auto)\n"
           "  --column C              value column (default: the only other column)\n"
           "  --missing MODE          empty/null/NaN values: error (default), drop or ffill\n"
           "\n"
           "Protocol:\n"
           "  --horizon H             steps per forecast (required)\n"
           "  --season M              seasonal period (default: from the dates; 1 for an integer index)\n"
           "  --test-fraction F       share of each series forecast (default 0.2)\n"
           "  --stride S              values between origins (default 1)\n"
           "  --refit never|K         retrain every K origins (default never), starting from the\n"
           "                          previous fit's weights\n"
           "  --cold-refit            with --refit K: every refit starts from scratch instead; the fits\n"
           "                          are then independent (and under mpirun spread over the ranks)\n"
           "  --window expanding|sliding  training window (default expanding; sliding keeps ntr values)\n"
           "  --level L[,L...]        prediction intervals, e.g. 80,95 (default 95); the widest is scored\n"
           "\n"
           "Model (recur_forecaster; see docs/forecasting.md):\n"
           "  --no-model              only the baselines\n"
           "  --preset NAME           forecast (default) or tutorial\n"
           "  --layers SPEC           layer spec (default: the preset's)\n"
           "  --timestep T            window length in values (default: the preset's)\n"
           "  --epochs N              (default: the preset's)\n"
           "  --seeds K               ensemble size (default: the preset's)\n"
           "  --seed N                random seed (default 42)\n"
           "  --threads N             worker threads (default: every core)\n"
           "\n"
           "Output:\n"
           "  --json                  {\"n_origins\",\"horizon\",\"season\",\"methods\":{\"model\":{\"mae\",\"rmse\",\n"
           "                          \"mape\",\"smape\",\"mase\",\"coverage95\"},\"naive\":{...},...},\"best\",\"steps\":[...]}\n"
           "  --plot FILE             PNG or SVG of the first series: values, 1-step forecasts of the\n"
           "                          model and the best baseline with their band, the last origin's H steps\n"
           "  -q, --quiet             no progress on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Across processes (recur built with make MPI=1; docs/scaling.md):\n"
           "  mpirun -np N recur backtest ...  each fit shared as recur train shares it, each round's\n"
           "                                   forecasts split by series (with --cold-refit: the fits\n"
           "                                   and their rounds split by fit); rank 0 prints the table\n"
           "                                   one process prints, byte for byte\n"
           "\n"
           "Example:\n"
           "  recur backtest --data data/airpassengers.csv --horizon 1 --season 12 --no-model\n"
           "  recur backtest --data hourly.csv --id-column unique_id --horizon 48 --season 24 --stride 48\n");
}

enum {
    O_DATA = 256, O_ID, O_DATE, O_COLUMN, O_MISSING, O_HORIZON, O_SEASON, O_TEST, O_STRIDE, O_REFIT, O_WINDOW,
    O_LEVEL, O_NO_MODEL, O_PRESET, O_LAYERS, O_TIMESTEP, O_EPOCHS, O_SEEDS, O_SEED, O_THREADS, O_JSON, O_PLOT,
    O_COLD
};

static const struct option longopts[] = {
    {"data", required_argument, NULL, O_DATA},       {"id-column", required_argument, NULL, O_ID},
    {"date-column", required_argument, NULL, O_DATE}, {"column", required_argument, NULL, O_COLUMN},
    {"missing", required_argument, NULL, O_MISSING}, {"horizon", required_argument, NULL, O_HORIZON},
    {"season", required_argument, NULL, O_SEASON},   {"test-fraction", required_argument, NULL, O_TEST},
    {"stride", required_argument, NULL, O_STRIDE},   {"refit", required_argument, NULL, O_REFIT},
    {"window", required_argument, NULL, O_WINDOW},   {"level", required_argument, NULL, O_LEVEL},
    {"no-model", no_argument, NULL, O_NO_MODEL},     {"preset", required_argument, NULL, O_PRESET},
    {"layers", required_argument, NULL, O_LAYERS},   {"timestep", required_argument, NULL, O_TIMESTEP},
    {"epochs", required_argument, NULL, O_EPOCHS},   {"seeds", required_argument, NULL, O_SEEDS},
    {"seed", required_argument, NULL, O_SEED},       {"threads", required_argument, NULL, O_THREADS},
    {"json", no_argument, NULL, O_JSON},             {"plot", required_argument, NULL, O_PLOT},
    {"cold-refit", no_argument, NULL, O_COLD},
    {"quiet", no_argument, NULL, 'q'},               {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define MAX_LEVELS 8

/* "80,95": levels in (0, 100), at most MAX_LEVELS. */
static int parse_levels(const char *cmd, const char *arg, double *lv, int *n)
{
    char buf[256], *save = NULL;
    if (strlen(arg) >= sizeof buf) return cli_usage(cmd, "--level: too long (got \"%.40s...\")", arg);
    strcpy(buf, arg);
    *n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LEVELS) return cli_usage(cmd, "--level: at most %d levels", MAX_LEVELS);
        int rc = cli_opt_double(cmd, "--level", tok, 0, 1, 100, 1, &lv[*n]);
        if (rc) return rc;
        (*n)++;
    }
    if (*n == 0) return cli_usage(cmd, "--level: give levels such as 80,95 (got \"%s\")", arg);
    return 0;
}

/* ====== The model ======
 * The global model of src/forecast/forecaster.c as a backtest method. */

static int quiet_progress;

static int on_progress(int net, int nets, const recur_progress *p, void *user)
{
    (void)user;
    if (!quiet_progress && p->epoch_end && isatty(STDERR_FILENO))
        fprintf(stderr, "\rnet %d/%d epoch %d/%d loss %.4g   ", net + 1, nets, p->epoch, p->epochs, p->loss);
    return 0;
}

static int model_method(const recur_forecaster_opts *fo, recur_method *m)
{
    recur_error err = {0};
    if (recur_forecaster_method_new(fo, m, &err)) return cli_fail(&err);
    return 0;
}

static void model_method_free(recur_method *m) { recur_forecaster_method_free(m); }

/* ====== Output ====== */

static int print_json(const recur_backtest *b, const recur_backtest_opts *o, double level)
{
    json_t *root = json_object(), *methods = json_object(), *steps = json_array();
    int nm = recur_backtest_n_methods(b), best = recur_backtest_best(b);
    if (!root || !methods || !steps) return cli_errorf("out of memory");
    json_object_set_new(root, "n_origins", json_integer((json_int_t)recur_backtest_origins(b)));
    json_object_set_new(root, "horizon", json_integer(o->horizon));
    json_object_set_new(root, "season", json_integer(recur_backtest_season(b)));
    json_object_set_new(root, "test_fraction", json_real(o->test_fraction));
    json_object_set_new(root, "stride", json_integer(o->stride));
    json_object_set_new(root, "refit", json_integer(o->refit));
    json_object_set_new(root, "window", json_string(o->sliding ? "sliding" : "expanding"));
    for (int k = 0; k < nm; k++) {
        recur_scores r = recur_backtest_scores(b, k, -1);
        json_object_set_new(methods, recur_backtest_method(b, k), cli_scores_json(&r, level));
    }
    json_object_set_new(root, "methods", methods);
    json_object_set_new(root, "best", json_string(best >= 0 ? recur_backtest_method(b, best) : ""));
    for (int j = 0; j < o->horizon; j++) {
        json_t *st = json_object();
        json_object_set_new(st, "step", json_integer(j + 1));
        for (int k = 0; k < nm; k++) {
            recur_scores r = recur_backtest_scores(b, k, j);
            json_object_set_new(st, recur_backtest_method(b, k), cli_scores_json(&r, level));
        }
        json_array_append_new(steps, st);
    }
    json_object_set_new(root, "steps", steps);
    return cli_json_print(root);
}

static void print_text(const recur_backtest *b, const recur_panel *p, const recur_backtest_opts *o, double level)
{
    int nm = recur_backtest_n_methods(b), best = recur_backtest_best(b);
    char refit[48];
    if (o->refit > 0) snprintf(refit, sizeof refit, "every %d origins%s", o->refit, o->cold ? " from scratch" : "");
    printf("backtest: %zu series, %zu origins, horizon %d, season %d, test fraction %g, stride %d, refit %s, %s "
           "window\n", recur_panel_count(p), recur_backtest_origins(b), o->horizon, recur_backtest_season(b),
           o->test_fraction, o->stride, o->refit > 0 ? refit : "never", o->sliding ? "sliding" : "expanding");
    printf("all steps (MAE, RMSE, MAPE, coverage pooled; sMAPE, MASE means over series):\n");
    cli_scores_header(stdout, "method", level);
    for (int k = 0; k < nm; k++) {
        recur_scores r = recur_backtest_scores(b, k, -1);
        cli_scores_row(stdout, recur_backtest_method(b, k), &r, level);
    }
    if (o->horizon > 1) {
        printf("MASE by step:\n%-6s", "step");
        for (int k = 0; k < nm; k++) printf(" %10s", recur_backtest_method(b, k));
        printf("\n");
        for (int j = 0; j < o->horizon; j++) {
            printf("%-6d", j + 1);
            for (int k = 0; k < nm; k++) {
                double v = recur_backtest_scores(b, k, j).mase;
                if (isfinite(v)) printf(" %10.4f", v);
                else printf(" %10s", "-");
            }
            printf("\n");
        }
    }
    if (best >= 0) {
        recur_scores r = recur_backtest_scores(b, best, -1);
        printf("best: %s (lowest %s, %.6g)\n", recur_backtest_method(b, best), isfinite(r.mase) ? "MASE" : "MAE",
               isfinite(r.mase) ? r.mase : r.mae);
    }
}

/* The first series: values, then for the model (when run) and the best
 * baseline the 1-step forecasts of every origin with their band, and the last
 * origin's H steps. */
static int plot(const char *path, const recur_backtest *b, const recur_panel *p, double level)
{
    size_t n = recur_panel_length(p, 0);
    int nm = recur_backtest_n_methods(b), best = recur_backtest_best(b), shown[2], ns = 0;
    int has_model = strcmp(recur_backtest_method(b, 0), "model") == 0;
    if (has_model) shown[ns++] = 0;
    if (best >= 0 && best != 0) shown[ns++] = best;
    else if (!has_model) shown[ns++] = 0;
    (void)nm;
    recur_plot_series ser[1 + 2 * 4];
    char label[2 * 4][64];
    double *buf = malloc((size_t)ns * 4 * n * sizeof *buf);
    if (!buf) return cli_errorf("out of memory");
    int k = 0;
    ser[k++] = (recur_plot_series){recur_panel_id(p, 0), recur_panel_values(p, 0)};
    size_t boundary = 0;
    for (int i = 0; i < ns; i++) {
        recur_backtest_path q = recur_backtest_first_series(b, shown[i]);
        double *one = buf + (size_t)i * 4 * n, *lo = one + n, *hi = lo + n, *last = hi + n;
        for (size_t t = 0; t < 4 * n; t++) one[t] = NAN;
        for (size_t o = 0; o < q.n_origins; o++) {
            size_t t = q.first + o * q.stride; /* index of the value forecast at step 1 */
            one[t] = q.mean[o * (size_t)q.H];
            lo[t] = q.lo[o * (size_t)q.H];
            hi[t] = q.hi[o * (size_t)q.H];
        }
        size_t t0 = q.first + (q.n_origins - 1) * q.stride;
        for (int j = 0; j < q.H && t0 + (size_t)j < n; j++) last[t0 + (size_t)j] = q.mean[(q.n_origins - 1) * (size_t)q.H + (size_t)j];
        boundary = q.first;
        const char *name = recur_backtest_method(b, shown[i]);
        snprintf(label[4 * i], 64, "%s, 1 step ahead", name);
        ser[k++] = (recur_plot_series){label[4 * i], one};
        if (level > 0) {
            snprintf(label[4 * i + 1], 64, "%s %g%% low", name, level);
            snprintf(label[4 * i + 2], 64, "%s %g%% high", name, level);
            ser[k++] = (recur_plot_series){label[4 * i + 1], lo};
            ser[k++] = (recur_plot_series){label[4 * i + 2], hi};
        }
        if (q.H > 1) {
            snprintf(label[4 * i + 3], 64, "%s, last origin's %d steps", name, q.H);
            ser[k++] = (recur_plot_series){label[4 * i + 3], last};
        }
    }
    recur_plot_opts o;
    memset(&o, 0, sizeof o);
    char title[128];
    snprintf(title, sizeof title, "backtest of \"%s\"", recur_panel_id(p, 0));
    o.title = title;
    o.xlabel = recur_panel_time_is_index(p) ? "step" : "date";
    o.ylabel = recur_panel_id(p, 0);
    o.x = recur_panel_times(p, 0);
    o.x_is_date = !recur_panel_time_is_index(p);
    o.n = n;
    o.series = ser;
    o.n_series = k;
    o.boundary_x = o.x[boundary];
    o.boundary_label = "first origin";
    recur_error err = {0};
    int rc = recur_plot_lines(path, &o, &err) ? cli_fail(&err) : 0;
    free(buf);
    return rc;
}

/* ====== Command ====== */

int cmd_backtest(int argc, char **argv)
{
    static const char *const missings[] = {"error", "drop", "ffill"}, *const windows[] = {"expanding", "sliding"},
                             *const presets[] = {"tutorial", "forecast"};
    const char *cmd = "backtest", *data = NULL, *plot_path = NULL, *layers = NULL, *refit = NULL;
    recur_panel_opts po = recur_panel_opts_default();
    recur_backtest_opts bo = recur_backtest_opts_default();
    double levels[MAX_LEVELS] = {95};
    int n_levels = 1, rc = 0, c, json = 0, no_model = 0, missing = 0, window = 0, preset = RECUR_PRESET_FORECAST;
    int have_h = 0, timestep = 0, epochs = 0, seeds = 0, threads = 0;
    uint64_t seed = 42;
    opterr = 0;
    quiet_progress = 0;
    while ((c = getopt_long(argc, argv, ":hq", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'q': quiet_progress = 1; break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_ID: rc = cli_opt_text(cmd, "--id-column", optarg, &po.id_column); break;
        case O_DATE: rc = cli_opt_text(cmd, "--date-column", optarg, &po.time_column); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &po.value_column); break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        case O_HORIZON: rc = cli_opt_int(cmd, "--horizon", optarg, 1, 100000, &bo.horizon), have_h = 1; break;
        case O_SEASON: rc = cli_opt_int(cmd, "--season", optarg, 1, 100000, &bo.season); break;
        case O_TEST: rc = cli_opt_double(cmd, "--test-fraction", optarg, 0, 1, 1, 1, &bo.test_fraction); break;
        case O_STRIDE: rc = cli_opt_int(cmd, "--stride", optarg, 1, 1000000, &bo.stride); break;
        case O_REFIT: refit = optarg; break;
        case O_COLD: bo.cold = 1; break;
        case O_WINDOW: rc = cli_opt_choice(cmd, "--window", optarg, windows, 2, &window); break;
        case O_LEVEL: rc = parse_levels(cmd, optarg, levels, &n_levels); break;
        case O_NO_MODEL: no_model = 1; break;
        case O_PRESET: rc = cli_opt_choice(cmd, "--preset", optarg, presets, 2, &preset); break;
        case O_LAYERS: rc = cli_opt_text(cmd, "--layers", optarg, &layers); break;
        case O_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 100000, &timestep); break;
        case O_EPOCHS: rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &epochs); break;
        case O_SEEDS: rc = cli_opt_int(cmd, "--seeds", optarg, 1, 1000, &seeds); break;
        case O_SEED: rc = cli_opt_u64(cmd, "--seed", optarg, &seed); break;
        case O_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 1, 4096, &threads); break;
        case O_JSON: json = 1; break;
        case O_PLOT: rc = cli_opt_text(cmd, "--plot", optarg, &plot_path); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!data) return cli_usage(cmd, "--data: missing (the CSV file to backtest on)");
    if (!have_h) return cli_usage(cmd, "--horizon: missing (the number of steps per forecast)");
    if (refit && strcmp(refit, "never") != 0) {
        if ((rc = cli_opt_int(cmd, "--refit", refit, 1, 1000000, &bo.refit))) return rc;
    }
    if (bo.cold && bo.refit == 0) return cli_usage(cmd, "--cold-refit: give --refit K too (with --refit never there is one fit)");
    if (plot_path && (rc = cli_check_out_dir("--plot", plot_path))) return rc;
    po.missing = (recur_missing)missing;
    bo.sliding = window;
    bo.levels = levels;
    bo.n_levels = n_levels;
    bo.peers = cli_mpi_peers(); /* under mpirun: each round's forecasts, by series, across ranks */
    double widest = 0;
    for (int l = 0; l < n_levels; l++)
        if (levels[l] > widest) widest = levels[l];

    recur_panel *p = NULL;
    recur_error err = {0};
    if (recur_panel_read_any(data, &po, &p, &err)) return cli_fail(&err);
    if (bo.season == 0) bo.season = recur_panel_infer_season(p);
    if ((rc = cli_mpi_ready(0))) { /* under mpirun: every rank has its data */
        recur_panel_free(p);
        return rc;
    }

    recur_method m;
    memset(&m, 0, sizeof m);
    int have_model = 0;
    if (!no_model) {
        recur_forecaster_opts fo = recur_forecaster_opts_default((recur_preset)preset);
        fo.horizon = bo.horizon;
        fo.season = bo.season;
        if (layers) fo.layers = layers;
        if (timestep) fo.timestep = timestep;
        if (epochs) fo.epochs = epochs;
        if (seeds) fo.seeds = seeds;
        if (threads) fo.threads = threads;
        fo.seed = seed;
        fo.progress = on_progress;
        /* under mpirun: each fit's ensemble or batches across ranks; with cold
         * refits the fits themselves are spread, each trained by one rank */
        fo.peers = bo.cold ? NULL : cli_mpi_peers();
        rc = model_method(&fo, &m);
        have_model = !rc;
    }
    recur_backtest *b = NULL;
    if (!rc) {
        double t0 = cli_now();
        if (recur_backtest_run(p, &bo, have_model ? &m : NULL, &b, &err)) rc = cli_fail(&err);
        if (have_model && !quiet_progress && isatty(STDERR_FILENO)) fputc('\n', stderr);
        if (!rc && !quiet_progress) cli_log("backtest took %.1f s\n", cli_now() - t0);
    }
    if (!rc) {
        if (json) rc = print_json(b, &bo, widest);
        else print_text(b, p, &bo, widest);
    }
    if (!rc && plot_path && cli_mpi_root()) rc = plot(plot_path, b, p, widest);
    if (have_model) model_method_free(&m);
    recur_backtest_free(b);
    recur_panel_free(p);
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) rc = cli_errorf("cannot write to standard output");
    return rc;
}
