/*
 * cmd_evaluate.c -- `recur evaluate`: a saved model's test scores (MAE, RMSE,
 * MAPE in data units) beside the persistence baseline, as text or JSON.
 *
 * The test part is cut exactly as `recur train` cut it (same pipeline, same
 * test fraction); inputs are scaled with the model's saved scaler.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("Usage: recur evaluate --model MODEL --data FILE [options]\n"
           "\n"
           "Scores a saved model on the test part of FILE (the last --test-fraction of rows\n"
           "given at training) and compares it with the persistence baseline, which\n"
           "predicts each value to equal the one before. Scores are in data units.\n"
           "With --horizon H > 1 models, every step is scored against the last known\n"
           "value and the scores of all steps are pooled; per-step MAE is listed too.\n"
           "\n"
           "Input:\n"
           CLI_HELP_MODEL_DATA
           "\n"
           "Output:\n"
           "  --json                  one JSON object instead of the table: n_test, horizon, target,\n"
           "                          first_test, last_test, mae, rmse, mape, naive_mae, naive_rmse,\n"
           "                          naive_mape, beats_baseline, improvement_pct, out_of_range_above,\n"
           "                          out_of_range_below (and steps[] when horizon > 1)\n"
           "  -h, --help              this text\n"
           "\n"
           "A warning on stderr tells when test values leave the range the scaler saw in training.\n"
           "\n"
           "Example:\n"
           "  recur evaluate --model aapl.safetensors --data data/AAPL.csv\n"
           "  recur evaluate --model aapl.safetensors --data data/AAPL.csv --json\n");
}

enum { O_MODEL = 256, O_DATA, O_JSON, O_MISSING };

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL}, {"data", required_argument, NULL, O_DATA},
    {"json", no_argument, NULL, O_JSON},         {"missing", required_argument, NULL, O_MISSING},
    {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
};

int cmd_evaluate(int argc, char **argv)
{
    static const char *const missings[] = {"error", "drop", "ffill"};
    const char *cmd = "evaluate", *model = NULL, *data = NULL;
    int rc = 0, c, json = 0, missing = -1; /* -1: the model's policy */

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &model); break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_JSON: json = 1; break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!model) return cli_usage(cmd, "--model: missing (the model file to score)");
    if (!data) return cli_usage(cmd, "--data: missing (the CSV file to score on)");

    cli_session s;
    cli_preds pr;
    cli_report r;
    size_t *rows = NULL, n = 0;
    memset(&s, 0, sizeof s);
    rc = cli_session_load(&s, model, data, missing);
    if (!rc) rc = cli_rows(&s, 0, &rows, &n);
    if (!rc) rc = cli_predict_rows(s.model, s.table, &s.pipe, rows, n, &pr);
    if (!rc) {
        cli_warn_range(&s);
        cli_report_make(&pr, &s.ds, &r);
        if (json)
            rc = cli_report_json(stdout, &r, &s);
        else
            cli_report_text(stdout, &r, &s);
        cli_report_free(&r);
        cli_preds_free(&pr);
    }
    free(rows);
    cli_session_free(&s);
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) rc = cli_errorf("cannot write to standard output");
    return rc;
}
