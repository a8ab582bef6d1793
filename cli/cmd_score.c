/*
 * cmd_score.c -- `recur score`: any forecast file scored against the true
 * values (MAE, RMSE, MAPE, sMAPE, MASE, interval coverage), beside the four
 * baselines forecast from the training file; and the score table and JSON
 * that `recur backtest` prints too.
 *
 * Files: the actual and training values may be M4 wide files (header V1,V2,...)
 * or long panels; the forecast is long (`unique_id,ds,yhat[,lo95,hi95...]`)
 * or wide. The library matches the series by id and scores them
 * (recur_scorer_add_panel); this file reads options and prints.
 */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ====== Score tables (shared with backtest) ====== */

static void cell(FILE *f, double v, int width)
{
    if (isfinite(v)) fprintf(f, " %*.*g", width, 6, v);
    else fprintf(f, " %*s", width, "-");
}

void cli_scores_header(FILE *f, const char *first, double level)
{
    char cov[32];
    snprintf(cov, sizeof cov, "cover%g", level);
    fprintf(f, "%-10s %6s %10s %10s %10s %10s %10s %10s\n", first, "n", "MAE", "RMSE", "MAPE%", "sMAPE%", "MASE",
            level > 0 ? cov : "");
}

void cli_scores_row(FILE *f, const char *name, const recur_scores *r, double level)
{
    fprintf(f, "%-10s %6zu", name, r->n);
    cell(f, r->mae, 10);
    cell(f, r->rmse, 10);
    cell(f, r->mape, 10);
    cell(f, r->smape, 10);
    cell(f, r->mase, 10);
    if (level > 0) cell(f, r->coverage, 10);
    fputc('\n', f);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

struct json_t *cli_scores_json(const recur_scores *r, double level)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "n", json_integer((json_int_t)r->n));
    json_object_set_new(o, "mae", num(r->mae));
    json_object_set_new(o, "rmse", num(r->rmse));
    json_object_set_new(o, "mape", num(r->mape));
    json_object_set_new(o, "smape", num(r->smape));
    json_object_set_new(o, "mase", num(r->mase));
    if (level > 0) {
        char key[32];
        snprintf(key, sizeof key, "coverage%g", level);
        json_object_set_new(o, key, num(r->coverage));
    }
    return o;
}

int cli_json_print(struct json_t *o)
{
    if (!o) return cli_errorf("out of memory");
    char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text) return cli_errorf("out of memory");
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ====== recur score ====== */

static void help(void)
{
    printf("Usage: recur score --actual FILE --forecast FILE --train FILE [options]\n"
           "\n"
           "Scores a forecast file against the true values, and beside it the four\n"
           "baselines (naive, seasonal naive, drift, mean) forecast from the training\n"
           "values, with the M4 competition's definitions:\n"
           "  MAE, RMSE, MAPE, coverage   pooled over every value scored;\n"
           "  sMAPE, MASE                 per series, then the mean over series;\n"
           "  MASE's scale                mean |x_t - x_{t-m}| over the series' training values.\n"
           "Series are matched by id; each series is scored over as many steps as the\n"
           "actual file has values for it.\n"
           "\n"
           "Input:\n"
           "  --actual FILE           the true future values\n"
           "  --forecast FILE         the forecasts: long (ID,TIME,yhat[,loL,hiL...]) or M4 wide\n"
           "  --train FILE            the values the forecasts were made from (MASE's scale, baselines)\n"
           "                          Each file is M4 wide when its header starts V1,V2, else long.\n"
           "  --id-column C           series id column of long files (default unique_id)\n"
           "  --date-column C         time column of long files (default: auto, e.g. ds, date)\n"
           "  --column C              value column of long actual/train files (default: the only one)\n"
           "  --forecast-column C     forecast column of a long forecast file (default yhat)\n"
           "  --season M              seasonal period (default: inferred from the training times;\n"
           "                          1 for an integer index, so give it for M4 files)\n"
           "  --level L               the interval to score: columns loL,hiL (default: the widest in\n"
           "                          the forecast file; the baselines' normal intervals use it too,\n"
           "                          or 95 when the file has none)\n"
           "\n"
           "Output:\n"
           "  --json                  {\"series\",\"horizon\",\"season\",\"level\",\"methods\":{\"forecast\":\n"
           "                          {n,mae,rmse,mape,smape,mase,coverageL},\"naive\":{...},...},\"steps\":[...]}\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur score --actual Hourly-test.csv --train Hourly-train.csv --forecast fc.csv --season 24\n");
}

enum { O_ACTUAL = 256, O_FORECAST, O_TRAIN, O_ID, O_DATE, O_COLUMN, O_FCOL, O_SEASON, O_LEVEL, O_JSON };

static const struct option longopts[] = {
    {"actual", required_argument, NULL, O_ACTUAL},
    {"forecast", required_argument, NULL, O_FORECAST},
    {"train", required_argument, NULL, O_TRAIN},
    {"id-column", required_argument, NULL, O_ID},
    {"date-column", required_argument, NULL, O_DATE},
    {"column", required_argument, NULL, O_COLUMN},
    {"forecast-column", required_argument, NULL, O_FCOL},
    {"season", required_argument, NULL, O_SEASON},
    {"level", required_argument, NULL, O_LEVEL},
    {"json", no_argument, NULL, O_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define N_METHODS (1 + RECUR_N_BASELINES)

typedef struct {
    recur_panel *actual, *train, *fc, *lo, *hi;
    recur_scorer *sc[N_METHODS];
} score_run;

static void run_free(score_run *r)
{
    recur_panel_free(r->actual);
    recur_panel_free(r->train);
    recur_panel_free(r->fc);
    recur_panel_free(r->lo);
    recur_panel_free(r->hi);
    for (int k = 0; k < N_METHODS; k++) recur_scorer_free(r->sc[k]);
}

static int print_json(score_run *r, const char *const *names, int H, int season, double level)
{
    json_t *o = json_object(), *m = json_object(), *steps = json_array();
    if (!o || !m || !steps) return cli_errorf("out of memory");
    json_object_set_new(o, "series", json_integer((json_int_t)recur_panel_count(r->actual)));
    json_object_set_new(o, "horizon", json_integer(H));
    json_object_set_new(o, "season", json_integer(season));
    json_object_set_new(o, "level", num(level));
    for (int k = 0; k < N_METHODS; k++) {
        recur_scores sc = recur_scorer_result(r->sc[k], -1);
        json_object_set_new(m, names[k], cli_scores_json(&sc, level));
    }
    json_object_set_new(o, "methods", m);
    for (int j = 0; j < H; j++) {
        json_t *st = json_object();
        json_object_set_new(st, "step", json_integer(j + 1));
        for (int k = 0; k < N_METHODS; k++) {
            recur_scores sc = recur_scorer_result(r->sc[k], j);
            json_object_set_new(st, names[k], cli_scores_json(&sc, level));
        }
        json_array_append_new(steps, st);
    }
    json_object_set_new(o, "steps", steps);
    return cli_json_print(o);
}

int cmd_score(int argc, char **argv)
{
    const char *cmd = "score", *actual = NULL, *forecast = NULL, *train = NULL, *id = "unique_id", *date = NULL,
               *column = NULL, *fcol = "yhat";
    int rc = 0, c, json = 0, season = 0;
    double level = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_ACTUAL: rc = cli_opt_text(cmd, "--actual", optarg, &actual); break;
        case O_FORECAST: rc = cli_opt_text(cmd, "--forecast", optarg, &forecast); break;
        case O_TRAIN: rc = cli_opt_text(cmd, "--train", optarg, &train); break;
        case O_ID: rc = cli_opt_text(cmd, "--id-column", optarg, &id); break;
        case O_DATE: rc = cli_opt_text(cmd, "--date-column", optarg, &date); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &column); break;
        case O_FCOL: rc = cli_opt_text(cmd, "--forecast-column", optarg, &fcol); break;
        case O_SEASON: rc = cli_opt_int(cmd, "--season", optarg, 1, 100000, &season); break;
        case O_LEVEL: rc = cli_opt_double(cmd, "--level", optarg, 0, 1, 100, 1, &level); break;
        case O_JSON: json = 1; break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!actual) return cli_usage(cmd, "--actual: missing (the file of true values)");
    if (!forecast) return cli_usage(cmd, "--forecast: missing (the file of forecasts to score)");
    if (!train) return cli_usage(cmd, "--train: missing (the values the forecasts were made from)");

    score_run r;
    recur_error err = {0};
    memset(&r, 0, sizeof r);
    recur_panel_opts po = recur_panel_opts_default();
    po.id_column = id;
    po.time_column = date;
    po.value_column = column;
    if (recur_panel_read_any(actual, &po, &r.actual, &err) || recur_panel_read_any(train, &po, &r.train, &err)) {
        run_free(&r);
        return cli_fail(&err);
    }
    po.value_column = fcol;
    double lv[16];
    int nl = recur_panel_read_any(forecast, &po, &r.fc, &err) ? -1 : recur_panel_levels(forecast, lv, 16, &err);
    if (nl < 0) {
        run_free(&r);
        return cli_fail(&err);
    }
    double widest = 0;
    for (int l = 0; l < nl; l++)
        if (lv[l] > widest) widest = lv[l];
    if (level > 0) {
        int found = 0;
        for (int l = 0; l < nl; l++) found |= lv[l] == level;
        if (!found) {
            run_free(&r);
            return cli_usage(cmd, "--level: %s has no columns lo%g and hi%g", forecast, level, level);
        }
    } else {
        level = widest;
    }
    if (level > 0) {
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "lo%g", level);
        snprintf(hi, sizeof hi, "hi%g", level);
        po.value_column = lo;
        if (recur_panel_read_csv(forecast, &po, &r.lo, &err) ||
            (po.value_column = hi, recur_panel_read_csv(forecast, &po, &r.hi, &err))) {
            run_free(&r);
            return cli_fail(&err);
        }
    }
    if (season == 0) season = recur_panel_infer_season(r.train);
    int H = 0;
    for (size_t s = 0; s < recur_panel_count(r.actual); s++)
        if ((int)recur_panel_length(r.actual, s) > H) H = (int)recur_panel_length(r.actual, s);
    const char *names[N_METHODS] = {"forecast"};
    double base_level = level > 0 ? level : 95;
    for (int k = 0; k < N_METHODS && !rc; k++) { /* a baseline the data cannot give is left out, with a warning */
        if (k > 0) names[k] = recur_baseline_name((recur_baseline)(k - 1));
        if (recur_scorer_new(H, &r.sc[k], &err)) {
            rc = cli_fail(&err);
        } else if (recur_scorer_add_panel(r.sc[k], r.actual, r.train, season, k ? NULL : r.fc, r.lo, r.hi,
                                          (recur_baseline)(k ? k - 1 : 0), base_level, &err)) {
            if (k == 0) {
                rc = cli_fail(&err);
            } else {
                cli_warn("%s left out: %s", names[k], err.msg);
                recur_scorer_free(r.sc[k]);
                if (recur_scorer_new(H, &r.sc[k], &err)) rc = cli_fail(&err);
            }
        }
    }
    if (!rc && json) {
        rc = print_json(&r, names, H, season, level > 0 ? level : base_level);
    } else if (!rc) {
        printf("%zu series, up to %d steps, season %d%s; sMAPE and MASE are means over series (M4),\n"
               "the rest pooled over all %zu values; baselines forecast from %s\n",
               recur_panel_count(r.actual), H, season,
               recur_panel_time_is_index(r.train) && season == 1 ? " (integer time: give --season)" : "",
               recur_scorer_result(r.sc[0], -1).n, train);
        cli_scores_header(stdout, "method", level > 0 ? level : base_level);
        for (int k = 0; k < N_METHODS; k++) {
            recur_scores sc = recur_scorer_result(r.sc[k], -1);
            cli_scores_row(stdout, names[k], &sc, base_level);
        }
        if (level == 0) printf("(%s has no interval columns; the baselines' are at %g%%)\n", forecast, base_level);
    }
    run_free(&r);
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) rc = cli_errorf("cannot write to standard output");
    return rc;
}
