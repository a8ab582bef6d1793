/*
 * forecast.c -- the library in one page: read a price CSV, cut 60-step
 * windows with the scaler fitted on the training rows, train the tutorial
 * LSTM, and score it beside the "tomorrow = today" baseline.
 *
 *   build/examples/forecast data/AAPL.csv [epochs]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "recur.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/AAPL.csv";
    int epochs = argc > 2 ? atoi(argv[2]) : 50;
    recur_error err;
    recur_table *table = NULL;
    recur_model *model = NULL;
    recur_dataset ds = {0};
    int rc = 1;

    const char *cols[] = {"Close"};
    recur_csv_opts co = recur_csv_opts_default();
    co.columns = cols, co.n_columns = 1;
    recur_pipeline pipe = recur_pipeline_default(); /* Close, T=60, 20% test, MinMax */
    if (recur_table_read_csv(path, &co, &table, &err) || recur_dataset_make(table, &pipe, &ds, &err) ||
        recur_model_new(1, &model, &err) ||
        recur_model_add_spec(model, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", &err) ||
        recur_model_compile(model, NULL, &err)) /* MSE + RMSprop, seed 42 */
        goto fail;

    recur_fit_opts fo = recur_fit_opts_default(); /* batch 64 */
    fo.epochs = epochs;
    if (recur_model_fit(model, ds.x_train, ds.y_train, ds.n_train, ds.T, NULL, NULL, 0, &fo, NULL, &err)) goto fail;

    float *pred = malloc(ds.n_test * sizeof *pred);
    if (!pred || recur_model_predict(model, ds.x_test, ds.n_test, ds.T, pred, &err)) {
        free(pred);
        goto fail;
    }
    double mae = 0, naive = 0;
    const double *close = recur_table_col(table, 0);
    for (size_t k = 0; k < ds.n_test; k++) {
        size_t row = ds.test_row[k];
        double price;
        recur_dataset_invert(table, &pipe, row, &pred[k], &price); /* back to dollars */
        mae += fabs(price - close[row]);
        naive += fabs(close[row - 1] - close[row]);
    }
    printf("test MAE %.4f vs persistence %.4f over %zu days: the model %s the baseline\n", mae / ds.n_test,
           naive / ds.n_test, ds.n_test, mae < naive ? "beats" : "does NOT beat");
    free(pred);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "forecast: %s\n", err.msg);
    recur_dataset_free(&ds);
    recur_model_free(model);
    recur_table_free(table);
    return rc;
}
