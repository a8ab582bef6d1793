/*
 * cmd_predict.c -- `recur predict` (date,true,predicted CSV and a plot) and
 * `recur plot` (the same plot alone, or a loss curve from a history CSV).
 *
 * Predictions are for the test part, or with --all for every row that has a
 * full window before it; each is made from the actual values of the window
 * (one step ahead), never from earlier predictions.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { O_MODEL = 256, O_DATA, O_OUT, O_PLOT, O_ALL, O_MISSING, O_HISTORY, O_WINDOWS };

static const char *const missings[] = {"error", "drop", "ffill"};

static void help_predict(void)
{
    printf("Usage: recur predict --model MODEL --data FILE [options]\n"
           "       recur predict --model MODEL --windows FILE [--out FILE]\n"
           "\n"
           "Writes one CSV row per predicted table row: date,true,predicted (with horizon H > 1,\n"
           "also predicted+1 .. predicted+(H-1): the same window's forecasts for the following rows).\n"
           "\n"
           "Input:\n"
           CLI_HELP_MODEL_DATA
           "  --all                   every row with a full window, not only the test part\n"
           "  --windows FILE          instead of --data: one window per line, T x F numbers time-major\n"
           "                          (t0f0, t0f1, ..., t1f0, ...), fed to the network as they are (no\n"
           "                          scaling); prints one line of outputs per window (\"-\" = stdin)\n"
           "\n"
           "Output:\n"
           "  --out FILE              CSV file, written atomically; \"-\" = stdout (default: stdout)\n"
           "  --plot FILE             also plot true vs predicted (.png or .svg) (default: none)\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur predict --model aapl.safetensors --data data/AAPL.csv --out preds.csv --plot preds.png\n");
}

static void help_plot(void)
{
    printf("Usage: recur plot --model MODEL --data FILE --out PLOT [options]\n"
           "       recur plot --history HISTORY.csv --out PLOT\n"
           "\n"
           "Plots the whole true series with the model's predictions on their rows and the\n"
           "train/test boundary marked (the plot of recur predict --plot), or the loss\n"
           "curve of a history file written by recur train --history.\n"
           "\n"
           "Input:\n"
           "  --model MODEL           model file written by recur train\n"
           "  --data FILE             CSV with the model's columns\n"
           "  --missing MODE          empty/null/NaN cells: error, drop or ffill (default: the policy the\n"
           "                          model was trained with)\n"
           "  --all                   predictions on every row with a full window, not only the test part\n"
           "  --history FILE          epoch,loss[,val_loss] CSV instead of --model/--data\n"
           "\n"
           "Output:\n"
           "  --out PLOT              .png or .svg file (required)\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur plot --model aapl.safetensors --data data/AAPL.csv --out aapl.png\n"
           "  recur plot --history hist.csv --out loss.png\n");
}

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL}, {"data", required_argument, NULL, O_DATA},
    {"out", required_argument, NULL, O_OUT},     {"plot", required_argument, NULL, O_PLOT},
    {"all", no_argument, NULL, O_ALL},           {"missing", required_argument, NULL, O_MISSING},
    {"history", required_argument, NULL, O_HISTORY}, {"windows", required_argument, NULL, O_WINDOWS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char *model, *data, *out, *plot, *history, *windows;
    int all, missing;
} options;

/* Both commands take the same options; `plot` marks the one that has --history. */
static int parse(const char *cmd, int argc, char **argv, options *o, int plot)
{
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->missing = -1; /* the model's */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            if (plot)
                help_plot();
            else
                help_predict();
            return -1;
        case O_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &o->model); break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &o->data); break;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &o->out); break;
        case O_ALL: o->all = 1; break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &o->missing); break;
        case O_PLOT:
            if (plot) return cli_usage(cmd, "unknown option \"--plot\" (the plot goes to --out)");
            rc = cli_opt_text(cmd, "--plot", optarg, &o->plot);
            break;
        case O_WINDOWS:
            if (plot) return cli_usage(cmd, "unknown option \"--windows\" (see \"recur %s --help\")", cmd);
            rc = cli_opt_text(cmd, "--windows", optarg, &o->windows);
            break;
        case O_HISTORY:
            if (!plot) return cli_usage(cmd, "unknown option \"--history\" (see \"recur %s --help\")", cmd);
            rc = cli_opt_text(cmd, "--history", optarg, &o->history);
            break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    return cli_no_positional(cmd, argc, argv);
}

/* "Close: true vs predicted (aapl.safetensors)" */
static void title_for(char *buf, size_t cap, const cli_session *s, const char *model)
{
    const char *base = strrchr(model, '/');
    snprintf(buf, cap, "%s: true vs predicted (%s)", s->pipe.features[s->pipe.target], base ? base + 1 : model);
}

/* Model + data -> predictions -> CSV (csv may be NULL) and/or plot. */
static int run(const options *o, const char *csv, const char *plot)
{
    cli_session s;
    cli_preds pr;
    size_t *rows = NULL, n = 0;
    int rc;
    char title[256];
    memset(&s, 0, sizeof s);
    memset(&pr, 0, sizeof pr);
    if (plot && (rc = cli_check_out_dir(csv ? "--plot" : "--out", plot))) return rc;
    rc = cli_session_load(&s, o->model, o->data, o->missing);
    if (!rc) rc = cli_rows(&s, o->all, &rows, &n);
    if (!rc) rc = cli_predict_rows(s.model, s.table, &s.pipe, rows, n, &pr);
    if (!rc && csv) rc = cli_write_preds_csv("--out", csv, s.table, &pr);
    if (!rc && plot) {
        title_for(title, sizeof title, &s, o->model);
        rc = cli_plot_preds(plot, &s, &pr, title);
    }
    cli_preds_free(&pr);
    free(rows);
    cli_session_free(&s);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict";
    options o;
    int rc = parse(cmd, argc, argv, &o, 0);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!o.model) return cli_usage(cmd, "--model: missing (the model file to predict with)");
    if (o.windows) {
        if (o.data || o.plot || o.all) return cli_usage(cmd, "--windows: not with --data, --plot or --all");
        return cli_predict_windows(o.model, o.windows, o.out ? o.out : "-");
    }
    if (!o.data) return cli_usage(cmd, "--data: missing (the CSV file to predict on)");
    return run(&o, o.out ? o.out : "-", o.plot);
}

/* Loss curve from "epoch,loss[,val_loss]". */
static int plot_history(const options *o)
{
    recur_error err;
    recur_table *t = NULL;
    recur_csv_opts co = recur_csv_opts_default();
    const char *both[] = {"loss", "val_loss"};
    int rc = cli_check_out_dir("--out", o->out);
    if (rc) return rc;
    co.columns = both;
    co.n_columns = 2;
    if (recur_table_read_csv(o->history, &co, &t, &err) != RECUR_OK) {
        co.n_columns = 1; /* no validation column */
        if (recur_table_read_csv(o->history, &co, &t, &err) != RECUR_OK) return cli_fail(&err);
    }
    size_t n = recur_table_rows(t);
    double *nan_val = NULL;
    const double *val = NULL;
    int epochs = (int)(n > 1000000 ? 1000000 : n);
    if (recur_table_cols(t) > 1) {
        val = recur_table_col(t, 1);
    } else {
        nan_val = malloc((n ? n : 1) * sizeof *nan_val);
        if (!nan_val) {
            recur_table_free(t);
            return cli_errorf("out of memory");
        }
        for (size_t i = 0; i < n; i++) nan_val[i] = NAN;
        val = nan_val;
    }
    rc = cli_plot_loss(o->out, recur_table_col(t, 0), val, epochs, 0, "training loss");
    free(nan_val);
    recur_table_free(t);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    const char *cmd = "plot";
    options o;
    int rc = parse(cmd, argc, argv, &o, 1);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!o.out) return cli_usage(cmd, "--out: missing (the .png or .svg file to write)");
    if (o.history) {
        if (o.model || o.data) return cli_usage(cmd, "--history: use either --history or --model/--data, not both");
        return plot_history(&o);
    }
    if (!o.model) return cli_usage(cmd, "--model: missing (or --history for a loss curve)");
    if (!o.data) return cli_usage(cmd, "--data: missing (the CSV file to plot)");
    return run(&o, NULL, o.out);
}
