/*
 * cmd_train.c -- `recur train`: CSV -> pipeline -> windows -> model from a
 * spec -> fit -> save (model + pipeline) -> test scores against persistence.
 *
 * cli_train_run is the flow without option parsing; `recur demo` uses it too.
 * On SIGINT/SIGTERM fit stops after the current batch; the model (weights of
 * that last completed batch) is saved to --out and the exit status is
 * 128+signal (130 for Ctrl-C). It is not scored.
 */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *const optimizers[] = {"rmsprop", "adam", "sgd"};
static const char *const losses[] = {"mse", "mae"};
static const char *const missings[] = {"error", "drop", "ffill"};
static const char *const scalers[] = {"minmax", "standard"};
static const char *const transforms[] = {"none", "diff", "logreturn"};

void cli_train_defaults(cli_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->column = "Close";
    c->layers = CLI_TUTORIAL_SPEC;
    c->pipe = recur_pipeline_default();
    c->missing = RECUR_MISSING_ERROR;
    c->co = recur_compile_opts_default();
    c->fo = recur_fit_opts_default();
}

static void help(void)
{
    printf("Usage: recur train --data FILE --out MODEL [options]\n"
           "\n"
           "Trains a model on a CSV time series and saves it with its data pipeline\n"
           "(columns, window, scaler), then prints its test scores beside the persistence\n"
           "baseline (tomorrow = today) on stdout. Summary and progress go to stderr.\n"
           "\n"
           "Data:\n"
           "  --data FILE             CSV file with a header row (required)\n"
           "  --column NAME           target column (default: Close)\n"
           "  --features A,B,...      input columns; the target is added when absent\n"
           "                          (default: the target alone)\n"
           "  --missing MODE          empty/null/NaN cells: error, drop or ffill (default: error)\n"
           "  --timestep T            window length in rows (default: 60)\n"
           "  --horizon H             values predicted per window (default: 1)\n"
           "  --test-fraction F       last fraction of rows held out for testing, in (0, 1) (default: 0.2)\n"
           "  --transform MODE        none, diff or logreturn (default: none)\n"
           "  --scaler MODE           minmax or standard, fitted on the training rows (default: minmax)\n"
           "\n"
           "Model:\n"
           "  --layers SPEC           layer spec (default: \"" CLI_TUTORIAL_SPEC "\")\n"
           "                          items: lstm(H[,seq]) gru(H[,seq][,reset_before]) rnn(H[,seq])\n"
           "                          dense(N[,relu|tanh|sigmoid|linear]) dropout(R)\n"
           "                          The model must output one value per --horizon step: with\n"
           "                          --horizon H > 1 a final dense(1) is widened to dense(H); any other\n"
           "                          mismatch is an error.\n"
           "\n"
           "Training:\n"
           "  --optimizer NAME        rmsprop, adam or sgd (default: rmsprop)\n"
           "  --lr X                  learning rate (default: 0.001; 0.01 for sgd)\n"
           "  --clipnorm X            clip each gradient tensor to this L2 norm, 0 = off (default: 0)\n"
           "  --loss NAME             mse or mae (default: mse)\n"
           "  --epochs N              passes over the training windows (default: 50)\n"
           "  --batch-size N          windows per gradient step (default: 64)\n"
           "  --validation-split F    last fraction of training windows kept for val_loss, in [0, 1)\n"
           "                          (default: 0)\n"
           "  --patience N            stop after N epochs without improvement of val_loss (of loss\n"
           "                          without validation) and restore the best weights; 0 = off (default: 0)\n"
           "  --seed N                weights, dropout and shuffling (default: 42)\n"
           "  --threads N             worker threads, 0 = every core this process may use (default: 0)\n"
           "\n"
           "Output:\n"
           "  --out MODEL             model file to write, safetensors layout (required)\n"
           "  --plot-loss FILE        loss curve per epoch, .png or .svg (default: none)\n"
           "  --history FILE          epoch,loss[,val_loss] CSV (default: none)\n"
           "  --quiet                 no summary or progress on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Ctrl-C stops after the current batch, saves that model to --out and exits with 130.\n"
           "\n"
           "Example:\n"
           "  recur train --data data/AAPL.csv --column Close --epochs 50 --out aapl.safetensors\n"
           "  recur train --data data/AAPL.csv --transform diff --layers \"gru(32) dense(1)\" --out d.safetensors\n");
}

/* ====== The flow ====== */

static int write_history(const char *path, const recur_history *h)
{
    cli_out o;
    int has_val = 0, rc = cli_out_open(&o, "--history", path);
    if (rc) return rc;
    for (int i = 0; i < h->epochs_run; i++)
        if (!isnan(h->val_loss[i])) has_val = 1;
    fprintf(o.f, "epoch,loss%s\n", has_val ? ",val_loss" : "");
    for (int i = 0; i < h->epochs_run; i++) {
        fprintf(o.f, "%d,%.9g", i + 1, h->loss[i]);
        if (has_val) fprintf(o.f, ",%.9g", h->val_loss[i]);
        fputc('\n', o.f);
    }
    return cli_out_close(&o, 1);
}

int cli_train_run(const char *cmd, const cli_train_cfg *c, cli_session *s)
{
    recur_error err;
    int rc;
    s->pipe = c->pipe;
    if ((rc = cli_pipe_columns(cmd, &s->pipe, c->column, c->features))) return rc;
    /* Fail before hours of training, not after. */
    if ((rc = cli_check_out_dir("--out", c->out))) return rc;
    if (c->plot_loss && (rc = cli_check_out_dir("--plot-loss", c->plot_loss))) return rc;
    if (c->history && (rc = cli_check_out_dir("--history", c->history))) return rc;

    /* The model needs only the column count and the horizon: build it first so
     * that a bad spec is reported before any file is read. */
    if ((rc = cli_session_model(s, cmd, c->layers, s->pipe.n_features, 1, 0, &c->co, c->quiet))) return rc;
    if ((rc = cli_session_data(s, c->data, c->missing, c->quiet))) return rc;
    cli_warn_range(s);
    if (!c->quiet) cli_print_summary(stderr, s->model, s->pipe.timestep);

    int fit = cli_session_fit(s, c->fo, s->pipe.timestep, c->quiet);
    if (fit != 0 && fit < 128) return fit;
    if (recur_model_save(s->model, &s->pipe, c->out, &err) != RECUR_OK) return cli_fail(&err);
    if (fit >= 128) {
        fprintf(stderr,
                "recur: interrupted by %s after %d complete epoch%s; saved the weights of the last completed batch "
                "to %s\n",
                fit - 128 == SIGTERM ? "SIGTERM" : "SIGINT", s->hist.epochs_run, s->hist.epochs_run == 1 ? "" : "s",
                c->out);
        return fit;
    }
    if (!c->quiet) cli_log("saved %s (%.1fs of training)\n", c->out, s->fit_seconds);
    if (c->plot_loss && (rc = cli_plot_loss(c->plot_loss, &s->hist, "training loss"))) return rc;
    if (c->history && (rc = write_history(c->history, &s->hist))) return rc;
    return 0;
}

/* ====== Options ====== */

enum {
    O_DATA = 256, O_COLUMN, O_FEATURES, O_TIMESTEP, O_HORIZON, O_TEST, O_LAYERS, O_OPT, O_LR, O_EPOCHS, O_BATCH,
    O_VAL, O_PATIENCE, O_SEED, O_THREADS, O_LOSS, O_MISSING, O_SCALER, O_TRANSFORM, O_CLIP, O_QUIET, O_OUT,
    O_PLOT_LOSS, O_HISTORY
};

static const struct option longopts[] = {
    {"data", required_argument, NULL, O_DATA},
    {"column", required_argument, NULL, O_COLUMN},
    {"features", required_argument, NULL, O_FEATURES},
    {"timestep", required_argument, NULL, O_TIMESTEP},
    {"horizon", required_argument, NULL, O_HORIZON},
    {"test-fraction", required_argument, NULL, O_TEST},
    {"layers", required_argument, NULL, O_LAYERS},
    {"optimizer", required_argument, NULL, O_OPT},
    {"lr", required_argument, NULL, O_LR},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"batch-size", required_argument, NULL, O_BATCH},
    {"validation-split", required_argument, NULL, O_VAL},
    {"patience", required_argument, NULL, O_PATIENCE},
    {"seed", required_argument, NULL, O_SEED},
    {"threads", required_argument, NULL, O_THREADS},
    {"loss", required_argument, NULL, O_LOSS},
    {"missing", required_argument, NULL, O_MISSING},
    {"scaler", required_argument, NULL, O_SCALER},
    {"transform", required_argument, NULL, O_TRANSFORM},
    {"clipnorm", required_argument, NULL, O_CLIP},
    {"quiet", no_argument, NULL, O_QUIET},
    {"out", required_argument, NULL, O_OUT},
    {"plot-loss", required_argument, NULL, O_PLOT_LOSS},
    {"history", required_argument, NULL, O_HISTORY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    cli_train_cfg c;
    cli_session s;
    int rc = 0, c_opt, v, kind = RECUR_OPT_RMSPROP;
    double lr = NAN, clip = 0.0;
    uint64_t seed = 42;

    cli_train_defaults(&c);
    memset(&s, 0, sizeof s);
    opterr = 0;
    while ((c_opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c_opt) {
        case 'h': help(); return CLI_OK;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &c.data); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &c.column); break;
        case O_FEATURES: rc = cli_opt_text(cmd, "--features", optarg, &c.features); break;
        case O_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 1000000, &c.pipe.timestep); break;
        case O_HORIZON: rc = cli_opt_int(cmd, "--horizon", optarg, 1, 1000000, &c.pipe.horizon); break;
        case O_TEST: rc = cli_opt_double(cmd, "--test-fraction", optarg, 0, 1, 1, 1, &c.pipe.test_fraction); break;
        case O_LAYERS:
            rc = cli_opt_text(cmd, "--layers", optarg, &c.layers);
            break;
        case O_OPT: rc = cli_opt_choice(cmd, "--optimizer", optarg, optimizers, 3, &kind); break;
        case O_LR: rc = cli_opt_double(cmd, "--lr", optarg, 0, 1, HUGE_VAL, 0, &lr); break;
        case O_EPOCHS: rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &c.fo.epochs); break;
        case O_BATCH: rc = cli_opt_int(cmd, "--batch-size", optarg, 1, 1000000, &c.fo.batch_size); break;
        case O_VAL:
            rc = cli_opt_double(cmd, "--validation-split", optarg, 0, 0, 1, 1, &c.fo.validation_split);
            break;
        case O_PATIENCE: rc = cli_opt_int(cmd, "--patience", optarg, 0, 1000000, &c.fo.patience); break;
        case O_SEED: rc = cli_opt_u64(cmd, "--seed", optarg, &seed); break;
        case O_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 0, 4096, &c.fo.threads); break;
        case O_LOSS:
            if (!(rc = cli_opt_choice(cmd, "--loss", optarg, losses, 2, &v))) c.co.loss = (recur_loss)v;
            break;
        case O_MISSING:
            if (!(rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &v))) c.missing = (recur_missing)v;
            break;
        case O_SCALER:
            if (!(rc = cli_opt_choice(cmd, "--scaler", optarg, scalers, 2, &v)))
                c.pipe.scaler_kind = (recur_scaler_kind)v;
            break;
        case O_TRANSFORM:
            if (!(rc = cli_opt_choice(cmd, "--transform", optarg, transforms, 3, &v)))
                c.pipe.transform = (recur_transform)v;
            break;
        case O_CLIP: rc = cli_opt_double(cmd, "--clipnorm", optarg, 0, 0, HUGE_VAL, 0, &clip); break;
        case O_QUIET: c.quiet = 1; break;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &c.out); break;
        case O_PLOT_LOSS: rc = cli_opt_text(cmd, "--plot-loss", optarg, &c.plot_loss); break;
        case O_HISTORY: rc = cli_opt_text(cmd, "--history", optarg, &c.history); break;
        default: return cli_getopt_error(cmd, c_opt, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!c.data) return cli_usage(cmd, "--data: missing (the CSV file to train on)");
    if (!c.out) return cli_usage(cmd, "--out: missing (the model file to write)");

    c.co.optim = recur_optim_opts_default((recur_optimizer)kind);
    if (!isnan(lr)) c.co.optim.lr = lr;
    c.co.optim.clipnorm = clip;
    c.co.seed = seed;
    c.fo.seed = seed;

    rc = cli_train_run(cmd, &c, &s);
    if (rc == 0) {
        cli_preds pr;
        cli_report r;
        size_t *rows = NULL, n = 0;
        rc = cli_rows(&s, 0, &rows, &n);
        if (!rc) rc = cli_predict_rows(s.model, s.table, &s.pipe, rows, n, &pr);
        if (!rc) {
            cli_report_make(&pr, &s.ds, &r);
            cli_report_text(stdout, &r, &s);
            cli_report_free(&r);
            cli_preds_free(&pr);
        }
        free(rows);
    }
    cli_session_free(&s);
    return rc;
}
