/*
 * gates.c -- the gate-GEMM mechanism shared by SimpleRNN (G=1), GRU (G=3),
 * LSTM (G=4) and Dense (G=1, one step):
 *
 *     pre_t = x_t W + h_{t-1} U + b        W (I, G*H), U (H, G*H), b (G*H)
 *
 * Forward does the input half for all T*B rows in one GEMM and the recurrent
 * half one GEMM per step; backward mirrors it: weight gradients for all steps in
 * one GEMM each, one GEMM per step for dL/dh_{t-1}. The layer files keep only
 * their gate nonlinearities and state updates.
 *
 * The recurrent cells (LSTM, GRU, SimpleRNN) run these products through
 * rc_pgemm (core/pgemm.c) with their weights packed once per batch
 * (rc_wp_pack); rc_gates_backward_packed is their part after the time loop.
 * Dense (one product per pass) and the reset_before GRU's dU use the rc_gemm
 * functions.
 */
#include "nn/layer.h"

#include <string.h>

void rc_gates_input_forward(recur_float *P, const recur_float *X, const recur_float *W, const recur_float *b, int R,
                            int I, int GH)
{
    for (int r = 0; r < R; r++) memcpy(P + (size_t)r * GH, b, sizeof *P * (size_t)GH);
    rc_gemm(0, 0, R, GH, I, 1, X, I, W, GH, 1, P, GH);
}

void rc_gates_input_backward(recur_float *dX, recur_float *dW, recur_float *db, const recur_float *dP,
                             const recur_float *X, const recur_float *W, int R, int I, int GH)
{
    rc_gemm(1, 0, I, GH, R, 1, X, I, dP, GH, 1, dW, GH);
    for (int r = 0; r < R; r++) {
        const recur_float *row = dP + (size_t)r * GH;
        for (int j = 0; j < GH; j++) db[j] += row[j];
    }
    if (dX) rc_gemm(0, 1, R, I, GH, 1, dP, GH, W, GH, 0, dX, I);
}

void rc_gates_recurrent_backward(recur_float *dU, int ldu, const recur_float *dP, int ldp, const recur_float *hs,
                                 const recur_float *h0, int has_state, int B, int T, int H, int N)
{
    /* Steps 1..T-1 see h_{t-1} = hs[t-1]: rows 0..(T-1)B-1 of hs against rows B.. of dP. */
    if (T > 1) rc_gemm(1, 0, H, N, (T - 1) * B, 1, hs, H, dP + (size_t)B * ldp, ldp, 1, dU, ldu);
    if (has_state) rc_gemm(1, 0, H, N, B, 1, h0, H, dP, ldp, 1, dU, ldu);
}

const rc_packed *rc_wp_pack(rc_lbuf *lb, int k, const recur_float *src, int lds, int trans, int K, int N, size_t at)
{
    if (!rc_wp_current(lb, k)) {
        rc_pack(&lb->wpk[k], lb->wp + at, src, lds, trans, K, N);
        rc_wp_mark(lb, k, 0);
    }
    return &lb->wpk[k];
}

/* Gate-gradient rows packed at a time in rc_gates_backward_packed (when
 * they are packed at all): 256 rows of 4H floats, 1 MB at H=256. */
#define RC_BLOCK_ROWS 256

static int block_steps(int B)
{
    int s = RC_BLOCK_ROWS / B;
    return s < 1 ? 1 : s;
}

/* Whether the gate gradients are read in place: unless their row stride is
 * a multiple of 1 KB, where the 48-column strips the kernel streams would
 * fall on a few cache sets (4 KB at H=256). */
int rc_gates_in_place(int GH) { return (GH * (int)sizeof(recur_float)) % 1024 != 0; }

size_t rc_gates_pack_floats(int H, int G, int B, int T)
{
    int GH = G * H, sb = block_steps(B);
    if (rc_gates_in_place(GH)) return 0;
    size_t rows = (size_t)(sb < T ? sb : T) * B;
    return rc_pack_floats((int)rows, GH);
}

/* db += column sums of P (R, GH), rows in order. restrict: no aliasing
 * check, so the compiler vectorises it. */
static void colsum(recur_float *restrict db, const recur_float *restrict P, int R, int GH)
{
    for (int r = 0; r < R; r++) {
        const recur_float *restrict row = P + (size_t)r * GH;
        for (int j = 0; j < GH; j++) db[j] += row[j];
    }
}

void rc_gates_backward_packed(recur_float *dX, recur_float *dW, recur_float *dU, recur_float *db,
                              const recur_float *dP, const recur_float *X, const rc_packed *WT, const recur_float *hs,
                              const recur_float *h0, int has_state, int B, int T, int I, int H, int GH,
                              recur_float *buf)
{
    /* The gate gradients are read in place (one pass for the bias, then the
     * kernel), or blocks of steps are packed, summing the bias on the way. */
    const int view = rc_gates_in_place(GH);
    const int sb = view ? T : block_steps(B);
    if (view && db) colsum(db, dP, T * B, GH);
    for (int t0 = 0; t0 < T; t0 += sb) {
        int rows = ((T - t0 < sb ? T - t0 : sb)) * B;
        const recur_float *blk = dP + (size_t)t0 * B * GH;
        rc_packed pk;
        if (view) pk = rc_pack_view(blk, GH, rows, GH);
        else rc_pack_sum(&pk, buf, blk, GH, rows, GH, db);
        if (dW) rc_pgemm(1, I, X + (size_t)t0 * B * I, I, &pk, 1, dW, GH);
        if (!dU) continue;
        if (t0 > 0) {
            rc_pgemm(1, H, hs + (size_t)(t0 - 1) * B * H, H, &pk, 1, dU, GH);
            continue;
        }
        /* step 0 sees h0 (zero unless a state was set); steps 1.. see hs[t-1] */
        if (has_state) {
            rc_packed v = rc_pack_rows(&pk, 0, B);
            rc_pgemm(1, H, h0, H, &v, 1, dU, GH);
        }
        if (rows > B) {
            rc_packed v = rc_pack_rows(&pk, B, rows - B);
            rc_pgemm(1, H, hs, H, &v, 1, dU, GH);
        }
    }
    if (dX) rc_pgemm(0, T * B, dP, GH, WT, 0, dX, I);
}
