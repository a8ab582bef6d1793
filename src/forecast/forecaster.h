/*
 * forecaster.h -- internal links between forecaster.c (recipe, training,
 * prediction, the backtest adapter) and forecaster_file.c (save and load).
 * Not installed; names are prefixed rc_fc_.
 */
#ifndef RECUR_FORECASTER_H
#define RECUR_FORECASTER_H

#include "core/core.h"

#define RC_FC_SPEC_MAX 512

/* What the forecaster keeps of one series: how its values were scaled. */
typedef struct {
    char *id;
    int use_log;  /* 1: z = log(y) (every training value was > 0), else z = y */
    double a, b;  /* scaler on z: MinMax (min, max) or standard (mean, std) */
} rc_fc_series;

struct recur_forecaster {
    recur_preset preset;
    int H, season;
    int T;        /* values per input window */
    int chunk;    /* values per time step (the model's n_features); T % chunk == 0 */
    int anchor;   /* > 0: each window is taken relative to the mean of its last `anchor` scaled values */
    int log_ok;   /* 1: positive series are modelled in logs */
    recur_scaler_kind scaler;
    char spec[RC_FC_SPEC_MAX]; /* layers as built (last dense H wide) */
    char columns[3][64];       /* id, time and value column names of the training file ("": none) */
    int n_nets;
    recur_model **net;         /* (n_nets) compiled networks */
    size_t n_series;
    rc_fc_series *series;      /* (n_series) */
    size_t n_skipped;
    char **skipped;            /* (n_skipped) ids */
    size_t n_res;              /* validation windows */
    float *res;                /* (H, n_res): per step, absolute errors of the ensemble, ascending */
};

/* Empty forecaster with n_series / n_nets slots (zeroed) and res (H * n_res). */
recur_status rc_fc_alloc(size_t n_series, int n_nets, int H, size_t n_res, recur_forecaster **out, recur_error *err);
/* Checks a loaded (or built) forecaster's fields against each other;
 * messages start with `where`. */
recur_status rc_fc_check(const recur_forecaster *f, const char *where, recur_error *err);

/* recur_forecaster_fit, warm-started from `warm`'s networks when not NULL
 * and of the same shapes. */
recur_status rc_fc_fit_from(const recur_forecaster_opts *o, const recur_panel *p, const size_t *n_train,
                            const recur_forecaster *warm, recur_forecaster **out, recur_error *err);
/* Range checks of the options (RECUR_E_INVALID). */
recur_status rc_fc_check_opts(const recur_forecaster_opts *o, recur_error *err);
/* Builds `spec` for F values per step with its last layer (a dense) widened
 * to H outputs, compiled with co. */
recur_status rc_fc_build_net(const char *spec, int F, int H, const recur_compile_opts *co, recur_model **out,
                             recur_error *err);

#endif
