/*
 * c_export.c -- a model as dependency-free C99 source (recur_export_c).
 *
 * Writes DIR/NAME.h (sizes, the state struct, prototypes, usage) and DIR/NAME.c
 * (weights as static const float arrays in hexadecimal floating literals, so
 * every value reads back bit for bit; the per-layer step functions; predict,
 * reset, step; the pipeline's scaling; a self-test). The generated code needs
 * only libm (exp, tanh, log), allocates nothing and keeps no global
 * state: everything that changes lives in the caller's NAME_state.
 *
 * The generated network runs one time step at a time through every layer:
 * NAME_predict is NAME_reset followed by T calls of the same step code, so
 * NAME_step's output after exactly T steps from a reset is bit-identical to
 * NAME_predict's on that window (its last row for a sequence output).
 *
 * Maths (Keras semantics, as src/nn/): per step, for input x and state h (c),
 *   LSTM   z = b + x W + h U (i|f|c|o); c = sig(z_f) c + sig(z_i) tanh(z_c); h = sig(z_o) tanh(c)
 *   GRU    reset_after: mx = b0 + x W, mh = b1 + h U; z = sig(mx_z + mh_z), r = sig(mx_r + mh_r),
 *                       hh = tanh(mx_h + r mh_h);  h = z h + (1 - z) hh
 *          reset_before: a = b + x W; a_zr += h U_zr; z, r = sig(a_zr); hh = tanh(a_h + (r h) U_h)
 *   RNN    h = tanh(b + x W + h U)
 *   Dense  y = act(b + x W);  Dropout: identity
 * with the same two-branch sigmoid as src/nn/act.h, on libm's exp, and tanh.
 *
 * Precision: the weights are recur's float32 values exactly, inputs and
 * outputs are float, but every sum and activation is computed in double. Two
 * float32 implementations that sum in different orders (recur uses OpenBLAS
 * and its own polynomial exp) drift apart by about 1e-6 of the output scale
 * over a 60-step window of the tutorial model, each being ~8e-7 from the exact
 * result; computing in double makes the generated code's own error negligible,
 * so what remains of the difference to recur is recur's float32 rounding.
 *
 * The embedded self-test windows are pseudo-random inputs in the range the
 * model sees (MinMax [0,1), standard [-2,2), no pipeline [-1,1)), from a fixed
 * seed; their expected outputs come from recur_model_predict. The tolerance
 * is relative to the output scale, the largest |output| over 32 such windows
 * (relative to each output alone, one near 0 would demand more digits than
 * float32 has): 1e-6 of it, or 1.5 times the difference mirror_check measures
 * between the generated computation and recur when recur's rounding is larger.
 *
 * Not here: the command line (cli/cmd_export.c), Keras files (another exporter).
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_NAME_MAX 40
#define EXPORT_N_TESTS 3  /* windows embedded for the self-test */
#define EXPORT_N_SCALE 32 /* windows whose outputs set the output scale (the first N_TESTS embedded) */
#define EXPORT_TOL "1e-6"

/* One layer as the generator sees it: its kind and sizes, and its weights
 * (NULL when the layer has none of that kind). */
typedef struct {
    recur_layer_info info;
    const recur_float *W, *U, *b; /* kernel (I, G*H), recurrent_kernel (H, G*H), bias */
    size_t nW, nU, nb;
} layer_view;

typedef struct {
    const char *name; /* the NAME prefix */
    recur_model *m;
    const recur_pipeline *p;
    int T, F, O, seq, n_layers;
    int last_rec;      /* index of the last recurrent layer (-1: none) */
    size_t zmax;       /* scratch doubles a step needs */
    size_t out_size;   /* floats NAME_predict writes: O or T*O */
    layer_view *L;     /* (n_layers) */
    recur_float *tx;   /* (EXPORT_N_SCALE, T, F) test windows */
    recur_float *ty;   /* (EXPORT_N_SCALE, out_size) recur's outputs for them */
    double scale;      /* the output scale: largest |output| over them (at least 1e-3) */
    double diff;       /* largest |generated - recur| over them (mirror_check) */
    double tol;        /* the self-test's tolerance, absolute */
} gen;

static int is_rec(recur_layer_kind k) { return k == RECUR_LAYER_LSTM || k == RECUR_LAYER_GRU || k == RECUR_LAYER_RNN; }

static int gates(const recur_layer_info *li)
{
    return li->kind == RECUR_LAYER_LSTM ? 4 : li->kind == RECUR_LAYER_GRU ? 3 : 1;
}

/* ====== Checks ====== */

static recur_status check_name(const char *name, recur_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0) return rc_error(err, RECUR_E_INVALID, "export: the name is empty; give a C identifier such as \"aapl\"");
    int ok = n <= EXPORT_NAME_MAX && !(name[0] >= '0' && name[0] <= '9');
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok)
        return rc_error(err, RECUR_E_INVALID,
                        "export: name \"%.*s%s\" is not a C identifier of at most %d characters (letters, digits, "
                        "'_', not starting with a digit), e.g. \"aapl\"",
                        48, name, n > 48 ? "..." : "", EXPORT_NAME_MAX);
    return RECUR_OK;
}

static recur_status check_dir(const char *dir, recur_error *err)
{
    struct stat st;
    if (!dir || !dir[0]) return rc_error(err, RECUR_E_INVALID, "export: the output folder is empty");
    if (stat(dir, &st) != 0)
        return rc_error(err, RECUR_E_IO, "export: folder \"%s\" does not exist (create it first)", dir);
    if (!S_ISDIR(st.st_mode)) return rc_error(err, RECUR_E_IO, "export: \"%s\" is a file, not a folder", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return rc_error(err, RECUR_E_IO, "export: folder \"%s\" is not writable (%s)", dir, strerror(errno));
    return RECUR_OK;
}

/* ====== Model view and reference outputs ====== */

static recur_status view_model(gen *g, recur_error *err)
{
    recur_model *m = g->m;
    int nw = recur_model_n_weights(m);
    g->n_layers = recur_model_n_layers(m);
    g->L = calloc((size_t)(g->n_layers > 0 ? g->n_layers : 1), sizeof *g->L);
    if (!g->L) return rc_error(err, RECUR_E_NOMEM, "export: out of memory");
    g->last_rec = -1;
    g->zmax = 1;
    for (int l = 0; l < g->n_layers; l++) {
        layer_view *v = &g->L[l];
        recur_status st = recur_model_layer(m, l, &v->info, err);
        if (st) return st;
        if (is_rec(v->info.kind)) g->last_rec = l;
        size_t GH = (size_t)gates(&v->info) * (size_t)v->info.units;
        if (v->info.kind == RECUR_LAYER_GRU) GH *= 2; /* mx and mh, or a and r*h */
        if (v->info.kind != RECUR_LAYER_DROPOUT && GH > g->zmax) g->zmax = GH;
    }
    for (int i = 0; i < nw; i++) {
        recur_weight w;
        recur_status st = recur_model_weight(m, i, &w, err);
        if (st) return st;
        if (w.layer < 0 || w.layer >= g->n_layers) continue;
        for (size_t k = 0; k < w.size; k++)
            if (!isfinite((double)w.data[k]))
                return rc_error(err, RECUR_E_INVALID,
                                "export: weight %s[%zu] is %g; a model with non-finite weights cannot be exported "
                                "(retrain it, e.g. with a lower --lr)",
                                w.name, k, (double)w.data[k]);
        layer_view *v = &g->L[w.layer];
        const char *what = strrchr(w.name, '.');
        what = what ? what + 1 : w.name;
        if (strcmp(what, "kernel") == 0) v->W = w.data, v->nW = w.size;
        else if (strcmp(what, "recurrent_kernel") == 0) v->U = w.data, v->nU = w.size;
        else if (strcmp(what, "bias") == 0) v->b = w.data, v->nb = w.size;
    }
    for (int l = 0; l < g->n_layers; l++) {
        const layer_view *v = &g->L[l];
        size_t I = (size_t)v->info.in_dim, H = (size_t)v->info.units, GH = (size_t)gates(&v->info) * H;
        int bad = 0;
        if (v->info.kind == RECUR_LAYER_DENSE) bad = !v->W || v->nW != I * H || (v->b && v->nb != H);
        else if (is_rec(v->info.kind))
            bad = !v->W || !v->U || v->nW != I * GH || v->nU != H * GH ||
                  (v->b && v->nb != (v->info.kind == RECUR_LAYER_GRU && v->info.reset_after ? 2 : 1) * GH);
        if (bad)
            return rc_error(err, RECUR_E_INVALID, "export: layer %d's weights do not have the sizes of its kind", l + 1);
    }
    return RECUR_OK;
}

static recur_status reference_outputs(gen *g, recur_error *err)
{
    size_t win = (size_t)g->T * (size_t)g->F;
    g->tx = malloc(EXPORT_N_SCALE * win * sizeof *g->tx);
    g->ty = malloc(EXPORT_N_SCALE * g->out_size * sizeof *g->ty);
    if (!g->tx || !g->ty) return rc_error(err, RECUR_E_NOMEM, "export: out of memory for the self-test windows");
    double lo = -1, hi = 1;
    if (g->p && g->p->scaler_kind == RECUR_SCALER_STANDARD) lo = -2, hi = 2;
    else if (g->p) lo = 0, hi = 1;
    rc_rng r;
    rc_rng_seed(&r, 20260314);
    for (size_t k = 0; k < EXPORT_N_SCALE * win; k++) g->tx[k] = (recur_float)(lo + (hi - lo) * rc_rng_uniform(&r));
    recur_status st = recur_model_predict(g->m, g->tx, EXPORT_N_SCALE, g->T, g->ty, err);
    if (st) return st;
    g->scale = 1e-3;
    for (size_t k = 0; k < EXPORT_N_SCALE * g->out_size; k++) {
        if (!isfinite((double)g->ty[k]))
            return rc_error(err, RECUR_E_INVALID, "export: the model's output is %g on a test window; it cannot be "
                                                  "exported",
                            (double)g->ty[k]);
        if (fabs((double)g->ty[k]) > g->scale) g->scale = fabs((double)g->ty[k]);
    }
    return RECUR_OK;
}

/* ====== The generated computation, mirrored ======
 * The same double arithmetic as the emitted kernels (emit_kernels), run here
 * on the test windows, so that the export measures its difference to recur
 * before writing anything, and the self-test's tolerance is never tighter than
 * recur's own float32 rounding on those windows. */

static double sig_d(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* The generated code's gate(a, x) code of a layer: 0 sigmoid, 1 and 2 the hard sigmoids. */
static int gate_code(const recur_layer_info *li)
{
    return li->recurrent_act == RECUR_ACT_HARD_SIGMOID ? 1 : li->recurrent_act == RECUR_ACT_HARD_SIGMOID_K2 ? 2 : 0;
}

/* The same gate as the generated code computes it. */
static double gate_d(int a, double x)
{
    if (a == 0) return sig_d(x);
    double y = a == 1 ? (x + 3.0) / 6.0 : 0.2 * x + 0.5;
    return y < 0.0 ? 0.0 : y > 1.0 ? 1.0 : y;
}

/* y (n) += x (k) W, W (k, ld), its first n columns */
static void mv_d(double *y, const double *x, const recur_float *W, int k, int n, int ld)
{
    for (int i = 0; i < k; i++)
        for (int j = 0; j < n; j++) y[j] += x[i] * (double)W[(size_t)i * ld + j];
}

static void bias_d(double *y, const recur_float *b, int n)
{
    for (int j = 0; j < n; j++) y[j] = b ? (double)b[j] : 0.0;
}

/* One step of layer v: input x, state h (and c), output into h (or y for
 * Dense); z is scratch. Returns the layer's output. */
static const double *step_d(const layer_view *v, const double *x, double *h, double *c, double *z)
{
    const int I = v->info.in_dim, H = v->info.units, ga = gate_code(&v->info);
    switch (v->info.kind) {
    case RECUR_LAYER_LSTM:
        bias_d(z, v->b, 4 * H);
        mv_d(z, x, v->W, I, 4 * H, 4 * H);
        mv_d(z, h, v->U, H, 4 * H, 4 * H);
        for (int j = 0; j < H; j++) {
            double i = gate_d(ga, z[j]), f = gate_d(ga, z[H + j]), gg = tanh(z[2 * H + j]);
            double o = gate_d(ga, z[3 * H + j]);
            c[j] = f * c[j] + i * gg;
            h[j] = o * tanh(c[j]);
        }
        return h;
    case RECUR_LAYER_GRU: {
        double *m2 = z + 3 * H;
        bias_d(z, v->b, 3 * H);
        if (v->info.reset_after) {
            bias_d(m2, v->b ? v->b + 3 * H : NULL, 3 * H);
            mv_d(z, x, v->W, I, 3 * H, 3 * H);
            mv_d(m2, h, v->U, H, 3 * H, 3 * H);
            for (int j = 0; j < H; j++) {
                double u = gate_d(ga, z[j] + m2[j]), r = gate_d(ga, z[H + j] + m2[H + j]);
                double hh = tanh(z[2 * H + j] + r * m2[2 * H + j]);
                h[j] = u * h[j] + (1 - u) * hh;
            }
        } else {
            mv_d(z, x, v->W, I, 3 * H, 3 * H);
            mv_d(z, h, v->U, H, 2 * H, 3 * H);
            for (int j = 0; j < 2 * H; j++) z[j] = gate_d(ga, z[j]);
            for (int j = 0; j < H; j++) m2[j] = z[H + j] * h[j];
            mv_d(z + 2 * H, m2, v->U + 2 * H, H, H, 3 * H);
            for (int j = 0; j < H; j++) h[j] = z[j] * h[j] + (1 - z[j]) * tanh(z[2 * H + j]);
        }
        return h;
    }
    case RECUR_LAYER_RNN:
        bias_d(z, v->b, H);
        mv_d(z, x, v->W, I, H, H);
        mv_d(z, h, v->U, H, H, H);
        for (int j = 0; j < H; j++) h[j] = tanh(z[j]);
        return h;
    case RECUR_LAYER_DENSE:
        bias_d(h, v->b, H);
        mv_d(h, x, v->W, I, H, H);
        for (int j = 0; j < H; j++) {
            recur_activation a = v->info.act;
            h[j] = a == RECUR_ACT_RELU ? (h[j] > 0 ? h[j] : 0.0)
                   : a == RECUR_ACT_TANH ? tanh(h[j]) : a == RECUR_ACT_SIGMOID ? sig_d(h[j]) : h[j];
        }
        return h;
    default: return x;
    }
}

/* g->diff: the largest |generated - recur| over the test windows; g->tol. */
static recur_status mirror_check(gen *g, recur_error *err)
{
    size_t n_state = (size_t)g->F + g->zmax;
    for (int l = 0; l < g->n_layers; l++) n_state += 2 * (size_t)g->L[l].info.units;
    double *buf = malloc(n_state * sizeof *buf);
    if (!buf) return rc_error(err, RECUR_E_NOMEM, "export: out of memory");
    g->diff = 0;
    for (int n = 0; n < EXPORT_N_SCALE; n++) {
        memset(buf, 0, n_state * sizeof *buf);
        for (int t = 0; t < g->T; t++) {
            double *x = buf, *z = x + g->F, *st = z + g->zmax;
            const recur_float *xt = g->tx + ((size_t)n * g->T + (size_t)t) * (size_t)g->F;
            for (int j = 0; j < g->F; j++) x[j] = (double)xt[j];
            const double *v = x;
            for (int l = 0; l < g->n_layers; l++) {
                int H = g->L[l].info.units;
                v = step_d(&g->L[l], v, st, st + H, z);
                st += 2 * (size_t)H;
            }
            if (!g->seq && t < g->T - 1) continue;
            const recur_float *want = g->ty + (size_t)n * g->out_size + (g->seq ? (size_t)t * (size_t)g->O : 0);
            for (int k = 0; k < g->O; k++) {
                double d = fabs((double)(float)v[k] - (double)want[k]);
                if (!(d <= g->diff)) g->diff = d; /* NaN too */
            }
        }
    }
    free(buf);
    /* 1e-6 of the output scale, or 1.5 times recur's own rounding when that is larger */
    g->tol = g->scale * 1e-6 > 1.5 * g->diff ? g->scale * 1e-6 : 1.5 * g->diff;
    if (!(g->diff <= 1e-4 * g->scale))
        return rc_error(err, RECUR_E_INVALID, "export: the generated computation differs from recur's by %.3g of the "
                                              "output scale; this is a bug in the exporter, please report it",
                        g->diff / g->scale);
    return RECUR_OK;
}

/* ====== Emitting ====== */

/* Exact float literal: hexadecimal, read back to the same bits. */
static void put_float(FILE *f, recur_float v) { fprintf(f, "%af", (double)(float)v); }

static void put_array(FILE *f, const char *name, const recur_float *v, size_t n)
{
    fprintf(f, "static const float %s[%zu] = {", name, n);
    for (size_t k = 0; k < n; k++) {
        fputs(k % 6 ? ", " : k ? ",\n    " : "\n    ", f);
        put_float(f, v[k]);
    }
    fputs("\n};\n", f);
}

static const char *kind_name(const recur_layer_info *li)
{
    static const char *const n[] = {"LSTM", "GRU", "SimpleRNN", "Dense", "Dropout"};
    return (unsigned)li->kind < 5u ? n[li->kind] : "?";
}

static const char *act_name(recur_activation a)
{
    static const char *const n[] = {"linear", "relu", "tanh", "sigmoid"};
    return (unsigned)a < 4u ? n[a] : "?";
}

static void emit_header(FILE *f, const gen *g, const char *spec)
{
    const char *N = g->name;
    char up[EXPORT_NAME_MAX + 1];
    size_t i = 0;
    for (; N[i]; i++) up[i] = (N[i] >= 'a' && N[i] <= 'z') ? (char)(N[i] - 'a' + 'A') : N[i];
    up[i] = '\0';
    fprintf(f,
            "/*\n"
            " * %s.h -- generated by recur %s (recur export --c); do not edit.\n"
            " * Model: %s\n"
            " * C99, libm only, no allocation, no global state. Compile %s.c with -lm.\n"
            " *\n"
            " * %s_predict(window, out): window is T x F floats, time-major (t0f0, t0f1, ...,\n"
            " *   t1f0, ...), scaled as the model was trained (see %s_scale_input when the model\n"
            " *   has a pipeline); out receives %s_OUTPUT_SIZE floats.\n"
            " * %s_reset(&s), then %s_step(&s, x_t, out) once per time step: x_t is F floats,\n"
            " *   out receives the O outputs the model would give for a window ending at this\n"
            " *   step (the head on the current state). After exactly T steps from a reset the\n"
            " *   outputs are bit-identical to %s_predict's on those T steps (for a sequence\n"
            " *   output, to its last row). Further steps continue the recurrence from the\n"
            " *   whole history, which a fixed window of T steps would not see, so they differ\n"
            " *   from %s_predict on the last T inputs: reset and replay T steps to get those.\n"
            " * %s_selftest(): 0 when the embedded windows give recur's outputs to %s\n"
            " *   of the output scale (or recur's own rounding, when larger: see %s.c),\n"
            " *   else the number of mismatches.\n"
            " */\n"
            "#ifndef %s_H_\n#define %s_H_\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            N, RECUR_VERSION, spec, N, N, N, up, N, N, N, N, N, EXPORT_TOL, N, up, up);
    fprintf(f,
            "#define %s_TIMESTEPS %d   /* T: steps per window of %s_predict */\n"
            "#define %s_FEATURES %d    /* F: inputs per time step */\n"
            "#define %s_OUTPUTS %d     /* O: outputs per step */\n"
            "#define %s_RETURNS_SEQUENCES %d /* 1: %s_predict writes T x O floats */\n"
            "#define %s_OUTPUT_SIZE %zu /* floats written by %s_predict */\n\n",
            up, g->T, N, up, g->F, up, g->O, up, g->seq, N, up, g->out_size, N);
    fprintf(f, "typedef struct {\n    long steps; /* time steps since %s_reset */\n", N);
    for (int l = 0; l < g->n_layers; l++) {
        const recur_layer_info *li = &g->L[l].info;
        if (is_rec(li->kind)) fprintf(f, "    double h%d[%d]; /* layer %d, %s state */\n", l, li->units, l + 1, kind_name(li));
        if (li->kind == RECUR_LAYER_LSTM) fprintf(f, "    double c%d[%d]; /* its cell state */\n", l, li->units);
        if (li->kind == RECUR_LAYER_DENSE) fprintf(f, "    double y%d[%d]; /* layer %d, Dense output */\n", l, li->units, l + 1);
    }
    fprintf(f, "    double x[%d], z[%zu]; /* the input, scratch */\n} %s_state;\n\n", g->F, g->zmax, N);
    fprintf(f,
            "void %s_predict(const float *window, float *out);\n"
            "void %s_reset(%s_state *s);\n"
            "void %s_step(%s_state *s, const float *x_t, float *out);\n"
            "int %s_selftest(void);\n",
            N, N, N, N, N, N);
    if (g->p) {
        static const char *const tr[] = {"none", "diff", "logreturn"};
        int tf = g->p->transform != RECUR_TRANSFORM_NONE;
        fprintf(f,
                "\n/* The pipeline: transform %s, %s scaler fitted on the training rows.\n"
                " * %s_scale_input: raw (%s_RAW_ROWS x F doubles, data units, oldest first, the\n"
                " *   model's feature columns in order) -> window (T x F floats). %s\n"
                " * %s_scale_step: one step's x_t from this row's raw values (and the row before,\n"
                " *   used only by diff/logreturn; may be NULL otherwise).\n"
                " * %s_unscale_output: out (O floats, the values predicted for the next %d rows)\n"
                " *   -> data units; `last` is the target's raw value on the window's last row\n"
                " *   (used only by diff/logreturn, which predict changes from it).\n"
                " * Both scaling functions return 0, or -1 when a logreturn meets a value <= 0. */\n"
                "#define %s_HAS_PIPELINE 1\n#define %s_RAW_ROWS %d\n#define %s_TARGET %d /* target column among F */\n"
                "int %s_scale_input(const double *raw, float *window);\n"
                "int %s_scale_step(const double *prev, const double *cur, float *x_t);\n"
                "void %s_unscale_output(const float *out, double last, double *values);\n",
                tr[g->p->transform], g->p->scaler_kind == RECUR_SCALER_STANDARD ? "standard" : "MinMax", N, up,
                tf ? "Row 0 serves only as the previous value of row 1 (T + 1 rows)."
                   : "T rows.",
                N, N, g->O, up, up, g->T + tf, up, g->p->target, N, N, N);
    }
    fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n#endif /* %s_H_ */\n", up);
}

/* The generic step kernels, with the sizes as arguments. */
static void emit_kernels(FILE *f, const gen *g)
{
    int has[5] = {0}, ra = 0, rb = 0;
    for (int l = 0; l < g->n_layers; l++) {
        const recur_layer_info *li = &g->L[l].info;
        has[li->kind] = 1;
        if (li->kind == RECUR_LAYER_GRU) ra |= li->reset_after, rb |= !li->reset_after;
    }
    fputs("/* y (n) += x (k) W, W (k, ld) row-major, its first n columns; in double */\n"
          "static void matvec(double *y, const double *x, const float *W, int k, int n, int ld)\n{\n"
          "    int i, j;\n"
          "    for (i = 0; i < k; i++) {\n"
          "        const double xi = x[i];\n        const float *w = W + (long)i * ld;\n"
          "        for (j = 0; j < n; j++) y[j] += xi * (double)w[j];\n"
          "    }\n}\n\n"
          "/* y (n) = b (NULL: 0) */\n"
          "static void set_bias(double *y, const float *b, int n)\n{\n"
          "    int j;\n"
          "    for (j = 0; j < n; j++) y[j] = b ? (double)b[j] : 0.0;\n}\n\n"
          "/* sigmoid, two branches so exp never overflows (as recur's act.h) */\n"
          "static double sig(double x)\n{\n"
          "    double e;\n"
          "    if (x >= 0) return 1.0 / (1.0 + exp(-x));\n"
          "    e = exp(x);\n"
          "    return e / (1.0 + e);\n}\n\n",
          f);
    if (has[RECUR_LAYER_LSTM] || has[RECUR_LAYER_GRU])
        fputs("/* an LSTM's or GRU's gate activation: 0 sigmoid, 1 Keras 3's hard_sigmoid\n"
              " * relu6(x + 3) / 6, 2 Keras 2's hard_sigmoid clip(0.2 x + 0.5) */\n"
              "static double gate(int a, double x)\n{\n"
              "    double y;\n"
              "    if (a == 0) return sig(x);\n"
              "    y = a == 1 ? (x + 3.0) / 6.0 : 0.2 * x + 0.5;\n"
              "    return y < 0.0 ? 0.0 : y > 1.0 ? 1.0 : y;\n}\n\n",
              f);
    if (has[RECUR_LAYER_LSTM])
        fputs("/* LSTM step: z = b + x W + h U (i|f|c|o); c = f c + i g; h = o tanh(c). z: 4H scratch */\n"
              "static void lstm(double *h, double *c, double *z, const double *x, const float *W, const float *U,\n"
              "                 const float *b, int I, int H, int ga)\n{\n"
              "    int j;\n"
              "    set_bias(z, b, 4 * H);\n"
              "    matvec(z, x, W, I, 4 * H, 4 * H);\n"
              "    matvec(z, h, U, H, 4 * H, 4 * H);\n"
              "    for (j = 0; j < H; j++) {\n"
              "        double i = gate(ga, z[j]), f = gate(ga, z[H + j]), g = tanh(z[2 * H + j]);\n"
              "        double o = gate(ga, z[3 * H + j]);\n"
              "        c[j] = f * c[j] + i * g;\n"
              "        h[j] = o * tanh(c[j]);\n"
              "    }\n}\n\n",
              f);
    if (ra)
        fputs("/* GRU step, reset_after: mx = b0 + x W, mh = b1 + h U (z|r|h);\n"
              " * z, r = sig(mx + mh); hh = tanh(mx_h + r mh_h); h = z h + (1 - z) hh. z: 6H scratch */\n"
              "static void gru_ra(double *h, double *z, const double *x, const float *W, const float *U,\n"
              "                   const float *b, int I, int H, int ga)\n{\n"
              "    int j;\n"
              "    double *mh = z + 3 * H;\n"
              "    set_bias(z, b, 3 * H);\n"
              "    set_bias(mh, b ? b + 3 * H : b, 3 * H);\n"
              "    matvec(z, x, W, I, 3 * H, 3 * H);\n"
              "    matvec(mh, h, U, H, 3 * H, 3 * H);\n"
              "    for (j = 0; j < H; j++) {\n"
              "        double u = gate(ga, z[j] + mh[j]), r = gate(ga, z[H + j] + mh[H + j]);\n"
              "        double hh = tanh(z[2 * H + j] + r * mh[2 * H + j]);\n"
              "        h[j] = u * h[j] + (1 - u) * hh;\n"
              "    }\n}\n\n",
              f);
    if (rb)
        fputs("/* GRU step, reset_before: a = b + x W; a_zr += h U_zr; z, r = sig(a_zr);\n"
              " * a_h += (r h) U_h; h = z h + (1 - z) tanh(a_h). z: 4H scratch (a, then r h) */\n"
              "static void gru_rb(double *h, double *z, const double *x, const float *W, const float *U,\n"
              "                   const float *b, int I, int H, int ga)\n{\n"
              "    int j;\n"
              "    double *rh = z + 3 * H;\n"
              "    set_bias(z, b, 3 * H);\n"
              "    matvec(z, x, W, I, 3 * H, 3 * H);\n"
              "    matvec(z, h, U, H, 2 * H, 3 * H);\n"
              "    for (j = 0; j < 2 * H; j++) z[j] = gate(ga, z[j]);\n"
              "    for (j = 0; j < H; j++) rh[j] = z[H + j] * h[j];\n"
              "    matvec(z + 2 * H, rh, U + 2 * H, H, H, 3 * H);\n"
              "    for (j = 0; j < H; j++) h[j] = z[j] * h[j] + (1 - z[j]) * tanh(z[2 * H + j]);\n"
              "}\n\n",
              f);
    if (has[RECUR_LAYER_RNN])
        fputs("/* SimpleRNN step: h = tanh(b + x W + h U). z: H scratch */\n"
              "static void rnn(double *h, double *z, const double *x, const float *W, const float *U, const float *b,\n"
              "                int I, int H)\n{\n"
              "    int j;\n"
              "    set_bias(z, b, H);\n"
              "    matvec(z, x, W, I, H, H);\n"
              "    matvec(z, h, U, H, H, H);\n"
              "    for (j = 0; j < H; j++) h[j] = tanh(z[j]);\n"
              "}\n\n",
              f);
    if (has[RECUR_LAYER_DENSE])
        fputs("/* Dense: y = act(b + x W); act 0 linear, 1 relu, 2 tanh, 3 sigmoid */\n"
              "static void dense(double *y, const double *x, const float *W, const float *b, int I, int O, int act)\n"
              "{\n"
              "    int j;\n"
              "    set_bias(y, b, O);\n"
              "    matvec(y, x, W, I, O, O);\n"
              "    for (j = 0; j < O; j++)\n"
              "        y[j] = act == 1 ? (y[j] > 0 ? y[j] : 0.0) : act == 2 ? tanh(y[j]) : act == 3 ? sig(y[j]) : y[j];\n"
              "}\n\n",
              f);
}

/* The step through every layer; with head = 0 it stops after the last
 * recurrent layer (predict's earlier steps of a model that returns no sequence). */
static void emit_advance(FILE *f, const gen *g)
{
    const char *N = g->name;
    fprintf(f,
            "/* One time step through every layer; the output (O floats) into out unless\n"
            " * head is 0, which skips the layers after the last recurrent one. */\n"
            "static void advance(%s_state *s, const float *x_t, float *out, int head)\n{\n"
            "    const double *v = s->x;\n"
            "    int j;\n"
            "    for (j = 0; j < %d; j++) s->x[j] = (double)x_t[j];\n%s",
            N, g->F, g->last_rec < 0 ? "    (void)head;\n" : "");
    for (int l = 0; l < g->n_layers; l++) {
        const layer_view *v = &g->L[l];
        const recur_layer_info *li = &v->info;
        char b[32];
        if (v->b) snprintf(b, sizeof b, "L%d_b", l);
        else snprintf(b, sizeof b, "(const float *)0");
        if (l == g->last_rec + 1 && g->last_rec >= 0) fputs("    if (!head) return;\n", f);
        switch (li->kind) {
        case RECUR_LAYER_LSTM:
            fprintf(f, "    lstm(s->h%d, s->c%d, s->z, v, L%d_W, L%d_U, %s, %d, %d, %d);\n    v = s->h%d;\n", l, l, l, l,
                    b, li->in_dim, li->units, gate_code(li), l);
            break;
        case RECUR_LAYER_GRU:
            fprintf(f, "    %s(s->h%d, s->z, v, L%d_W, L%d_U, %s, %d, %d, %d);\n    v = s->h%d;\n",
                    li->reset_after ? "gru_ra" : "gru_rb", l, l, l, b, li->in_dim, li->units, gate_code(li), l);
            break;
        case RECUR_LAYER_RNN:
            fprintf(f, "    rnn(s->h%d, s->z, v, L%d_W, L%d_U, %s, %d, %d);\n    v = s->h%d;\n", l, l, l, b, li->in_dim,
                    li->units, l);
            break;
        case RECUR_LAYER_DENSE:
            fprintf(f, "    dense(s->y%d, v, L%d_W, %s, %d, %d, %d); /* %s */\n    v = s->y%d;\n", l, l, b, li->in_dim,
                    li->units, (int)li->act, act_name(li->act), l);
            break;
        default: fprintf(f, "    /* layer %d: Dropout, identity at inference */\n", l + 1); break;
        }
    }
    if (g->last_rec == g->n_layers - 1) fputs("    if (!head) return;\n", f);
    fprintf(f, "    for (j = 0; j < %d; j++) out[j] = (float)v[j];\n}\n\n", g->O);
}

static void emit_api(FILE *f, const gen *g)
{
    const char *N = g->name;
    fprintf(f, "void %s_reset(%s_state *s)\n{\n    int j;\n    s->steps = 0;\n", N, N);
    for (int l = 0; l < g->n_layers; l++) {
        const recur_layer_info *li = &g->L[l].info;
        if (is_rec(li->kind)) fprintf(f, "    for (j = 0; j < %d; j++) s->h%d[j] = 0.0;\n", li->units, l);
        if (li->kind == RECUR_LAYER_LSTM) fprintf(f, "    for (j = 0; j < %d; j++) s->c%d[j] = 0.0;\n", li->units, l);
    }
    fprintf(f, "    (void)j;\n}\n\n");
    fprintf(f,
            "void %s_step(%s_state *s, const float *x_t, float *out)\n{\n"
            "    advance(s, x_t, out, 1);\n    s->steps++;\n}\n\n",
            N, N);
    fprintf(f, "void %s_predict(const float *window, float *out)\n{\n    %s_state s;\n    int t;\n    %s_reset(&s);\n",
            N, N, N);
    if (g->seq)
        fprintf(f, "    for (t = 0; t < %d; t++) advance(&s, window + (long)t * %d, out + (long)t * %d, 1);\n}\n\n",
                g->T, g->F, g->O);
    else
        fprintf(f, "    for (t = 0; t < %d; t++) advance(&s, window + (long)t * %d, out, t == %d);\n}\n\n", g->T,
                g->F, g->T - 1);
}

static void emit_pipeline(FILE *f, const gen *g)
{
    const recur_pipeline *p = g->p;
    const char *N = g->name;
    int F = g->F, minmax = p->scaler_kind != RECUR_SCALER_STANDARD;
    fprintf(f, "/* scaler: %s per feature */\nstatic const double sc_a[%d] = {", minmax ? "min, max" : "mean, std", F);
    for (int j = 0; j < F; j++) fprintf(f, "%s%a", j ? ", " : "", p->scaler.a[j]);
    fprintf(f, "};\nstatic const double sc_b[%d] = {", F);
    for (int j = 0; j < F; j++) fprintf(f, "%s%a", j ? ", " : "", p->scaler.b[j]);
    fputs("};\n\n", f);
    /* as recur_scaler_apply / recur_scaler_invert */
    if (minmax)
        fputs("static double scale(int j, double v)\n{\n    double r = sc_b[j] - sc_a[j];\n"
              "    return r > 0 ? (v - sc_a[j]) / r : v - sc_a[j];\n}\n\n"
              "static double unscale(int j, double v)\n{\n    double r = sc_b[j] - sc_a[j];\n"
              "    return r > 0 ? sc_a[j] + v * r : sc_a[j] + v;\n}\n\n",
              f);
    else
        fputs("static double scale(int j, double v)\n{\n"
              "    return sc_b[j] > 0 ? (v - sc_a[j]) / sc_b[j] : v - sc_a[j];\n}\n\n"
              "static double unscale(int j, double v)\n{\n"
              "    return sc_b[j] > 0 ? sc_a[j] + v * sc_b[j] : sc_a[j] + v;\n}\n\n",
              f);
    fprintf(f, "int %s_scale_step(const double *prev, const double *cur, float *x_t)\n{\n    int j;\n"
               "    for (j = 0; j < %d; j++) {\n",
            N, F);
    if (p->transform == RECUR_TRANSFORM_NONE) fputs("        double z = cur[j];\n        (void)prev;\n", f);
    else if (p->transform == RECUR_TRANSFORM_DIFF) fputs("        double z = cur[j] - prev[j];\n", f);
    else
        fputs("        double z;\n        if (!(prev[j] > 0) || !(cur[j] > 0)) return -1;\n"
              "        z = log(cur[j] / prev[j]);\n",
              f);
    fputs("        x_t[j] = (float)scale(j, z);\n    }\n    return 0;\n}\n\n", f);
    int tf = p->transform != RECUR_TRANSFORM_NONE;
    char prev[64];
    if (tf) snprintf(prev, sizeof prev, "raw + (long)t * %d", F);
    else snprintf(prev, sizeof prev, "(const double *)0");
    fprintf(f,
            "int %s_scale_input(const double *raw, float *window)\n{\n    int t;\n"
            "    for (t = 0; t < %d; t++)\n"
            "        if (%s_scale_step(%s, raw + (long)(t + %d) * %d, window + (long)t * %d) != 0) return -1;\n"
            "    return 0;\n}\n\n",
            N, g->T, N, prev, tf, F, F);
    /* as recur_dataset_invert: the outputs are consecutive changes, summed */
    fprintf(f, "void %s_unscale_output(const float *out, double last, double *values)\n{\n"
               "    double acc = 0;\n    int k;\n%s    for (k = 0; k < %d; k++) {\n",
            N, tf ? "" : "    (void)last;\n    (void)acc;\n", g->O);
    if (p->transform == RECUR_TRANSFORM_NONE) fprintf(f, "        values[k] = unscale(%d, (double)out[k]);\n", p->target);
    else fprintf(f, "        acc += unscale(%d, (double)out[k]);\n        values[k] = %s;\n", p->target,
                 p->transform == RECUR_TRANSFORM_DIFF ? "last + acc" : "last * exp(acc)");
    fputs("    }\n}\n\n", f);
}

static void emit_selftest(FILE *f, const gen *g)
{
    const char *N = g->name;
    size_t win = (size_t)g->T * (size_t)g->F;
    put_array(f, "test_x", g->tx, EXPORT_N_TESTS * win);
    put_array(f, "test_y", g->ty, EXPORT_N_TESTS * g->out_size);
    fprintf(f,
            "\n/* recur's outputs for the %d windows above (T x F each) of %s_selftest.\n"
            " * Output scale (the largest |output| recur gives over %d such windows): %.3g.\n"
            " * Largest difference between this code and recur over them, measured at export:\n"
            " * %.3g (%.2g of the output scale). Tolerance: %s, %.3g.\n"
            " * The streaming step after T steps must also give predict's output bit for bit. */\n",
            EXPORT_N_TESTS, N, EXPORT_N_SCALE, g->scale, g->diff, g->diff / g->scale,
            g->tol > g->scale * 1e-6 ? "1.5 x that difference (recur's float32 rounding, above 1e-6 of the scale)"
                                     : EXPORT_TOL " of the output scale",
            g->tol);
    fprintf(f,
            "int %s_selftest(void)\n{\n"
            "    float out[%zu], step[%d];\n    %s_state s;\n    int n, k, t, bad = 0;\n"
            "    for (n = 0; n < %d; n++) {\n"
            "        %s_predict(test_x + (long)n * %zu, out);\n"
            "        for (k = 0; k < %zu; k++) {\n"
            "            float d = out[k] - test_y[(long)n * %zu + k];\n"
            "            if (!(d <= %.9ef && -d <= %.9ef)) bad++;\n"
            "        }\n"
            "        %s_reset(&s);\n"
            "        for (t = 0; t < %d; t++) %s_step(&s, test_x + (long)n * %zu + (long)t * %d, step);\n"
            "        for (k = 0; k < %d; k++) /* != without -Wfloat-equal */\n"
            "            if (!(step[k] <= out[%zu + k] && step[k] >= out[%zu + k])) bad++;\n"
            "    }\n    return bad;\n}\n",
            N, g->out_size, g->O, N, EXPORT_N_TESTS, N, win, g->out_size, g->out_size, g->tol, g->tol, N, g->T, N, win,
            g->F, g->O, g->out_size - (size_t)g->O, g->out_size - (size_t)g->O);
}

static void emit_source(FILE *f, const gen *g, const char *spec)
{
    fprintf(f,
            "/*\n * %s.c -- generated by recur %s (recur export --c); do not edit.\n * Model: %s\n"
            " * Weights in Keras layout, as hexadecimal float literals (exact). See %s.h.\n */\n"
            "#include \"%s.h\"\n\n#include <math.h>\n\n",
            g->name, RECUR_VERSION, spec, g->name, g->name);
    for (int l = 0; l < g->n_layers; l++) {
        const layer_view *v = &g->L[l];
        char nm[32];
        if (v->info.kind == RECUR_LAYER_DROPOUT) continue;
        fprintf(f, "/* layer %d: %s(%d), input %d */\n", l + 1, kind_name(&v->info), v->info.units, v->info.in_dim);
        snprintf(nm, sizeof nm, "L%d_W", l);
        put_array(f, nm, v->W, v->nW);
        if (v->U) {
            snprintf(nm, sizeof nm, "L%d_U", l);
            put_array(f, nm, v->U, v->nU);
        }
        if (v->b) {
            snprintf(nm, sizeof nm, "L%d_b", l);
            put_array(f, nm, v->b, v->nb);
        }
        fputc('\n', f);
    }
    emit_kernels(f, g);
    emit_advance(f, g);
    emit_api(f, g);
    if (g->p) emit_pipeline(f, g);
    emit_selftest(f, g);
}

/* ====== Atomic files ====== */

typedef struct {
    char path[4200], tmp[4220];
    FILE *f;
} out_file;

static recur_status out_open(out_file *o, const char *dir, const char *name, const char *ext, recur_error *err)
{
    o->f = NULL;
    o->tmp[0] = '\0';
    snprintf(o->path, sizeof o->path, "%s%s%s.%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name, ext);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", o->path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        o->tmp[0] = '\0';
        return rc_error(err, RECUR_E_IO, "export: cannot create \"%s\": %s", o->path, strerror(errno));
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; source files are for reading */
    if (!(o->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
        return rc_error(err, RECUR_E_IO, "export: cannot write \"%s\": %s", o->path, strerror(e));
    }
    return RECUR_OK;
}

/* Flushes and closes; 0 or errno. */
static int out_finish(out_file *o)
{
    int e = 0;
    if (!o->f) return EIO;
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0) e = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    return e;
}

static void out_discard(out_file *o)
{
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
    o->tmp[0] = '\0';
}

/* ====== Entry point ====== */

recur_status recur_export_c(recur_model *m, const recur_pipeline *p, int timesteps, const char *dir,
                            const char *name, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "recur_export_c: the model is NULL");
    recur_status st = check_name(name, err);
    if (st) return st;
    if ((st = check_dir(dir, err))) return st;
    if (recur_model_n_weights(m) <= 0)
        return rc_error(err, RECUR_E_STATE, "export: the model has no weights yet; compile or load it first");
    if (p && p->n_features != recur_model_n_features(m))
        return rc_error(err, RECUR_E_INVALID, "export: the pipeline has %d features but the model takes %d",
                        p->n_features, recur_model_n_features(m));
    if (timesteps <= 0) {
        if (!p) return rc_error(err, RECUR_E_INVALID, "export: the model has no pipeline, so give the window "
                                                      "length (--timestep T)");
        timesteps = p->timestep;
    }
    if (timesteps < 1 || timesteps > 100000)
        return rc_error(err, RECUR_E_INVALID, "export: window length %d must be in 1..100000", timesteps);
    if (p && (p->scaler.n != p->n_features || p->target < 0 || p->target >= p->n_features ||
              (unsigned)p->transform > RECUR_TRANSFORM_LOGRETURN))
        return rc_error(err, RECUR_E_INVALID, "export: the pipeline is not usable (scaler fitted on %d of %d features, "
                                              "target %d, transform %d); fit it with recur_dataset_make",
                        p->scaler.n, p->n_features, p->target, (int)p->transform);
    if (p && p->horizon != recur_model_n_outputs(m))
        return rc_error(err, RECUR_E_INVALID, "export: the pipeline predicts %d values but the model outputs %d",
                        p->horizon, recur_model_n_outputs(m));

    gen g = {.name = name, .m = m, .p = p, .T = timesteps, .F = recur_model_n_features(m),
             .O = recur_model_n_outputs(m), .seq = recur_model_returns_sequences(m)};
    g.out_size = (size_t)g.O * (g.seq ? (size_t)g.T : 1);
    char spec[1024];
    size_t need = recur_model_spec(m, spec, sizeof spec);
    if (need >= sizeof spec) snprintf(spec + sizeof spec - 5, 5, "...");
    for (char *s = spec; *s; s++)
        if (*s == '*' && s[1] == '/') *s = '+'; /* never close the generated comment */

    out_file oh = {.f = NULL}, oc = {.f = NULL};
    if ((st = view_model(&g, err)) || (st = reference_outputs(&g, err)) || (st = mirror_check(&g, err))) goto done;
    if ((st = out_open(&oh, dir, name, "h", err)) || (st = out_open(&oc, dir, name, "c", err))) goto done;
    emit_header(oh.f, &g, spec);
    emit_source(oc.f, &g, spec);
    int e = out_finish(&oh);
    const char *bad = oh.path;
    if (!e) e = out_finish(&oc), bad = oc.path;
    if (!e && rename(oh.tmp, oh.path) != 0) e = errno, bad = oh.path;
    if (!e) oh.tmp[0] = '\0';
    if (!e && rename(oc.tmp, oc.path) != 0) e = errno, bad = oc.path;
    if (!e) oc.tmp[0] = '\0';
    if (e) st = rc_error(err, RECUR_E_IO, "export: cannot write \"%s\": %s", bad, strerror(e));
done:
    out_discard(&oh);
    out_discard(&oc);
    free(g.L);
    free(g.tx);
    free(g.ty);
    return st;
}
