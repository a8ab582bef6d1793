/*
 * cmd_stream.c -- `recur stream`: forecasts for values as they arrive on
 * standard input, one line per row, each printed (and flushed) as soon as
 * its row is read, so that `tail -f prices.csv | recur stream ...` works.
 *
 * Each row goes through the model's pipeline (recur_pipeline_apply_row) and
 * a recur_stream: by default the forecast is the model's output for the last
 * T rows, from zero states, exactly what `recur predict` gives for the row
 * after them; with --stateful the network's state runs on from the first
 * row, one step per row whatever T is. A bad line is reported on stderr with
 * its number and skipped: a stream never stops on one.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { O_MODEL = 256, O_DATA, O_EVERY, O_STATEFUL };

#define MAX_CELLS 256

static void help(void)
{
    printf("Usage: recur stream --model MODEL [options] < rows\n"
           "\n"
           "Reads rows from standard input, one per line, and prints the model's forecast for the\n"
           "next row(s) after each one, flushed at once, from the moment it has a full window of T\n"
           "rows (T: the model's --timestep). Logs and bad lines go to stderr; a bad line is\n"
           "reported with its number and skipped, never fatal.\n"
           "\n"
           "Rows:\n"
           "  A line is a number (models of one column) or a CSV row. With a header - the first\n"
           "  line if it names columns, or the first line of --data FILE - the model's columns are\n"
           "  taken by name; without one, the numbers of the row in the model's column order (a\n"
           "  leading date is skipped).\n"
           "\n"
           "Options:\n"
           "  --model MODEL           model file written by recur train (required)\n"
           "  --data FILE             CSV in the layout of the rows to come: its header names their\n"
           "                          columns and its last rows fill the window, so the first\n"
           "                          forecast comes at once (default: none)\n"
           "  --every N               print a forecast every N rows (default: 1)\n"
           "  --stateful              carry the network's state on from the first row (one step per\n"
           "                          row) instead of forecasting from the last T rows; forecasts then\n"
           "                          differ from recur predict's once more than T rows have passed\n"
           "  -h, --help              this text\n"
           "\n"
           "Output: LABEL,yhat[,yhat+1 ...] per forecast, LABEL being the row's date (its first cell\n"
           "when that is not a number) or its line number; with --horizon H models, H values.\n"
           "\n"
           "Example:\n"
           "  tail -n 0 -f prices.csv | recur stream --model aapl.safetensors --data prices.csv\n"
           "  printf '1\\n2\\n3\\n' | recur stream --model tiny.safetensors\n");
}

typedef struct {
    recur_model *m;
    recur_pipeline pipe;
    recur_stream *st;
    int F, T, every, stateful;
    int col[RECUR_SCALER_MAX]; /* cell index of each feature; -1 without a header */
    int have_header;
    recur_float *win;          /* (T, F) scaled rows, a ring in window mode */
    size_t n_rows;             /* rows taken in (after the first under a transform) */
    double prev[RECUR_SCALER_MAX];
    int have_prev;
    recur_float *y;
    double *out;
    size_t printed_after;
} streamer;

/* Splits a CSV line into cells in place (quotes removed, "" kept as "). */
static int split_cells(char *line, char **cells, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return -1;
        while (*p == ' ' || *p == '\t') p++;
        char *w = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') break;
                if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
                else if (*p == '"') {
                    p++;
                    break;
                } else *w++ = *p++;
            }
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',') *w++ = *p++;
            while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
        }
        char sep = *p;
        *w = '\0';
        cells[n++] = start;
        if (sep != ',') break;
        p++;
    }
    return n;
}

/* A number, thousands separators allowed ("1,008.64"); 0 or -1. */
static int parse_num(const char *s, double *v)
{
    char buf[64];
    size_t k = 0;
    for (const char *p = s; *p; p++)
        if (*p != ',') {
            if (k + 1 >= sizeof buf) return -1;
            buf[k++] = *p;
        }
    buf[k] = '\0';
    if (k == 0) return -1;
    char *end;
    errno = 0;
    *v = strtod(buf, &end);
    return *end == '\0' && errno == 0 && isfinite(*v) ? 0 : -1;
}

static int find_cell(char **cells, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(cells[i], name) == 0) return i;
    return -1;
}

/* Maps the model's features to header cells; 0, or a message on stderr and -1. */
static int use_header(streamer *S, char **cells, int n, const char *where)
{
    for (int j = 0; j < S->F; j++) {
        S->col[j] = find_cell(cells, n, S->pipe.features[j]);
        if (S->col[j] < 0) {
            cli_errorf("%s: the header has no column \"%s\", which the model reads", where, S->pipe.features[j]);
            return -1;
        }
    }
    S->have_header = 1;
    return 0;
}

/* 1 when a line names columns: some cell is neither a number nor empty, and
 * one of them is a feature's name. */
static int is_header(const streamer *S, char **cells, int n)
{
    for (int j = 0; j < S->F; j++)
        if (find_cell(cells, n, S->pipe.features[j]) >= 0) return 1;
    return 0;
}

/* The feature values of a row; 0, or -1 with the reason in why. */
static int row_values(const streamer *S, char **cells, int n, double *v, char *why, size_t cap)
{
    if (S->have_header) {
        for (int j = 0; j < S->F; j++) {
            if (S->col[j] >= n) {
                snprintf(why, cap, "%d cells, no column \"%s\"", n, S->pipe.features[j]);
                return -1;
            }
            if (parse_num(cells[S->col[j]], &v[j])) {
                snprintf(why, cap, "column \"%s\" is not a number (\"%.30s\")", S->pipe.features[j], cells[S->col[j]]);
                return -1;
            }
        }
        return 0;
    }
    int first = 0;
    double tmp;
    if (n > S->F && parse_num(cells[0], &tmp)) first = 1; /* a leading date */
    if (n - first != S->F) {
        snprintf(why, cap, "%d value%s, the model reads %d (%s%s)", n - first, n - first == 1 ? "" : "s", S->F,
                 S->pipe.features[0], S->F > 1 ? ", ..." : "");
        return -1;
    }
    for (int j = 0; j < S->F; j++)
        if (parse_num(cells[first + j], &v[j])) {
            snprintf(why, cap, "\"%.30s\" is not a number", cells[first + j]);
            return -1;
        }
    return 0;
}

/* Takes one row of values; prints a forecast when one is due. 0, or -1 when
 * the row cannot be used (why filled). */
static int take_row(streamer *S, const double *v, const char *label, int print, char *why, size_t cap)
{
    recur_error err;
    recur_float x[RECUR_SCALER_MAX];
    if (S->pipe.transform != RECUR_TRANSFORM_NONE && !S->have_prev) {
        memcpy(S->prev, v, (size_t)S->F * sizeof *v);
        S->have_prev = 1;
        return 0;
    }
    if (recur_pipeline_apply_row(&S->pipe, v, S->have_prev ? S->prev : NULL, x, &err)) {
        snprintf(why, cap, "%s", err.msg);
        return -1;
    }
    memcpy(S->prev, v, (size_t)S->F * sizeof *v);
    S->have_prev = 1;
    size_t T = (size_t)S->T, F = (size_t)S->F;
    if (S->stateful) recur_stream_step(S->st, x, S->y);
    else {
        /* the ring: row k lives at k mod T; the window is unrolled oldest first */
        memcpy(S->win + (S->n_rows % T) * F, x, F * sizeof *x);
    }
    S->n_rows++;
    if (S->n_rows < T || !print) return 0;
    if ((S->n_rows - T) % (size_t)S->every != 0) return 0;
    if (!S->stateful) {
        recur_float *lin = S->win + T * F; /* scratch after the ring */
        for (size_t i = 0; i < T; i++) memcpy(lin + i * F, S->win + ((S->n_rows + i) % T) * F, F * sizeof *lin);
        if (recur_stream_predict(S->st, lin, S->T, S->y, &err)) {
            snprintf(why, cap, "%s", err.msg);
            return -1;
        }
    }
    recur_pipeline_invert(&S->pipe, v[S->pipe.target], S->y, S->out);
    printf("%s", label);
    for (int k = 0; k < S->pipe.horizon; k++) printf(",%.10g", S->out[k]);
    putchar('\n');
    fflush(stdout);
    return 0;
}

/* Header and last rows of --data: 0 or an exit code. */
static int warm_up(streamer *S, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_errorf("--data %s: cannot open: %s", path, strerror(errno));
    char line[8192];
    char *cells[MAX_CELLS];
    int rc = 0;
    if (!fgets(line, sizeof line, f)) rc = cli_errorf("--data %s: empty file", path);
    fclose(f);
    if (rc) return rc;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    int n = split_cells(p, cells, MAX_CELLS);
    if (n < 0) return cli_errorf("--data %s:1: more than %d columns", path, MAX_CELLS);
    char where[4200];
    snprintf(where, sizeof where, "--data %s:1", path);
    if (use_header(S, cells, n, where)) return CLI_RUNTIME;

    /* the last rows, in time order, through the library's reader */
    const char *cols[RECUR_SCALER_MAX];
    for (int j = 0; j < S->F; j++) cols[j] = S->pipe.features[j];
    recur_csv_opts co = recur_csv_opts_default();
    co.columns = cols;
    co.n_columns = S->F;
    co.missing = S->pipe.missing;
    recur_table *t = NULL;
    recur_error err;
    if (recur_table_read_csv(path, &co, &t, &err)) return cli_fail(&err);
    size_t rows = recur_table_rows(t), need = (size_t)S->T + (S->pipe.transform != RECUR_TRANSFORM_NONE);
    size_t from = S->stateful || rows < need ? 0 : rows - need;
    char why[RECUR_ERROR_MSG_MAX + 64], label[64];
    for (size_t r = from; r < rows && rc == 0; r++) {
        double v[RECUR_SCALER_MAX];
        for (int j = 0; j < S->F; j++) v[j] = recur_table_col(t, j)[r];
        cli_row_label(t, r, label, sizeof label);
        if (take_row(S, v, label, r + 1 == rows, why, sizeof why)) rc = cli_errorf("--data %s: %s", path, why);
    }
    cli_log("recur stream: %zu rows of %s taken in%s\n", rows - from, path,
            S->n_rows < (size_t)S->T ? "; the window is not full yet" : "");
    recur_table_free(t);
    return rc;
}

static int run(streamer *S, const char *data)
{
    if (data) {
        int rc = warm_up(S, data);
        if (rc) return rc;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad = 0;
    ssize_t len;
    char *cells[MAX_CELLS];
    while ((len = getline(&line, &cap, stdin)) != -1) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        if (lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
            p += 3;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0') continue;
        int n = split_cells(p, cells, MAX_CELLS);
        char why[RECUR_ERROR_MSG_MAX + 64], label[64];
        double v[RECUR_SCALER_MAX];
        if (n < 0) {
            snprintf(why, sizeof why, "more than %d cells", MAX_CELLS);
        } else if (!S->have_header && is_header(S, cells, n)) {
            char where[64];
            snprintf(where, sizeof where, "stdin:%zu", lineno);
            if (use_header(S, cells, n, where)) {
                free(line);
                return CLI_RUNTIME;
            }
            continue;
        } else if (row_values(S, cells, n, v, why, sizeof why) == 0) {
            double tmp;
            if (n > 0 && parse_num(cells[0], &tmp)) snprintf(label, sizeof label, "%.60s", cells[0]);
            else snprintf(label, sizeof label, "%zu", lineno);
            if (take_row(S, v, label, 1, why, sizeof why) == 0) continue;
        }
        bad++;
        fprintf(stderr, "recur stream: stdin:%zu: skipped: %s\n", lineno, why);
    }
    free(line);
    if (ferror(stdin)) return cli_errorf("stdin: read error: %s", strerror(errno));
    if (S->n_rows < (size_t)S->T)
        cli_warn("input ended after %zu usable rows, fewer than the window of %d: no forecast", S->n_rows, S->T);
    if (bad) cli_log("recur stream: %zu line%s skipped\n", bad, bad == 1 ? "" : "s");
    return CLI_OK;
}

int cmd_stream(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, O_MODEL}, {"data", required_argument, NULL, O_DATA},
        {"every", required_argument, NULL, O_EVERY}, {"stateful", no_argument, NULL, O_STATEFUL},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *data = NULL;
    int every = 1, stateful = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            if (cli_opt_text("stream", "--model", optarg, &model)) return CLI_USAGE;
            break;
        case O_DATA:
            if (cli_opt_text("stream", "--data", optarg, &data)) return CLI_USAGE;
            break;
        case O_EVERY:
            if (cli_opt_int("stream", "--every", optarg, 1, 1000000000, &every)) return CLI_USAGE;
            break;
        case O_STATEFUL: stateful = 1; break;
        case 'h': help(); return CLI_OK;
        default: return cli_getopt_error("stream", c, argv, longopts);
        }
    }
    if (cli_no_positional("stream", argc, argv)) return CLI_USAGE;
    if (!model) return cli_usage("stream", "--model is required (see recur stream --help)");

    streamer S;
    memset(&S, 0, sizeof S);
    recur_error err;
    int rc = CLI_OK;
    if (recur_model_load(model, &S.m, &S.pipe, &err)) return cli_fail(&err);
    S.F = S.pipe.n_features;
    S.T = S.pipe.timestep;
    S.every = every;
    S.stateful = stateful;
    if (S.F != recur_model_n_features(S.m) || S.pipe.scaler.n != S.F || S.T < 1) {
        rc = cli_errorf("%s: the model file has no data pipeline to turn rows into inputs (train it with recur train)",
                        model);
        goto done;
    }
    if (recur_model_n_outputs(S.m) != S.pipe.horizon) {
        rc = cli_errorf("%s: the model has %d outputs but its pipeline a horizon of %d", model,
                        recur_model_n_outputs(S.m), S.pipe.horizon);
        goto done;
    }
    if (recur_model_returns_sequences(S.m)) {
        rc = cli_errorf("%s: the model outputs a sequence; recur stream needs one forecast per window", model);
        goto done;
    }
    for (int j = 0; j < S.F; j++) S.col[j] = -1;
    S.win = calloc(2 * (size_t)S.T * S.F, sizeof *S.win);
    S.y = calloc((size_t)recur_model_n_outputs(S.m), sizeof *S.y);
    S.out = calloc((size_t)S.pipe.horizon, sizeof *S.out);
    if (!S.win || !S.y || !S.out) {
        rc = cli_errorf("out of memory");
        goto done;
    }
    if (recur_stream_new(S.m, &S.st, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    rc = run(&S, data);
done:
    recur_stream_free(S.st);
    free(S.win);
    free(S.y);
    free(S.out);
    recur_model_free(S.m);
    return rc;
}
