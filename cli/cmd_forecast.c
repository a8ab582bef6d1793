/*
 * cmd_forecast.c -- `recur forecast`: the next N values after the last row.
 *
 * The first H values (H = the model's horizon) come from the window of the
 * last T actual rows. For more steps, a univariate model is run recursively:
 * its scaled outputs are appended to the window as if they were data, and
 * each level is rebuilt from the one before (DIFF: add the change, LOGRETURN:
 * multiply by exp). A multivariate model cannot do that (its other inputs
 * are unknown), so it forecasts at most H steps.
 *
 * Dates continue the file's cadence, through the library's calendar (see
 * future_dates): daily (skipping Saturday and Sunday when no row falls on a
 * weekend), every k days, hourly, monthly (k months), quarterly or yearly; a
 * plain day-number column (1, 2, ...) continues as numbers.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ====== Dates ======
 * The times after the last row come from the library's calendar (the one
 * panels use, src/forecast/panel.c over src/data/cell.c): the file is read as
 * a one-series panel of the target column, whose cadence and date precision
 * continue. */

/* H dates after the file's last row into *when, with the panel that formats
 * them; 0, or a warning and -1 when the file cannot be read so (the caller
 * then numbers the steps). */
static int future_dates(const char *path, const recur_pipeline *p, recur_missing missing, int H, recur_panel **tp,
                        double **when)
{
    recur_error err;
    recur_panel_opts o = recur_panel_opts_default();
    o.value_column = p->features[p->target];
    o.missing = missing;
    *tp = NULL;
    *when = malloc((size_t)H * sizeof **when);
    if (!*when || recur_panel_read_csv(path, &o, tp, &err) != RECUR_OK || recur_panel_count(*tp) != 1) {
        cli_warn("%s: its dates cannot be continued (%s); the forecast steps are numbered +1, +2, ...", path,
                 *when ? err.msg : "out of memory");
        recur_panel_free(*tp);
        free(*when);
        *tp = NULL;
        *when = NULL;
        return -1;
    }
    recur_panel_future_times(*tp, 0, H, *when);
    return 0;
}

static void help(void)
{
    printf("Usage: recur forecast --model MODEL --data FILE [options]\n"
           "\n"
           "Forecasts the next N values after the last row of FILE and prints date,forecast\n"
           "CSV on stdout. Steps beyond the model's horizon are recursive (each prediction is\n"
           "fed back as input, so errors compound); only single-column models can do that.\n"
           "A model with several input columns forecasts at most its --horizon steps.\n"
           "Dates follow the file: daily (weekends skipped when the file has none),\n"
           "weekly, monthly or yearly; row offsets (+1, +2, ...) when it has no dates.\n"
           "\n"
           "Input:\n"
           CLI_HELP_MODEL_DATA
           "\n"
           "Forecast:\n"
           "  --steps N               values to forecast, 1 to 100000 (default: 1)\n"
           "  -h, --help              this text\n"
           "\n"
           "A forecaster file (recur train --id-column or --preset) forecasts every series of\n"
           "a long CSV instead, with intervals: --level L[,L...], --out FILE, --plot FILE,\n"
           "--plot-id ID; `recur forecast --model FORECASTER --help` has the details.\n"
           "\n"
           "Example:\n"
           "  recur forecast --model aapl.safetensors --data data/AAPL.csv --steps 5\n");
}

enum { O_MODEL = 256, O_DATA, O_STEPS, O_MISSING };

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL}, {"data", required_argument, NULL, O_DATA},
    {"steps", required_argument, NULL, O_STEPS}, {"missing", required_argument, NULL, O_MISSING},
    {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
};

/* Level after `prev` given one transformed value. */
static double undo(recur_transform tr, double prev, double z)
{
    if (tr == RECUR_TRANSFORM_DIFF) return prev + z;
    if (tr == RECUR_TRANSFORM_LOGRETURN) return prev * exp(z);
    return z;
}

static int forecast(cli_session *s, int steps, double *out)
{
    recur_error err;
    const recur_pipeline *p = &s->pipe;
    int T = p->timestep, F = p->n_features, H = p->horizon;
    size_t R = recur_table_rows(s->table);
    int Tm = recur_model_n_features(s->model) == F ? T : 1;
    recur_float *x = calloc((size_t)T * (size_t)F, sizeof *x), *y = calloc((size_t)H, sizeof *y);
    double *lv = calloc((size_t)H, sizeof *lv);
    int rc = 0, done = 0;
    if (!x || !y || !lv) {
        rc = cli_errorf("out of memory");
        goto end;
    }
    if (recur_dataset_window(s->table, p, R, x, &err) != RECUR_OK) {
        rc = cli_fail(&err);
        goto end;
    }
    double prev = recur_table_col(s->table, p->target)[R - 1];
    while (done < steps) {
        if (recur_model_predict(s->model, x, 1, Tm, y, &err) != RECUR_OK) {
            rc = cli_fail(&err);
            goto end;
        }
        if (done == 0) {
            recur_dataset_invert(s->table, p, R, y, lv);
        } else {
            for (int k = 0; k < H; k++) {
                lv[k] = undo(p->transform, prev, recur_scaler_invert(&p->scaler, p->target, (double)y[k]));
                prev = lv[k];
            }
        }
        for (int k = 0; k < H && done < steps; k++) out[done++] = lv[k];
        prev = lv[H - 1];
        /* Univariate: the scaled outputs are the next rows of the window. */
        if (done >= steps) break;
        if (H >= T) {
            memcpy(x, y + (H - T), (size_t)T * sizeof *x);
        } else {
            memmove(x, x + H, (size_t)(T - H) * sizeof *x);
            memcpy(x + (T - H), y, (size_t)H * sizeof *x);
        }
    }
end:
    free(x);
    free(y);
    free(lv);
    return rc;
}

int cmd_forecast(int argc, char **argv)
{
    static const char *const missings[] = {"error", "drop", "ffill"};
    const char *cmd = "forecast", *model = NULL, *data = NULL;
    int rc = 0, c, steps = 1, missing = -1; /* -1: the model's policy */
    /* A forecaster file, or options only a forecaster has: cmd_panel.c. */
    static const char *const panel_opts[] = {"--level", "--out", "--plot", "--plot-id"};
    const char *given = cli_option_value(argc, argv, "--model");
    if (given && recur_forecaster_file(given)) return cli_forecast_panel(argc, argv);
    if (cli_has_option(argc, argv, panel_opts, 4)) {
        FILE *probe = given ? fopen(given, "rb") : NULL;
        if (!probe) return cli_forecast_panel(argc, argv); /* it reports the missing option or file */
        fclose(probe);
        return cli_usage(cmd, "--level, --out, --plot and --plot-id need a forecaster (recur train --id-column or "
                              "--preset); %s is a single-series model: recur forecast --model %s --data FILE --steps N",
                         given, given);
    }

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &model); break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_STEPS: rc = cli_opt_int(cmd, "--steps", optarg, 1, 100000, &steps); break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!model) return cli_usage(cmd, "--model: missing (the model file to forecast with)");
    if (!data) return cli_usage(cmd, "--data: missing (the CSV file whose last rows start the forecast)");

    cli_session s;
    double *out = NULL;
    memset(&s, 0, sizeof s);
    rc = cli_session_load(&s, model, data, missing);
    if (!rc && s.pipe.n_features > 1 && steps > s.pipe.horizon) {
        char cols[256] = "";
        for (int j = 0; j < s.pipe.n_features; j++) {
            size_t len = strlen(cols);
            snprintf(cols + len, sizeof cols - len, "%s%s", j ? ", " : "", s.pipe.features[j]);
        }
        rc = cli_usage(cmd,
                       "--steps: this model reads %d columns (%s) but predicts only %s, %d step%s per window, so "
                       "it can forecast at most %d step%s (got %d); retrain with --horizon %d for a direct "
                       "%d-step forecast",
                       s.pipe.n_features, cols, s.pipe.features[s.pipe.target], s.pipe.horizon,
                       s.pipe.horizon == 1 ? "" : "s", s.pipe.horizon, s.pipe.horizon == 1 ? "" : "s", steps, steps,
                       steps);
    }
    if (!rc && !(out = malloc((size_t)steps * sizeof *out))) rc = cli_errorf("out of memory");
    if (!rc) rc = forecast(&s, steps, out);
    recur_panel *tp = NULL;
    double *when = NULL;
    if (!rc) {
        size_t R = recur_table_rows(s.table);
        if (isfinite(recur_table_day(s.table, R - 1)))
            future_dates(data, &s.pipe, missing >= 0 ? (recur_missing)missing : s.pipe.missing, steps, &tp, &when);
        if (steps > s.pipe.horizon)
            cli_log("forecast: steps after %d are recursive (predictions fed back as inputs)\n", s.pipe.horizon);
        printf("date,forecast\n");
        for (int k = 0; k < steps; k++) {
            char label[64];
            if (when) recur_panel_time_text(tp, when[k], label, sizeof label);
            else snprintf(label, sizeof label, "+%d", k + 1);
            printf("%s,%.10g\n", label, out[k]);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_errorf("cannot write to standard output");
    }
    recur_panel_free(tp);
    free(when);
    free(out);
    cli_session_free(&s);
    return rc;
}
