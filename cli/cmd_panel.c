/*
 * cmd_panel.c -- `recur train` and `recur forecast` for global models: many
 * series in one long CSV (--id-column), or one series with --preset.
 *
 * cmd_train hands over here when --id-column or --preset is given (without
 * them it keeps its single-series behaviour exactly); cmd_forecast when the
 * model file is a forecaster. Both are thin: the panel reader, the
 * forecaster and the plot are the library's.
 */
#include "cli.h"
#include "mpi_glue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const presets[] = {"tutorial", "forecast"};
static const char *const missings[] = {"error", "drop", "ffill"};

/* 1 when argv holds one of the options (as "--opt" or "--opt=..."). */
int cli_has_option(int argc, char **argv, const char *const *opts, int n)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        for (int k = 0; k < n; k++) {
            size_t len = strlen(opts[k]);
            if (strncmp(argv[i], opts[k], len) == 0 && (argv[i][len] == '\0' || argv[i][len] == '=')) return 1;
        }
    }
    return 0;
}

const char *cli_option_value(int argc, char **argv, const char *opt)
{
    size_t len = strlen(opt);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return NULL;
        if (strncmp(argv[i], opt, len) != 0) continue;
        if (argv[i][len] == '=') return argv[i] + len + 1;
        if (argv[i][len] == '\0' && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

/* The data summary line and the season: given, or inferred from the times. */
static int panel_summary(const char *path, const recur_panel *p, int *season, int quiet)
{
    size_t ns = recur_panel_count(p), lo = (size_t)-1, hi = 0, rows = 0;
    for (size_t s = 0; s < ns; s++) {
        size_t n = recur_panel_length(p, s);
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
        rows += n;
    }
    const char *how = "given";
    if (*season <= 0) *season = recur_panel_infer_season(p), how = "inferred from the times; --season to change";
    if (!quiet)
        cli_log("data: %s: %zu series, %zu rows, %zu..%zu values each, %s times; season %d (%s)\n", path, ns, rows, lo,
                hi, recur_panel_time_is_index(p) ? "integer" : "date", *season, how);
    if ((size_t)*season > hi)
        return cli_usage("train", "--season: %d is longer than the longest series (%zu values); give a shorter "
                                  "season (1 for none)",
                         *season, hi);
    return 0;
}

/* Names a few ids of a list: "a, b, c and 7 more". */
static void id_list(char *buf, size_t cap, const char *(*get)(const void *, size_t), const void *obj, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 8 && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", get(obj, i));
    if (n > 8 && len < cap) snprintf(buf + len, cap - len, " and %zu more", n - 8);
}

static const char *skipped_at(const void *f, size_t i) { return recur_forecaster_skipped(f, i); }

/* ====== train ====== */

static void train_help(void)
{
    printf("Usage: recur train --data FILE --out MODEL --id-column C [options]\n"
           "       recur train --data FILE --out MODEL --preset forecast [options]\n"
           "\n"
           "Trains ONE network on windows drawn from every series of a long CSV (one row per\n"
           "series and time, e.g. unique_id,ds,y) and saves it as a forecaster: the network(s),\n"
           "each series' scaling (fitted on its own values), and the interval widths. Without\n"
           "--id-column the file is one series. `recur forecast --model MODEL --data FILE` then\n"
           "forecasts every series with prediction intervals.\n"
           "\n"
           "The last values of each series (the horizon, more when there are few series) are\n"
           "held out as a validation tail: no training window reaches into them; they pick the\n"
           "best epoch and give the interval widths (split conformal). Series too short for one\n"
           "window plus that tail are skipped with a warning naming them.\n"
           "\n"
           "Data:\n"
           "  --data FILE             long CSV with a header row (required)\n"
           "  --id-column C           the series id column (default: none, one series)\n"
           "  --date-column C         the time column: dates or an integer step index\n"
           "                          (default: auto, as recur train)\n"
           "  --column C              the value column (default: y)\n"
           "  --missing MODE          empty/null/NaN values: error, drop or ffill (default: error)\n"
           "\n"
           "Recipe:\n"
           "  --preset NAME           tutorial (default with --id-column): MinMax per series, 60\n"
           "                          values, lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2)\n"
           "                          dense(H), RMSprop, MSE, 50 epochs, batch 64;\n"
           "                          forecast: recur's recommended recipe, chosen by measurement\n"
           "                          (docs/forecasting.md): logs of positive series, standardised\n"
           "                          per series, windows relative to their last season's level,\n"
           "                          one season per step, lstm(128) dense(H), Adam, MAE, 65536\n"
           "                          windows per epoch, early stopping, 3 seeds, median\n"
           "  --horizon H             values forecast at once (direct multi-step; default: 1)\n"
           "  --season M              seasonal period (default: inferred from the times: hourly 24,\n"
           "                          daily 7 (5 for business days), weekly 52, monthly 12,\n"
           "                          quarterly 4, else 1; an integer index gives 1)\n"
           "  --seeds K               networks in the ensemble, combined by median (preset: 1 or 3)\n"
           "  --timestep T            window length in values (preset: 60; forecast: a quarter of\n"
           "                          the median series, between max(3M, 2H, 16) and 7M)\n"
           "  --layers SPEC           layer spec, last layer dense(1) widened to H (see recur train)\n"
           "  --epochs N              at most N epochs (preset: 50; forecast: 80)\n"
           "  --batch-size N          (preset: 64; forecast: 256)\n"
           "  --patience N            stop after N epochs without a better validation loss\n"
           "                          (preset: off; forecast: 10)\n"
           "  --windows N             training windows drawn per epoch, 0 = all (forecast: 65536)\n"
           "  --seed N                seed of network 1; network k uses N+k-1 (default: 42)\n"
           "  --threads N             worker threads, 0 = every core (default: 0)\n"
           "\n"
           "Output:\n"
           "  --out MODEL             forecaster file to write (required)\n"
           "  --quiet                 no progress on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Across processes (recur built with make MPI=1; docs/scaling.md):\n"
           "  mpirun -np N recur train ...   the networks split across the ranks (those left over\n"
           "                                 trained by all, their batches split); rank 0 writes the\n"
           "                                 same forecaster file one process writes, byte for byte\n"
           "\n"
           "Example (M4 Hourly, see make bench-m4):\n"
           "  recur train --data hourly.csv --id-column unique_id --date-column ds --column y \\\n"
           "              --horizon 48 --season 24 --preset forecast --out m4h.safetensors\n");
}

enum {
    P_DATA = 256, P_ID, P_DATE, P_COLUMN, P_MISSING, P_PRESET, P_HORIZON, P_SEASON, P_SEEDS, P_TIMESTEP, P_LAYERS,
    P_EPOCHS, P_BATCH, P_PATIENCE, P_WINDOWS, P_SEED, P_THREADS, P_OUT, P_QUIET, P_MODEL, P_STEPS, P_LEVEL, P_PLOT,
    P_PLOT_ID
};

static const struct option train_opts[] = {
    {"data", required_argument, NULL, P_DATA},         {"id-column", required_argument, NULL, P_ID},
    {"date-column", required_argument, NULL, P_DATE},  {"column", required_argument, NULL, P_COLUMN},
    {"missing", required_argument, NULL, P_MISSING},   {"preset", required_argument, NULL, P_PRESET},
    {"horizon", required_argument, NULL, P_HORIZON},   {"season", required_argument, NULL, P_SEASON},
    {"seeds", required_argument, NULL, P_SEEDS},       {"timestep", required_argument, NULL, P_TIMESTEP},
    {"layers", required_argument, NULL, P_LAYERS},     {"epochs", required_argument, NULL, P_EPOCHS},
    {"batch-size", required_argument, NULL, P_BATCH},  {"patience", required_argument, NULL, P_PATIENCE},
    {"windows", required_argument, NULL, P_WINDOWS},   {"seed", required_argument, NULL, P_SEED},
    {"threads", required_argument, NULL, P_THREADS},   {"out", required_argument, NULL, P_OUT},
    {"quiet", no_argument, NULL, P_QUIET},             {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    double t0;
    int quiet;
} train_progress;

static int on_progress(int net, int nets, const recur_progress *p, void *user)
{
    const train_progress *tp = user;
    if (tp->quiet || !p->epoch_end) return 0;
    cli_log("network %d/%d epoch %d/%d: loss %.4f, val_loss %.4f%s (best %.4f at epoch %d) %.1fs\n", net + 1, nets,
            p->epoch, p->epochs, p->loss, p->val_loss, p->improved ? " *" : "", p->best, p->best_epoch,
            cli_now() - tp->t0);
    return 0;
}

int cli_train_panel(int argc, char **argv)
{
    const char *cmd = "train", *data = NULL, *out = NULL;
    recur_panel_opts po = recur_panel_opts_default();
    int rc = 0, c, v, preset = RECUR_PRESET_TUTORIAL, quiet = 0;
    int horizon = 1, season = 0, seeds = -1, timestep = 0, epochs = -1, batch = -1, patience = -1, windows = -1;
    int threads = 0;
    uint64_t seed = 42;
    const char *layers = NULL;
    po.value_column = "y";

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", train_opts, NULL)) != -1) {
        switch (c) {
        case 'h': train_help(); return CLI_OK;
        case P_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case P_ID: rc = cli_opt_text(cmd, "--id-column", optarg, &po.id_column); break;
        case P_DATE: rc = cli_opt_text(cmd, "--date-column", optarg, &po.time_column); break;
        case P_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &po.value_column); break;
        case P_MISSING:
            if (!(rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &v))) po.missing = (recur_missing)v;
            break;
        case P_PRESET: rc = cli_opt_choice(cmd, "--preset", optarg, presets, 2, &preset); break;
        case P_HORIZON: rc = cli_opt_int(cmd, "--horizon", optarg, 1, 100000, &horizon); break;
        case P_SEASON: rc = cli_opt_int(cmd, "--season", optarg, 1, 100000, &season); break;
        case P_SEEDS: rc = cli_opt_int(cmd, "--seeds", optarg, 1, 1000, &seeds); break;
        case P_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 100000, &timestep); break;
        case P_LAYERS: rc = cli_opt_text(cmd, "--layers", optarg, &layers); break;
        case P_EPOCHS: rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &epochs); break;
        case P_BATCH: rc = cli_opt_int(cmd, "--batch-size", optarg, 1, 1000000, &batch); break;
        case P_PATIENCE: rc = cli_opt_int(cmd, "--patience", optarg, 0, 1000000, &patience); break;
        case P_WINDOWS: rc = cli_opt_int(cmd, "--windows", optarg, 0, 100000000, &windows); break;
        case P_SEED: rc = cli_opt_u64(cmd, "--seed", optarg, &seed); break;
        case P_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case P_OUT: rc = cli_opt_text(cmd, "--out", optarg, &out); break;
        case P_QUIET: quiet = 1; break;
        default:
            return cli_getopt_error(cmd, c, argv, train_opts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!data) return cli_usage(cmd, "--data: missing (the long CSV file to train on)");
    if (!out) return cli_usage(cmd, "--out: missing (the forecaster file to write)");
    if ((rc = cli_check_out_dir("--out", out))) return rc;

    recur_forecaster_opts o = recur_forecaster_opts_default((recur_preset)preset);
    o.horizon = horizon;
    o.timestep = timestep;
    o.layers = layers;
    o.threads = threads;
    o.seed = seed;
    if (seeds > 0) o.seeds = seeds;
    if (epochs > 0) o.epochs = epochs;
    if (batch > 0) o.batch_size = batch;
    if (patience >= 0) o.patience = patience;
    if (windows >= 0) o.max_windows = windows;

    recur_error err;
    recur_panel *p = NULL;
    recur_forecaster *f = NULL;
    if (recur_panel_read_csv(data, &po, &p, &err) != RECUR_OK) return cli_fail(&err);
    rc = panel_summary(data, p, &season, quiet);
    if (!rc && (rc = cli_mpi_ready(0))) { /* under mpirun: every rank has its data */
        recur_panel_free(p);
        return rc;
    }
    o.season = season;
    o.peers = cli_mpi_peers(); /* under mpirun: the ensemble, or each network's batches, across ranks */
    train_progress tp = {cli_now(), quiet};
    o.progress = on_progress;
    o.progress_user = &tp;
    if (!rc && !quiet)
        cli_log("training %d network%s (preset %s, horizon %d)\n", o.seeds, o.seeds == 1 ? "" : "s",
                presets[preset], horizon);
    if (!rc && recur_forecaster_fit(&o, p, NULL, &f, &err) != RECUR_OK) rc = cli_fail(&err);
    if (!rc) rc = recur_forecaster_set_columns(f, po.id_column, po.time_column, po.value_column, &err) ? cli_fail(&err) : 0;
    if (!rc && recur_forecaster_n_skipped(f) > 0) {
        char ids[512];
        id_list(ids, sizeof ids, skipped_at, f, recur_forecaster_n_skipped(f));
        cli_warn("%zu series too short to train on (history + horizon %d + a validation tail of at least %d values), "
                 "skipped: %s",
                 recur_forecaster_n_skipped(f), horizon, horizon, ids);
    }
    if (!rc && cli_mpi_root() && recur_forecaster_save(f, out, &err) != RECUR_OK) rc = cli_fail(&err);
    if (!rc && !quiet) {
        char desc[1024];
        recur_forecaster_describe(f, desc, sizeof desc);
        cli_log("recipe: %s\n", desc);
        cli_log("saved %s: %zu series (%.1fs)\n", out, recur_forecaster_n_series(f), cli_now() - tp.t0);
    }
    recur_forecaster_free(f);
    recur_panel_free(p);
    return rc;
}

/* ====== forecast ====== */

static void forecast_help(void)
{
    printf("Usage: recur forecast --model FORECASTER --data FILE [options]\n"
           "\n"
           "With a forecaster (written by recur train --id-column or --preset): forecasts the next\n"
           "--steps values of every series of FILE, read with the columns it was trained on, and\n"
           "writes long rows, one per series and step:\n"
           "    unique_id,ds,yhat,lo80,hi80,lo95,hi95\n"
           "ds continues each series' times (n+1..n+H for an integer index; dates in the file's\n"
           "cadence). An interval [loL, hiL] should hold the true value L%% of the time: its width\n"
           "is the L%% quantile of the validation tail's absolute errors at that step (split\n"
           "conformal), applied around the forecast in the scaled (log) space.\n"
           "\n"
           "Input:\n"
           "  --model FORECASTER      forecaster file (required)\n"
           "  --data FILE             long CSV with the series to forecast (required)\n"
           "  --missing MODE          empty/null/NaN values: error, drop or ffill (default: error)\n"
           "\n"
           "Forecast:\n"
           "  --steps N               values per series, 1..the trained horizon (default: horizon)\n"
           "  --level L[,L...]        interval levels in (0,100), e.g. 80,95 (default: none)\n"
           "  --out FILE              CSV to write, atomically (default: stdout)\n"
           "  --plot FILE             history, forecast and the widest band (.png or .svg)\n"
           "  --plot-id ID[,ID...]    the series to plot (default: the first); with several,\n"
           "                          one file each, FILE with -ID before its extension\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur forecast --model m4h.safetensors --data hourly.csv --steps 48 --level 95 --out fc.csv\n");
}

static const struct option forecast_opts[] = {
    {"model", required_argument, NULL, P_MODEL}, {"data", required_argument, NULL, P_DATA},
    {"steps", required_argument, NULL, P_STEPS}, {"level", required_argument, NULL, P_LEVEL},
    {"out", required_argument, NULL, P_OUT},     {"plot", required_argument, NULL, P_PLOT},
    {"plot-id", required_argument, NULL, P_PLOT_ID}, {"missing", required_argument, NULL, P_MISSING},
    {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
};

/* "80,95" -> levels (at most max), each in (0,100), increasing order kept as given. */
static int parse_levels(const char *cmd, const char *arg, double *lv, int max, int *n)
{
    char buf[256], *save = NULL;
    if (strlen(arg) >= sizeof buf) return cli_usage(cmd, "--level: too long (got \"%.40s...\")", arg);
    memcpy(buf, arg, strlen(arg) + 1);
    *n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max) return cli_usage(cmd, "--level: at most %d levels (got \"%s\")", max, arg);
        int rc = cli_opt_double(cmd, "--level", tok, 0, 1, 100, 1, &lv[*n]);
        if (rc) return rc;
        (*n)++;
    }
    if (*n == 0) return cli_usage(cmd, "--level: give levels in (0,100) such as 80,95 (got \"%s\")", arg);
    return 0;
}

static void level_name(char *buf, size_t cap, const char *pre, double l)
{
    if (l == floor(l)) snprintf(buf, cap, "%s%d", pre, (int)l);
    else snprintf(buf, cap, "%s%g", pre, l);
}

/* History (the last few horizons), forecast and the widest band of series s. */
static int plot_series(const char *path, const recur_panel *p, size_t s, int H, const double *mean, const double *lo,
                       const double *hi, double level)
{
    size_t n = recur_panel_length(p, s), hist = (size_t)(4 * H) > 96 ? (size_t)(4 * H) : 96;
    if (hist > n) hist = n;
    size_t N = hist + (size_t)H;
    double *x = malloc(N * sizeof *x), *buf = malloc(4 * N * sizeof *buf);
    if (!x || !buf) {
        free(x);
        free(buf);
        return cli_errorf("out of memory");
    }
    const double *y = recur_panel_values(p, s), *t = recur_panel_times(p, s);
    double *ys = buf, *fs = buf + N, *ls = buf + 2 * N, *hs = buf + 3 * N;
    for (size_t i = 0; i < N; i++) ys[i] = fs[i] = ls[i] = hs[i] = NAN;
    for (size_t i = 0; i < hist; i++) x[i] = t[n - hist + i], ys[i] = y[n - hist + i];
    recur_panel_future_times(p, s, H, x + hist);
    fs[hist - 1] = ys[hist - 1]; /* the forecast line starts at the last value */
    for (int h = 0; h < H; h++) {
        fs[hist + (size_t)h] = mean[h];
        if (lo) ls[hist + (size_t)h] = lo[h], hs[hist + (size_t)h] = hi[h];
    }
    char title[256], lab_lo[32], lab_hi[32];
    snprintf(title, sizeof title, "%s: history and %d-step forecast", recur_panel_id(p, s), H);
    level_name(lab_lo, sizeof lab_lo, "lower ", level), level_name(lab_hi, sizeof lab_hi, "upper ", level);
    strcat(lab_lo, "%"), strcat(lab_hi, "%");
    recur_plot_series ser[4] = {{"history", ys}, {"forecast", fs}, {lab_lo, ls}, {lab_hi, hs}};
    recur_plot_opts po;
    recur_error err;
    memset(&po, 0, sizeof po);
    po.title = title, po.xlabel = recur_panel_time_is_index(p) ? "step" : "date", po.ylabel = "value";
    po.x = x;
    po.x_is_date = !recur_panel_time_is_index(p);
    po.n = N;
    po.series = ser;
    po.n_series = lo ? 4 : 2;
    po.boundary_x = x[hist - 1], po.boundary_label = "history | forecast";
    int rc = recur_plot_lines(path, &po, &err) != RECUR_OK ? cli_fail(&err) : 0;
    free(x);
    free(buf);
    return rc;
}

int cli_forecast_panel(int argc, char **argv)
{
    const char *cmd = "forecast", *model = NULL, *data = NULL, *out = NULL, *plot = NULL, *plot_id = NULL;
    double levels[8];
    int n_levels = 0, steps = 0, rc = 0, c, missing = 0;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", forecast_opts, NULL)) != -1) {
        switch (c) {
        case 'h': forecast_help(); return CLI_OK;
        case P_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &model); break;
        case P_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case P_STEPS: rc = cli_opt_int(cmd, "--steps", optarg, 1, 100000, &steps); break;
        case P_LEVEL: rc = parse_levels(cmd, optarg, levels, 8, &n_levels); break;
        case P_OUT: rc = cli_opt_text(cmd, "--out", optarg, &out); break;
        case P_PLOT: rc = cli_opt_text(cmd, "--plot", optarg, &plot); break;
        case P_PLOT_ID: rc = cli_opt_text(cmd, "--plot-id", optarg, &plot_id); break;
        case P_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        default: return cli_getopt_error(cmd, c, argv, forecast_opts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!model) return cli_usage(cmd, "--model: missing (the forecaster file)");
    if (!data) return cli_usage(cmd, "--data: missing (the CSV file whose series to forecast)");
    if (plot && (rc = cli_check_out_dir("--plot", plot))) return rc;

    recur_error err;
    recur_forecaster *f = NULL;
    recur_panel *p = NULL;
    if (recur_forecaster_load(model, &f, &err) != RECUR_OK) return cli_fail(&err);
    int H = recur_forecaster_horizon(f);
    if (steps == 0) steps = H;
    if (steps > H) {
        recur_forecaster_free(f);
        return cli_usage(cmd, "--steps: %d is more than the horizon %d this forecaster was trained for; give 1..%d, "
                              "or retrain with --horizon %d",
                         steps, H, H, steps);
    }
    recur_panel_opts po = recur_panel_opts_default();
    po.id_column = recur_forecaster_column(f, 0);
    po.time_column = recur_forecaster_column(f, 1);
    po.value_column = recur_forecaster_column(f, 2);
    po.missing = (recur_missing)missing;
    if (recur_panel_read_csv(data, &po, &p, &err) != RECUR_OK) {
        recur_forecaster_free(f);
        return cli_fail(&err);
    }
    /* The series to plot: --plot-id A,B,... (at most 8), else the first. */
    long plot_s[8];
    int n_plot = 0;
    char ids[512];
    if (plot) {
        snprintf(ids, sizeof ids, "%s", plot_id ? plot_id : recur_panel_id(p, 0));
        char *save = NULL;
        for (char *tok = strtok_r(ids, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
            if (n_plot == 8) rc = cli_usage(cmd, "--plot-id: at most 8 series (got \"%s\")", plot_id);
            else if ((plot_s[n_plot++] = recur_panel_find(p, tok)) < 0)
                rc = cli_usage(cmd, "--plot-id: no series \"%s\" in %s", tok, data);
        }
        if (rc) goto done;
    }
    /* Levels in increasing order of width for the columns: as given. */
    size_t ns = recur_panel_count(p), done_n = 0, skipped = 0;
    double *mean = malloc((size_t)steps * sizeof *mean), *lo = malloc((size_t)(n_levels + 1) * steps * sizeof *lo);
    double *hi = malloc((size_t)(n_levels + 1) * steps * sizeof *hi), *tm = malloc((size_t)steps * sizeof *tm);
    cli_out o;
    if (!mean || !lo || !hi || !tm) {
        rc = cli_errorf("out of memory");
        goto free_bufs;
    }
    if ((rc = cli_out_open(&o, "--out", out))) goto free_bufs;
    fprintf(o.f, "unique_id,ds,yhat");
    for (int l = 0; l < n_levels; l++) {
        char a[32], b[32];
        level_name(a, sizeof a, "lo", levels[l]), level_name(b, sizeof b, "hi", levels[l]);
        fprintf(o.f, ",%s,%s", a, b);
    }
    fprintf(o.f, "\n");
    for (size_t s = 0; s < ns && !rc; s++) {
        const char *id = recur_panel_id(p, s);
        int was_skipped = 0;
        for (size_t k = 0; k < recur_forecaster_n_skipped(f); k++)
            was_skipped |= strcmp(recur_forecaster_skipped(f, k), id) == 0;
        if (was_skipped) {
            skipped++;
            continue;
        }
        if (recur_forecaster_predict(f, id, recur_panel_values(p, s), recur_panel_length(p, s), steps, levels,
                                     n_levels, mean, lo, hi, &err) != RECUR_OK) {
            rc = cli_fail(&err);
            break;
        }
        recur_panel_future_times(p, s, steps, tm);
        for (int h = 0; h < steps; h++) {
            char ts[64];
            recur_panel_time_text(p, tm[h], ts, sizeof ts);
            fprintf(o.f, "%s,%s,%.10g", id, ts, mean[h]);
            for (int l = 0; l < n_levels; l++)
                fprintf(o.f, ",%.10g,%.10g", lo[(size_t)l * steps + h], hi[(size_t)l * steps + h]);
            fprintf(o.f, "\n");
        }
        done_n++;
        for (int k = 0; k < n_plot && !rc; k++) {
            if (plot_s[k] != (long)s) continue;
            int wide = 0;
            for (int l = 1; l < n_levels; l++)
                if (levels[l] > levels[wide]) wide = l;
            /* Several series: one file each, PLOT with "-ID" before its extension. */
            char path[4096];
            const char *dot = strrchr(plot, '.');
            int stem = dot ? (int)(dot - plot) : (int)strlen(plot);
            if (n_plot == 1) snprintf(path, sizeof path, "%s", plot);
            else snprintf(path, sizeof path, "%.*s-%s%s", stem, plot, id, dot ? dot : "");
            rc = plot_series(path, p, s, steps, mean, n_levels ? lo + (size_t)wide * steps : NULL,
                             n_levels ? hi + (size_t)wide * steps : NULL, n_levels ? levels[wide] : 0);
        }
    }
    if (ferror(o.f) && !rc) rc = cli_errorf("%s: write failed", out ? out : "standard output");
    {
        int rc2 = cli_out_close(&o, rc == 0);
        if (!rc) rc = rc2;
    }
    if (!rc && skipped)
        cli_warn("%zu series of %s were too short when the forecaster was trained and have no forecast", skipped,
                 data);
    if (!rc && out) cli_log("wrote %s: %zu series x %d steps\n", out, done_n, steps);
free_bufs:
    free(mean);
    free(lo);
    free(hi);
    free(tm);
done:
    recur_panel_free(p);
    recur_forecaster_free(f);
    return rc;
}
