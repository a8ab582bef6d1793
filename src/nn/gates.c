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
 */
#include "nn/layer.h"

#include <string.h>

void rc_gates_input_forward(recur_float *P, const recur_float *X, const recur_float *W, const recur_float *b, int R,
                            int I, int GH)
{
    for (int r = 0; r < R; r++) memcpy(P + (size_t)r * GH, b, sizeof *P * (size_t)GH);
    rc_gemm(0, 0, R, GH, I, 1, X, I, W, GH, 1, P, GH);
}

void rc_gates_step_forward(recur_float *Pt, int ldp, const recur_float *h, const recur_float *U, int ldu, int B,
                           int H, int N)
{
    rc_gemm(0, 0, B, N, H, 1, h, H, U, ldu, 1, Pt, ldp);
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

void rc_gates_transpose(recur_float *UT, const recur_float *U, int H, int GH)
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < GH; j++) UT[(size_t)j * H + i] = U[(size_t)i * GH + j];
}

void rc_gates_step_backward(recur_float *dh, const recur_float *dPt, int ldp, const recur_float *UT, int B, int H,
                            int N, recur_float beta)
{
    rc_gemm(0, 0, B, H, N, 1, dPt, ldp, UT, H, beta, dh, H);
}

size_t rc_gates_pack_floats(int H, int G)
{
    size_t f = rc_pack_floats(H, G * H), b = rc_pack_floats(G * H, H);
    return f > b ? f : b;
}

void rc_gates_pack_u(rc_packed *pk, recur_float *buf, const recur_float *U, int H, int GH, int backward)
{
    if (backward) rc_pack(pk, buf, U, GH, 1, GH, H);
    else rc_pack(pk, buf, U, GH, 0, H, GH);
}
