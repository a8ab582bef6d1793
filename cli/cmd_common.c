/*
 * cmd_common.c -- the training session shared by train, compare and demo:
 * CSV -> pipeline -> windows, model from a spec, fit with Keras-style progress
 * and clean stopping on SIGINT/SIGTERM.
 *
 * Progress goes to stderr: on a terminal, "Epoch 3/50" and a bar rewritten
 * with \r after each batch; otherwise one line per epoch. Signals only set a
 * flag; the progress callback returns non-zero when it is set, so fit stops
 * after the current batch (after the epoch, when it was the epoch's last
 * batch) and keeps that batch's weights. At each epoch end the callback keeps
 * a copy of the weights (what an interrupted `train` saves) and writes the
 * --checkpoint file.
 */
#include "cli.h"
#include "mpi_glue.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ====== Session ====== */

void cli_session_free(cli_session *s)
{
    if (s->have_ds) recur_dataset_free(&s->ds);
    recur_table_free(s->table);
    recur_model_free(s->model);
    free(s->hist_buf);
    free(s->epoch_params);
    memset(s, 0, sizeof *s);
}

/* Appends a feature name unless present (case-insensitive); its index in *at. */
static int add_feature(const char *cmd, const char *opt, recur_pipeline *p, const char *name, size_t len, int *at)
{
    for (int i = 0; i < p->n_features; i++)
        if (strlen(p->features[i]) == len && strncasecmp(p->features[i], name, len) == 0) {
            *at = i;
            return 0;
        }
    if (len == 0) return cli_usage(cmd, "%s: empty column name", opt);
    if (len >= sizeof p->features[0])
        return cli_usage(cmd, "%s: column name \"%.20s...\" is longer than %d characters", opt, name,
                         (int)sizeof p->features[0] - 1);
    if (p->n_features >= RECUR_SCALER_MAX) return cli_usage(cmd, "%s: more than %d columns", opt, RECUR_SCALER_MAX);
    memcpy(p->features[p->n_features], name, len);
    p->features[p->n_features][len] = '\0';
    *at = p->n_features++;
    return 0;
}

const char *cli_default_column(const char *path, char *buf, size_t cap, int quiet)
{
    /* Yahoo's "Close" first; then the names other exports give a daily close
     * (Nasdaq "Close/Last", Investing.com "Price", ...); an adjusted close
     * only when there is no plain one. */
    static const char *const names[] = {"Close", "Close/Last", "Close Price", "Last", "Price", "Adj Close"};
    int which = -1;
    if (recur_csv_pick_column(path, names, (int)(sizeof names / sizeof names[0]), buf, cap, &which, NULL) ||
        which < 0)
        return "Close"; /* reading the file says what is wrong with it */
    if (which > 0 && !quiet)
        cli_log("recur: note: %s has no column \"Close\"; using \"%s\" as the close (--column picks another)\n", path,
                buf);
    return buf;
}

int cli_pipe_columns(const char *cmd, recur_pipeline *p, const char *column, const char *features)
{
    int at, rc;
    p->n_features = 0;
    if (features) {
        const char *s = features;
        for (;;) {
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) : strlen(s);
            while (len > 0 && (*s == ' ')) s++, len--;
            while (len > 0 && s[len - 1] == ' ') len--;
            if ((rc = add_feature(cmd, "--features", p, s, len, &at))) return rc;
            if (!comma) break;
            s = comma + 1;
        }
    }
    if ((rc = add_feature(cmd, "--column", p, column, strlen(column), &at))) return rc;
    p->target = at;
    return 0;
}

int cli_session_data(cli_session *s, const char *path, recur_missing missing, int quiet)
{
    recur_error err;
    recur_csv_opts o = recur_csv_opts_default();
    const char *cols[RECUR_SCALER_MAX];
    for (int i = 0; i < s->pipe.n_features; i++) cols[i] = s->pipe.features[i];
    o.columns = cols;
    o.n_columns = s->pipe.n_features;
    o.missing = missing;
    s->pipe.missing = missing; /* saved with the model: evaluate, predict, forecast use it */
    if (recur_table_read_csv(path, &o, &s->table, &err) != RECUR_OK) {
        if (s->model_file && strstr(err.msg, "no column")) {
            /* Scoring data without the model's columns: say which ones it needs. */
            char need[RECUR_SCALER_MAX * 68] = "";
            for (int i = 0; i < s->pipe.n_features; i++)
                snprintf(need + strlen(need), sizeof need - strlen(need), "%s\"%s\"", i ? ", " : "",
                         s->pipe.features[i]);
            return cli_errorf("%s; model %s was trained on column%s %s", err.msg, s->model_file,
                              s->pipe.n_features == 1 ? "" : "s", need);
        }
        return cli_fail(&err);
    }
    /* Keep the file's own spelling of the names in the saved pipeline. */
    for (int i = 0; i < s->pipe.n_features && i < recur_table_cols(s->table); i++) {
        const char *name = recur_table_col_name(s->table, i);
        if (name && strlen(name) < sizeof s->pipe.features[i]) strcpy(s->pipe.features[i], name);
    }
    if (recur_dataset_make(s->table, &s->pipe, &s->ds, &err) != RECUR_OK) return cli_fail(&err);
    s->have_ds = 1;
    if (!quiet) {
        size_t rows = recur_table_rows(s->table);
        char first[64], last[64];
        cli_row_label(s->table, 0, first, sizeof first);
        cli_row_label(s->table, rows ? rows - 1 : 0, last, sizeof last);
        cli_log("data: %s: %zu rows (%s .. %s), target %s, %d feature%s; %zu training rows -> %zu windows, "
                "%zu test windows (T=%d, horizon %d)\n",
                path, rows, first, last, s->pipe.features[s->pipe.target], s->pipe.n_features,
                s->pipe.n_features == 1 ? "" : "s", s->ds.n_train_rows, s->ds.n_train, s->ds.n_test,
                s->pipe.timestep, s->pipe.horizon);
        if (recur_table_n_missing(s->table) > 0)
            cli_log("data: %zu rows had missing values (%s)\n", recur_table_n_missing(s->table),
                    missing == RECUR_MISSING_DROP ? "dropped" : "filled forward");
    }
    return 0;
}

int cli_same_scaler(const recur_scaler *a, const recur_scaler *b)
{
    if (a->kind != b->kind || a->n != b->n) return 0;
    for (int j = 0; j < a->n && j < RECUR_SCALER_MAX; j++)
        if (a->a[j] != b->a[j] || a->b[j] != b->b[j]) return 0;
    return 1;
}

int cli_session_load(cli_session *s, const char *model, const char *data, int missing)
{
    recur_error err;
    if (recur_model_load(model, &s->model, &s->pipe, &err) != RECUR_OK) return cli_fail(&err);
    if (s->pipe.n_features < 1 || s->pipe.n_features > RECUR_SCALER_MAX)
        return cli_errorf("%s: the file holds no data pipeline (columns, window, scaler); save models with "
                          "\"recur train\" or recur_model_save with a pipeline",
                          model);
    recur_scaler saved = s->pipe.scaler;
    s->model_file = model;
    int rc = cli_session_data(s, data, missing < 0 ? s->pipe.missing : (recur_missing)missing, 1);
    if (rc) return rc;
    if (!cli_same_scaler(&saved, &s->pipe.scaler))
        cli_warn("%s: the training rows of %s would scale differently from the data the model was trained on; "
                 "using the model's saved scaler",
                 model, data);
    s->pipe.scaler = saved;
    return 0;
}

/* ====== Model ====== */

static recur_status add_like(recur_model *m, const recur_layer_info *L, int units, recur_error *err)
{
    switch (L->kind) {
    case RECUR_LAYER_LSTM: return recur_model_add_lstm(m, units, L->return_sequences, err);
    case RECUR_LAYER_GRU: return recur_model_add_gru(m, units, L->return_sequences, L->reset_after, err);
    case RECUR_LAYER_RNN: return recur_model_add_rnn(m, units, L->return_sequences, err);
    case RECUR_LAYER_DENSE: return recur_model_add_dense(m, units, L->act, err);
    case RECUR_LAYER_DROPOUT: return recur_model_add_dropout(m, L->rate, err);
    }
    return RECUR_E_INVALID;
}

/* Same layers with the last Dense widened to `units`. */
static recur_status widen_last(recur_model **m, int n_features, int units, recur_error *err)
{
    recur_model *w = NULL;
    recur_status st = recur_model_new(n_features, &w, err);
    int n = recur_model_n_layers(*m);
    for (int i = 0; st == RECUR_OK && i < n; i++) {
        recur_layer_info L;
        st = recur_model_layer(*m, i, &L, err);
        if (st == RECUR_OK) st = add_like(w, &L, i == n - 1 ? units : L.units, err);
    }
    if (st != RECUR_OK) {
        recur_model_free(w);
        return st;
    }
    recur_model_free(*m);
    *m = w;
    return RECUR_OK;
}

int cli_session_model(cli_session *s, const char *cmd, const char *spec, int n_features, int widen, int seq_ok,
                      const recur_compile_opts *co, int quiet)
{
    recur_error err;
    recur_model *m = NULL;
    int H = s->pipe.horizon;
    if (recur_model_new(n_features, &m, &err) != RECUR_OK) return cli_fail(&err);
    if (recur_model_add_spec(m, spec, &err) != RECUR_OK) {
        recur_model_free(m);
        return cli_usage(cmd, "--layers: %s", err.msg);
    }
    if (recur_model_returns_sequences(m) && !seq_ok) {
        recur_model_free(m);
        return cli_usage(cmd, "--layers: the model outputs a whole sequence; end it with a layer that returns one "
                              "step, e.g. \"lstm(50) dense(%d)\"",
                         H);
    }
    if (recur_model_n_outputs(m) != H) {
        recur_layer_info L;
        int n = recur_model_n_layers(m);
        int ok = recur_model_layer(m, n - 1, &L, NULL) == RECUR_OK && L.kind == RECUR_LAYER_DENSE && L.units == 1;
        if (widen && ok && H > 1) {
            if (widen_last(&m, n_features, H, &err) != RECUR_OK) {
                recur_model_free(m);
                return cli_fail(&err);
            }
            if (!quiet) cli_log("model: the final dense(1) became dense(%d), one output per --horizon step\n", H);
        } else {
            int O = recur_model_n_outputs(m);
            recur_model_free(m);
            return cli_usage(cmd, "--layers: the model outputs %d value%s per window but --horizon is %d; end the "
                                  "spec with dense(%d)",
                             O, O == 1 ? "" : "s", H, H);
        }
    }
    if (recur_model_compile(m, co, &err) != RECUR_OK) {
        recur_model_free(m);
        return cli_fail(&err);
    }
    recur_model_free(s->model);
    s->model = m;
    return 0;
}

void cli_print_summary(FILE *f, const recur_model *m, int timesteps)
{
    char small[4096], *buf = small;
    size_t need = recur_model_summary(m, timesteps, small, sizeof small);
    if (need >= sizeof small && (buf = malloc(need + 1)) != NULL)
        recur_model_summary(m, timesteps, buf, need + 1);
    if (!buf) buf = small;
    fputs(buf, f);
    if (buf[0] && buf[strlen(buf) - 1] != '\n') fputc('\n', f);
    if (buf != small) free(buf);

    size_t len = recur_model_spec(m, NULL, 0);
    char *spec = malloc(len + 1);
    if (spec) {
        recur_model_spec(m, spec, len + 1);
        fprintf(f, "Spec: %s\n", spec);
        free(spec);
    }
}

/* ====== Signals ====== */

static volatile sig_atomic_t got_signal;
static struct sigaction old_int, old_term;

static void on_signal(int sig)
{
    got_signal = sig;
    cli_mpi_signal(sig); /* under mpirun: rank 0 says so if the others no longer answer */
}

static void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
#ifdef SA_RESTART
    sa.sa_flags |= SA_RESTART; /* (writes to regular files are not interrupted anyway) */
#endif
    got_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

static void signals_restore(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

/* ====== Progress ====== */

typedef struct {
    cli_session *s;
    int quiet, tty;
    int ckpt_failed;     /* saving the checkpoint failed: ckpt_err says why */
    recur_error ckpt_err;
    int epoch;         /* epoch on screen */
    double epoch_t0;   /* p->seconds when it started */
    double last_draw;  /* p->seconds of the last bar */
    int open_line;     /* a bar is on screen without its newline */
} progress_state;

/* Keras prints losses with 4 decimals, switching to exponent form when tiny. */
static void loss_text(char *buf, size_t cap, double v)
{
    if (isfinite(v) && v != 0.0 && fabs(v) < 1e-3)
        snprintf(buf, cap, "%.4e", v);
    else
        snprintf(buf, cap, "%.4f", v);
}

static void bar(char *out, int batch, int batches)
{
    int w = 30, fill = batches > 0 ? (int)((long)w * batch / batches) : w;
    for (int i = 0; i < w; i++) out[i] = i < fill ? '=' : '.';
    if (batch < batches && fill > 0) out[fill - 1] = '>';
    out[w] = '\0';
}

/* Epoch end: keep the weights, write the checkpoint. 0, or -1 when the
 * checkpoint could not be saved (training must stop: the user asked for it). */
static int epoch_end(progress_state *ps, const recur_progress *p)
{
    cli_session *s = ps->s;
    memcpy(s->epoch_params, recur_model_params(s->model), recur_model_n_params(s->model) * sizeof(recur_float));
    s->epoch_done = p->epoch;
    s->ts.epoch = p->epoch;
    s->ts.epochs = p->epochs;
    s->ts.best = p->best;
    s->ts.best_epoch = p->best_epoch;
    s->ts.wait = p->wait;
    if (!s->checkpoint) return 0;
    if (recur_model_save_checkpoint(s->model, &s->pipe, &s->ts, s->checkpoint, &ps->ckpt_err) != RECUR_OK) {
        ps->ckpt_failed = 1;
        return -1;
    }
    return 0;
}

static int progress_cb(const recur_progress *p, void *user)
{
    progress_state *ps = user;
    char b[32], l[32], v[64];
    /* A signal stops after the current batch; in an epoch's last batch, after
     * the epoch (its end is where the weights and the checkpoint are kept). */
    int stop = got_signal && (p->epoch_end ? p->epoch < p->epochs : p->batch < p->batches);
    if (p->epoch_end && epoch_end(ps, p) != 0) stop = 1;
    if (cli_mpi_any(stop)) return 1; /* under mpirun: every rank stops at the same batch */
    if (ps->quiet) return 0;
    int digits = snprintf(NULL, 0, "%d", p->batches);
    if (p->epoch != ps->epoch) {
        ps->epoch = p->epoch;
        if (ps->tty) fprintf(stderr, "Epoch %d/%d\n", p->epoch, p->epochs);
    }
    loss_text(l, sizeof l, p->loss);
    if (!p->epoch_end) {
        if (ps->tty && (p->batch == 1 || p->batch == p->batches || p->seconds - ps->last_draw >= 0.1)) {
            double el = p->seconds - ps->epoch_t0;
            double eta = p->batch > 0 ? el / p->batch * (p->batches - p->batch) : 0.0;
            bar(b, p->batch, p->batches);
            fprintf(stderr, "\r%*d/%d [%s] - ETA: %.0fs - loss: %s\033[K", digits, p->batch, p->batches, b, eta, l);
            fflush(stderr);
            ps->last_draw = p->seconds;
            ps->open_line = 1;
        }
        return 0;
    }
    double dt = p->seconds - ps->epoch_t0;
    double ms = p->batches > 0 ? 1000.0 * dt / p->batches : 0.0;
    ps->epoch_t0 = p->seconds;
    v[0] = '\0';
    if (!isnan(p->val_loss)) {
        char t[32];
        loss_text(t, sizeof t, p->val_loss);
        snprintf(v, sizeof v, " - val_loss: %s", t);
    }
    if (ps->tty) {
        bar(b, p->batches, p->batches);
        fprintf(stderr, "\r%*d/%d [%s] - %.0fs %.0fms/step - loss: %s%s\033[K\n", digits, p->batches, p->batches, b,
                dt, ms, l, v);
    } else {
        fprintf(stderr, "Epoch %d/%d - %d/%d - %.0fs %.0fms/step - loss: %s%s\n", p->epoch, p->epochs, p->batches,
                p->batches, dt, ms, l, v);
    }
    fflush(stderr);
    ps->open_line = 0;
    return 0;
}

/* The library's divergence message up to its advice, which the CLI words
 * with its own options. */
static void diverged_text(char *buf, size_t cap, const char *msg)
{
    static const char *const cuts[] = {"; the weights", "; lower", ". Lower"};
    size_t n = strlen(msg);
    for (int i = 0; i < 3; i++) {
        const char *at = strstr(msg, cuts[i]);
        if (at && (size_t)(at - msg) < n) n = (size_t)(at - msg);
    }
    snprintf(buf, cap, "%.*s", (int)n, msg);
}

int cli_session_fit(cli_session *s, recur_fit_opts fo, int T, int quiet)
{
    recur_error err;
    size_t E = fo.epochs > 0 ? (size_t)fo.epochs : 1, P = recur_model_n_params(s->model);
    free(s->hist_buf);
    free(s->epoch_params);
    s->hist_buf = calloc(2 * E, sizeof *s->hist_buf);
    s->epoch_params = malloc((P ? P : 1) * sizeof *s->epoch_params);
    if (!s->hist_buf || !s->epoch_params) return cli_errorf("out of memory for the loss history (%zu epochs)", E);
    memset(&s->hist, 0, sizeof s->hist);
    s->hist.loss = s->hist_buf;
    s->hist.val_loss = s->hist_buf + E;
    for (size_t i = 0; i < 2 * E; i++) s->hist_buf[i] = NAN; /* epochs a resumed run did not train */
    /* A resumed model holds a complete epoch already. */
    memcpy(s->epoch_params, recur_model_params(s->model), P * sizeof *s->epoch_params);
    s->first_epoch = s->epoch_done = fo.initial_epoch;
    s->ts.batch_size = fo.batch_size;
    s->ts.seed = fo.seed;
    s->ts.validation_split = fo.validation_split;
    s->ts.patience = fo.patience;
    s->ts.shuffle = fo.shuffle;

    progress_state ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.quiet = quiet;
    ps.tty = isatty(STDERR_FILENO);
    ps.epoch = fo.initial_epoch;
    fo.progress = progress_cb;
    fo.progress_user = &ps;

    signals_install();
    double t0 = cli_now();
    recur_status st = recur_model_fit(s->model, s->ds.x_train, s->ds.y_train, s->ds.n_train, T, NULL, NULL, 0, &fo,
                                      &s->hist, &err);
    s->fit_seconds = cli_now() - t0;
    int sig = got_signal;
    signals_restore();
    if (ps.open_line) fputc('\n', stderr);

    if (ps.ckpt_failed)
        return cli_errorf("%s; training stopped after epoch %d (use another --checkpoint path or free some space)",
                          ps.ckpt_err.msg, s->epoch_done);
    if (st == RECUR_E_INTERRUPTED) return 128 + (sig ? sig : SIGINT);
    if (st == RECUR_E_DIVERGED) {
        char what[RECUR_ERROR_MSG_MAX], kept[RECUR_ERROR_MSG_MAX + 64] = "";
        diverged_text(what, sizeof what, err.msg);
        if (s->checkpoint && s->epoch_done > s->first_epoch)
            snprintf(kept, sizeof kept, "; checkpoint %s holds epoch %d", s->checkpoint, s->epoch_done);
        if (s->lr_hint)
            return cli_errorf("%s; nothing was saved%s%s%s%s. Rerun with a lower --lr (this run: %g) or with "
                              "--clipnorm 1.0",
                              what, s->out ? " (" : "", s->out ? s->out : "", s->out ? " unchanged)" : "", kept,
                              recur_model_compile_opts(s->model)->optim.lr);
        return cli_errorf("%s; nothing was saved%s", err.msg, kept);
    }
    if (st == RECUR_E_DATA && fo.validation_split > 0)
        return cli_errorf("%s; use a smaller --validation-split", err.msg);
    if (st != RECUR_OK) return cli_fail(&err);
    if (!quiet && fo.patience > 0 && s->hist.epochs_run < fo.epochs)
        cli_log("Early stopping after epoch %d: no improvement for %d epochs%s (best epoch %d)\n",
                s->hist.epochs_run, fo.patience, fo.restore_best ? ", best weights restored" : "",
                s->hist.best_epoch);
    return 0;
}
