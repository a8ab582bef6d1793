/*
 * cmd_convert.c -- `recur convert`: an M4 competition wide file (one series
 * per row) to the long CSV `unique_id,ds,y` that train, forecast, backtest
 * and score read, with integer time steps.
 *
 * The test file's steps can continue the training file's (--after), so that
 * a long test file lines up with forecasts made after each training series.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("Usage: recur convert --m4 FILE --out FILE [--after TRAIN]\n"
           "\n"
           "Writes an M4 wide file (header \"V1\",\"V2\",...; one series per row, the id first,\n"
           "shorter rows padded with empty fields) as the long CSV unique_id,ds,y, one row per\n"
           "series and step, ds = 1, 2, ... (the file is written atomically).\n"
           "\n"
           "  --m4 FILE               the wide file (e.g. Hourly-train.csv)\n"
           "  --out FILE              the long CSV to write (\"-\": standard output)\n"
           "  --after TRAIN           number each series' steps after the length of the same\n"
           "                          series in the wide file TRAIN (for a test file: n+1..n+H)\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur convert --m4 Hourly-train.csv --out hourly.csv\n"
           "  recur convert --m4 Hourly-test.csv --after Hourly-train.csv --out hourly-test.csv\n");
}

enum { O_M4 = 256, O_OUT, O_AFTER };

static const struct option longopts[] = {
    {"m4", required_argument, NULL, O_M4},
    {"out", required_argument, NULL, O_OUT},
    {"after", required_argument, NULL, O_AFTER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The shortest of %.15g / %.17g that reads back as the same double. */
static void put_number(FILE *f, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, f);
}

int cmd_convert(int argc, char **argv)
{
    const char *cmd = "convert", *m4 = NULL, *out = NULL, *after = NULL;
    int rc = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_M4: rc = cli_opt_text(cmd, "--m4", optarg, &m4); break;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &out); break;
        case O_AFTER: rc = cli_opt_text(cmd, "--after", optarg, &after); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!m4) return cli_usage(cmd, "--m4: missing (the M4 wide file to convert)");
    if (!out) return cli_usage(cmd, "--out: missing (the long CSV to write, or - for standard output)");

    recur_panel *p = NULL, *base = NULL;
    recur_error err = {0};
    if (recur_panel_read_wide(m4, &p, &err) || (after && recur_panel_read_wide(after, &base, &err))) {
        recur_panel_free(p);
        return cli_fail(&err);
    }
    size_t rows = 0;
    for (size_t s = 0; base && s < recur_panel_count(p) && !rc; s++)
        if (recur_panel_find(base, recur_panel_id(p, s)) < 0)
            rc = cli_errorf("%s: series \"%s\" is not in %s (--after)", m4, recur_panel_id(p, s), after);
    cli_out o;
    memset(&o, 0, sizeof o);
    if (!rc) rc = cli_out_open(&o, "--out", out);
    if (!rc) {
        fputs("unique_id,ds,y\n", o.f);
        for (size_t s = 0; s < recur_panel_count(p); s++) {
            const char *id = recur_panel_id(p, s);
            const double *y = recur_panel_values(p, s);
            size_t n = recur_panel_length(p, s), first = 0;
            if (base) first = recur_panel_length(base, (size_t)recur_panel_find(base, id));
            for (size_t i = 0; i < n; i++, rows++) {
                cli_csv_field(o.f, id);
                fprintf(o.f, ",%zu,", first + i + 1);
                put_number(o.f, y[i]);
                fputc('\n', o.f);
            }
        }
        rc = cli_out_close(&o, 1);
    }
    if (!rc && o.path) cli_log("wrote %s: %zu series, %zu rows\n", out, recur_panel_count(p), rows);
    recur_panel_free(p);
    recur_panel_free(base);
    return rc;
}
