/*
 * spec.c -- readable layer specs: "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)".
 *
 * Implements recur_model_add_spec (text -> recur_model_add_* calls) and
 * recur_model_spec (layers -> canonical text). A small hand-written scanner, no
 * regex. The whole spec is checked first (syntax, then the layer
 * constructors' own limits on a scratch copy of the model) and the layers are
 * added only when it is valid, so a bad spec leaves the model as it was.
 *
 * Grammar (case-insensitive names and flags, blanks allowed around every token):
 *     spec  := item (sep item)*        sep := blanks | "," | "->"  (one "," or "->" at most)
 *     item  := name "(" arg ("," arg)* ")"
 *     lstm(H[,seq][,gate])  rnn(H[,seq])  simplernn(H[,seq])  gru(H[,seq][,reset_before][,gate])
 *     dense(N[,linear|relu|tanh|sigmoid])  dropout(R)
 *     gate := hard_sigmoid (Keras 3's) | hard_sigmoid_k2 (Keras 2's) | sigmoid (the default)
 *     seq == return_sequences == return_sequences=true; reset_after is GRU's default.
 * Units are whole numbers 1..100000, a dropout rate is a number in [0, 1).
 * Every error is RECUR_E_PARSE and names the 1-based byte position in the spec.
 *
 * Not here: building models from files (model_file.c) or any layer maths.
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_UNITS_MAX 65536 /* the library's limit per layer */
#define SPEC_TOKEN_MAX 64  /* longest argument token we read as a number or flag */
#define SPEC_SHOW_MAX 32   /* longest piece of user text quoted back in a message */
#define SPEC_ARGS_MAX 4

typedef enum { K_LSTM, K_GRU, K_RNN, K_DENSE, K_DROPOUT, K_UNKNOWN } item_kind;

/* One parsed item, ready to be added. */
typedef struct {
    item_kind kind;
    size_t pos; /* 0-based offset of the name */
    int units;
    int seq, reset_after;
    recur_activation act;
    recur_activation gate; /* LSTM, GRU: 0 = sigmoid */
    float rate;
} spec_item;

/* ====== Small text helpers ====== */

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }
static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_word(int c) { return is_alpha(c) || is_digit(c) || c == '_'; }
/* Characters an argument token may hold: numbers (0.2, 1e-3), flags, "key=value". */
static int is_arg(int c) { return is_word(c) || c == '.' || c == '+' || c == '-' || c == '='; }

/* Case-insensitive compare of s[0..n) with a lower-case word. */
static int word_eq(const char *s, size_t n, const char *word)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (word[i] == '\0' || lower((unsigned char)s[i]) != word[i]) return 0;
    return word[i] == '\0';
}

/* Printable copy of s[0..n) for a message: at most SPEC_SHOW_MAX bytes, other
 * bytes than printable ASCII as \xHH, "..." when cut. */
static void show(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < SPEC_SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 5 >= cap) break;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
    }
    if (n > SPEC_SHOW_MAX && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static const char *kind_name(item_kind k)
{
    switch (k) {
    case K_LSTM: return "lstm";
    case K_GRU: return "gru";
    case K_RNN: return "rnn";
    case K_DENSE: return "dense";
    case K_DROPOUT: return "dropout";
    default: return "?";
    }
}

static item_kind kind_of(const char *s, size_t n)
{
    if (word_eq(s, n, "lstm")) return K_LSTM;
    if (word_eq(s, n, "gru")) return K_GRU;
    if (word_eq(s, n, "rnn") || word_eq(s, n, "simplernn")) return K_RNN;
    if (word_eq(s, n, "dense")) return K_DENSE;
    if (word_eq(s, n, "dropout")) return K_DROPOUT;
    return K_UNKNOWN;
}

/* ====== Arguments ====== */

/* Whole number 1..SPEC_UNITS_MAX, digits only. */
static recur_status parse_units(const char *s, size_t n, size_t pos, item_kind k, int *out, recur_error *err)
{
    long v = 0;
    size_t i;
    char txt[SPEC_SHOW_MAX * 4 + 8];
    for (i = 0; i < n && is_digit((unsigned char)s[i]); i++)
        if (v <= SPEC_UNITS_MAX) v = v * 10 + (s[i] - '0');
    if (i == n && v >= 1 && v <= SPEC_UNITS_MAX) {
        *out = (int)v;
        return RECUR_OK;
    }
    show(txt, sizeof txt, s, n);
    return rc_error(err, RECUR_E_PARSE, "position %zu: %s units must be a whole number from 1 to %d (got \"%s\")",
                    pos + 1, kind_name(k), SPEC_UNITS_MAX, txt);
}

/* Dropout rate: a plain decimal (0.2, .25, 2e-1) in [0, 1). */
static recur_status parse_rate(const char *s, size_t n, size_t pos, float *out, recur_error *err)
{
    char buf[SPEC_TOKEN_MAX];
    char txt[SPEC_SHOW_MAX * 4 + 8];
    int ok = n > 0 && n < sizeof buf;
    for (size_t i = 0; ok && i < n; i++) {
        int c = (unsigned char)s[i];
        ok = is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
    }
    if (ok) {
        char *end;
        memcpy(buf, s, n);
        buf[n] = '\0';
        double v = strtod(buf, &end);
        if (*end == '\0' && end != buf && isfinite(v) && v >= 0.0 && v < 1.0 && (float)v < 1.0f) {
            *out = (float)v;
            return RECUR_OK;
        }
    }
    show(txt, sizeof txt, s, n);
    return rc_error(err, RECUR_E_PARSE, "position %zu: dropout rate must be a number in [0, 1) (got \"%s\")", pos + 1,
                    txt);
}

/* Flag arguments after the first. `seen` guards against the same setting twice. */
static recur_status parse_flag(spec_item *it, const char *s, size_t n, size_t pos, unsigned *seen, recur_error *err)
{
    char txt[SPEC_SHOW_MAX * 4 + 8];
    unsigned bit = 0;
    show(txt, sizeof txt, s, n);
    if (it->kind == K_LSTM || it->kind == K_GRU || it->kind == K_RNN) {
        if (word_eq(s, n, "seq") || word_eq(s, n, "return_sequences") || word_eq(s, n, "return_sequences=true")) {
            it->seq = 1;
            bit = 1;
        } else if (word_eq(s, n, "return_sequences=false")) {
            it->seq = 0;
            bit = 1;
        } else if (it->kind == K_GRU && (word_eq(s, n, "reset_before") || word_eq(s, n, "reset_after=false"))) {
            it->reset_after = 0;
            bit = 2;
        } else if (it->kind == K_GRU && (word_eq(s, n, "reset_after") || word_eq(s, n, "reset_after=true"))) {
            it->reset_after = 1;
            bit = 2;
        } else if (it->kind != K_RNN &&
                   (word_eq(s, n, "hard_sigmoid") || word_eq(s, n, "hard_sigmoid_k2") || word_eq(s, n, "sigmoid"))) {
            it->gate = word_eq(s, n, "hard_sigmoid")      ? RECUR_ACT_HARD_SIGMOID
                       : word_eq(s, n, "hard_sigmoid_k2") ? RECUR_ACT_HARD_SIGMOID_K2
                                                          : RECUR_ACT_SIGMOID;
            bit = 8;
        } else {
            return rc_error(err, RECUR_E_PARSE, "position %zu: unknown %s option \"%s\" (expected %s)", pos + 1,
                            kind_name(it->kind), txt,
                            it->kind == K_GRU    ? "seq, return_sequences, reset_before, reset_after or a gate: "
                                                   "sigmoid, hard_sigmoid, hard_sigmoid_k2"
                            : it->kind == K_LSTM ? "seq, return_sequences or a gate: sigmoid, hard_sigmoid, "
                                                   "hard_sigmoid_k2"
                                                 : "seq or return_sequences");
        }
    } else if (it->kind == K_DENSE) {
        bit = 4;
        if (word_eq(s, n, "linear")) it->act = RECUR_ACT_LINEAR;
        else if (word_eq(s, n, "relu")) it->act = RECUR_ACT_RELU;
        else if (word_eq(s, n, "tanh")) it->act = RECUR_ACT_TANH;
        else if (word_eq(s, n, "sigmoid")) it->act = RECUR_ACT_SIGMOID;
        else
            return rc_error(err, RECUR_E_PARSE,
                            "position %zu: unknown dense activation \"%s\" (expected linear, relu, tanh or sigmoid)",
                            pos + 1, txt);
    } else {
        return rc_error(err, RECUR_E_PARSE, "position %zu: dropout takes one argument, the rate (got \"%s\" too)",
                        pos + 1, txt);
    }
    if (*seen & bit)
        return rc_error(err, RECUR_E_PARSE, "position %zu: %s: \"%s\" repeats a setting given before", pos + 1,
                        kind_name(it->kind), txt);
    *seen |= bit;
    return RECUR_OK;
}

/* ====== Items ====== */

/* Parses the item whose name starts at s[*i]; on success *i is past its ")". */
static recur_status parse_item(const char *s, size_t *i, spec_item *it, recur_error *err)
{
    char txt[SPEC_SHOW_MAX * 4 + 8];
    size_t p = *i, name = *i, open;
    size_t arg_pos[SPEC_ARGS_MAX], arg_len[SPEC_ARGS_MAX];
    int nargs = 0;
    unsigned seen = 0;
    recur_status st;

    while (is_word((unsigned char)s[p])) p++;
    memset(it, 0, sizeof *it);
    it->pos = name;
    it->kind = kind_of(s + name, p - name);
    it->reset_after = 1;
    it->act = RECUR_ACT_LINEAR;
    if (it->kind == K_UNKNOWN) {
        show(txt, sizeof txt, s + name, p - name);
        return rc_error(err, RECUR_E_PARSE,
                        "position %zu: unknown layer \"%s\" (expected lstm, gru, rnn, dense, dropout)", name + 1, txt);
    }
    while (is_blank((unsigned char)s[p])) p++;
    if (s[p] != '(') {
        show(txt, sizeof txt, s + name, p - name);
        return rc_error(err, RECUR_E_PARSE, "position %zu: expected \"(\" after \"%s\" (e.g. %s)", p + 1, txt,
                        it->kind == K_DROPOUT ? "dropout(0.2)" : it->kind == K_DENSE ? "dense(1)" : "lstm(50)");
    }
    open = p++;
    for (;;) {
        while (is_blank((unsigned char)s[p])) p++;
        size_t a = p;
        while (is_arg((unsigned char)s[p])) p++;
        if (p == a) {
            if (s[p] == '\0')
                return rc_error(err, RECUR_E_PARSE,
                                "position %zu: unbalanced parentheses: \"(\" at position %zu is never closed", p + 1,
                                open + 1);
            if (s[p] == ')' && nargs == 0)
                return rc_error(err, RECUR_E_PARSE, "position %zu: %s() needs %s", p + 1, kind_name(it->kind),
                                it->kind == K_DROPOUT ? "a rate, e.g. dropout(0.2)" : "a number of units");
            if (s[p] == ',' || s[p] == ')')
                return rc_error(err, RECUR_E_PARSE, "position %zu: empty argument in %s(...)", p + 1,
                                kind_name(it->kind));
            show(txt, sizeof txt, s + p, 1);
            return rc_error(err, RECUR_E_PARSE, "position %zu: unexpected \"%s\" in %s(...)", p + 1, txt,
                            kind_name(it->kind));
        }
        if (nargs == SPEC_ARGS_MAX)
            return rc_error(err, RECUR_E_PARSE, "position %zu: too many arguments to %s(...)", a + 1,
                            kind_name(it->kind));
        arg_pos[nargs] = a;
        arg_len[nargs] = p - a;
        nargs++;
        while (is_blank((unsigned char)s[p])) p++;
        if (s[p] == ',') {
            p++;
            continue;
        }
        if (s[p] == ')') {
            p++;
            break;
        }
        if (s[p] == '\0')
            return rc_error(err, RECUR_E_PARSE,
                            "position %zu: unbalanced parentheses: \"(\" at position %zu is never closed", p + 1,
                            open + 1);
        show(txt, sizeof txt, s + p, 1);
        return rc_error(err, RECUR_E_PARSE, "position %zu: expected \",\" or \")\" in %s(...), got \"%s\"", p + 1,
                        kind_name(it->kind), txt);
    }

    if (it->kind == K_DROPOUT)
        st = parse_rate(s + arg_pos[0], arg_len[0], arg_pos[0], &it->rate, err);
    else
        st = parse_units(s + arg_pos[0], arg_len[0], arg_pos[0], it->kind, &it->units, err);
    for (int k = 1; st == RECUR_OK && k < nargs; k++)
        st = parse_flag(it, s + arg_pos[k], arg_len[k], arg_pos[k], &seen, err);
    if (st != RECUR_OK) return st;
    *i = p;
    return RECUR_OK;
}

static recur_status add_item(recur_model *m, const spec_item *it, recur_error *err)
{
    switch (it->kind) {
    case K_LSTM:
    case K_GRU: {
        recur_status st = it->kind == K_LSTM ? recur_model_add_lstm(m, it->units, it->seq, err)
                                             : recur_model_add_gru(m, it->units, it->seq, it->reset_after, err);
        if (st || !it->gate || it->gate == RECUR_ACT_SIGMOID) return st;
        return recur_model_set_recurrent_activation(m, recur_model_n_layers(m) - 1, it->gate, err);
    }
    case K_RNN: return recur_model_add_rnn(m, it->units, it->seq, err);
    case K_DENSE: return recur_model_add_dense(m, it->units, it->act, err);
    case K_DROPOUT: return recur_model_add_dropout(m, it->rate, err);
    default: return rc_error(err, RECUR_E_PARSE, "unknown layer");
    }
}

/* ====== The spec ====== */

/* One pass over the spec. With m NULL it only checks (including that every
 * recurrent layer gets a sequence); with m it adds the layers. `seq` is whether
 * the input of the first item is a sequence. */
static recur_status walk(recur_model *m, const char *s, int seq, recur_error *err)
{
    size_t i = 0, sep_pos = 0;
    int items = 0, need_item = 0, gap = 1;
    char txt[SPEC_SHOW_MAX * 4 + 8];

    for (;;) {
        while (is_blank((unsigned char)s[i])) {
            i++;
            gap = 1;
        }
        int c = (unsigned char)s[i];
        if (c == '\0') break;
        if (c == ',' || (c == '-' && s[i + 1] == '>')) {
            const char *sep = c == ',' ? "," : "->";
            if (items == 0)
                return rc_error(err, RECUR_E_PARSE, "position %zu: expected a layer name before \"%s\"", i + 1, sep);
            if (need_item)
                return rc_error(err, RECUR_E_PARSE, "position %zu: two separators in a row (\"%s\")", i + 1, sep);
            need_item = 1;
            sep_pos = i;
            i += c == ',' ? 1 : 2;
            gap = 1;
            continue;
        }
        if (is_alpha(c) || c == '_') {
            spec_item it;
            if (items > 0 && !gap)
                return rc_error(err, RECUR_E_PARSE,
                                "position %zu: missing separator between layers (use a space, \",\" or \"->\")",
                                i + 1);
            recur_status st = parse_item(s, &i, &it, err);
            if (st != RECUR_OK) return st;
            int recurrent = it.kind == K_LSTM || it.kind == K_GRU || it.kind == K_RNN;
            if (recurrent && !seq)
                return rc_error(err, RECUR_E_PARSE,
                                "position %zu: %s(%d) needs a sequence input, but the recurrent layer before it "
                                "returns only its last step (give that layer \",seq\")",
                                it.pos + 1, kind_name(it.kind), it.units);
            if (recurrent) seq = it.seq;
            if (m) {
                st = add_item(m, &it, err);
                if (st != RECUR_OK) {
                    if (err) {
                        char msg[RECUR_ERROR_MSG_MAX];
                        memcpy(msg, err->msg, sizeof msg);
                        msg[sizeof msg - 1] = '\0';
                        rc_error(err, st, "position %zu: %s", it.pos + 1, msg);
                    }
                    return st;
                }
            }
            items++;
            need_item = 0;
            gap = 0;
            continue;
        }
        if (c == ')')
            return rc_error(err, RECUR_E_PARSE,
                            "position %zu: unbalanced parentheses: \")\" without a matching \"(\"", i + 1);
        if (c == '(')
            return rc_error(err, RECUR_E_PARSE, "position %zu: expected a layer name before \"(\"", i + 1);
        show(txt, sizeof txt, s + i, 1);
        return rc_error(err, RECUR_E_PARSE, "position %zu: unexpected \"%s\" (expected a layer such as lstm(50))",
                        i + 1, txt);
    }
    if (need_item)
        return rc_error(err, RECUR_E_PARSE, "position %zu: expected a layer after \"%s\"", sep_pos + 1,
                        s[sep_pos] == ',' ? "," : "->");
    if (items == 0)
        return rc_error(err, RECUR_E_PARSE,
                        "position 1: empty layer spec (expected e.g. \"lstm(50,seq) dropout(0.2) lstm(100) "
                        "dropout(0.2) dense(1)\")");
    return RECUR_OK;
}

/* A new model with m's inputs and layers, to try a spec on. */
static recur_status scratch_copy(const recur_model *m, recur_model **out, recur_error *err)
{
    recur_model *c = NULL;
    recur_status st = recur_model_new(recur_model_n_features(m), &c, err);
    for (int i = 0; st == RECUR_OK && i < recur_model_n_layers(m); i++) {
        recur_layer_info L;
        spec_item it;
        st = recur_model_layer(m, i, &L, err);
        if (st != RECUR_OK) break;
        memset(&it, 0, sizeof it);
        it.kind = L.kind == RECUR_LAYER_LSTM ? K_LSTM
                  : L.kind == RECUR_LAYER_GRU ? K_GRU
                  : L.kind == RECUR_LAYER_RNN ? K_RNN
                  : L.kind == RECUR_LAYER_DENSE ? K_DENSE
                                                : K_DROPOUT;
        it.units = L.units;
        it.seq = L.return_sequences;
        it.reset_after = L.reset_after;
        it.act = L.act;
        it.rate = L.rate;
        st = add_item(c, &it, err);
    }
    if (st != RECUR_OK) {
        recur_model_free(c);
        return st;
    }
    *out = c;
    return RECUR_OK;
}

recur_status recur_model_add_spec(recur_model *m, const char *spec, recur_error *err)
{
    if (!m) return rc_error(err, RECUR_E_INVALID, "recur_model_add_spec: model is NULL");
    if (!spec) return rc_error(err, RECUR_E_INVALID, "recur_model_add_spec: spec is NULL");
    int seq = recur_model_n_layers(m) == 0 ? 1 : recur_model_returns_sequences(m);
    recur_status st = walk(NULL, spec, seq, err);
    if (st != RECUR_OK) return st;
    /* The layer constructors have their own limits (and refuse a compiled
     * model): try the spec on a copy first so that a refusal adds nothing. */
    recur_model *trial = NULL;
    st = scratch_copy(m, &trial, err);
    if (st == RECUR_OK) st = walk(trial, spec, seq, err);
    recur_model_free(trial);
    if (st != RECUR_OK) return st;
    return walk(m, spec, seq, err);
}

/* ====== Canonical text ====== */

/* Appends printf output to buf at *len (always NUL-terminated when cap > 0);
 * *len counts what was needed even when it did not fit. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = (buf && *len < cap) ? buf + *len : NULL;
    int n = vsnprintf(dst, dst ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

/* Shortest "%g" text that reads back as the same float. */
static void rate_text(float r, char *out, size_t cap)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(out, cap, "%.*g", prec, (double)r);
        if (strtof(out, NULL) == r) return;
    }
}

/* ",hard_sigmoid" or ",hard_sigmoid_k2" for a layer whose gates use one, else "". */
static const char *gate_flag(const recur_layer_info *L)
{
    return L->recurrent_act == RECUR_ACT_HARD_SIGMOID      ? ",hard_sigmoid"
           : L->recurrent_act == RECUR_ACT_HARD_SIGMOID_K2 ? ",hard_sigmoid_k2"
                                                           : "";
}

size_t recur_model_spec(const recur_model *m, char *buf, size_t cap)
{
    size_t len = 0;
    int n = m ? recur_model_n_layers(m) : 0;
    static const char *const act[] = {"linear", "relu", "tanh", "sigmoid"};
    if (buf && cap > 0) buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        recur_layer_info L;
        char rate[32];
        if (recur_model_layer(m, i, &L, NULL) != RECUR_OK) break;
        const char *sp = i ? " " : "";
        switch (L.kind) {
        case RECUR_LAYER_LSTM:
            put(buf, cap, &len, "%slstm(%d%s%s)", sp, L.units, L.return_sequences ? ",seq" : "", gate_flag(&L));
            break;
        case RECUR_LAYER_RNN: put(buf, cap, &len, "%srnn(%d%s)", sp, L.units, L.return_sequences ? ",seq" : ""); break;
        case RECUR_LAYER_GRU:
            put(buf, cap, &len, "%sgru(%d%s%s%s)", sp, L.units, L.return_sequences ? ",seq" : "",
                L.reset_after ? "" : ",reset_before", gate_flag(&L));
            break;
        case RECUR_LAYER_DENSE:
            if (L.act == RECUR_ACT_LINEAR || (unsigned)L.act >= 4u)
                put(buf, cap, &len, "%sdense(%d)", sp, L.units);
            else
                put(buf, cap, &len, "%sdense(%d,%s)", sp, L.units, act[L.act]);
            break;
        case RECUR_LAYER_DROPOUT:
            rate_text(L.rate, rate, sizeof rate);
            put(buf, cap, &len, "%sdropout(%s)", sp, rate);
            break;
        }
    }
    return len;
}
