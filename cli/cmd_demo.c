/*
 * cmd_demo.c -- `recur demo`: the classic Keras LSTM stock tutorial end to end
 * on data/AAPL.csv: Close, 60-day windows, 80/20 split, MinMax scaling,
 * LSTM(50)->Dropout->LSTM(100)->Dropout->Dense(1), RMSprop, batch 64,
 * 50 epochs, seed 42. Scores in dollars beside the persistence baseline, and
 * every artefact in one folder.
 *
 * The data file is looked up as $RECUR_DATA_DIR/AAPL.csv, then
 * <folder of the executable>/../data/AAPL.csv, then ./data/AAPL.csv.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void)
{
    printf("Usage: recur demo [options]\n"
           "\n"
           "Runs the Keras LSTM stock-forecasting tutorial on AAPL daily closes (2010-2019):\n"
           "60-day windows, 80/20 split, MinMax scaling, \"" CLI_TUTORIAL_SPEC "\",\n"
           "RMSprop, batch 64, seed 42. Prints the summary and progress (stderr), then MAE and\n"
           "RMSE in dollars beside the persistence baseline (stdout), and writes\n"
           "DIR/model.safetensors, DIR/predictions.csv, DIR/prediction.png and DIR/loss.png.\n"
           "\n"
           "Options:\n"
           "  --out DIR               output folder, created if missing (default: recur-demo)\n"
           "  --epochs N              (default: 50)\n"
           "  --threads N             worker threads, 0 = every core (default: 0)\n"
           "  --data FILE             another Yahoo-style CSV with a Close column\n"
           "                          (default: AAPL.csv from $RECUR_DATA_DIR, <bin>/../data, ./data)\n"
           "  --quiet                 no summary or progress on stderr\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur demo --out recur-demo\n");
}

enum { O_OUT = 256, O_EPOCHS, O_THREADS, O_DATA, O_QUIET };

static const struct option longopts[] = {
    {"out", required_argument, NULL, O_OUT},         {"epochs", required_argument, NULL, O_EPOCHS},
    {"threads", required_argument, NULL, O_THREADS}, {"data", required_argument, NULL, O_DATA},
    {"quiet", no_argument, NULL, O_QUIET},           {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int readable(const char *path) { return access(path, R_OK) == 0; }

/* Finds AAPL.csv; fills buf. */
static int find_data(char *buf, size_t cap)
{
    const char *env = getenv("RECUR_DATA_DIR");
    if (env && env[0]) {
        snprintf(buf, cap, "%s/AAPL.csv", env);
        if (readable(buf)) return 0;
    }
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, cap, "%s/../data/AAPL.csv", exe);
            if (readable(buf)) return 0;
            snprintf(buf, cap, "%s/../../data/AAPL.csv", exe); /* build/recur run from a checkout */
            if (readable(buf)) return 0;
        }
    }
    snprintf(buf, cap, "data/AAPL.csv");
    if (readable(buf)) return 0;
    return cli_errorf("AAPL.csv not found in $RECUR_DATA_DIR, <folder of recur>/../data or ./data; "
                      "set RECUR_DATA_DIR or pass --data FILE");
}

/* "/x/build/../data/AAPL.csv" -> "/x/data/AAPL.csv", in place. Lexical only:
 * the folder comes from /proc/self/exe, which has no symbolic links left. */
static void tidy(char *path)
{
    char *seg;
    while ((seg = strstr(path, "/../")) != NULL && seg > path) {
        char *prev = seg - 1;
        while (prev > path && *prev != '/') prev--;
        if (strncmp(prev, "/..", 3) == 0 || (prev == path && *prev != '/')) break;
        memmove(prev, seg + 3, strlen(seg + 3) + 1);
    }
}

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo", *dir = "recur-demo", *data = NULL;
    char found[4096], model[4096], loss[4096], csv[4096], png[4096];
    int rc = 0, c;
    cli_train_cfg cfg;
    cli_train_defaults(&cfg);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &dir); break;
        case O_EPOCHS: rc = cli_opt_int(cmd, "--epochs", optarg, 1, 1000000, &cfg.fo.epochs); break;
        case O_THREADS: rc = cli_opt_int(cmd, "--threads", optarg, 0, 4096, &cfg.fo.threads); break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_QUIET: cfg.quiet = 1; break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!data) {
        if ((rc = find_data(found, sizeof found))) return rc;
        tidy(found);
        data = found;
    }
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0)
        return cli_errorf("--out: cannot create folder \"%s\": %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return cli_errorf("--out: \"%s\" is not a folder", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(loss, sizeof loss, "%s/loss.png", dir);
    snprintf(csv, sizeof csv, "%s/predictions.csv", dir);
    snprintf(png, sizeof png, "%s/prediction.png", dir);

    cfg.data = data;
    cfg.out = model;
    cfg.plot_loss = loss;
    if (!cfg.quiet)
        cli_log("recur demo: the Keras LSTM stock tutorial on %s (Close, 60-day windows, %d epochs)\n", data,
                cfg.fo.epochs);

    cli_session s;
    cli_preds pr;
    cli_report r;
    size_t *rows = NULL, n = 0;
    memset(&s, 0, sizeof s);
    memset(&pr, 0, sizeof pr);
    rc = cli_train_run(cmd, &cfg, &s);
    if (!rc) rc = cli_rows(&s, 0, &rows, &n);
    if (!rc) rc = cli_predict_rows(s.model, s.table, &s.pipe, rows, n, &pr);
    if (!rc) rc = cli_write_preds_csv("--out", csv, s.table, &pr);
    if (!rc) rc = cli_plot_preds(png, &s, &pr, "LSTM tutorial: true vs predicted Close");
    if (!rc) {
        cli_report_make(&pr, &s.ds, &r);
        cli_report_text(stdout, &r, &s);
        printf("\nWrote %s/: model.safetensors, predictions.csv, prediction.png, loss.png\n", dir);
        printf("Next, try predicting day-to-day changes instead of price levels:\n"
               "  recur train --data %s --transform diff --out %s/model-diff.safetensors\n"
               "  recur evaluate --model %s/model-diff.safetensors --data %s\n",
               data, dir, dir, data);
        cli_report_free(&r);
    }
    cli_preds_free(&pr);
    free(rows);
    cli_session_free(&s);
    return rc;
}
