/*
 * model.c -- the Sequential model: layer list, one parameter block, workspaces,
 * and forward/backward orchestration over the layer kernels (nn/).
 * Not here: the training loop (fit.c), optimizers (optim.c), files (io/).
 *
 * Parameter block: compile() sums every layer's count and allocates one block
 * of params and one of grads with the same layout; layers keep offsets. Per
 * layer, Keras get_weights() order: kernel, recurrent_kernel, bias.
 */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UNITS 65536
#define MAX_FEATURES (1 << 20)

static const char *kind_name(recur_layer_kind k)
{
    static const char *n[] = {"lstm", "gru", "simple_rnn", "dense", "dropout"};
    return (unsigned)k < 5 ? n[k] : "?";
}

static const char *kind_title(recur_layer_kind k)
{
    static const char *n[] = {"LSTM", "GRU", "SimpleRNN", "Dense", "Dropout"};
    return (unsigned)k < 5 ? n[k] : "?";
}

/* ====== Construction ====== */

recur_status recur_model_new(int n_features, recur_model **out, recur_error *err)
{
    if (!out) return rc_error(err, RECUR_E_INVALID, "recur_model_new: out is NULL");
    *out = NULL;
    if (n_features < 1 || n_features > MAX_FEATURES)
        return rc_error(err, RECUR_E_INVALID, "model: number of input features must be in 1..%d (got %d)",
                        MAX_FEATURES, n_features);
    recur_model *m = calloc(1, sizeof *m);
    if (!m) return rc_error(err, RECUR_E_NOMEM, "model: out of memory");
    m->F = n_features;
    m->copts = recur_compile_opts_default();
    *out = m;
    return RECUR_OK;
}

void recur_model_free(recur_model *m)
{
    if (!m) return;
    if (m->pool_started) rc_pool_stop(&m->pool);
    for (int i = 0; i < RC_MAX_THREADS; i++)
        if (m->ws[i]) {
            rc_ws_free(m->ws[i]);
            free(m->ws[i]);
        }
    for (int l = 0; l < RC_MAX_LAYERS; l++) {
        free(m->h0[l]);
        free(m->c0[l]);
    }
    recur_optimizer_free(m->opt);
    free(m->params);
    free(m->grads); /* chunk_grads lies in the same block */
    free(m);
}

/* Width and sequence-ness of the current top of the stack. */
static void top(const recur_model *m, int *dim, int *seq)
{
    *dim = m->F;
    *seq = 1;
    if (m->n_layers) {
        const rc_layer *L = &m->layers[m->n_layers - 1];
        *dim = L->units;
        *seq = L->seq_out;
    }
}

static recur_status add_layer(recur_model *m, rc_layer *L, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (m->compiled) return rc_error(err, RECUR_E_STATE, "model: layers cannot be added after compile");
    if (m->n_layers >= RC_MAX_LAYERS)
        return rc_error(err, RECUR_E_INVALID, "model: at most %d layers", RC_MAX_LAYERS);
    int dim, seq;
    top(m, &dim, &seq);
    L->in = dim;
    L->seq_in = seq;
    if (L->kind <= RECUR_LAYER_RNN) {
        if (!seq)
            return rc_error(err, RECUR_E_INVALID,
                            "model: layer %d (%s) needs a sequence, but the layer before it returns only its last "
                            "step; give that layer return_sequences (\"seq\")",
                            m->n_layers + 1, kind_title(L->kind));
        if (L->units < 1 || L->units > MAX_UNITS)
            return rc_error(err, RECUR_E_INVALID, "model: layer %d (%s): units must be in 1..%d (got %d)",
                            m->n_layers + 1, kind_title(L->kind), MAX_UNITS, L->units);
        size_t H = (size_t)L->units, I = (size_t)L->in, G = (size_t)L->G;
        size_t nb = (L->kind == RECUR_LAYER_GRU && L->reset_after) ? 2 * G * H : G * H;
        L->n_params = I * G * H + H * G * H + nb;
        L->seq_out = L->return_sequences;
    } else if (L->kind == RECUR_LAYER_DENSE) {
        if (L->units < 1 || L->units > MAX_UNITS)
            return rc_error(err, RECUR_E_INVALID, "model: layer %d (Dense): units must be in 1..%d (got %d)",
                            m->n_layers + 1, MAX_UNITS, L->units);
        if ((unsigned)L->act > RECUR_ACT_SIGMOID)
            return rc_error(err, RECUR_E_INVALID, "model: layer %d (Dense): unknown activation %d", m->n_layers + 1,
                            (int)L->act);
        L->n_params = (size_t)L->in * L->units + L->units;
        L->seq_out = seq;
    } else {
        if (!(L->rate >= 0 && L->rate < 1))
            return rc_error(err, RECUR_E_INVALID,
                            "model: layer %d (Dropout): rate must be in [0, 1) (got %g); 1 would drop everything",
                            m->n_layers + 1, (double)L->rate);
        L->units = dim;
        L->n_params = 0;
        L->seq_out = seq;
    }
    m->layers[m->n_layers++] = *L;
    return RECUR_OK;
}

static recur_status add_rnn(recur_model *m, recur_layer_kind kind, int G, const rc_layer_ops *ops, int units,
                            int rs, int ra, recur_error *err)
{
    rc_layer L = {.kind = kind, .ops = ops, .G = G, .units = units, .return_sequences = rs != 0, .reset_after = ra != 0};
    return add_layer(m, &L, err);
}

recur_status recur_model_add_lstm(recur_model *m, int units, int return_sequences, recur_error *err)
{
    return add_rnn(m, RECUR_LAYER_LSTM, 4, &rc_lstm_ops, units, return_sequences, 0, err);
}

recur_status recur_model_add_gru(recur_model *m, int units, int return_sequences, int reset_after, recur_error *err)
{
    return add_rnn(m, RECUR_LAYER_GRU, 3, &rc_gru_ops, units, return_sequences, reset_after, err);
}

recur_status recur_model_add_rnn(recur_model *m, int units, int return_sequences, recur_error *err)
{
    return add_rnn(m, RECUR_LAYER_RNN, 1, &rc_rnn_ops, units, return_sequences, 0, err);
}

recur_status recur_model_add_dense(recur_model *m, int units, recur_activation act, recur_error *err)
{
    rc_layer L = {.kind = RECUR_LAYER_DENSE, .ops = &rc_dense_ops, .G = 1, .units = units, .act = act};
    return add_layer(m, &L, err);
}

recur_status recur_model_add_dropout(recur_model *m, float rate, recur_error *err)
{
    rc_layer L = {.kind = RECUR_LAYER_DROPOUT, .ops = &rc_dropout_ops, .rate = rate};
    return add_layer(m, &L, err);
}

recur_compile_opts recur_compile_opts_default(void)
{
    return (recur_compile_opts){.loss = RECUR_LOSS_MSE, .optim = recur_optim_opts_default(RECUR_OPT_RMSPROP), .seed = 42};
}

recur_status recur_model_compile(recur_model *m, const recur_compile_opts *opts, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    recur_compile_opts o = opts ? *opts : recur_compile_opts_default();
    if (m->n_layers == 0) return rc_error(err, RECUR_E_STATE, "model: add at least one layer before compile");
    if (o.loss != RECUR_LOSS_MSE && o.loss != RECUR_LOSS_MAE)
        return rc_error(err, RECUR_E_INVALID, "model: unknown loss %d", (int)o.loss);
    size_t n = 0;
    for (int l = 0; l < m->n_layers; l++) {
        rc_layer *L = &m->layers[l];
        L->off = n;
        if (L->kind <= RECUR_LAYER_RNN) {
            size_t GH = (size_t)L->G * L->units;
            L->off_w = n;
            L->off_u = n + (size_t)L->in * GH;
            L->off_b = L->off_u + (size_t)L->units * GH;
        } else if (L->kind == RECUR_LAYER_DENSE) {
            L->off_w = n;
            L->off_b = n + (size_t)L->in * L->units;
        }
        if (L->n_params > ((size_t)1 << 31))
            return rc_error(err, RECUR_E_INVALID, "model: layer %d has %zu parameters, more than 2^31; use fewer units",
                            l + 1, L->n_params);
        n += L->n_params;
    }
    recur_optimizer_state *opt = NULL;
    recur_status st = recur_optimizer_new(&o.optim, n, &opt, err);
    if (st) return st;
    /* grads and the chunk gradients are one block, chunk c at grads + c * n, so
     * that recur_peers.exchange sees every chunk in one array */
    recur_float *p = calloc(n ? n : 1, sizeof *p), *g = rc_calloc3(RC_MAX_CHUNKS, n ? n : 1, sizeof *g);
    if (!p || !g) {
        free(p);
        free(g);
        recur_optimizer_free(opt);
        return rc_error(err, RECUR_E_NOMEM, "model: out of memory for %zu parameters", n);
    }
    free(m->params);
    free(m->grads);
    recur_optimizer_free(m->opt);
    m->params = p;
    m->grads = g;
    m->chunk_grads = g + (n ? n : 1);
    m->opt = opt;
    m->n_params = n;
    m->copts = o;
    m->dropout_step = 0;
    for (int l = 0; l < m->n_layers; l++) {
        rc_rng r;
        rc_rng_seed(&r, rc_seed_mix(o.seed, (uint64_t)l, 0x1417));
        if (m->layers[l].ops->init(&m->layers[l], p, &r)) {
            m->compiled = 0;
            return rc_error(err, RECUR_E_NOMEM, "compile: out of memory for the orthogonal initialisation of "
                            "layer %d's recurrent kernel (%d units); the model is left uncompiled", l,
                            m->layers[l].units);
        }
    }
    m->compiled = 1;
    return RECUR_OK;
}

/* ====== Introspection ====== */

int recur_model_n_layers(const recur_model *m) { return m ? m->n_layers : 0; }
int recur_model_n_features(const recur_model *m) { return m ? m->F : 0; }

int rc_out_width(const recur_model *m)
{
    int d, s;
    top(m, &d, &s);
    return d;
}

int recur_model_n_outputs(const recur_model *m) { return m ? rc_out_width(m) : 0; }

int recur_model_returns_sequences(const recur_model *m)
{
    int d, s;
    if (!m) return 0;
    top(m, &d, &s);
    return s;
}

size_t recur_model_n_params(const recur_model *m)
{
    size_t n = 0;
    for (int l = 0; m && l < m->n_layers; l++) n += m->layers[l].n_params;
    return n;
}

size_t rc_out_size(const recur_model *m, int B, int T)
{
    return (size_t)B * (recur_model_returns_sequences(m) ? (size_t)T : 1) * (size_t)rc_out_width(m);
}

recur_status recur_model_layer(const recur_model *m, int index, recur_layer_info *out, recur_error *err)
{
    if (!m || !out) return rc_error(err, RECUR_E_INVALID, "recur_model_layer: NULL argument");
    if (index < 0 || index >= m->n_layers)
        return rc_error(err, RECUR_E_INVALID, "model: no layer %d (it has %d)", index, m->n_layers);
    const rc_layer *L = &m->layers[index];
    memset(out, 0, sizeof *out);
    out->kind = L->kind;
    out->units = L->kind == RECUR_LAYER_DROPOUT ? 0 : L->units;
    out->return_sequences = L->return_sequences;
    out->reset_after = L->reset_after;
    out->act = L->act;
    out->recurrent_act = rc_rec_act(L);
    out->rate = L->rate;
    out->in_dim = L->in;
    out->n_params = L->n_params;
    return RECUR_OK;
}

recur_status recur_model_set_recurrent_activation(recur_model *m, int index, recur_activation act,
                                                  recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (index < 0 || index >= m->n_layers)
        return rc_error(err, RECUR_E_INVALID, "model: no layer %d (it has %d)", index, m->n_layers);
    rc_layer *L = &m->layers[index];
    if (L->kind != RECUR_LAYER_LSTM && L->kind != RECUR_LAYER_GRU)
        return rc_error(err, RECUR_E_INVALID, "layer %d: only LSTM and GRU layers have a recurrent activation", index);
    if (act != RECUR_ACT_SIGMOID && act != RECUR_ACT_HARD_SIGMOID && act != RECUR_ACT_HARD_SIGMOID_K2)
        return rc_error(err, RECUR_E_INVALID,
                        "layer %d: the recurrent activation must be sigmoid, hard_sigmoid or hard_sigmoid_k2", index);
    L->rec_act = act;
    return RECUR_OK;
}

/* Keras-style layer name: first of a kind "lstm", then "lstm_1", "lstm_2", ... */
static void layer_name(const recur_model *m, int index, char *buf, size_t cap)
{
    int k = 0;
    for (int l = 0; l < index; l++) k += m->layers[l].kind == m->layers[index].kind;
    if (k) snprintf(buf, cap, "%s_%d", kind_name(m->layers[index].kind), k);
    else snprintf(buf, cap, "%s", kind_name(m->layers[index].kind));
}

int recur_model_n_weights(const recur_model *m)
{
    int n = 0;
    if (!m || !m->compiled) return 0;
    for (int l = 0; l < m->n_layers; l++) {
        recur_layer_kind k = m->layers[l].kind;
        n += k <= RECUR_LAYER_RNN ? 3 : k == RECUR_LAYER_DENSE ? 2 : 0;
    }
    return n;
}

recur_status recur_model_weight(const recur_model *m, int index, recur_weight *out, recur_error *err)
{
    if (!m || !out) return rc_error(err, RECUR_E_INVALID, "recur_model_weight: NULL argument");
    if (!m->compiled) return rc_error(err, RECUR_E_STATE, "model: compile it before asking for weights");
    int k = index;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        int nw = L->kind <= RECUR_LAYER_RNN ? 3 : L->kind == RECUR_LAYER_DENSE ? 2 : 0;
        if (k >= nw) {
            k -= nw;
            continue;
        }
        char ln[32];
        layer_name(m, l, ln, sizeof ln);
        memset(out, 0, sizeof *out);
        out->layer = l;
        int GH = L->G * L->units;
        const char *what;
        if (k == 0) {
            what = "kernel", out->ndim = 2, out->dims[0] = L->in, out->dims[1] = GH, out->offset = L->off_w;
        } else if (k == 1 && nw == 3) {
            what = "recurrent_kernel", out->ndim = 2, out->dims[0] = L->units, out->dims[1] = GH,
            out->offset = L->off_u;
        } else {
            what = "bias", out->offset = L->off_b;
            if (L->kind == RECUR_LAYER_GRU && L->reset_after) out->ndim = 2, out->dims[0] = 2, out->dims[1] = GH;
            else out->ndim = 1, out->dims[0] = GH, out->dims[1] = 1;
        }
        out->size = (size_t)out->dims[0] * (out->ndim == 2 ? (size_t)out->dims[1] : 1);
        out->data = m->params + out->offset;
        snprintf(out->name, sizeof out->name, "%s.%s", ln, what);
        return RECUR_OK;
    }
    return rc_error(err, RECUR_E_INVALID, "model: no weight %d (it has %d)", index, recur_model_n_weights(m));
}

recur_float *recur_model_params(recur_model *m) { return m ? m->params : NULL; }
recur_float *recur_model_grads(recur_model *m) { return m ? m->grads : NULL; }

/* "70,901" */
static void commas(size_t v, char *buf, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 1 < cap; i++) {
        if (i && (n - i) % 3 == 0 && (size_t)o + 2 < cap) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

size_t recur_model_summary(const recur_model *m, int timesteps, char *buf, size_t cap)
{
    if (!buf) cap = 0;
    size_t len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, __VA_ARGS__);   \
        if (w_ > 0) len += (size_t)w_;                                                             \
    } while (0)
    if (cap) buf[0] = 0;
    if (!m) return 0;
    const char *rule = "_________________________________________________________________";
    PUT("Model: \"sequential\"\n%s\n", rule);
    PUT(" %-28s %-25s %10s\n", "Layer (type)", "Output Shape", "Param #");
    PUT("=================================================================\n");
    char ts[16];
    if (timesteps > 0) snprintf(ts, sizeof ts, "%d", timesteps);
    else snprintf(ts, sizeof ts, "None");
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        char name[64], shape[64], pc[32];
        char ln[32];
        layer_name(m, l, ln, sizeof ln);
        snprintf(name, sizeof name, "%s (%s)", ln, kind_title(L->kind));
        if (L->seq_out) snprintf(shape, sizeof shape, "(None, %s, %d)", ts, L->units);
        else snprintf(shape, sizeof shape, "(None, %d)", L->units);
        commas(L->n_params, pc, sizeof pc);
        PUT(" %-28s %-25s %10s\n", name, shape, pc);
        if (l + 1 < m->n_layers) PUT("\n");
    }
    char tot[32];
    size_t n = recur_model_n_params(m);
    commas(n, tot, sizeof tot);
    PUT("=================================================================\n");
    PUT("Total params: %s (%.2f KB)\nTrainable params: %s\nNon-trainable params: 0\n%s\n", tot,
        (double)n * 4 / 1024.0, tot, rule);
#undef PUT
    return len;
}

/* ====== Workspaces ====== */

rc_ws *rc_ws_at(recur_model *m, int t, recur_error *err)
{
    if (!m->ws[t] && !(m->ws[t] = calloc(1, sizeof *m->ws[t])))
        rc_error(err, RECUR_E_NOMEM, "out of memory for a workspace");
    return m->ws[t];
}

void rc_ws_free(rc_ws *w)
{
    free(w->mem);
    memset(w, 0, sizeof *w);
}

static size_t wpack_floats(const rc_layer *L) { return L->ops->wpack_size ? L->ops->wpack_size(L) : 0; }

static size_t ws_floats(const recur_model *m, int B, int T)
{
    size_t n = (size_t)T * B * m->F + 2 * rc_out_size(m, B, T);
    for (int l = 0; l < m->n_layers; l++)
        n += wpack_floats(&m->layers[l]) + m->layers[l].ops->buf_size(&m->layers[l], B, T);
    return n;
}

recur_status rc_ws_reserve(recur_model *m, rc_ws *w, int B, int T, recur_error *err)
{
    if (B < 1 || T < 1) return rc_error(err, RECUR_E_INVALID, "batch and timesteps must be >= 1 (got %d, %d)", B, T);
    if ((size_t)B * T > ((size_t)1 << 31))
        return rc_error(err, RECUR_E_INVALID, "batch %d x timesteps %d is too large", B, T);
    if (!w->mem || B > w->capB || T > w->capT) {
        int nB = B > w->capB ? B : w->capB, nT = T > w->capT ? T : w->capT;
        size_t n = ws_floats(m, nB, nT);
        recur_float *mem = rc_alloc64(n);
        if (!mem)
            return rc_error(err, RECUR_E_NOMEM, "out of memory for activations of batch %d x %d steps (%zu MB)", nB, nT,
                            n * sizeof *mem >> 20);
        free(w->mem);
        w->mem = mem;
        w->capB = nB;
        w->capT = nT;
        for (int l = 0; l < m->n_layers; l++) w->lb[l].wp_valid = 0;
    }
    /* Packed weights first, where B and T do not move them; then buffers for
     * exactly (B,T): smaller than capacity fits by monotonicity. */
    recur_float *p = w->mem;
    for (int l = 0; l < m->n_layers; l++) {
        w->lb[l].wp = p;
        w->lb[l].wp_reuse = 0; /* repacked unless rc_ws_reuse_packs says otherwise */
        p += wpack_floats(&m->layers[l]);
    }
    w->x = p;
    p += (size_t)T * B * m->F;
    w->dy = p;
    p += rc_out_size(m, B, T);
    w->out = p;
    p += rc_out_size(m, B, T);
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        L->ops->bind(L, &w->lb[l], p, B, T);
        w->lb[l].has_state = 0;
        size_t BH = (size_t)B * L->units;
        if (w->lb[l].h0) memset(w->lb[l].h0, 0, BH * sizeof *p);
        if (w->lb[l].c0) memset(w->lb[l].c0, 0, BH * sizeof *p);
        p += L->ops->buf_size(L, B, T);
    }
    w->B = B;
    w->T = T;
    return RECUR_OK;
}

void rc_ws_reuse_packs(recur_model *m, rc_ws *w, int fresh)
{
    for (int l = 0; l < m->n_layers; l++) {
        w->lb[l].wp_reuse = 1;
        if (fresh) w->lb[l].wp_valid = 0;
    }
}

/* ====== Forward / backward orchestration ====== */

const recur_float *rc_forward(recur_model *m, rc_ws *w, const recur_float *x, int B, int T, int training,
                              uint64_t stream)
{
    const int F = m->F;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(w->x + ((size_t)t * B + b) * F, x + ((size_t)b * T + t) * F, sizeof *x * (size_t)F);
    const recur_float *in = w->x;
    for (int l = 0; l < m->n_layers; l++) {
        const rc_layer *L = &m->layers[l];
        rc_rng r;
        rc_rng_seed(&r, rc_seed_mix(stream, (uint64_t)l, 0xd20));
        L->ops->forward(L, &w->lb[l], m->params, in, B, T, training, &r);
        in = rc_layer_out(L, &w->lb[l], B, T);
    }
    /* user layout (B,T,O) or (B,O) */
    const int O = rc_out_width(m);
    if (recur_model_returns_sequences(m)) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                memcpy(w->out + ((size_t)b * T + t) * O, in + ((size_t)t * B + b) * O, sizeof *in * (size_t)O);
    } else {
        memcpy(w->out, in, sizeof *in * (size_t)B * O);
    }
    return in;
}

void rc_backward(recur_model *m, rc_ws *w, recur_float *grads, recur_float *dx_user)
{
    const int B = w->B, T = w->T;
    const recur_float *dy = w->dy;
    for (int l = m->n_layers - 1; l >= 0; l--) {
        const rc_layer *L = &m->layers[l];
        const recur_float *in = l ? rc_layer_out(&m->layers[l - 1], &w->lb[l - 1], B, T) : w->x;
        int need_dx = l > 0 || dx_user != NULL;
        L->ops->backward(L, &w->lb[l], grads, m->params, in, dy, B, T, need_dx);
        dy = w->lb[l].dx;
    }
    if (dx_user) {
        const int F = m->F;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                memcpy(dx_user + ((size_t)b * T + t) * F, dy + ((size_t)t * B + b) * F, sizeof *dy * (size_t)F);
    }
}

double rc_loss_to_dy(recur_model *m, rc_ws *w, const recur_float *y, double denom)
{
    const int B = w->B, T = w->T, O = rc_out_width(m);
    const int seq = recur_model_returns_sequences(m);
    const int S = seq ? T : 1;
    const int mae = m->copts.loss == RECUR_LOSS_MAE;
    double sum = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < S; t++)
            for (int o = 0; o < O; o++) {
                size_t iu = ((size_t)b * S + t) * O + o;        /* user layout */
                size_t it = ((size_t)t * B + b) * O + o;        /* time-major */
                double d = (double)w->out[iu] - (double)y[iu];
                double g;
                if (mae) sum += fabs(d), g = d > 0 ? 1 : d < 0 ? -1 : 0;
                else sum += d * d, g = 2 * d;
                w->dy[it] = (recur_float)(g / denom);
            }
    return sum;
}

/* ====== Low-level API ====== */

static recur_status need_compiled(const recur_model *m, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (!m->compiled) return rc_error(err, RECUR_E_STATE, "model: call recur_model_compile first");
    return RECUR_OK;
}

static void load_states(recur_model *m, rc_ws *w, int B)
{
    for (int l = 0; l < m->n_layers; l++) {
        rc_lbuf *lb = &w->lb[l];
        if (!m->h0[l] || m->state_B[l] != B || !lb->h0) continue;
        size_t BH = (size_t)B * m->layers[l].units;
        memcpy(lb->h0, m->h0[l], BH * sizeof *lb->h0);
        if (lb->c0 && m->c0[l]) memcpy(lb->c0, m->c0[l], BH * sizeof *lb->c0);
        lb->has_state = 1;
    }
}

recur_status recur_model_forward(recur_model *m, const recur_float *x, int B, int T, int training, recur_float *y,
                                 recur_error *err)
{
    recur_status st = need_compiled(m, err);
    if (st) return st;
    if (!x) return rc_error(err, RECUR_E_INVALID, "forward: x is NULL");
    rc_ws *w = rc_ws_at(m, 0, err);
    if (!w) return RECUR_E_NOMEM;
    if ((st = rc_ws_reserve(m, w, B, T, err))) return st;
    load_states(m, w, B);
    rc_forward(m, w, x, B, T, training, rc_seed_mix(m->copts.seed, m->dropout_step++, 0));
    if (y) memcpy(y, w->out, rc_out_size(m, B, T) * sizeof *y);
    return RECUR_OK;
}

recur_status recur_model_backward(recur_model *m, const recur_float *dy, recur_float *dx, recur_error *err)
{
    recur_status st = need_compiled(m, err);
    if (st) return st;
    rc_ws *w = m->ws[0];
    if (!w || !w->mem || !w->B) return rc_error(err, RECUR_E_STATE, "backward: call recur_model_forward first");
    if (!dy) return rc_error(err, RECUR_E_INVALID, "backward: dy is NULL");
    const int B = w->B, T = w->T, O = rc_out_width(m);
    if (recur_model_returns_sequences(m)) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                memcpy(w->dy + ((size_t)t * B + b) * O, dy + ((size_t)b * T + t) * O, sizeof *dy * (size_t)O);
    } else {
        memcpy(w->dy, dy, sizeof *dy * (size_t)B * O);
    }
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    rc_backward(m, w, m->grads, dx);
    return RECUR_OK;
}

recur_status recur_model_set_initial_state(recur_model *m, int layer, const recur_float *h0, const recur_float *c0,
                                           int B, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (layer < 0 || layer >= m->n_layers || m->layers[layer].kind > RECUR_LAYER_RNN)
        return rc_error(err, RECUR_E_INVALID, "initial state: layer %d is not a recurrent layer", layer);
    free(m->h0[layer]);
    free(m->c0[layer]);
    m->h0[layer] = m->c0[layer] = NULL;
    m->state_B[layer] = 0;
    if (!h0) return RECUR_OK;
    if (B < 1) return rc_error(err, RECUR_E_INVALID, "initial state: batch must be >= 1 (got %d)", B);
    size_t BH = (size_t)B * m->layers[layer].units;
    int lstm = m->layers[layer].kind == RECUR_LAYER_LSTM;
    m->h0[layer] = malloc(BH * sizeof *h0);
    m->c0[layer] = lstm ? calloc(BH, sizeof *h0) : NULL;
    if (!m->h0[layer] || (lstm && !m->c0[layer])) {
        free(m->h0[layer]);
        free(m->c0[layer]);
        m->h0[layer] = m->c0[layer] = NULL;
        return rc_error(err, RECUR_E_NOMEM, "initial state: out of memory");
    }
    memcpy(m->h0[layer], h0, BH * sizeof *h0);
    if (lstm && c0) memcpy(m->c0[layer], c0, BH * sizeof *c0);
    m->state_B[layer] = B;
    return RECUR_OK;
}

recur_status recur_model_initial_state_grad(const recur_model *m, int layer, recur_float *dh0, recur_float *dc0,
                                            recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "model is NULL");
    if (layer < 0 || layer >= m->n_layers || m->layers[layer].kind > RECUR_LAYER_RNN)
        return rc_error(err, RECUR_E_INVALID, "initial state: layer %d is not a recurrent layer", layer);
    const rc_ws *w = m->ws[0];
    if (!w || !w->lb[layer].has_state)
        return rc_error(err, RECUR_E_STATE, "initial state: no state was set for the last forward");
    const rc_lbuf *lb = &w->lb[layer];
    size_t BH = (size_t)w->B * m->layers[layer].units;
    if (dh0) memcpy(dh0, lb->dh0, BH * sizeof *dh0);
    if (dc0 && lb->dc0) memcpy(dc0, lb->dc0, BH * sizeof *dc0);
    return RECUR_OK;
}

recur_status recur_model_loss_grad(recur_model *m, const recur_float *x, const recur_float *y, int B, int T,
                                   int training, double *loss, recur_float *y_pred, recur_error *err)
{
    recur_status st = recur_model_forward(m, x, B, T, training, y_pred, err);
    if (st) return st;
    if (!y) return rc_error(err, RECUR_E_INVALID, "loss: y is NULL");
    rc_ws *w = m->ws[0];
    double denom = (double)rc_out_size(m, B, T);
    double s = rc_loss_to_dy(m, w, y, denom);
    if (loss) *loss = s / denom;
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    rc_backward(m, w, m->grads, NULL);
    return RECUR_OK;
}

recur_status recur_model_apply_grads(recur_model *m, recur_error *err)
{
    recur_status st = need_compiled(m, err);
    if (st) return st;
    const recur_optim_opts *o = &m->copts.optim;
    if (o->clipnorm > 0 || o->clipvalue > 0) {
        int nw = recur_model_n_weights(m);
        for (int i = 0; i < nw; i++) {
            recur_weight wt;
            recur_model_weight(m, i, &wt, NULL);
            rc_clip(m->grads + wt.offset, wt.size, o->clipnorm, o->clipvalue);
        }
    }
    rc_optimizer_step_noclip(m->opt, m->params, m->grads);
    return RECUR_OK;
}

void recur_model_reset_optimizer(recur_model *m)
{
    if (m && m->opt) rc_optimizer_reset(m->opt);
}

const recur_compile_opts *recur_model_compile_opts(const recur_model *m) { return m ? &m->copts : NULL; }
long recur_model_optimizer_iterations(const recur_model *m) { return m ? rc_optimizer_iterations(m->opt) : 0; }
void recur_model_set_optimizer_iterations(recur_model *m, long iterations)
{
    if (m) rc_optimizer_set_iterations(m->opt, iterations);
}
recur_float *recur_model_optimizer_slot(recur_model *m, const char *name)
{
    return m && m->opt ? rc_optimizer_slot(m->opt, name) : NULL;
}
