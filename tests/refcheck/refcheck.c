/*
 * refcheck.c -- `refcheck [--verbose] FILE...`: runs every case of the reference
 * vector files (format v1, tests/ref/README.md) through recur and compares what
 * the library computes with the float64 reference, tensor by tensor.
 *
 * Case kinds, recognised by their params:
 *   layer0 ...             the tutorial model (seed_model*.txt): loss + gradients
 *                          of the whole stack, then the steps of each optimizer
 *   layer lstm|gru|simple_rnn   one recurrent layer: forward, loss = sum(y*G), BPTT
 *   layer dense            one Dense layer, x (B,I) fed as T = 1
 *   optimizer ...          update rules on a given gradient sequence
 *   loss mse|mae           loss value and gradient
 * Anything else is reported FAIL "unsupported". Every size comes from the file.
 *
 * Tolerance (README "Suggested tolerances", float32 rule): a tensor passes when
 * every element has |got - ref| <= 1e-5 * max|ref| + 1e-4 * |ref|. The printed
 * figure is the normalised error max|got - ref| / max|ref|. Sums of weight
 * changes have their own bound, explained at check_sums below.
 *
 * Not checked: tensors the library has no way to report (h_seq without
 * return_sequences, c_seq, c_last); --verbose lists them.
 * Output: one line per case, then "K skipped" (when any) and "N passed, M failed".
 * Exit 0 only when nothing failed and at least one case passed; 2 on bad usage.
 */
#include "recur.h"
#include "refparse.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_ABS 1e-5 /* times max|ref| over the tensor: float32 accumulation in long dot products */
#define TOL_REL 1e-4 /* times |ref| of the element: float32 rounding through 60-step BPTT (README) */

/* Unit roundoff u of recur_float: a stored weight p carries an error <= u*|p|. */
#define UNIT_ROUNDOFF (sizeof(recur_float) == sizeof(float) ? (double)FLT_EPSILON / 2 : DBL_EPSILON / 2)

#define NAME_MAX_LEN 320 /* names in a file have at most 255 characters (refparse.c) */

/* ====== Per-case check state ====== */

typedef struct {
    const ref_case *c;
    int verbose;
    int failed;                   /* a tensor out of tolerance, or an error */
    int skipped;                  /* the whole case is skipped (not counted as failed) */
    int n_compared;               /* tensors compared */
    int have_worst, worst_bad;
    double worst;                 /* normalised error of the reported tensor */
    char worst_name[NAME_MAX_LEN];
    char note[1024];              /* first error / reason */
    unsigned char *used;          /* (c->n_tensors) 1: read as input, 2: compared */
    void **mem;                   /* scratch allocations, freed after the case */
    size_t n_mem, cap_mem;
} check;

static void vnote(check *ck, const char *fmt, va_list ap)
{
    char buf[sizeof ck->note];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (ck->note[0] == '\0')
        memcpy(ck->note, buf, sizeof buf);
    if (ck->verbose)
        printf("    note  %s\n", buf);
}

/* A problem that fails the case; the first one is printed on the case line. */
static void fail(check *ck, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void fail(check *ck, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(ck, fmt, ap);
    va_end(ap);
    ck->failed = 1;
}

/* Returns -1 (and fails the case) when a library call did not return RECUR_OK. */
static int lib(check *ck, recur_status st, const char *what, const recur_error *err)
{
    if (st == RECUR_OK)
        return 0;
    fail(ck, "%s: %s: %s", what, recur_status_str(st), err->msg);
    return -1;
}

/* Zeroed scratch memory of n * sz bytes, freed with the case; NULL fails the case. */
static void *scratch(check *ck, size_t n, size_t sz)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / sz || (ck->n_mem == ck->cap_mem && ck->cap_mem > SIZE_MAX / 2 / sizeof(void *))) {
        fail(ck, "allocation too large");
        return NULL;
    }
    if (ck->n_mem == ck->cap_mem) {
        size_t nc = ck->cap_mem ? ck->cap_mem * 2 : 16;
        void **nm = realloc(ck->mem, nc * sizeof *nm);
        if (!nm) {
            fail(ck, "out of memory");
            return NULL;
        }
        ck->mem = nm;
        ck->cap_mem = nc;
    }
    void *p = calloc(n, sz);
    if (!p) {
        fail(ck, "out of memory (%zu x %zu bytes)", n, sz);
        return NULL;
    }
    ck->mem[ck->n_mem++] = p;
    return p;
}

static void check_release(check *ck)
{
    for (size_t i = 0; i < ck->n_mem; i++)
        free(ck->mem[i]);
    free(ck->mem);
    free(ck->used);
    ck->mem = NULL;
    ck->used = NULL;
    ck->n_mem = ck->cap_mem = 0;
}

static void mark(check *ck, const ref_tensor *t, unsigned char how)
{
    size_t i = (size_t)(t - ck->c->tensors);
    if (ck->used && i < ck->c->n_tensors && ck->used[i] < how)
        ck->used[i] = how;
}

/* ====== File access ====== */

/* snprintf for tensor and param names: a name cut short (longer than any the
 * parser accepts) simply finds nothing. */
static void name_fmt(char *buf, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void name_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

#define ANY_SIZE SIZE_MAX

/* Tensor `name` of the case, required to hold `size` values (ANY_SIZE: any). */
static const ref_tensor *need(check *ck, const char *name, size_t size)
{
    const ref_tensor *t = ref_tensor_find(ck->c, name);
    if (!t) {
        fail(ck, "tensor %s missing from the case", name);
        return NULL;
    }
    if (size != ANY_SIZE && t->size != size) {
        fail(ck, "%s:%d: tensor %s has %zu values, the case's params imply %zu", ck->c->file, t->line, name, t->size,
             size);
        return NULL;
    }
    mark(ck, t, 1);
    return t;
}

/* The tensor's values as recur_float (scratch). */
static recur_float *to_rf(check *ck, const ref_tensor *t)
{
    recur_float *f = scratch(ck, t->size, sizeof *f);
    if (f)
        for (size_t i = 0; i < t->size; i++)
            f[i] = (recur_float)t->v[i];
    return f;
}

static int get_int(check *ck, const char *key, long dflt, int required, long lo, long hi, long *out)
{
    recur_error err;
    if (required && !ref_param_find(ck->c, key)) {
        fail(ck, "param %s missing from the case", key);
        return -1;
    }
    if (ref_param_int(ck->c, key, dflt, out, &err) != RECUR_OK) {
        fail(ck, "%s", err.msg);
        return -1;
    }
    if (*out < lo || *out > hi) {
        fail(ck, "param %s = %ld is outside [%ld, %ld]", key, *out, lo, hi);
        return -1;
    }
    return 0;
}

static int get_double(check *ck, const char *key, double dflt, double *out)
{
    recur_error err;
    if (ref_param_double(ck->c, key, dflt, out, &err) != RECUR_OK) {
        fail(ck, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* ====== Comparison ====== */

static void index_text(char *buf, size_t cap, const ref_tensor *t, size_t i)
{
    size_t len = 0;
    buf[0] = '\0';
    if (t->ndim == 0)
        return;
    size_t idx[REF_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        size_t dim = t->dims[d] ? (size_t)t->dims[d] : 1;
        idx[d] = i % dim;
        i /= dim;
    }
    for (int d = 0; d < t->ndim && len + 1 < cap; d++) {
        int k = snprintf(buf + len, cap - len, "[%zu]", idx[d]);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

/* Keeps the tensor reported on the case line: the failing one with the largest
 * normalised error, else the largest of all. `ranked` 0 (sums of weight changes,
 * whose normalised error says little: they are small differences of large
 * weights) takes part only when it fails. */
static void record(check *ck, const char *label, double norm, int bad, int ranked)
{
    ck->n_compared++;
    if (bad)
        ck->failed = 1;
    if (!bad && !ranked)
        return;
    if (!ck->have_worst || (bad && !ck->worst_bad) || (bad == ck->worst_bad && norm > ck->worst)) {
        ck->have_worst = 1;
        ck->worst_bad = bad;
        ck->worst = norm;
        snprintf(ck->worst_name, sizeof ck->worst_name, "%s", label);
    }
}

/* Compares the first n values of `ref` with got (recur_float gf, or double gd):
 * every element must satisfy |got - ref| <= TOL_ABS * max|ref| + TOL_REL * |ref|,
 * max|ref| taken over those n values. */
static void compare(check *ck, const char *label, const recur_float *gf, const double *gd, const ref_tensor *ref,
                    size_t n)
{
    double maxref = 0;
    for (size_t i = 0; i < n; i++)
        maxref = fmax(maxref, fabs(ref->v[i]));
    double maxdiff = 0, worst_ratio = 0;
    size_t at_diff = 0, at_ratio = 0, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = gf ? (double)gf[i] : gd[i];
        double d = isfinite(g) ? fabs(g - ref->v[i]) : INFINITY;
        double tol = TOL_ABS * maxref + TOL_REL * fabs(ref->v[i]);
        double ratio = d <= tol ? (tol > 0 ? d / tol : 0) : (tol > 0 ? d / tol : INFINITY);
        if (d > tol)
            n_bad++;
        if (d > maxdiff || i == 0) {
            maxdiff = d;
            at_diff = i;
        }
        if (ratio > worst_ratio || i == 0) {
            worst_ratio = ratio;
            at_ratio = i;
        }
    }
    double norm = maxref > 0 ? maxdiff / maxref : maxdiff;
    int bad = n_bad > 0;
    mark(ck, ref, 2);
    record(ck, label, norm, bad, 1);
    if (ck->verbose || bad) {
        char where[128];
        double g = n ? (gf ? (double)gf[at_ratio] : gd[at_ratio]) : 0;
        index_text(where, sizeof where, ref, n ? at_diff : 0);
        if (ck->verbose)
            printf("    %-4s  %-44s norm=%.3e  max|diff|=%.3e at %s  (%.2g of tolerance)\n", bad ? "FAIL" : "ok",
                   label, norm, maxdiff, where[0] ? where : "-", worst_ratio);
        if (bad) {
            index_text(where, sizeof where, ref, at_ratio);
            char msg[512];
            snprintf(msg, sizeof msg, "%s: %zu of %zu values out of tolerance, worst %s got %.9g ref %.9g", label,
                     n_bad, n, where[0] ? where : "(scalar)", g, n ? ref->v[at_ratio] : 0.0);
            if (ck->note[0] == '\0')
                snprintf(ck->note, sizeof ck->note, "%s", msg);
            if (ck->verbose)
                printf("          %s\n", msg);
        }
    }
}

/* Compares the library's values with tensor `name` when the file has it. */
static void compare_opt(check *ck, const char *name, const recur_float *gf, const double *gd, size_t n)
{
    const ref_tensor *t = ref_tensor_find(ck->c, name);
    if (!t)
        return;
    if (t->size != n) {
        fail(ck, "%s:%d: tensor %s has %zu values, the library produced %zu", ck->c->file, t->line, name, t->size,
             n);
        mark(ck, t, 2);
        return;
    }
    compare(ck, name, gf, gd, t, n);
}

/* A scalar against an explicit absolute tolerance; normalised error |got-ref|/|ref|. */
static void compare_scalar_tol(check *ck, const ref_tensor *ref, double got, double tol)
{
    double r = ref->v[0];
    double d = isfinite(got) ? fabs(got - r) : INFINITY;
    double norm = r != 0 ? d / fabs(r) : d;
    int bad = !(d <= tol);
    mark(ck, ref, 2);
    record(ck, ref->name, norm, bad, 0);
    if (ck->verbose)
        printf("    %-4s  %-44s norm=%.3e  |diff|=%.3e  (%.2g of tolerance %.3e)\n", bad ? "FAIL" : "ok", ref->name,
               norm, d, tol > 0 ? d / tol : (d > 0 ? INFINITY : 0), tol);
    if (bad && ck->note[0] == '\0')
        snprintf(ck->note, sizeof ck->note, "%s: got %.12g ref %.12g (tolerance %.3g)", ref->name, got, r, tol);
}

/* ====== Model helpers ====== */

/* Copies tensor t into weight `index` after checking its shape matches. */
static int load_weight(check *ck, recur_model *m, int index, const ref_tensor *t)
{
    recur_weight w;
    recur_error err;
    if (lib(ck, recur_model_weight(m, index, &w, &err), "recur_model_weight", &err))
        return -1;
    int same = w.ndim == t->ndim && w.size == t->size;
    for (int d = 0; same && d < w.ndim; d++)
        same = w.dims[d] == t->dims[d];
    if (!same) {
        fail(ck, "weight %d (%s) is %d x %d in the library, file tensor %s (line %d) has %zu values in %d dims", index,
             w.name, w.dims[0], w.ndim > 1 ? w.dims[1] : 1, t->name, t->line, t->size, t->ndim);
        return -1;
    }
    for (size_t i = 0; i < w.size; i++)
        w.data[i] = (recur_float)t->v[i];
    mark(ck, t, 1);
    return 0;
}

/* Compares the gradient of weight `index` with tensor `name`. */
static void compare_weight_grad(check *ck, recur_model *m, int index, const char *name)
{
    recur_weight w;
    recur_error err;
    const ref_tensor *t = ref_tensor_find(ck->c, name);
    if (!t) {
        fail(ck, "tensor %s missing from the case", name);
        return;
    }
    if (lib(ck, recur_model_weight(m, index, &w, &err), "recur_model_weight", &err))
        return;
    if (t->size != w.size) {
        fail(ck, "%s has %zu values, weight %s has %zu", name, t->size, w.name, w.size);
        return;
    }
    compare(ck, name, recur_model_grads(m) + w.offset, NULL, t, w.size);
}

static int parse_activation(check *ck, const char *key, recur_activation *act)
{
    const char *a = ref_param_str(ck->c, key);
    if (!a || strcmp(a, "linear") == 0)
        *act = RECUR_ACT_LINEAR;
    else if (strcmp(a, "tanh") == 0)
        *act = RECUR_ACT_TANH;
    else if (strcmp(a, "relu") == 0)
        *act = RECUR_ACT_RELU;
    else if (strcmp(a, "sigmoid") == 0)
        *act = RECUR_ACT_SIGMOID;
    else {
        fail(ck, "unsupported: param %s = %s", key, a);
        return -1;
    }
    return 0;
}

static int parse_loss(check *ck, const char *key, recur_loss *loss)
{
    const char *l = ref_param_str(ck->c, key);
    if (!l || strcmp(l, "mse") == 0)
        *loss = RECUR_LOSS_MSE;
    else if (strcmp(l, "mae") == 0)
        *loss = RECUR_LOSS_MAE;
    else {
        fail(ck, "unsupported: param %s = %s", key, l);
        return -1;
    }
    return 0;
}

/* Optimizer options from params "<prefix>lr" etc. (Keras names) over the
 * library's defaults for `kind`; the Keras 2 RMSprop rule (epsilon_inside_sqrt
 * 0) is RECUR_OPT_RMSPROP_KERAS2. Returns 0, or -1 on error. */
static int optim_from_params(check *ck, const char *prefix, const char *kind, recur_optim_opts *o)
{
    char key[NAME_MAX_LEN];
    recur_optimizer k;
    if (strcmp(kind, "rmsprop") == 0)
        k = RECUR_OPT_RMSPROP;
    else if (strcmp(kind, "adam") == 0)
        k = RECUR_OPT_ADAM;
    else if (strcmp(kind, "sgd") == 0)
        k = RECUR_OPT_SGD;
    else {
        fail(ck, "unsupported: optimizer %s", kind);
        return -1;
    }
    *o = recur_optim_opts_default(k);
    static const struct {
        const char *name;
        size_t off;
    } dbl[] = {
        {"lr", offsetof(recur_optim_opts, lr)},
        {"learning_rate", offsetof(recur_optim_opts, lr)},
        {"rho", offsetof(recur_optim_opts, rho)},
        {"momentum", offsetof(recur_optim_opts, momentum)},
        {"epsilon", offsetof(recur_optim_opts, epsilon)},
        {"beta_1", offsetof(recur_optim_opts, beta_1)},
        {"beta_2", offsetof(recur_optim_opts, beta_2)},
        {"clipnorm", offsetof(recur_optim_opts, clipnorm)},
        {"clipvalue", offsetof(recur_optim_opts, clipvalue)},
    };
    static const struct {
        const char *name;
        size_t off;
    } ints[] = {
        {"centered", offsetof(recur_optim_opts, centered)},
        {"amsgrad", offsetof(recur_optim_opts, amsgrad)},
        {"nesterov", offsetof(recur_optim_opts, nesterov)},
    };
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        double *field = (double *)(void *)((char *)o + dbl[i].off);
        name_fmt(key, sizeof key, "%s%s", prefix, dbl[i].name);
        if (get_double(ck, key, *field, field))
            return -1;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int *field = (int *)(void *)((char *)o + ints[i].off);
        long v;
        name_fmt(key, sizeof key, "%s%s", prefix, ints[i].name);
        if (get_int(ck, key, *field, 0, 0, 1, &v))
            return -1;
        *field = (int)v;
    }
    long inside;
    name_fmt(key, sizeof key, "%sepsilon_inside_sqrt", prefix);
    if (get_int(ck, key, 1, 0, 0, 1, &inside))
        return -1;
    if (k == RECUR_OPT_RMSPROP && !inside) o->kind = RECUR_OPT_RMSPROP_KERAS2;
    return 0;
}

/* ====== Layer cases: lstm, gru, simple_rnn, dense ====== */

static void run_layer(check *ck, const char *kind)
{
    const int dense = strcmp(kind, "dense") == 0, lstm = strcmp(kind, "lstm") == 0, gru = strcmp(kind, "gru") == 0;
    const int rnn = strcmp(kind, "simple_rnn") == 0;
    recur_model *m = NULL;
    recur_error err;
    long U, B, T = 1, I, rs = 0, init_state = 0, reset_after = 1;
    recur_activation act = RECUR_ACT_LINEAR;

    if (!dense && !lstm && !gru && !rnn) {
        fail(ck, "unsupported: layer %s", kind);
        return;
    }
    if (get_int(ck, "units", 0, 1, 1, INT32_MAX, &U) || get_int(ck, "batch", 0, 1, 1, INT32_MAX, &B) ||
        get_int(ck, "input_dim", 0, 1, 1, INT32_MAX, &I))
        return;
    if (dense) {
        if (parse_activation(ck, "activation", &act))
            return;
    } else {
        const char *a = ref_param_str(ck->c, "activation"), *ra = ref_param_str(ck->c, "recurrent_activation");
        if ((a && strcmp(a, "tanh") != 0) || (ra && strcmp(ra, "sigmoid") != 0)) {
            fail(ck, "unsupported: activation %s / recurrent_activation %s", a ? a : "-", ra ? ra : "-");
            return;
        }
        if (get_int(ck, "timesteps", 0, 1, 1, INT32_MAX, &T) ||
            get_int(ck, "return_sequences", 0, 0, 0, 1, &rs) || get_int(ck, "initial_state", 0, 0, 0, 1, &init_state) ||
            get_int(ck, "reset_after", 1, 0, 0, 1, &reset_after))
            return;
    }
    const size_t nx = (size_t)B * (size_t)T * (size_t)I;
    const ref_tensor *x = need(ck, "x", nx);
    const ref_tensor *kern = need(ck, "kernel", ANY_SIZE);
    const ref_tensor *rkern = dense ? NULL : need(ck, "recurrent_kernel", ANY_SIZE);
    const ref_tensor *bias = need(ck, "bias", ANY_SIZE);
    if (!x || !kern || !bias || (!dense && !rkern))
        return;

    recur_status st = recur_model_new((int)I, &m, &err);
    if (lib(ck, st, "recur_model_new", &err))
        goto done;
    if (dense)
        st = recur_model_add_dense(m, (int)U, act, &err);
    else if (lstm)
        st = recur_model_add_lstm(m, (int)U, (int)rs, &err);
    else if (gru)
        st = recur_model_add_gru(m, (int)U, (int)rs, (int)reset_after, &err);
    else
        st = recur_model_add_rnn(m, (int)U, (int)rs, &err);
    if (lib(ck, st, "recur_model_add_<layer>", &err))
        goto done;
    recur_compile_opts co = recur_compile_opts_default();
    if (lib(ck, recur_model_compile(m, &co, &err), "recur_model_compile", &err))
        goto done;
    const int nw = dense ? 2 : 3;
    if (recur_model_n_weights(m) != nw) {
        fail(ck, "library layer has %d weight tensors, expected %d", recur_model_n_weights(m), nw);
        goto done;
    }
    if (load_weight(ck, m, 0, kern) || (rkern && load_weight(ck, m, 1, rkern)) || load_weight(ck, m, nw - 1, bias))
        goto done;

    const size_t nh = (size_t)B * (size_t)U;
    if (init_state) {
        const ref_tensor *h0 = need(ck, "h0", nh), *c0 = lstm ? need(ck, "c0", nh) : NULL;
        if (!h0 || (lstm && !c0))
            goto done;
        recur_float *h0f = to_rf(ck, h0), *c0f = c0 ? to_rf(ck, c0) : NULL;
        if (!h0f || (c0 && !c0f))
            goto done;
        if (lib(ck, recur_model_set_initial_state(m, 0, h0f, c0f, (int)B, &err), "recur_model_set_initial_state",
                &err))
            goto done;
    }

    /* Forward: y (B,T,U) with return_sequences, else (B,U); dense (B,1,O) == (B,O). */
    const int seq = recur_model_returns_sequences(m);
    const size_t O = (size_t)recur_model_n_outputs(m);
    const size_t ny = (size_t)B * (seq ? (size_t)T : 1) * O;
    const ref_tensor *G = need(ck, "G", ny);
    recur_float *xf = to_rf(ck, x), *y = scratch(ck, ny, sizeof *y), *dx = scratch(ck, nx, sizeof *dx);
    recur_float *Gf = G ? to_rf(ck, G) : NULL;
    if (!G || !xf || !y || !dx || !Gf)
        goto done;
    if (lib(ck, recur_model_forward(m, xf, (int)B, (int)T, 0, y, &err), "recur_model_forward", &err))
        goto done;
    compare_opt(ck, "y", y, NULL, ny);
    if (!dense) {
        /* h_last: the last step of y with return_sequences, else y itself. */
        recur_float *hl = scratch(ck, nh, sizeof *hl);
        if (!hl)
            goto done;
        for (size_t b = 0; b < (size_t)B; b++)
            for (size_t u = 0; u < (size_t)U; u++)
                hl[b * U + u] = seq ? y[(b * T + (size_t)T - 1) * O + u] : y[b * O + u];
        compare_opt(ck, "h_last", hl, NULL, nh);
        if (seq)
            compare_opt(ck, "h_seq", y, NULL, ny);
    }
    double loss = 0;
    for (size_t i = 0; i < ny; i++)
        loss += (double)y[i] * G->v[i];
    compare_opt(ck, "loss", NULL, &loss, 1);

    /* Backward with dL/dy = G. */
    if (lib(ck, recur_model_backward(m, Gf, dx, &err), "recur_model_backward", &err))
        goto done;
    compare_opt(ck, "d_x", dx, NULL, nx);
    compare_weight_grad(ck, m, 0, "d_kernel");
    if (!dense)
        compare_weight_grad(ck, m, 1, "d_recurrent_kernel");
    compare_weight_grad(ck, m, nw - 1, "d_bias");
    if (init_state) {
        recur_float *dh0 = scratch(ck, nh, sizeof *dh0), *dc0 = lstm ? scratch(ck, nh, sizeof *dc0) : NULL;
        if (!dh0 || (lstm && !dc0))
            goto done;
        if (lib(ck, recur_model_initial_state_grad(m, 0, dh0, dc0, &err), "recur_model_initial_state_grad", &err))
            goto done;
        compare_opt(ck, "d_h0", dh0, NULL, nh);
        if (lstm)
            compare_opt(ck, "d_c0", dc0, NULL, nh);
    }
done:
    recur_model_free(m);
}

/* ====== Loss cases ====== */

static void run_loss(check *ck)
{
    recur_loss kind;
    long B, O;
    const char *red = ref_param_str(ck->c, "reduction");
    if (parse_loss(ck, "loss", &kind))
        return;
    if (red && strcmp(red, "sum_over_batch_size") != 0) {
        fail(ck, "unsupported: reduction %s", red);
        return;
    }
    if (get_int(ck, "batch", 0, 1, 1, INT32_MAX, &B) || get_int(ck, "outputs", 0, 1, 1, INT32_MAX, &O))
        return;
    const size_t n = (size_t)B * (size_t)O;
    const ref_tensor *yt = need(ck, "y_true", n), *yp = need(ck, "y_pred", n);
    if (!yt || !yp)
        return;
    recur_float *ytf = to_rf(ck, yt), *ypf = to_rf(ck, yp), *dy = scratch(ck, n, sizeof *dy);
    double *per = scratch(ck, (size_t)B, sizeof *per);
    if (!ytf || !ypf || !dy || !per)
        return;
    double loss = recur_loss_eval(kind, ytf, ypf, n, dy);
    compare_opt(ck, "loss", NULL, &loss, 1);
    compare_opt(ck, "d_y_pred", dy, NULL, n);
    /* Keras per-sample loss: the same reduction over one row of O outputs. */
    for (size_t b = 0; b < (size_t)B; b++)
        per[b] = recur_loss_eval(kind, ytf + b * O, ypf + b * O, (size_t)O, NULL);
    compare_opt(ck, "per_sample", NULL, per, (size_t)B);
}

/* ====== Optimizer cases ====== */

/* "velocity12" -> base "velocity", step 12; 0 when the name has no step suffix. */
static long step_suffix(const char *name, char *base, size_t cap)
{
    size_t n = strlen(name), k = n;
    while (k > 0 && name[k - 1] >= '0' && name[k - 1] <= '9')
        k--;
    if (k == n || k == 0 || n - k > 6 || k >= cap)
        return 0;
    memcpy(base, name, k);
    base[k] = '\0';
    return strtol(name + k, NULL, 10);
}

static void run_optimizer(check *ck, const char *kind)
{
    recur_optim_opts o;
    recur_optimizer_state *os = NULL;
    recur_error err;
    char name[NAME_MAX_LEN], base[NAME_MAX_LEN];
    long steps;

    int r = optim_from_params(ck, "", kind, &o);
    if (r < 0)
        return;
    if (get_int(ck, "steps", -1, 0, -1, INT32_MAX, &steps))
        return;
    const ref_tensor *p0 = need(ck, "p0", ANY_SIZE);
    if (!p0)
        return;
    const size_t n = p0->size;
    recur_float *p = to_rf(ck, p0);
    if (!p)
        return;
    if (lib(ck, recur_optimizer_new(&o, n, &os, &err), "recur_optimizer_new", &err))
        return;
    long s;
    for (s = 1;; s++) {
        name_fmt(name, sizeof name, "g%ld", s);
        if (!ref_tensor_find(ck->c, name))
            break;
        const ref_tensor *g = need(ck, name, n);
        recur_float *gf = g ? to_rf(ck, g) : NULL;
        if (!gf)
            goto done;
        recur_optimizer_step(os, p, gf);
        name_fmt(name, sizeof name, "p%ld", s);
        if (!ref_tensor_find(ck->c, name))
            fail(ck, "tensor %s missing from the case", name);
        compare_opt(ck, name, p, NULL, n);
        /* Every other "<slot><s>" tensor is a Keras slot of this step. */
        for (size_t i = 0; i < ck->c->n_tensors; i++) {
            const ref_tensor *t = &ck->c->tensors[i];
            if (step_suffix(t->name, base, sizeof base) != s || strcmp(base, "p") == 0 || strcmp(base, "g") == 0)
                continue;
            const recur_float *slot = recur_optimizer_slot(os, base);
            if (!slot) {
                fail(ck, "the optimizer has no slot \"%s\" (file tensor %s)", base, t->name);
                mark(ck, t, 2);
                continue;
            }
            compare_opt(ck, t->name, slot, NULL, n);
        }
    }
    if (s == 1)
        fail(ck, "no gradient g1 in the case");
    else if (steps >= 0 && s - 1 != steps)
        fail(ck, "param steps is %ld but the case has g1..g%ld", steps, s - 1);
done:
    recur_optimizer_free(os);
}

/* ====== Model cases (seed_model, seed_model_small) ====== */

/* Builds the stack described by params layer0, layer0.units, ... */
static int build_stack(check *ck, recur_model *m)
{
    char key[NAME_MAX_LEN];
    recur_error err;
    long k, n_layers;
    for (k = 0;; k++) {
        name_fmt(key, sizeof key, "layer%ld", k);
        const char *kind = ref_param_str(ck->c, key);
        if (!kind)
            break;
        long units = 0, rs = 0, reset_after = 1;
        double rate = 0;
        recur_activation act = RECUR_ACT_LINEAR;
        recur_status st;
        int is_dropout = strcmp(kind, "dropout") == 0;
        name_fmt(key, sizeof key, "layer%ld.units", k);
        if (!is_dropout && get_int(ck, key, 0, 1, 1, INT32_MAX, &units))
            return -1;
        name_fmt(key, sizeof key, "layer%ld.return_sequences", k);
        if (get_int(ck, key, 0, 0, 0, 1, &rs))
            return -1;
        if (strcmp(kind, "lstm") == 0) {
            st = recur_model_add_lstm(m, (int)units, (int)rs, &err);
        } else if (strcmp(kind, "gru") == 0) {
            name_fmt(key, sizeof key, "layer%ld.reset_after", k);
            if (get_int(ck, key, 1, 0, 0, 1, &reset_after))
                return -1;
            st = recur_model_add_gru(m, (int)units, (int)rs, (int)reset_after, &err);
        } else if (strcmp(kind, "simple_rnn") == 0) {
            st = recur_model_add_rnn(m, (int)units, (int)rs, &err);
        } else if (strcmp(kind, "dense") == 0) {
            name_fmt(key, sizeof key, "layer%ld.activation", k);
            if (parse_activation(ck, key, &act))
                return -1;
            st = recur_model_add_dense(m, (int)units, act, &err);
        } else if (is_dropout) {
            name_fmt(key, sizeof key, "layer%ld.rate", k);
            if (get_double(ck, key, 0, &rate))
                return -1;
            st = recur_model_add_dropout(m, (float)rate, &err);
        } else {
            fail(ck, "unsupported: layer%ld %s", k, kind);
            return -1;
        }
        if (lib(ck, st, "recur_model_add_<layer>", &err))
            return -1;
    }
    if (get_int(ck, "n_layers", k, 0, 0, INT32_MAX, &n_layers))
        return -1;
    if (k == 0 || n_layers != k) {
        fail(ck, "param n_layers is %ld but layer0..layer%ld are given", n_layers, k - 1);
        return -1;
    }
    return 0;
}

typedef struct {
    const ref_tensor *init; /* initial value, from the file */
    char name[NAME_MAX_LEN];
} model_param;

/* Copies every parameter tensor into the model (after a compile). */
static int load_all(check *ck, recur_model *m, const model_param *mp, int nw)
{
    for (int i = 0; i < nw; i++)
        if (load_weight(ck, m, i, mp[i].init))
            return -1;
    return 0;
}

/*
 * check_sum: sum and sum of squares over a whole tensor of delta = w_s - w_0.
 * The file gives only the leading rows of big step tensors, so these sums are
 * what covers the rest; their error budget, for n elements:
 *  - each stored float32 weight is rounded to within u*|w| (u = 2^-24), an
 *    error that is independent from element to element, uniform, with standard
 *    deviation <= u*|w|/sqrt(3). Summed: sd <= u*sqrt(sum w^2)/sqrt(3); we
 *    allow 4*u*sqrt(sum w^2) (about 7 sd). This term matters for SGD, whose
 *    steps (lr*g, ~1e-5) are small next to the weights (~0.1).
 *  - the gradient errors the element rule allows (1e-4 relative, 1e-5 of the
 *    largest step absolute) give 1e-4*|ref| plus 1e-5*sqrt(n)*max|delta|
 *    (random signs add like a random walk).
 * For sumsq = sum delta^2 the same errors e_i enter as 2*delta_i*e_i:
 *    2e-4*|ref| + (2e-5*max|delta| + 8*u*max|w|)*sqrt(ref).
 */
static void check_sums(check *ck, const char *stem, const recur_float *w, const recur_float *w0, size_t n)
{
    char name[NAME_MAX_LEN + 16];
    double sum = 0, sumsq = 0, maxd = 0, sumw2 = 0, maxw = 0;
    const double u = UNIT_ROUNDOFF;
    for (size_t i = 0; i < n; i++) {
        double d = (double)w[i] - (double)w0[i];
        sum += d;
        sumsq += d * d;
        maxd = fmax(maxd, fabs(d));
        sumw2 += (double)w[i] * (double)w[i];
        maxw = fmax(maxw, fabs((double)w[i]));
    }
    name_fmt(name, sizeof name, "%s.sum_delta", stem);
    const ref_tensor *t = ref_tensor_find(ck->c, name);
    if (t && t->size == 1)
        compare_scalar_tol(ck, t, sum, 1e-4 * fabs(t->v[0]) + 1e-5 * sqrt((double)n) * maxd + 4 * u * sqrt(sumw2));
    name_fmt(name, sizeof name, "%s.sumsq_delta", stem);
    t = ref_tensor_find(ck->c, name);
    if (t && t->size == 1)
        compare_scalar_tol(ck, t, sumsq,
                           2e-4 * fabs(t->v[0]) + (2e-5 * maxd + 8 * u * maxw) * sqrt(fabs(t->v[0])));
}

/* Two (or more) optimizer steps from the initial weights, prefix "OPT.". */
static void run_model_optimizer(check *ck, recur_model *m, const char *opt, const char *kind, const model_param *mp,
                                int nw, const recur_float *x, const recur_float *y, long B, long T, recur_float *y_pred)
{
    char key[NAME_MAX_LEN + 32];
    recur_error err;
    recur_compile_opts co = recur_compile_opts_default();
    double loss;
    name_fmt(key, sizeof key, "%s.", opt);
    int r = optim_from_params(ck, key, kind, &co.optim);
    if (r < 0)
        return;
    if (parse_loss(ck, "loss", &co.loss))
        return;
    if (lib(ck, recur_model_compile(m, &co, &err), "recur_model_compile", &err) || load_all(ck, m, mp, nw))
        return;
    /* Initial weights as the library holds them, for the deltas. */
    const size_t np = recur_model_n_params(m);
    recur_float *w0 = scratch(ck, np, sizeof *w0);
    if (!w0)
        return;
    memcpy(w0, recur_model_params(m), np * sizeof *w0);
    if (lib(ck, recur_model_loss_grad(m, x, y, (int)B, (int)T, 0, &loss, y_pred, &err), "recur_model_loss_grad",
            &err))
        return;
    for (long s = 1;; s++) {
        int any = 0;
        name_fmt(key, sizeof key, "%s.loss%ld", opt, s);
        any |= ref_tensor_find(ck->c, key) != NULL;
        name_fmt(key, sizeof key, "%s.step%ld.%s", opt, s, mp[0].name);
        any |= ref_tensor_find(ck->c, key) != NULL;
        if (!any) {
            if (s == 1)
                fail(ck, "no %s.step1.* or %s.loss1 tensors for optimizer %s", opt, opt, opt);
            break;
        }
        if (lib(ck, recur_model_apply_grads(m, &err), "recur_model_apply_grads", &err))
            return;
        for (int i = 0; i < nw; i++) {
            recur_weight w;
            if (lib(ck, recur_model_weight(m, i, &w, &err), "recur_model_weight", &err))
                return;
            name_fmt(key, sizeof key, "%s.step%ld.%s", opt, s, mp[i].name);
            const ref_tensor *t = ref_tensor_find(ck->c, key);
            if (t) {
                /* Big tensors are given by leading rows: compare the first prod(dims) values. */
                int cols_ok = t->ndim != 2 || w.ndim != 2 || t->dims[1] == w.dims[1];
                if (t->size > w.size || !cols_ok)
                    fail(ck, "%s has %zu values, weight %s has %zu", key, t->size, w.name, w.size);
                else
                    compare(ck, key, w.data, NULL, t, t->size);
            }
            check_sums(ck, key, w.data, w0 + w.offset, w.size);
        }
        /* Loss at the step-s weights; its gradients drive step s + 1. */
        if (lib(ck, recur_model_loss_grad(m, x, y, (int)B, (int)T, 0, &loss, y_pred, &err), "recur_model_loss_grad",
                &err))
            return;
        name_fmt(key, sizeof key, "%s.loss%ld", opt, s);
        compare_opt(ck, key, NULL, &loss, 1);
    }
}

static void run_model(check *ck)
{
    recur_model *m = NULL;
    recur_error err;
    long B, T, I;
    double dropout;
    char name[NAME_MAX_LEN + 8];

    if (get_int(ck, "batch", 0, 1, 1, INT32_MAX, &B) || get_int(ck, "timesteps", 0, 1, 1, INT32_MAX, &T) ||
        get_int(ck, "input_dim", 0, 1, 1, INT32_MAX, &I) || get_double(ck, "dropout", 0, &dropout))
        return;
    if (dropout != 0) {
        fail(ck, "unsupported: dropout %g (training-mode dropout masks cannot match the reference)", dropout);
        return;
    }
    recur_compile_opts co = recur_compile_opts_default();
    if (parse_loss(ck, "loss", &co.loss))
        return;
    if (lib(ck, recur_model_new((int)I, &m, &err), "recur_model_new", &err) || build_stack(ck, m) ||
        lib(ck, recur_model_compile(m, &co, &err), "recur_model_compile", &err))
        goto done;

    /* Parameters: the tensors P that have a d_P, in file (= Keras get_weights) order. */
    const int nw = recur_model_n_weights(m);
    model_param *mp = scratch(ck, (size_t)nw, sizeof *mp);
    if (!mp)
        goto done;
    int np = 0;
    for (size_t i = 0; i < ck->c->n_tensors; i++) {
        const ref_tensor *t = &ck->c->tensors[i];
        name_fmt(name, sizeof name, "d_%s", t->name);
        if (strncmp(t->name, "d_", 2) == 0 || !ref_tensor_find(ck->c, name))
            continue;
        if (np < nw) {
            mp[np].init = t;
            snprintf(mp[np].name, sizeof mp[np].name, "%s", t->name);
        }
        np++;
    }
    if (np != nw) {
        fail(ck, "the file has %d parameter tensors (P with a d_P), the library model %d weights", np, nw);
        goto done;
    }
    if (load_all(ck, m, mp, nw))
        goto done;

    const int seq = recur_model_returns_sequences(m);
    const size_t O = (size_t)recur_model_n_outputs(m);
    const size_t ny = (size_t)B * (seq ? (size_t)T : 1) * O;
    const ref_tensor *x = need(ck, "x", (size_t)B * (size_t)T * (size_t)I), *y = need(ck, "y", ny);
    recur_float *xf = x ? to_rf(ck, x) : NULL, *yf = y ? to_rf(ck, y) : NULL;
    recur_float *y_pred = scratch(ck, ny, sizeof *y_pred);
    if (!xf || !yf || !y_pred)
        goto done;

    double loss;
    if (lib(ck, recur_model_loss_grad(m, xf, yf, (int)B, (int)T, 0, &loss, y_pred, &err), "recur_model_loss_grad",
            &err))
        goto done;
    compare_opt(ck, "y_pred", y_pred, NULL, ny);
    compare_opt(ck, "loss", NULL, &loss, 1);
    for (int i = 0; i < nw; i++) {
        name_fmt(name, sizeof name, "d_%s", mp[i].name);
        compare_weight_grad(ck, m, i, name);
    }

    /* Optimizers: every param "OPT.optimizer KIND", in file order. */
    for (size_t i = 0; i < ck->c->n_params; i++) {
        const ref_param *p = &ck->c->params[i];
        size_t kl = strlen(p->key), sl = strlen(".optimizer");
        if (kl <= sl || strcmp(p->key + kl - sl, ".optimizer") != 0 || kl - sl >= NAME_MAX_LEN)
            continue;
        char opt[NAME_MAX_LEN];
        memcpy(opt, p->key, kl - sl);
        opt[kl - sl] = '\0';
        run_model_optimizer(ck, m, opt, p->value, mp, nw, xf, yf, B, T, y_pred);
    }
done:
    recur_model_free(m);
}

/* ====== Driver ====== */

static void run_case(check *ck)
{
    const char *layer = ref_param_str(ck->c, "layer");
    const char *optimizer = ref_param_str(ck->c, "optimizer");
    if (ref_param_find(ck->c, "layer0"))
        run_model(ck);
    else if (layer)
        run_layer(ck, layer);
    else if (optimizer)
        run_optimizer(ck, optimizer);
    else if (ref_param_find(ck->c, "loss"))
        run_loss(ck);
    else
        fail(ck, "unsupported: no layer, layer0, optimizer or loss param");
    if (!ck->failed && !ck->skipped && ck->n_compared == 0)
        fail(ck, "nothing was compared");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: refcheck [--verbose] FILE...\n"
            "Runs every case of recur reference-vector files (format v1, tests/ref/README.md)\n"
            "through the library and compares each tensor with the float64 reference:\n"
            "  |got - ref| <= 1e-5 * max|ref| + 1e-4 * |ref| for every element.\n"
            "  -v, --verbose   print the error of every tensor compared\n"
            "  -h, --help      this text\n"
            "Exit status: 0 all passed, 1 a case failed (or none ran), 2 usage error.\n");
}

int main(int argc, char **argv)
{
    int verbose = 0, n_files = 0;
    long passed = 0, failed = 0, skipped = 0;
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!only_files && strcmp(argv[i], "--") == 0)
            only_files = 1;
        else if (!only_files && (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0))
            verbose = 1;
        else if (!only_files && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
            usage(stdout);
            return 0;
        } else if (!only_files && argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "refcheck: error: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else
            n_files++;
    }
    if (n_files == 0) {
        usage(stderr);
        return 2;
    }
    only_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!only_files && strcmp(argv[i], "--") == 0) {
            only_files = 1;
            continue;
        }
        if (!only_files && argv[i][0] == '-' && argv[i][1] != '\0')
            continue;
        ref_file f;
        recur_error err;
        if (ref_file_read(argv[i], &f, &err) != RECUR_OK) {
            printf("FAIL  %s  (file)  %s\n", argv[i], err.msg);
            fprintf(stderr, "refcheck: error: %s\n", err.msg);
            failed++;
            continue;
        }
        if (f.n_cases == 0) {
            printf("FAIL  %s  (file)  no cases in the file\n", argv[i]);
            failed++;
        }
        for (size_t k = 0; k < f.n_cases; k++) {
            check ck;
            memset(&ck, 0, sizeof ck);
            ck.c = &f.cases[k];
            ck.verbose = verbose;
            ck.used = calloc(ck.c->n_tensors ? ck.c->n_tensors : 1, 1);
            if (verbose)
                printf("  %s:%s\n", f.path, ck.c->name);
            run_case(&ck);
            if (verbose && !ck.skipped && ck.used)
                for (size_t t = 0; t < ck.c->n_tensors; t++)
                    if (!ck.used[t])
                        printf("    --    %-44s not compared (nothing in the API reports it)\n",
                               ck.c->tensors[t].name);
            if (ck.skipped) {
                printf("SKIP  %s:%s  (%s)\n", f.path, ck.c->name, ck.note);
                skipped++;
            } else {
                printf("%s  %s:%s  ", ck.failed ? "FAIL" : "PASS", f.path, ck.c->name);
                if (ck.have_worst)
                    printf("worst=%.3e  (%s)", ck.worst, ck.worst_name);
                else
                    printf("worst=n/a  (none)");
                if (ck.failed && ck.note[0])
                    printf("  %s", ck.note);
                printf("\n");
                if (ck.failed)
                    failed++;
                else
                    passed++;
            }
            fflush(stdout);
            check_release(&ck);
        }
        ref_file_free(&f);
    }
    if (skipped)
        printf("%ld skipped\n", skipped);
    printf("%ld passed, %ld failed\n", passed, failed);
    if (passed == 0 && failed == 0)
        fprintf(stderr, "refcheck: error: no case ran\n");
    return failed == 0 && passed > 0 ? 0 : 1;
}
