/*
 * cmd_summary.c -- `recur summary`: the Keras-style layer table of a saved
 * model, or of a spec before any training.
 */
#include "cli.h"

#include <string.h>

static void help(void)
{
    printf("Usage: recur summary --model MODEL\n"
           "       recur summary --layers SPEC [--features N] [--timestep T]\n"
           "\n"
           "Prints each layer's output shape and parameter count, the totals, and the\n"
           "canonical spec. For a saved model, its data pipeline is listed too, and for a\n"
           "checkpoint (recur train --checkpoint) where its training stands.\n"
           "\n"
           "Options:\n"
           "  --model MODEL           model file written by recur train\n"
           "  --layers SPEC           layer spec, e.g. \"" CLI_TUTORIAL_SPEC "\"\n"
           "  --features N            input columns per time step, with --layers (default: 1)\n"
           "  --timestep T            window length shown in the shapes, with --layers (default: 60)\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur summary --layers \"" CLI_TUTORIAL_SPEC "\"\n"
           "  recur summary --model aapl.safetensors\n");
}

enum { O_MODEL = 256, O_LAYERS, O_FEATURES, O_TIMESTEP };

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL},       {"layers", required_argument, NULL, O_LAYERS},
    {"features", required_argument, NULL, O_FEATURES}, {"timestep", required_argument, NULL, O_TIMESTEP},
    {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
};

static void print_pipeline(const recur_pipeline *p)
{
    static const char *const tr[] = {"none", "diff", "logreturn"}, *const miss[] = {"error", "drop", "ffill"};
    printf("Pipeline: target %s; inputs", p->features[p->target]);
    for (int j = 0; j < p->n_features; j++) printf("%s %s", j ? "," : "", p->features[j]);
    printf("; timestep %d; horizon %d; test fraction %g; transform %s; scaler %s; missing %s\n", p->timestep,
           p->horizon, p->test_fraction, (unsigned)p->transform < 3u ? tr[p->transform] : "?",
           p->scaler_kind == RECUR_SCALER_STANDARD ? "standard" : "minmax",
           (unsigned)p->missing < 3u ? miss[p->missing] : "?");
}

/* For a checkpoint: where its training stands. Nothing for a plain model file. */
static void print_checkpoint(const char *path)
{
    static const char *const opt[] = {"rmsprop", "adam", "sgd", "rmsprop-keras2"};
    recur_model *m = NULL;
    recur_train_state ts;
    if (recur_model_load_checkpoint(path, &m, NULL, &ts, NULL) != RECUR_OK) return;
    const recur_compile_opts *co = recur_model_compile_opts(m);
    printf("Checkpoint: epoch %d of %d; %s lr %g, %ld steps; batch %d, seed %llu", ts.epoch, ts.epochs,
           (unsigned)co->optim.kind < 4u ? opt[co->optim.kind] : "?", co->optim.lr,
           recur_model_optimizer_iterations(m), ts.batch_size, (unsigned long long)ts.seed);
    if (ts.best_epoch > 0) printf("; best %.6g at epoch %d", ts.best, ts.best_epoch);
    printf("\n");
    recur_model_free(m);
}

int cmd_summary(int argc, char **argv)
{
    const char *cmd = "summary", *model = NULL, *spec = NULL;
    int rc = 0, c, features = 1, timestep = 60, got_f = 0, got_t = 0;
    recur_error err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &model); break;
        case O_LAYERS: rc = cli_opt_text(cmd, "--layers", optarg, &spec); break;
        case O_FEATURES:
            rc = cli_opt_int(cmd, "--features", optarg, 1, 100000, &features);
            got_f = 1;
            break;
        case O_TIMESTEP:
            rc = cli_opt_int(cmd, "--timestep", optarg, 1, 1000000, &timestep);
            got_t = 1;
            break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (model && spec) return cli_usage(cmd, "--layers: give either --model or --layers, not both");
    if (!model && !spec) return cli_usage(cmd, "--model or --layers: missing (what to summarize)");
    if (model && (got_f || got_t))
        return cli_usage(cmd, "%s: only with --layers (a saved model has its own)", got_f ? "--features" : "--timestep");

    recur_model *m = NULL;
    if (model) {
        recur_pipeline p;
        memset(&p, 0, sizeof p);
        if (recur_model_load(model, &m, &p, &err) != RECUR_OK) return cli_fail(&err);
        cli_print_summary(stdout, m, cli_model_timesteps(model, &p, timestep));
        if (p.n_features > 0) print_pipeline(&p);
        print_checkpoint(model);
    } else {
        if (recur_model_new(features, &m, &err) != RECUR_OK) return cli_fail(&err);
        if (recur_model_add_spec(m, spec, &err) != RECUR_OK) {
            recur_model_free(m);
            return cli_usage(cmd, "--layers: %s", err.msg);
        }
        cli_print_summary(stdout, m, timestep);
    }
    recur_model_free(m);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_errorf("cannot write to standard output");
    return CLI_OK;
}
