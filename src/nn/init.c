/*
 * init.c -- Keras default initialisers.
 * glorot_uniform: U(-L, L), L = sqrt(6 / (fan_in + fan_out)), fan_in = rows,
 *   fan_out = cols of the whole fused matrix (keras/src/initializers).
 * orthogonal (gain 1): a normal (max(r,c), min(r,c)) matrix, QR, columns of Q
 *   multiplied by sign(diag(R)), transposed when r < c; for an LSTM's (H, 4H)
 *   recurrent kernel that is one matrix with orthonormal rows.
 * The QR is modified Gram-Schmidt in double, which yields the same Q (with
 * positive diag(R), i.e. already sign-corrected) as Householder QR.
 */
#include "nn/layer.h"

#include <math.h>
#include <stdlib.h>

void rc_init_glorot_uniform(recur_float *w, int rows, int cols, rc_rng *rng)
{
    double lim = sqrt(6.0 / (double)(rows + cols));
    for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = (recur_float)((2 * rc_rng_uniform(rng) - 1) * lim);
}

int rc_init_orthogonal(recur_float *w, int rows, int cols, rc_rng *rng)
{
    int n = rows > cols ? rows : cols; /* tall matrix n x k */
    int k = rows > cols ? cols : rows;
    double *q = malloc(sizeof *q * (size_t)n * k);
    if (!q) return -1;
    /* q holds the n x k matrix column by column (column j at q + j*n), so the
     * projections below read contiguous memory; filled in row order, the
     * order the normals are drawn. Row-major storage made an LSTM(256)'s
     * (1024 x 256) init take 1.3 s, each access a stride of 2 KB. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) q[(size_t)j * n + i] = rc_rng_normal(rng);
    /* Modified Gram-Schmidt, twice for stability. */
    for (int j = 0; j < k; j++) {
        double *qj = q + (size_t)j * n;
        for (int pass = 0; pass < 2; pass++) {
            for (int p = 0; p < j; p++) {
                const double *qp = q + (size_t)p * n;
                double d = 0;
                for (int i = 0; i < n; i++) d += qp[i] * qj[i];
                for (int i = 0; i < n; i++) qj[i] -= d * qp[i];
            }
        }
        double nn = 0;
        for (int i = 0; i < n; i++) nn += qj[i] * qj[i];
        nn = sqrt(nn);
        if (nn == 0) nn = 1;
        for (int i = 0; i < n; i++) qj[i] /= nn;
    }
    if (rows >= cols) { /* w (rows=n, cols=k) = q */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) w[(size_t)i * k + j] = (recur_float)q[(size_t)j * n + i];
    } else { /* w (rows=k, cols=n) = q^T: column j of q is row j of w */
        for (size_t i = 0; i < (size_t)n * k; i++) w[i] = (recur_float)q[i];
    }
    free(q);
    return 0;
}
