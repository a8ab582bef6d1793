/*
 * cmd_train.c -- `recur train`: CSV -> pipeline -> windows -> model from a
 * spec -> fit -> save (model + pipeline) -> test scores against persistence.
 *
 * cli_train_run is the flow without option parsing; `recur demo` uses it too.
 * On SIGINT/SIGTERM fit stops after the current batch; the weights of the last
 * COMPLETE epoch are saved to --out (nothing when no epoch completed), the
 * --checkpoint file already holds that epoch, and the exit status is
 * 128+signal (130 for Ctrl-C, 143 for SIGTERM). The model is not scored.
 * --resume continues from a checkpoint with the checkpoint's options (only
 * --epochs may change, upwards) and ends bit-identical to an uninterrupted run.
 * A diverged run writes nothing.
 */
#include "cli.h"
#include "mpi_glue.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const optimizers[] = {"rmsprop", "adam", "sgd", "rmsprop-keras2"};
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
           "Many series in one long CSV (unique_id,ds,y): --id-column C trains one global\n"
           "model on all of them, --preset forecast selects the recommended recipe; see\n"
           "`recur train --preset forecast --help`.\n"
           "\n"
           "Data:\n"
           "  --data FILE             CSV file with a header row (required)\n"
           "  --column NAME           target column (default: Close; without one, the close of other\n"
           "                          exports: Close/Last, Close Price, Last, Price, Adj Close)\n"
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
           "                          (lstm and gru also take a gate: hard_sigmoid or hard_sigmoid_k2)\n"
           "                          dense(N[,relu|tanh|sigmoid|linear]) dropout(R)\n"
           "                          The model must output one value per --horizon step: with\n"
           "                          --horizon H > 1 a final dense(1) is widened to dense(H); any other\n"
           "                          mismatch is an error.\n"
           "\n");
    printf("Training:\n"
           "  --optimizer NAME        rmsprop, adam, sgd or rmsprop-keras2 (Keras 2's RMSprop: epsilon\n"
           "                          added to sqrt(v), as the tutorial ran) (default: rmsprop)\n"
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
           "  --checkpoint FILE       save a resumable checkpoint (model + optimizer + training\n"
           "                          state) after every epoch (default: none)\n"
           "  --init FILE             start from the weights of a model file or Keras file (.keras,\n"
           "                          .h5) instead of --layers (fine-tuning), with the Keras file's\n"
           "                          optimizer state when it has one for --optimizer; --timestep\n"
           "                          defaults to the file's\n"
           "  --resume FILE           continue from a checkpoint: same data, the checkpoint's options;\n"
           "                          only --epochs may be raised; keeps checkpointing to FILE\n"
           "                          unless --checkpoint names another file\n"
           "  --quiet                 no summary or progress on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Ctrl-C (or SIGTERM) stops after the current batch, saves the weights of the last complete\n"
           "epoch to --out and exits with 130 (143); with --checkpoint, --resume continues from there.\n"
           "\n"
           "Across processes (recur built with make MPI=1; docs/scaling.md):\n"
           "  mpirun -np N recur train ...   each batch split across N ranks; rank 0 writes the same\n"
           "                                 model file one process writes, byte for byte\n"
           "\n"
           "Example:\n"
           "  recur train --data data/AAPL.csv --column Close --epochs 50 --out aapl.safetensors\n"
           "  recur train --data data/AAPL.csv --transform diff --layers \"gru(32) dense(1)\" --out d.safetensors\n"
           "  recur train --data data/AAPL.csv --epochs 200 --checkpoint c.ckpt --out m.safetensors\n"
           "  recur train --data data/AAPL.csv --resume c.ckpt --out m.safetensors\n");
}

/* ====== The flow ====== */

static int write_history(const char *path, const recur_history *h, int first)
{
    cli_out o;
    int has_val = 0, rc = cli_out_open(&o, "--history", path);
    if (rc) return rc;
    for (int i = first; i < h->epochs_run; i++)
        if (!isnan(h->val_loss[i])) has_val = 1;
    fprintf(o.f, "epoch,loss%s\n", has_val ? ",val_loss" : "");
    for (int i = first; i < h->epochs_run; i++) {
        fprintf(o.f, "%d,%.9g", i + 1, h->loss[i]);
        if (has_val) fprintf(o.f, ",%.9g", h->val_loss[i]);
        fputc('\n', o.f);
    }
    return cli_out_close(&o, 1);
}

/* 1 when a and b name the same file (same text, or the same existing inode). */
static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    if (strcmp(a, b) == 0) return 1;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* ====== Resuming ====== */

/* Usage error: an option given with --resume disagrees with the checkpoint. */
static int differs(const char *cmd, const char *opt, const char *got, const char *saved, const char *ckpt)
{
    return cli_usage(cmd,
                     "%s: %s differs from the checkpoint's %s (%s); a resumed run keeps the checkpoint's options: "
                     "leave %s out, or start a new run without --resume",
                     opt, got, saved, ckpt, opt);
}

/* The canonical spec of a model (malloc'd). */
static char *spec_of(const recur_model *m)
{
    size_t n = recur_model_spec(m, NULL, 0);
    char *buf = malloc(n + 1);
    if (buf) recur_model_spec(m, buf, n + 1);
    return buf;
}

static int resume_layers(const char *cmd, const cli_train_cfg *c, const cli_session *s)
{
    cli_session t;
    memset(&t, 0, sizeof t);
    t.pipe.horizon = s->pipe.horizon;
    int rc = cli_session_model(&t, cmd, c->layers, s->pipe.n_features, 1, 0, recur_model_compile_opts(s->model), 1);
    if (rc) return rc;
    char *got = spec_of(t.model), *saved = spec_of(s->model);
    if (!got || !saved) rc = cli_errorf("out of memory");
    else if (strcmp(got, saved) != 0) rc = differs(cmd, "--layers", got, saved, c->resume);
    free(got);
    free(saved);
    cli_session_free(&t);
    return rc;
}

static int resume_columns(const char *cmd, const cli_train_cfg *c, const cli_session *s)
{
    const recur_pipeline *p = &s->pipe;
    if ((c->given & CLI_G_COLUMN) && strcasecmp(c->column, p->features[p->target]) != 0)
        return differs(cmd, "--column", c->column, p->features[p->target], c->resume);
    if (!(c->given & CLI_G_FEATURES)) return 0;
    recur_pipeline q;
    memset(&q, 0, sizeof q);
    int rc = cli_pipe_columns(cmd, &q, (c->given & CLI_G_COLUMN) ? c->column : p->features[p->target], c->features);
    if (rc) return rc;
    int same = q.n_features == p->n_features && q.target == p->target;
    for (int j = 0; same && j < q.n_features; j++) same = strcasecmp(q.features[j], p->features[j]) == 0;
    if (same) return 0;
    char list[RECUR_SCALER_MAX * 66] = "";
    for (int j = 0; j < p->n_features; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? "," : "", p->features[j]);
    return differs(cmd, "--features", c->features, list, c->resume);
}

/* Every option given beside --resume must agree with the checkpoint. */
static int resume_check(const char *cmd, const cli_train_cfg *c, const cli_session *s, const recur_train_state *ts)
{
    const recur_pipeline *p = &s->pipe;
    const recur_compile_opts *co = recur_model_compile_opts(s->model);
    const char *ck = c->resume;
    char a[64], b[64];
    int rc;
    if ((rc = resume_columns(cmd, c, s))) return rc;
    if ((c->given & CLI_G_MISSING) && c->missing != p->missing)
        return differs(cmd, "--missing", missings[c->missing], missings[p->missing], ck);
#define INT_SAME(bit, opt, mine, theirs)                                                                              \
    if ((c->given & (bit)) && (mine) != (theirs)) {                                                                  \
        snprintf(a, sizeof a, "%d", (int)(mine));                                                                    \
        snprintf(b, sizeof b, "%d", (int)(theirs));                                                                  \
        return differs(cmd, opt, a, b, ck);                                                                          \
    }
#define REAL_SAME(bit, opt, mine, theirs)                                                                             \
    if ((c->given & (bit)) && (mine) != (theirs)) {                                                                  \
        snprintf(a, sizeof a, "%g", (double)(mine));                                                                 \
        snprintf(b, sizeof b, "%g", (double)(theirs));                                                               \
        if (strcmp(a, b) == 0) { /* they differ beyond 6 digits */                                                  \
            snprintf(a, sizeof a, "%.17g", (double)(mine));                                                          \
            snprintf(b, sizeof b, "%.17g", (double)(theirs));                                                        \
        }                                                                                                            \
        return differs(cmd, opt, a, b, ck);                                                                          \
    }
    INT_SAME(CLI_G_TIMESTEP, "--timestep", c->pipe.timestep, p->timestep)
    INT_SAME(CLI_G_HORIZON, "--horizon", c->pipe.horizon, p->horizon)
    REAL_SAME(CLI_G_TEST, "--test-fraction", c->pipe.test_fraction, p->test_fraction)
    if ((c->given & CLI_G_TRANSFORM) && c->pipe.transform != p->transform)
        return differs(cmd, "--transform", transforms[c->pipe.transform], transforms[p->transform], ck);
    if ((c->given & CLI_G_SCALER) && c->pipe.scaler_kind != p->scaler_kind)
        return differs(cmd, "--scaler", scalers[c->pipe.scaler_kind], scalers[p->scaler_kind], ck);
    if ((c->given & CLI_G_OPTIMIZER) && c->co.optim.kind != co->optim.kind)
        return differs(cmd, "--optimizer", optimizers[c->co.optim.kind], optimizers[co->optim.kind], ck);
    REAL_SAME(CLI_G_LR, "--lr", c->co.optim.lr, co->optim.lr)
    REAL_SAME(CLI_G_CLIPNORM, "--clipnorm", c->co.optim.clipnorm, co->optim.clipnorm)
    if ((c->given & CLI_G_LOSS) && c->co.loss != co->loss)
        return differs(cmd, "--loss", losses[c->co.loss], losses[co->loss], ck);
    INT_SAME(CLI_G_BATCH, "--batch-size", c->fo.batch_size, ts->batch_size)
    REAL_SAME(CLI_G_VAL, "--validation-split", c->fo.validation_split, ts->validation_split)
    INT_SAME(CLI_G_PATIENCE, "--patience", c->fo.patience, ts->patience)
    if ((c->given & CLI_G_SEED) && (c->fo.seed != ts->seed || c->co.seed != co->seed)) {
        snprintf(a, sizeof a, "%llu", (unsigned long long)c->fo.seed);
        snprintf(b, sizeof b, "%llu", (unsigned long long)ts->seed);
        return differs(cmd, "--seed", a, b, ck);
    }
#undef INT_SAME
#undef REAL_SAME
    if (c->given & CLI_G_LAYERS) return resume_layers(cmd, c, s);
    return 0;
}

/* Loads the checkpoint into the session and turns its state into fit options. */
static int resume_load(const char *cmd, const cli_train_cfg *c, cli_session *s, recur_fit_opts *fo)
{
    recur_error err;
    recur_train_state ts;
    int rc;
    if (recur_model_load_checkpoint(c->resume, &s->model, &s->pipe, &ts, &err) != RECUR_OK) return cli_fail(&err);
    if (s->pipe.n_features < 1)
        return cli_errorf("%s: the checkpoint holds no data pipeline (columns, window, scaler), so recur train "
                          "cannot resume it; write checkpoints with recur train --checkpoint",
                          c->resume);
    if ((rc = resume_check(cmd, c, s, &ts))) return rc;
    if (ts.patience > 0 && ts.wait >= ts.patience)
        return cli_errorf("%s: that training ended by early stopping after epoch %d (%d epoch%s without "
                          "improvement), so there is nothing to resume; start a new run to train further",
                          c->resume, ts.epoch, ts.wait, ts.wait == 1 ? "" : "s");
    fo->epochs = (c->given & CLI_G_EPOCHS) ? c->fo.epochs : ts.epochs;
    if (fo->epochs <= ts.epoch) {
        if (c->given & CLI_G_EPOCHS)
            return cli_usage(cmd, "--epochs: %d is not more than the %d epochs checkpoint %s has done; give a larger "
                                  "number to train further",
                             fo->epochs, ts.epoch, c->resume);
        return cli_usage(cmd, "--epochs: checkpoint %s has done all its %d epochs; give --epochs N with N > %d to "
                              "train further",
                         c->resume, ts.epoch, ts.epoch);
    }
    fo->batch_size = ts.batch_size;
    fo->seed = ts.seed;
    fo->validation_split = ts.validation_split;
    fo->patience = ts.patience;
    fo->shuffle = ts.shuffle;
    fo->initial_epoch = ts.epoch;
    fo->initial_best = ts.best;
    fo->initial_best_epoch = ts.best_epoch;
    fo->initial_wait = ts.wait;
    return 0;
}

/* ====== The flow ====== */

/* SIGINT/SIGTERM: --out gets the last complete epoch (the checkpoint holds it too). */
static int interrupted(const cli_train_cfg *c, cli_session *s, int fit, const char *ckpt)
{
    recur_error err;
    const char *sig = fit - 128 == SIGTERM ? "SIGTERM" : "SIGINT";
    if (s->epoch_done == 0) {
        fprintf(stderr, "recur: interrupted by %s before the first epoch completed; nothing was saved (%s unchanged)\n",
                sig, c->out);
        return fit;
    }
    memcpy(recur_model_params(s->model), s->epoch_params, recur_model_n_params(s->model) * sizeof(recur_float));
    if (recur_model_save(s->model, &s->pipe, c->out, &err) != RECUR_OK) return cli_fail(&err);
    if (ckpt)
        fprintf(stderr, "recur: interrupted by %s; saved epoch %d (the last complete one) to %s and %s; continue with: "
                        "recur train --resume %s --data %s --out %s\n",
                sig, s->epoch_done, c->out, ckpt, ckpt, c->data, c->out);
    else
        fprintf(stderr, "recur: interrupted by %s; saved epoch %d (the last complete one) to %s (train with "
                        "--checkpoint FILE to be able to resume)\n",
                sig, s->epoch_done, c->out);
    return fit;
}

int cli_train_run(const char *cmd, const cli_train_cfg *c, cli_session *s)
{
    recur_error err;
    recur_fit_opts fo = c->fo;
    recur_missing missing = c->missing;
    const char *ckpt = c->checkpoint ? c->checkpoint : c->resume; /* a resumed run keeps checkpointing */
    int rc, root = cli_mpi_root(); /* under mpirun, rank 0 alone writes files */
    /* Fail before hours of training, not after. */
    if (root && (rc = cli_check_out_dir("--out", c->out))) return rc;
    if (root && ckpt && (rc = cli_check_out_dir(c->checkpoint ? "--checkpoint" : "--resume", ckpt))) return rc;
    if (root && c->plot_loss && (rc = cli_check_out_dir("--plot-loss", c->plot_loss))) return rc;
    if (root && c->history && (rc = cli_check_out_dir("--history", c->history))) return rc;
    if (ckpt && same_file(ckpt, c->out))
        return cli_usage(cmd, "--out: \"%s\" is also the checkpoint; give the model and the checkpoint different "
                              "files",
                         c->out);

    if (c->resume) {
        if ((rc = resume_load(cmd, c, s, &fo))) return rc;
        missing = s->pipe.missing;
    } else {
        s->pipe = c->pipe;
        char close[256];
        const char *column = (c->given & CLI_G_COLUMN) ? c->column : cli_default_column(c->data, close, sizeof close, c->quiet);
        if ((rc = cli_pipe_columns(cmd, &s->pipe, column, c->features))) return rc;
        /* The model needs only the column count and the horizon: build it first so
         * that a bad spec is reported before any file is read. */
        if (c->init) rc = cli_init_model(s, cmd, c->init, !(c->given & CLI_G_TIMESTEP), &c->co, c->quiet);
        else rc = cli_session_model(s, cmd, c->layers, s->pipe.n_features, 1, 0, &c->co, c->quiet);
        if (rc) return rc;
    }
    recur_scaler saved = s->pipe.scaler;
    if ((rc = cli_session_data(s, c->data, missing, c->quiet))) return rc;
    if (c->resume && !cli_same_scaler(&saved, &s->pipe.scaler))
        return cli_errorf("%s: its training rows are not the data checkpoint %s was trained on (they scale "
                          "differently); resume with the same data file",
                          c->data, c->resume);
    cli_warn_range(s);
    if (!c->quiet) cli_print_summary(stderr, s->model, s->pipe.timestep);
    if (c->resume && !c->quiet)
        cli_log("resuming %s after epoch %d: epochs %d..%d\n", c->resume, fo.initial_epoch, fo.initial_epoch + 1,
                fo.epochs);

    s->checkpoint = root ? ckpt : NULL;
    s->out = c->out;
    s->lr_hint = 1;
    if ((rc = cli_mpi_ready(0))) return rc; /* every rank has its data: train together */
    int fit = cli_session_fit(s, fo, s->pipe.timestep, c->quiet);
    if (!root) return fit;
    if (fit != 0 && fit < 128) return fit;
    if (fit >= 128) return interrupted(c, s, fit, ckpt);
    if (fo.initial_epoch > 0 && fo.patience > 0 && fo.restore_best && s->hist.best_epoch > 0 &&
        s->hist.best_epoch < fo.initial_epoch)
        cli_warn("the best epoch (%d) came before the checkpoint, which does not hold its weights; kept the weights "
                 "of epoch %d, where the checkpoint was taken",
                 s->hist.best_epoch, fo.initial_epoch);
    if (recur_model_save(s->model, &s->pipe, c->out, &err) != RECUR_OK) return cli_fail(&err);
    if (!c->quiet) cli_log("saved %s (%.1fs of training)\n", c->out, s->fit_seconds);
    if (c->plot_loss) {
        const recur_history *h = &s->hist;
        rc = cli_plot_loss(c->plot_loss, h->loss, h->val_loss, h->epochs_run, s->first_epoch, "training loss");
        if (rc) return rc;
    }
    if (c->history && (rc = write_history(c->history, &s->hist, s->first_epoch))) return rc;
    return 0;
}

/* ====== Options ====== */

enum {
    O_DATA = 256, O_COLUMN, O_FEATURES, O_TIMESTEP, O_HORIZON, O_TEST, O_LAYERS, O_OPT, O_LR, O_EPOCHS, O_BATCH,
    O_VAL, O_PATIENCE, O_SEED, O_THREADS, O_LOSS, O_MISSING, O_SCALER, O_TRANSFORM, O_CLIP, O_QUIET, O_OUT,
    O_PLOT_LOSS, O_HISTORY, O_CHECKPOINT, O_RESUME, O_INIT
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
    {"checkpoint", required_argument, NULL, O_CHECKPOINT},
    {"resume", required_argument, NULL, O_RESUME},
    {"init", required_argument, NULL, O_INIT},
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

    /* Many series, or a recipe: a forecaster (cmd_panel.c). */
    static const char *const panel_opts[] = {"--id-column", "--preset"};
    if (cli_has_option(argc, argv, panel_opts, 2)) return cli_train_panel(argc, argv);

    cli_train_defaults(&c);
    memset(&s, 0, sizeof s);
    opterr = 0;
    while ((c_opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c_opt) {
        case 'h': help(); return CLI_OK;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &c.data); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &c.column), c.given |= CLI_G_COLUMN; break;
        case O_FEATURES: rc = cli_opt_text(cmd, "--features", optarg, &c.features), c.given |= CLI_G_FEATURES; break;
        case O_TIMESTEP:
            rc = cli_opt_int(cmd, "--timestep", optarg, 1, 1000000, &c.pipe.timestep), c.given |= CLI_G_TIMESTEP;
            break;
        case O_HORIZON:
            rc = cli_opt_int(cmd, "--horizon", optarg, 1, 1000000, &c.pipe.horizon), c.given |= CLI_G_HORIZON;
            break;
        case O_TEST:
            rc = cli_opt_double(cmd, "--test-fraction", optarg, 0, 1, 1, 1, &c.pipe.test_fraction);
            c.given |= CLI_G_TEST;
            break;
        case O_LAYERS: rc = cli_opt_text(cmd, "--layers", optarg, &c.layers), c.given |= CLI_G_LAYERS; break;
        case O_OPT:
            rc = cli_opt_choice(cmd, "--optimizer", optarg, optimizers, 4, &kind), c.given |= CLI_G_OPTIMIZER;
            break;
        case O_LR: rc = cli_opt_double(cmd, "--lr", optarg, 0, 1, HUGE_VAL, 0, &lr), c.given |= CLI_G_LR; break;
        case O_EPOCHS:
            rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &c.fo.epochs), c.given |= CLI_G_EPOCHS;
            break;
        case O_BATCH:
            rc = cli_opt_int(cmd, "--batch-size", optarg, 1, 1000000, &c.fo.batch_size), c.given |= CLI_G_BATCH;
            break;
        case O_VAL:
            rc = cli_opt_double(cmd, "--validation-split", optarg, 0, 0, 1, 1, &c.fo.validation_split);
            c.given |= CLI_G_VAL;
            break;
        case O_PATIENCE:
            rc = cli_opt_int(cmd, "--patience", optarg, 0, 1000000, &c.fo.patience), c.given |= CLI_G_PATIENCE;
            break;
        case O_SEED: rc = cli_opt_u64(cmd, "--seed", optarg, &seed), c.given |= CLI_G_SEED; break;
        case O_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 0, 4096, &c.fo.threads); break;
        case O_LOSS:
            if (!(rc = cli_opt_choice(cmd, "--loss", optarg, losses, 2, &v))) c.co.loss = (recur_loss)v;
            c.given |= CLI_G_LOSS;
            break;
        case O_MISSING:
            if (!(rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &v))) c.missing = (recur_missing)v;
            c.given |= CLI_G_MISSING;
            break;
        case O_SCALER:
            if (!(rc = cli_opt_choice(cmd, "--scaler", optarg, scalers, 2, &v)))
                c.pipe.scaler_kind = (recur_scaler_kind)v;
            c.given |= CLI_G_SCALER;
            break;
        case O_TRANSFORM:
            if (!(rc = cli_opt_choice(cmd, "--transform", optarg, transforms, 3, &v)))
                c.pipe.transform = (recur_transform)v;
            c.given |= CLI_G_TRANSFORM;
            break;
        case O_CLIP:
            rc = cli_opt_double(cmd, "--clipnorm", optarg, 0, 0, HUGE_VAL, 0, &clip), c.given |= CLI_G_CLIPNORM;
            break;
        case O_QUIET: c.quiet = 1; break;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &c.out); break;
        case O_PLOT_LOSS: rc = cli_opt_text(cmd, "--plot-loss", optarg, &c.plot_loss); break;
        case O_HISTORY: rc = cli_opt_text(cmd, "--history", optarg, &c.history); break;
        case O_CHECKPOINT: rc = cli_opt_text(cmd, "--checkpoint", optarg, &c.checkpoint); break;
        case O_RESUME: rc = cli_opt_text(cmd, "--resume", optarg, &c.resume); break;
        case O_INIT: rc = cli_opt_text(cmd, "--init", optarg, &c.init); break;
        default: return cli_getopt_error(cmd, c_opt, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!c.data) return cli_usage(cmd, "--data: missing (the CSV file to train on)");
    if (!c.out) return cli_usage(cmd, "--out: missing (the model file to write)");
    if (c.init && (c.resume || (c.given & CLI_G_LAYERS)))
        return cli_usage(cmd, "--init: not with %s (the model comes from the --init file)",
                         c.resume ? "--resume" : "--layers");

    c.co.optim = recur_optim_opts_default((recur_optimizer)kind);
    if (!isnan(lr)) c.co.optim.lr = lr;
    c.co.optim.clipnorm = clip;
    c.co.seed = seed;
    c.fo.seed = seed;
    c.fo.peers = cli_mpi_peers(); /* under mpirun: data-parallel */

    rc = cli_train_run(cmd, &c, &s);
    if (rc == 0 && cli_mpi_root()) {
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
