/*
 * backtest.c -- a rolling-origin backtest in one page: read a series (or a
 * panel), train the global forecaster once on the first 80% of every series,
 * forecast from every later origin, and score it beside the four baselines.
 *
 *   build/examples/backtest data/airpassengers.csv [horizon] [epochs]
 *   (epochs 0: the baselines only)
 */
#include <stdio.h>
#include <stdlib.h>

#include "recur.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/airpassengers.csv";
    int H = argc > 2 ? atoi(argv[2]) : 1, epochs = argc > 3 ? atoi(argv[3]) : 0;
    recur_error err;
    recur_panel *p = NULL;
    recur_backtest *b = NULL;
    recur_method model = {0};
    int rc = 1, have_model = 0;

    recur_panel_opts po = recur_panel_opts_default(); /* one series: the file's only value column */
    if (recur_panel_read_csv(path, &po, &p, &err)) goto fail;

    recur_backtest_opts bo = recur_backtest_opts_default(); /* 20% test, stride 1, refit never */
    const double levels[] = {95};
    bo.horizon = H;
    bo.levels = levels, bo.n_levels = 1;
    if (epochs > 0) {
        recur_forecaster_opts fo = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
        fo.horizon = H, fo.epochs = epochs;
        if (recur_forecaster_method_new(&fo, &model, &err)) goto fail;
        have_model = 1;
    }
    if (recur_backtest_run(p, &bo, have_model ? &model : NULL, &b, &err)) goto fail;

    printf("%zu origins, horizon %d, season %d\n", recur_backtest_origins(b), H, recur_backtest_season(b));
    for (int k = 0; k < recur_backtest_n_methods(b); k++) {
        recur_scores s = recur_backtest_scores(b, k, -1);
        printf("%-7s MAE %.4f  MASE %.4f  sMAPE %.2f%%  95%% coverage %.3f\n", recur_backtest_method(b, k), s.mae,
               s.mase, s.smape, s.coverage);
    }
    printf("best: %s\n", recur_backtest_method(b, recur_backtest_best(b)));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "backtest: %s\n", err.msg);
done:
    recur_backtest_free(b);
    if (have_model) recur_forecaster_method_free(&model);
    recur_panel_free(p);
    return rc;
}
