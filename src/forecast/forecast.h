/*
 * forecast.h -- internal links between the files of src/forecast (not installed).
 */
#ifndef RECUR_FORECAST_H
#define RECUR_FORECAST_H

#include "recur.h"

/* Inverse of the standard normal CDF (baseline.c): x with Phi(x) = p, to
 * full double precision; -inf / +inf at 0 / 1, NaN outside [0, 1]. */
double rc_norm_quantile(double p);

/* The file a panel was read from ("the panel" when built in memory). */
const char *rc_panel_path(const recur_panel *p);

#endif
