/*
 * loss.c -- Keras losses with the default "sum_over_batch_size" reduction
 * (keras/src/losses/losses.py, loss.py): both are means over all B*O elements.
 *   MSE = mean((t - p)^2),  dMSE/dp = 2 (p - t) / n
 *   MAE = mean(|t - p|),    dMAE/dp = sign(p - t) / n, 0 at an exact tie (as TF's Abs gradient)
 * Sums are taken in double.
 */
#include "train/train.h"

#include <math.h>

double recur_loss_eval(recur_loss loss, const recur_float *y_true, const recur_float *y_pred, size_t n,
                       recur_float *dy)
{
    if (n == 0) return 0;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y_pred[i] - (double)y_true[i];
        if (loss == RECUR_LOSS_MAE) {
            s += fabs(d);
            if (dy) dy[i] = (recur_float)((d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) / (double)n);
        } else {
            s += d * d;
            if (dy) dy[i] = (recur_float)(2.0 * d / (double)n);
        }
    }
    return s / (double)n;
}
