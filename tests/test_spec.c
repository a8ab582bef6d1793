/*
 * test_spec.c -- layer spec strings: recur_model_add_spec and recur_model_spec.
 *
 * A table of good specs (each must build, and print back as the expected
 * canonical text, which must parse again to the same text) and a table of bad
 * specs (each must fail with the expected code and message pieces, leaving the
 * model without layers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "recur.h"

typedef struct {
    const char *spec;
    int n_features;
    const char *canonical; /* what recur_model_spec must print */
    int n_layers;
} good_case;

static const good_case good[] = {
    {"lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", 1,
     "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", 5},
    {"LSTM(50, return_sequences) -> Dropout(0.2) -> LSTM(100) -> Dense(1)", 1,
     "lstm(50,seq) dropout(0.2) lstm(100) dense(1)", 4},
    {"lstm(8)", 3, "lstm(8)", 1},
    {"  lstm( 8 , seq )  ,  gru(4)  ", 1, "lstm(8,seq) gru(4)", 2},
    {"gru(16,seq,reset_before) gru(8,reset_after)", 2, "gru(16,seq,reset_before) gru(8)", 2},
    {"gru(16,reset_after=false,return_sequences=true) gru(8)", 2, "gru(16,seq,reset_before) gru(8)", 2},
    {"rnn(4,seq) simplernn(4) dense(2,tanh)", 1, "rnn(4,seq) rnn(4) dense(2,tanh)", 3},
    {"SimpleRNN(3,return_sequences=false)", 1, "rnn(3)", 1},
    {"dense(64,relu) dense(32,RELU) dense(1,linear)", 60, "dense(64,relu) dense(32,relu) dense(1)", 3},
    {"dense(3,sigmoid)", 1, "dense(3,sigmoid)", 1},
    {"dropout(0) dense(1)", 1, "dropout(0) dense(1)", 2},
    {"dropout(.25),dense(1)", 1, "dropout(0.25) dense(1)", 2},
    {"dropout(5e-1) dense(1)", 1, "dropout(0.5) dense(1)", 2},
    {"dropout(0.999) dense(1)", 1, "dropout(0.999) dense(1)", 2},
    {"lstm(65536)", 1, "lstm(65536)", 1},
    {"lstm(007)", 1, "lstm(7)", 1},
    {"lstm(1,seq)\tdense(1)\n", 1, "lstm(1,seq) dense(1)", 2},
    {"lstm(2,seq) dense(4) lstm(3)", 1, "lstm(2,seq) dense(4) lstm(3)", 3},
};

typedef struct {
    const char *spec;
    recur_status code;
    const char *pos;  /* "position N:" */
    const char *what; /* another piece of the message */
} bad_case;

static const bad_case bad[] = {
    {"", RECUR_E_PARSE, "position 1:", "empty layer spec"},
    {"   \t ", RECUR_E_PARSE, "position 1:", "empty layer spec"},
    {"lstm(50,seq) lstn(100)", RECUR_E_PARSE, "position 14:",
     "unknown layer \"lstn\" (expected lstm, gru, rnn, dense, dropout)"},
    {"conv1d(3)", RECUR_E_PARSE, "position 1:", "unknown layer \"conv1d\""},
    {"lstm50", RECUR_E_PARSE, "position 1:", "unknown layer \"lstm50\""},
    {"lstm", RECUR_E_PARSE, "position 5:", "expected \"(\" after \"lstm\""},
    {"dense 1", RECUR_E_PARSE, "position 7:", "expected \"(\""},
    {"lstm(50", RECUR_E_PARSE, "position 8:", "\"(\" at position 5 is never closed"},
    {"lstm(50,seq dense(1)", RECUR_E_PARSE, "position 13:", "expected \",\" or \")\""},
    {"lstm(50)) dense(1)", RECUR_E_PARSE, "position 9:", "unbalanced parentheses"},
    {")", RECUR_E_PARSE, "position 1:", "unbalanced parentheses"},
    {"(lstm(5))", RECUR_E_PARSE, "position 1:", "expected a layer name before \"(\""},
    {"lstm((5))", RECUR_E_PARSE, "position 6:", "unexpected \"(\""},
    {"lstm()", RECUR_E_PARSE, "position 6:", "lstm() needs a number of units"},
    {"dropout()", RECUR_E_PARSE, "position 9:", "needs a rate"},
    {"lstm(5,)", RECUR_E_PARSE, "position 8:", "empty argument"},
    {"lstm(0)", RECUR_E_PARSE, "position 6:", "units must be a whole number from 1 to 65536 (got \"0\")"},
    {"lstm(100001)", RECUR_E_PARSE, "position 6:", "(got \"100001\")"},
    {"lstm(99999999999999999999)", RECUR_E_PARSE, "position 6:", "units must be a whole number"},
    {"lstm(-5)", RECUR_E_PARSE, "position 6:", "(got \"-5\")"},
    {"lstm(5.5)", RECUR_E_PARSE, "position 6:", "(got \"5.5\")"},
    {"dense(1e3)", RECUR_E_PARSE, "position 7:", "dense units must be a whole number"},
    {"lstm(seq)", RECUR_E_PARSE, "position 6:", "(got \"seq\")"},
    {"dropout(1)", RECUR_E_PARSE, "position 9:", "dropout rate must be a number in [0, 1) (got \"1\")"},
    {"dropout(1.5)", RECUR_E_PARSE, "position 9:", "(got \"1.5\")"},
    {"dropout(-0.1)", RECUR_E_PARSE, "position 9:", "(got \"-0.1\")"},
    {"dropout(nan)", RECUR_E_PARSE, "position 9:", "(got \"nan\")"},
    {"dropout(inf)", RECUR_E_PARSE, "position 9:", "dropout rate"},
    {"dropout(0x0.1)", RECUR_E_PARSE, "position 9:", "dropout rate"},
    {"dropout(0.2.1)", RECUR_E_PARSE, "position 9:", "dropout rate"},
    {"dropout(0.9999999999)", RECUR_E_PARSE, "position 9:", "dropout rate"},
    {"dropout(0.2,seq)", RECUR_E_PARSE, "position 13:", "dropout takes one argument"},
    {"lstm(5,sequence)", RECUR_E_PARSE, "position 8:", "unknown lstm option \"sequence\""},
    {"rnn(5,reset_before)", RECUR_E_PARSE, "position 7:", "unknown rnn option"},
    {"gru(5,seq,seq)", RECUR_E_PARSE, "position 11:", "repeats a setting"},
    {"gru(5,reset_before,reset_after)", RECUR_E_PARSE, "position 20:", "repeats a setting"},
    {"gru(5,a,b,c,d)", RECUR_E_PARSE, "position 13:", "too many arguments"},
    {"dense(1,softmax)", RECUR_E_PARSE, "position 9:", "unknown dense activation \"softmax\""},
    {"dense(1,relu,tanh)", RECUR_E_PARSE, "position 14:", "repeats a setting"},
    {"lstm(5) lstm(5)", RECUR_E_PARSE, "position 9:", "needs a sequence input"},
    {"lstm(5) dense(3) gru(2)", RECUR_E_PARSE, "position 18:", "needs a sequence input"},
    {"lstm(5)dense(1)", RECUR_E_PARSE, "position 8:", "missing separator"},
    {"lstm(5) dense(1) x", RECUR_E_PARSE, "position 18:", "unknown layer \"x\""},
    {"lstm(5) dense(1) 7", RECUR_E_PARSE, "position 18:", "unexpected \"7\""},
    {"lstm(5) dense(1);", RECUR_E_PARSE, "position 17:", "unexpected \";\""},
    {"lstm(5) dense(1) ->", RECUR_E_PARSE, "position 18:", "expected a layer after \"->\""},
    {"lstm(5,seq),, dense(1)", RECUR_E_PARSE, "position 13:", "two separators"},
    {", lstm(5)", RECUR_E_PARSE, "position 1:", "expected a layer name before \",\""},
    {"lstm(5) \xff", RECUR_E_PARSE, "position 9:", "\\xFF"},
    {"lstm(5 -> 3)", RECUR_E_PARSE, "position 8:", "expected \",\" or \")\""},
};

static void test_good_specs(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        const good_case *c = &good[k];
        recur_error err = {RECUR_OK, ""};
        recur_model *m = NULL;
        char buf[256];
        assert_int_equal(recur_model_new(c->n_features, &m, &err), RECUR_OK);
        if (recur_model_add_spec(m, c->spec, &err) != RECUR_OK) fail_msg("spec \"%s\": %s", c->spec, err.msg);
        assert_int_equal(recur_model_n_layers(m), c->n_layers);
        size_t need = recur_model_spec(m, buf, sizeof buf);
        assert_int_equal(need, strlen(c->canonical));
        if (strcmp(buf, c->canonical) != 0) fail_msg("spec \"%s\": canonical \"%s\", want \"%s\"", c->spec, buf, c->canonical);
        recur_model_free(m);

        /* The canonical text parses back to itself. */
        m = NULL;
        assert_int_equal(recur_model_new(c->n_features, &m, &err), RECUR_OK);
        assert_int_equal(recur_model_add_spec(m, buf, &err), RECUR_OK);
        char again[256];
        recur_model_spec(m, again, sizeof again);
        assert_string_equal(again, buf);
        recur_model_free(m);
    }
}

static void test_bad_specs(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const bad_case *c = &bad[k];
        recur_error err = {RECUR_OK, ""};
        recur_model *m = NULL;
        assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
        recur_status st = recur_model_add_spec(m, c->spec, &err);
        if (st != c->code) fail_msg("spec \"%s\": status %d, want %d (%s)", c->spec, (int)st, (int)c->code, err.msg);
        assert_int_equal(err.code, c->code);
        if (strncmp(err.msg, c->pos, strlen(c->pos)) != 0)
            fail_msg("spec \"%s\": message \"%s\" does not start with \"%s\"", c->spec, err.msg, c->pos);
        if (!strstr(err.msg, c->what))
            fail_msg("spec \"%s\": message \"%s\" lacks \"%s\"", c->spec, err.msg, c->what);
        assert_non_null(memchr(err.msg, '\0', sizeof err.msg));
        assert_null(strchr(err.msg, '\n'));
        /* Nothing was added. */
        assert_int_equal(recur_model_n_layers(m), 0);
        /* A NULL err is allowed. */
        assert_int_equal(recur_model_add_spec(m, c->spec, NULL), c->code);
        recur_model_free(m);
    }
}

static void test_append_and_null(void **state)
{
    (void)state;
    recur_error err;
    recur_model *m = NULL;
    char buf[128];
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(NULL, "lstm(5)", &err), RECUR_E_INVALID);
    assert_int_equal(recur_model_add_spec(m, NULL, &err), RECUR_E_INVALID);
    /* A spec appends to the layers already there and respects their output. */
    assert_int_equal(recur_model_add_lstm(m, 4, 0, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "gru(3)", &err), RECUR_E_PARSE);
    assert_non_null(strstr(err.msg, "needs a sequence input"));
    assert_int_equal(recur_model_add_spec(m, "dropout(0.1) dense(2)", &err), RECUR_OK);
    recur_model_spec(m, buf, sizeof buf);
    assert_string_equal(buf, "lstm(4) dropout(0.1) dense(2)");
    recur_model_free(m);
}

/* Limits of the layer constructors (units above the cap:
 * 65536 both) and a compiled model: refused, position named, nothing added. */
static void test_library_refusals(void **state)
{
    (void)state;
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    assert_int_not_equal(recur_model_add_spec(m, "lstm(8,seq) lstm(99999)", &err), RECUR_OK);
    assert_non_null(strstr(err.msg, "position 18:")); /* the number itself */
    assert_int_equal(recur_model_n_layers(m), 0);
    assert_int_equal(recur_model_add_spec(m, "lstm(8) dense(1)", &err), RECUR_OK);
    recur_compile_opts co = recur_compile_opts_default();
    assert_int_equal(recur_model_compile(m, &co, &err), RECUR_OK);
    assert_int_not_equal(recur_model_add_spec(m, "dense(1)", &err), RECUR_OK);
    assert_non_null(strstr(err.msg, "position 1:"));
    assert_int_equal(recur_model_n_layers(m), 2);
    recur_model_free(m);
}

static void test_spec_buffer(void **state)
{
    (void)state;
    recur_error err;
    recur_model *m = NULL;
    const char *want = "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)";
    char small[10];
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, want, &err), RECUR_OK);
    /* Like snprintf: returns the needed length, truncates, always terminates. */
    assert_int_equal(recur_model_spec(m, NULL, 0), strlen(want));
    memset(small, 'x', sizeof small);
    assert_int_equal(recur_model_spec(m, small, sizeof small), strlen(want));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, want, sizeof small - 1);
    recur_model_free(m);

    /* An empty model prints as an empty string. */
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    small[0] = 'x';
    assert_int_equal(recur_model_spec(m, small, sizeof small), 0);
    assert_string_equal(small, "");
    recur_model_free(m);
    assert_int_equal(recur_model_spec(NULL, small, sizeof small), 0);
}

/* A spec the library accepts builds the model the tutorial describes. */
static void test_tutorial_params(void **state)
{
    (void)state;
    recur_error err;
    recur_model *m = NULL;
    assert_int_equal(recur_model_new(1, &m, &err), RECUR_OK);
    assert_int_equal(recur_model_add_spec(m, "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)", &err),
                     RECUR_OK);
    recur_layer_info L;
    assert_int_equal(recur_model_layer(m, 0, &L, &err), RECUR_OK);
    assert_int_equal(L.kind, RECUR_LAYER_LSTM);
    assert_int_equal(L.units, 50);
    assert_int_equal(L.return_sequences, 1);
    assert_int_equal(recur_model_layer(m, 1, &L, &err), RECUR_OK);
    assert_int_equal(L.kind, RECUR_LAYER_DROPOUT);
    assert_true(L.rate == 0.2f);
    assert_int_equal(recur_model_layer(m, 4, &L, &err), RECUR_OK);
    assert_int_equal(L.kind, RECUR_LAYER_DENSE);
    assert_int_equal(L.act, RECUR_ACT_LINEAR);
    assert_int_equal(recur_model_n_outputs(m), 1);
    assert_int_equal(recur_model_n_params(m), 70901);
    recur_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_specs),  cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_append_and_null), cmocka_unit_test(test_library_refusals),
        cmocka_unit_test(test_spec_buffer),
        cmocka_unit_test(test_tutorial_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
