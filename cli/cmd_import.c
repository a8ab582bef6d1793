/*
 * cmd_import.c -- `recur import` (a Keras file to a recur model file) and the
 * two other ways the CLI uses models that come without a data pipeline:
 * `recur predict --windows FILE` (raw windows in, raw outputs out) and
 * `recur train --init FILE` (fine-tuning from a file's weights and, for a
 * Keras file, its optimizer state).
 *
 * Not here: reading Keras files (src/io/keras_read.c); every command finds
 * them through recur_model_load, which tells them by their content.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ====== recur import ====== */

enum { O_OUT = 256, O_DATA, O_COLUMN, O_FEATURES, O_TIMESTEP, O_TEST, O_SCALER, O_MISSING };

static const char *const scalers[] = {"minmax", "standard"};
static const char *const missings[] = {"error", "drop", "ffill"};

static void help(void)
{
    printf("Usage: recur import FILE --out MODEL [--data CSV --column NAME [options]]\n"
           "\n"
           "Converts a Keras model file (.keras, or .h5 from Keras 3 or tf.keras 2; told by its content)\n"
           "into a recur model file. Keras files hold no data pipeline: with --data, one is attached\n"
           "the tutorial's way (the columns, a window of --timestep rows, a scaler fitted on the\n"
           "training part), so that evaluate, predict and forecast work on that CSV. Without it the\n"
           "model takes raw inputs (recur predict --windows). See docs/keras.md.\n"
           "\n"
           "Input:\n"
           "  FILE                    the Keras file\n"
           "  --data CSV              attach a pipeline fitted on this CSV (default: none)\n"
           "  --column NAME           target column, with --data (default: Close)\n"
           "  --features A,B,...      input columns in the model's input order; the target is added\n"
           "                          when absent (default: the target alone)\n"
           "  --timestep T            window length (default: the Keras input shape's, else 60)\n"
           "  --test-fraction F       last fraction of rows held out, in (0, 1) (default: 0.2)\n"
           "  --scaler MODE           minmax or standard (default: minmax)\n"
           "  --missing MODE          empty/null/NaN cells: error, drop or ffill (default: error)\n"
           "\n"
           "Output:\n"
           "  --out MODEL             recur model file (safetensors layout), written atomically (required)\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur import model.h5 --out m.safetensors --data data/AAPL.csv --column Close\n"
           "  recur import model.keras --out raw.safetensors\n");
}

static const struct option longopts[] = {
    {"out", required_argument, NULL, O_OUT},           {"data", required_argument, NULL, O_DATA},
    {"column", required_argument, NULL, O_COLUMN},     {"features", required_argument, NULL, O_FEATURES},
    {"timestep", required_argument, NULL, O_TIMESTEP}, {"test-fraction", required_argument, NULL, O_TEST},
    {"scaler", required_argument, NULL, O_SCALER},     {"missing", required_argument, NULL, O_MISSING},
    {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
};

/* Fits s->pipe (columns and window already set) on `data` for the model in
 * s->model, whose inputs and outputs the pipeline must match. */
static int attach_pipeline(const char *cmd, cli_session *s, const char *model, const char *data,
                           recur_missing missing, int quiet)
{
    int F = recur_model_n_features(s->model);
    if (recur_model_returns_sequences(s->model))
        return cli_errorf("%s: the model outputs a whole sequence; a data pipeline needs one output per window "
                          "(end the Keras model with return_sequences=False)",
                          model);
    if (s->pipe.n_features != F)
        return cli_usage(cmd, "--features: the model takes %d input%s per step but --column/--features name %d "
                              "column%s (list them with --features in the model's input order)",
                         F, F == 1 ? "" : "s", s->pipe.n_features, s->pipe.n_features == 1 ? "" : "s");
    s->pipe.horizon = recur_model_n_outputs(s->model);
    return cli_session_data(s, data, missing, quiet);
}

int cmd_import(int argc, char **argv)
{
    const char *cmd = "import", *out = NULL, *data = NULL, *column = "Close", *features = NULL;
    int rc = 0, c, timestep = 0, scaler = RECUR_SCALER_MINMAX, missing = RECUR_MISSING_ERROR;
    double test = 0.2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_OUT: rc = cli_opt_text(cmd, "--out", optarg, &out); break;
        case O_DATA: rc = cli_opt_text(cmd, "--data", optarg, &data); break;
        case O_COLUMN: rc = cli_opt_text(cmd, "--column", optarg, &column); break;
        case O_FEATURES: rc = cli_opt_text(cmd, "--features", optarg, &features); break;
        case O_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 1000000, &timestep); break;
        case O_TEST: rc = cli_opt_double(cmd, "--test-fraction", optarg, 0, 1, 1, 1, &test); break;
        case O_SCALER: rc = cli_opt_choice(cmd, "--scaler", optarg, scalers, 2, &scaler); break;
        case O_MISSING: rc = cli_opt_choice(cmd, "--missing", optarg, missings, 3, &missing); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if (optind >= argc) return cli_usage(cmd, "FILE: missing (the Keras file to import)");
    const char *file = argv[optind++];
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!out) return cli_usage(cmd, "--out: missing (the recur model file to write)");
    if (!data && (features || timestep))
        return cli_usage(cmd, "%s: only with --data (it describes the pipeline)", features ? "--features" : "--timestep");
    if ((rc = cli_check_out_dir("--out", out))) return rc;

    recur_error err;
    recur_keras_info info;
    cli_session s;
    memset(&s, 0, sizeof s);
    if (recur_keras_detect(file) == RECUR_KERAS_NONE) {
        FILE *f = fopen(file, "rb");
        if (!f) return cli_errorf("cannot open \"%s\": %s", file, strerror(errno));
        fclose(f);
        return cli_errorf("%s: not a Keras file (neither a .keras zip nor HDF5, by its first bytes)", file);
    }
    if (recur_keras_load(file, &s.model, &s.pipe, &info, &err) != RECUR_OK) return cli_fail(&err);
    if (data) {
        s.pipe = recur_pipeline_default();
        s.pipe.timestep = timestep ? timestep : info.timesteps > 0 ? info.timesteps : 60;
        s.pipe.test_fraction = test;
        s.pipe.scaler_kind = (recur_scaler_kind)scaler;
        if (!(rc = cli_pipe_columns(cmd, &s.pipe, column, features)))
            rc = attach_pipeline(cmd, &s, file, data, (recur_missing)missing, 0);
    }
    if (!rc && recur_model_save(s.model, s.pipe.n_features > 0 ? &s.pipe : NULL, out, &err) != RECUR_OK)
        rc = cli_fail(&err);
    if (!rc)
        cli_log("import: %s (Keras %s, %d layers, %zu parameters) -> %s, %s\n", file,
                info.keras_version[0] ? info.keras_version : "version not recorded", recur_model_n_layers(s.model),
                recur_model_n_params(s.model), out,
                s.pipe.n_features > 0 ? "with a data pipeline" : "no data pipeline (predict --windows takes raw inputs)");
    cli_session_free(&s);
    return rc;
}

int cli_model_timesteps(const char *path, const recur_pipeline *p, int dflt)
{
    if (p && p->n_features > 0) return p->timestep;
    recur_model *m = NULL;
    recur_keras_info info;
    if (recur_keras_detect(path) == RECUR_KERAS_NONE || recur_keras_load(path, &m, NULL, &info, NULL) != RECUR_OK)
        return dflt;
    recur_model_free(m);
    return info.timesteps > 0 ? info.timesteps : dflt;
}

/* ====== recur predict --windows ====== */

/* Splits one line into numbers (commas, spaces or tabs between them). Returns
 * the count, or -1 with *bad at the first token that is not a number. */
static long parse_numbers(char *line, recur_float **v, size_t *cap, char **bad)
{
    long n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n') p++;
        if (!*p) return n;
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        if (end == p || !isfinite(d) || (*end && !strchr(" \t,\r\n", *end))) {
            *bad = p;
            return -1;
        }
        if ((size_t)n == *cap) {
            size_t nc = *cap ? 2 * *cap : 1024;
            recur_float *nv = realloc(*v, nc * sizeof *nv);
            if (!nv) {
                *bad = NULL;
                return -1;
            }
            *v = nv;
            *cap = nc;
        }
        (*v)[n++] = (recur_float)d;
        p = end;
    }
}

int cli_predict_windows(const char *model, const char *windows, const char *out)
{
    recur_error err;
    recur_model *m = NULL;
    FILE *in = NULL;
    cli_out o;
    char *line = NULL;
    size_t lcap = 0, vcap = 0, ycap = 0;
    recur_float *x = NULL, *y = NULL;
    long lineno = 0;
    int rc = 0, opened = 0;
    if (recur_model_load(model, &m, NULL, &err) != RECUR_OK) return cli_fail(&err);
    int F = recur_model_n_features(m), O = recur_model_n_outputs(m), seq = recur_model_returns_sequences(m);
    if (strcmp(windows, "-") == 0) in = stdin;
    else if (!(in = fopen(windows, "r"))) {
        rc = cli_errorf("cannot open \"%s\": %s", windows, strerror(errno));
        goto done;
    }
    if ((rc = cli_out_open(&o, "--out", out))) goto done;
    opened = 1;
    while (getline(&line, &lcap, in) >= 0) {
        lineno++;
        char *bad = NULL;
        long n = parse_numbers(line, &x, &vcap, &bad);
        if (n == 0) continue; /* blank line */
        if (n < 0) {
            if (!bad) rc = cli_errorf("out of memory reading %s", windows);
            else {
                size_t len = strcspn(bad, " \t,\r\n");
                rc = cli_errorf("%s:%ld: \"%.*s\" is not a finite number (one window per line: T x %d numbers, "
                                "time-major)",
                                windows, lineno, (int)(len > 40 ? 40 : len), bad, F);
            }
            break;
        }
        if (n % F != 0) {
            rc = cli_errorf("%s:%ld: %ld numbers is not a multiple of the model's %d features per step (one window "
                            "per line: T x %d numbers, time-major)",
                            windows, lineno, n, F, F);
            break;
        }
        int T = (int)(n / F);
        size_t ny = (size_t)(seq ? T : 1) * (size_t)O;
        if (ny > ycap) {
            recur_float *ny_buf = realloc(y, ny * sizeof *y);
            if (!ny_buf) {
                rc = cli_errorf("out of memory for %zu outputs", ny);
                break;
            }
            y = ny_buf;
            ycap = ny;
        }
        if (recur_model_predict(m, x, 1, T, y, &err) != RECUR_OK) {
            rc = cli_errorf("%s:%ld: %s", windows, lineno, err.msg);
            break;
        }
        for (size_t k = 0; k < ny; k++) fprintf(o.f, "%s%.9g", k ? "," : "", (double)y[k]);
        fputc('\n', o.f);
    }
    if (!rc && ferror(in)) rc = cli_errorf("cannot read \"%s\": %s", windows, strerror(errno));
done:
    if (opened) {
        int c2 = cli_out_close(&o, rc == 0);
        if (!rc) rc = c2;
    }
    if (in && in != stdin) fclose(in);
    free(line);
    free(x);
    free(y);
    recur_model_free(m);
    return rc;
}

/* ====== recur train --init ====== */

int cli_init_model(cli_session *s, const char *cmd, const char *path, int file_timestep, const recur_compile_opts *co,
                   int quiet)
{
    recur_error err;
    recur_model *m = NULL;
    recur_pipeline fp;
    if (recur_model_load(path, &m, &fp, &err) != RECUR_OK) return cli_fail(&err);
    if (file_timestep) s->pipe.timestep = cli_model_timesteps(path, &fp, s->pipe.timestep);
    int F = recur_model_n_features(m), O = recur_model_n_outputs(m), seq = recur_model_returns_sequences(m);
    if (F != s->pipe.n_features || O != s->pipe.horizon || seq) {
        recur_model_free(m);
        if (F != s->pipe.n_features)
            return cli_usage(cmd, "--init: %s takes %d input%s per step but the data gives %d column%s (--column, "
                                  "--features)",
                             path, F, F == 1 ? "" : "s", s->pipe.n_features, s->pipe.n_features == 1 ? "" : "s");
        return cli_usage(cmd, "--init: %s outputs %d value%s per window%s but --horizon is %d", path, O,
                         O == 1 ? "" : "s", seq ? " at every step" : "", s->pipe.horizon);
    }
    /* Compiling again initialises the weights: keep the file's. */
    size_t P = recur_model_n_params(m);
    recur_float *keep = malloc((P ? P : 1) * sizeof *keep);
    if (!keep) {
        recur_model_free(m);
        return cli_errorf("out of memory (%zu parameters)", P);
    }
    memcpy(keep, recur_model_params(m), P * sizeof *keep);
    int rc = 0;
    if (recur_model_compile(m, co, &err) != RECUR_OK) rc = cli_fail(&err);
    else memcpy(recur_model_params(m), keep, P * sizeof *keep);
    free(keep);
    int loaded = 0;
    if (!rc && recur_keras_detect(path) != RECUR_KERAS_NONE &&
        recur_keras_load_optimizer(path, m, &loaded, &err) != RECUR_OK)
        rc = cli_fail(&err);
    if (rc) {
        recur_model_free(m);
        return rc;
    }
    if (!quiet && loaded)
        cli_log("init: weights and optimizer state (%ld iterations) of %s\n", recur_model_optimizer_iterations(m),
                path);
    else if (!quiet)
        cli_log("init: weights of %s (fresh optimizer state)\n", path);
    recur_model_free(s->model);
    s->model = m;
    return 0;
}
