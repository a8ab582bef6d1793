/*
 * c_export.c -- a model as dependency-free C99 source (recur_export_c).
 */
#include "recur.h"

#include <stdio.h>

recur_status recur_export_c(recur_model *m, const recur_pipeline *p, int timesteps, const char *dir,
                            const char *name, recur_error *err)
{
    (void)m;
    (void)p;
    (void)timesteps;
    (void)dir;
    (void)name;
    if (err) {
        err->code = RECUR_E_STATE;
        snprintf(err->msg, sizeof err->msg, "export --c: not implemented yet");
    }
    return RECUR_E_STATE;
}
