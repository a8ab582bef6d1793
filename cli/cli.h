/*
 * cli.h -- shared pieces of the `recur` command-line tool.
 *
 * The tool is a thin client of recur.h: it parses options, calls the library,
 * prints. main.c dispatches and holds the option and error helpers;
 * cmd_common.c the training session (data, model, fit with progress and
 * signals); cmd_report.c predictions over table rows, scores against the
 * persistence baseline, and the CSV / plot writers. Each cmd_*.c file
 * implements one command (or a related pair) as `int cmd_x(argc, argv)`.
 *
 * Exit status: 0 success, 1 runtime error, 2 usage error, 128+signal when
 * training was interrupted (130 for Ctrl-C, 143 for SIGTERM). Every error is one line on
 * stderr: usage errors as `recur CMD: --option: what (got "text")`, runtime
 * errors as `recur: error: <library message>`. Results go to stdout, progress
 * and logs to stderr.
 */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include "recur.h"

#include <getopt.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* The tutorial model (Keras "stacked LSTM" stock example). */
#define CLI_TUTORIAL_SPEC "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)"

/* ====== Commands ====== */

int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_forecast(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_backtest(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* ====== Score tables (cmd_score.c; shared with backtest) ====== */

struct json_t;
/* Column titles, then one method's row: n, MAE, RMSE, MAPE%, sMAPE%, MASE
 * and, when level > 0, the coverage of the level% interval ("-" for NaN). */
void cli_scores_header(FILE *f, const char *first, double level);
void cli_scores_row(FILE *f, const char *name, const recur_scores *r, double level);
/* {"n","mae","rmse","mape","smape","mase"[,"coverageL"]}, NaN as null. */
struct json_t *cli_scores_json(const recur_scores *r, double level);
/* Prints o compactly on stdout and releases it; CLI_RUNTIME when o is NULL. */
int cli_json_print(struct json_t *o);

/* ====== Global models (cmd_panel.c) ====== */

/* `recur train` with --id-column or --preset: a forecaster over a panel. */
int cli_train_panel(int argc, char **argv);
/* `recur forecast` with a forecaster file: long rows with intervals. */
int cli_forecast_panel(int argc, char **argv);
/* 1 when argv holds one of the long options (as "--opt" or "--opt=..."). */
int cli_has_option(int argc, char **argv, const char *const *opts, int n);
/* The value of a long option in argv ("--opt V" or "--opt=V"), or NULL. */
const char *cli_option_value(int argc, char **argv, const char *opt);
int cmd_export(int argc, char **argv);

/* ====== Messages (main.c) ====== */

/* "recur CMD: <msg>" on stderr; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "recur: error: <msg>" on stderr; returns CLI_RUNTIME. */
int cli_errorf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The library's message, as "recur: error: <err->msg>"; returns CLI_RUNTIME. */
int cli_fail(const recur_error *err);
/* "recur: warning: <msg>" on stderr. */
void cli_warn(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Progress and logs on stderr (a plain fprintf, named so the intent shows). */
void cli_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ====== Option values (main.c) ======
 * Each returns 0 on success, else prints a usage error naming the command and
 * option and returns CLI_USAGE. Numbers are read whole (end pointer checked),
 * in range, finite. */

int cli_opt_int(const char *cmd, const char *opt, const char *arg, long lo, long hi, int *out);
int cli_opt_u64(const char *cmd, const char *opt, const char *arg, uint64_t *out);
/* lo/hi bounds with *_open = 1 for a strict bound; use -HUGE_VAL/HUGE_VAL for none. */
int cli_opt_double(const char *cmd, const char *opt, const char *arg, double lo, int lo_open, double hi, int hi_open,
                   double *out);
/* One of `names` (case-insensitive); *out is its index. */
int cli_opt_choice(const char *cmd, const char *opt, const char *arg, const char *const *names, int n, int *out);
/* Non-empty text. */
int cli_opt_text(const char *cmd, const char *opt, const char *arg, const char **out);

/* The --help lines of the options every command that scores a saved model
 * on a CSV shares (evaluate, predict, forecast). */
#define CLI_HELP_MODEL_DATA                                                                                      \
    "  --model MODEL           model file written by recur train (required)\n"                                 \
    "  --data FILE             CSV with the model's columns (required)\n"                                      \
    "  --missing MODE          empty/null/NaN cells: error, drop or ffill (default: the policy the\n"          \
    "                          model was trained with)\n"

/* Turns a getopt_long '?' or ':' result into a one-line usage error. */
int cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts);
/* Usage error for a stray positional argument, if any remain after getopt. */
int cli_no_positional(const char *cmd, int argc, char **argv);

/* ====== Files and time (main.c) ====== */

/* Runtime error unless the folder that would hold `path` exists and is writable. */
int cli_check_out_dir(const char *opt, const char *path);
/* Atomic text output: cli_out_open gives stdout for NULL or "-", else a temp
 * file beside `path`; cli_out_close flushes, fsyncs and renames it into place
 * (or removes the temp file when `ok` is 0). Both return 0 or CLI_RUNTIME. */
typedef struct {
    FILE *f;
    char tmp[4096];
    const char *path; /* NULL for stdout */
} cli_out;
int cli_out_open(cli_out *o, const char *opt, const char *path);
int cli_out_close(cli_out *o, int ok);
double cli_now(void); /* monotonic seconds */
/* One CSV field, quoted (with "" for ") when it holds a comma, quote or line
 * break (cmd_report.c). */
void cli_csv_field(FILE *f, const char *s);

/* ====== Training session (cmd_common.c) ====== */

typedef struct {
    recur_table *table;
    recur_pipeline pipe;
    recur_dataset ds;
    int have_ds;
    recur_model *model;
    recur_history hist;
    double *hist_buf; /* storage of hist.loss / hist.val_loss */
    double fit_seconds;
    const char *model_file; /* the model file loaded (cli_session_load), named in data errors */
    /* Set before cli_session_fit by train: */
    const char *checkpoint; /* save a checkpoint here at the end of every epoch (NULL: none) */
    const char *out;        /* the model file the run will write, named in messages */
    int lr_hint;            /* on divergence, suggest --lr and --clipnorm (the command has them) */
    /* Filled by cli_session_fit: */
    int first_epoch;          /* epochs done before this fit (a resumed checkpoint's) */
    recur_float *epoch_params; /* (n_params) weights at the end of the last complete epoch */
    int epoch_done;           /* that epoch, 1-based (0: none, not even a resumed one) */
    recur_train_state ts;     /* the state recorded in the checkpoint */
} cli_session;

void cli_session_free(cli_session *s);

/* The target column when --column is not given: "Close", or when `path`
 * has none, the close column of the common exports ("Close/Last", "Price",
 * ..., "Adj Close"), with a note on stderr (unless quiet) saying which. buf
 * holds the name as the file spells it. */
const char *cli_default_column(const char *path, char *buf, size_t cap, int quiet);
/* Fills s->pipe's features from a target and an optional comma list of
 * features (target appended when absent). Usage errors name --column/--features. */
int cli_pipe_columns(const char *cmd, recur_pipeline *p, const char *column, const char *features);

/* Reads `path` with the columns of s->pipe, then cuts the windows (fitting
 * s->pipe.scaler). Logs a data line unless quiet; warns about test targets
 * outside the training range. */
int cli_session_data(cli_session *s, const char *path, recur_missing missing, int quiet);

/* New model with `n_features` inputs from a spec, checked against the
 * pipeline's horizon (a final dense(1) is widened to dense(horizon) when
 * `widen`), compiled with `co`. `seq_ok` allows a sequence output (used for the
 * flattened-window MLP with T = 1). */
int cli_session_model(cli_session *s, const char *cmd, const char *spec, int n_features, int widen, int seq_ok,
                      const recur_compile_opts *co, int quiet);

/* Fits on the session's training windows (T = `T`, 1 for a flattened MLP) with
 * Keras-style progress on stderr (unless quiet) and SIGINT/SIGTERM stopping
 * after the current batch (or, in an epoch's last batch, after that epoch).
 * At every epoch end the weights are copied to s->epoch_params and, with
 * s->checkpoint, a checkpoint is saved (atomically; a failure stops training
 * with CLI_RUNTIME). fo.initial_epoch > 0 resumes (s->model holds that epoch).
 * Returns 0, CLI_RUNTIME (divergence: one line saying that nothing was saved
 * and what to change), or 128+signal after an interruption (the model then
 * holds the last completed batch's weights; s->epoch_params the last epoch's). */
int cli_session_fit(cli_session *s, recur_fit_opts fo, int T, int quiet);

/* Loads a model file with its pipeline and reads `data` with the pipeline's
 * columns; the windows are cut as in training but the saved scaler is kept
 * (with a warning when this file's training rows would scale differently).
 * missing < 0: the policy the model was trained with. */
int cli_session_load(cli_session *s, const char *model, const char *data, int missing);

/* 1 when two fitted scalers are the same, bit for bit. */
int cli_same_scaler(const recur_scaler *a, const recur_scaler *b);

/* Prints the model summary (and the spec) to `f`. */
void cli_print_summary(FILE *f, const recur_model *m, int timesteps);

/* ====== Models without a pipeline (cmd_import.c) ====== */

/* predict --windows: one window per line of `windows` ("-": stdin), T x F
 * numbers time-major, fed to the model as they are; one line of outputs per
 * window to `out` ("-": stdout). */
int cli_predict_windows(const char *model, const char *windows, const char *out);
/* The window length to show for a loaded model: its pipeline's, else a Keras
 * file's input T, else dflt. */
int cli_model_timesteps(const char *path, const recur_pipeline *p, int dflt);
/* train --init: s->model becomes the model in `path` (recur or Keras file),
 * compiled with `co`, with the file's weights and, for a Keras file, its
 * optimizer state when it has one for co's optimizer. The model must fit
 * s->pipe's columns and horizon. With `file_timestep`, s->pipe.timestep
 * becomes the file's (its pipeline's, or the Keras input T) when it has one. */
int cli_init_model(cli_session *s, const char *cmd, const char *path, int file_timestep, const recur_compile_opts *co,
                   int quiet);

/* ====== Training run (cmd_train.c; shared with demo) ====== */

/* Options of `train` that a resumed run must not change (cli_train_cfg.given). */
enum {
    CLI_G_COLUMN = 1 << 0, CLI_G_FEATURES = 1 << 1, CLI_G_MISSING = 1 << 2, CLI_G_TIMESTEP = 1 << 3,
    CLI_G_HORIZON = 1 << 4, CLI_G_TEST = 1 << 5, CLI_G_TRANSFORM = 1 << 6, CLI_G_SCALER = 1 << 7,
    CLI_G_LAYERS = 1 << 8, CLI_G_OPTIMIZER = 1 << 9, CLI_G_LR = 1 << 10, CLI_G_CLIPNORM = 1 << 11,
    CLI_G_LOSS = 1 << 12, CLI_G_BATCH = 1 << 13, CLI_G_VAL = 1 << 14, CLI_G_PATIENCE = 1 << 15,
    CLI_G_SEED = 1 << 16, CLI_G_EPOCHS = 1 << 17
};

typedef struct {
    const char *data, *out, *column, *features, *layers, *plot_loss, *history;
    const char *checkpoint; /* --checkpoint FILE: saved after every epoch */
    const char *resume;     /* --resume FILE: continue from this checkpoint */
    const char *init;       /* --init FILE: start from this model's weights (fine-tuning) */
    unsigned given;         /* CLI_G_* of the options given on the command line */
    recur_pipeline pipe;      /* timestep, horizon, test_fraction, transform, scaler_kind */
    recur_missing missing;
    recur_compile_opts co;
    recur_fit_opts fo;
    int quiet;
} cli_train_cfg;

void cli_train_defaults(cli_train_cfg *c);
/* Data, model (or the checkpoint c->resume), summary, fit, save (model +
 * pipeline to c->out), loss plot and history. Returns 0, CLI_RUNTIME/CLI_USAGE,
 * or 128+signal (the last complete epoch saved to c->out, if there is one). */
int cli_train_run(const char *cmd, const cli_train_cfg *c, cli_session *s);

/* ====== Predictions, scores, outputs (cmd_report.c) ====== */

typedef struct {
    size_t n;      /* samples */
    int h;         /* horizon */
    size_t *row;   /* (n) table row of each sample's first target */
    double *pred;  /* (n,h) model, data units */
    double *truth; /* (n,h) actual values */
    double *naive; /* (n) persistence: the actual value at row - 1 */
} cli_preds;

void cli_preds_free(cli_preds *pr);
/* Test rows (from the dataset) or, with all, every row with a full window. */
int cli_rows(const cli_session *s, int all, size_t **rows, size_t *n);
/* Windows for `rows` with the pipeline's saved scaler, the model's predictions
 * back in data units, the actual values and the persistence forecast. */
int cli_predict_rows(recur_model *m, const recur_table *t, const recur_pipeline *p, const size_t *rows, size_t n,
                     cli_preds *out);

typedef struct {
    double mae, rmse, mape; /* mape in %, NaN when every actual is 0 */
} cli_score;

typedef struct {
    size_t n_test;
    int horizon;
    cli_score model, naive;
    cli_score *step, *naive_step; /* (horizon) per step; NULL when horizon is 1 */
    int beats;                    /* model MAE < naive MAE */
    double gain_pct;              /* (naive MAE - MAE) / naive MAE * 100 */
    double above, below;          /* test targets outside the scaler's training range */
} cli_report;

void cli_report_make(const cli_preds *pr, const recur_dataset *ds, cli_report *r);
void cli_report_free(cli_report *r);
void cli_report_text(FILE *f, const cli_report *r, const cli_session *s);
int cli_report_json(FILE *f, const cli_report *r, const cli_session *s);
/* Warning on stderr when test targets leave the scaler's training range. */
void cli_warn_range(const cli_session *s);

/* date,true,predicted CSV (plus one column per further horizon step). */
int cli_write_preds_csv(const char *opt, const char *path, const recur_table *t, const cli_preds *pr);
/* Whole true series, predictions on their rows, train/test boundary. */
int cli_plot_preds(const char *path, const cli_session *s, const cli_preds *pr, const char *title);
/* Line plot of ser[0..n_series) over x (n values; days when dates) to path,
 * with a train/test marker at boundary_x unless it is NaN. 0 or an exit code. */
int cli_plot(const char *path, const char *title, const char *xlabel, const char *ylabel, const double *x, int dates,
             size_t n, const recur_plot_series *ser, int n_series, double boundary_x);
/* Training (and validation, NaN where none) loss of epochs first+1 ..
 * epochs_run (first > 0 after a resumed run, whose history starts there). */
int cli_plot_loss(const char *path, const double *loss, const double *val_loss, int epochs_run, int first,
                  const char *title);
/* 1 when the file's date column is a plain day number (1, 2, ... as in
 * EuStockMarkets' "day"), which is shown as numbers, not calendar dates. */
int cli_index_dates(const recur_table *t);
/* Date text of a row (its number when the file has no dates). */
void cli_row_label(const recur_table *t, size_t row, char *buf, size_t cap);

#endif
