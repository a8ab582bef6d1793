/*
 * cmd_export.c -- `recur export`: write a saved model in another form.
 *
 *   --c DIR        dependency-free C99 source, DIR/NAME.h and DIR/NAME.c
 *                  (recur_export_c, src/export/c_export.c; docs/export.md)
 *   --keras FILE   a Keras 3 .keras file (recur_keras_save, src/io/keras_write.c;
 *                  docs/keras.md)
 *
 * Each output option is one row of `targets` below: its option, what it
 * writes, and the function that writes it. Several may be given at once; the
 * model is loaded once and each target written in turn.
 *
 * Not here: any code generation (src/export/).
 */
#include "cli.h"

#include <string.h>

enum { O_MODEL = 256, O_C, O_NAME, O_TIMESTEP, O_KERAS };

static void help(void)
{
    printf("Usage: recur export --model MODEL (--c DIR [--name NAME] [--timestep T] | --keras FILE)\n"
           "\n"
           "Writes the model in another form. At least one output option is required.\n"
           "\n"
           "Input:\n"
           "  --model MODEL           model file written by recur train\n"
           "  --timestep T            window length of NAME_predict (default: the model's pipeline\n"
           "                          timestep; required for a model without a pipeline)\n"
           "\n"
           "Output:\n"
           "  --c DIR                 dependency-free C99 (libm only): DIR/NAME.h and DIR/NAME.c,\n"
           "                          written atomically; DIR must exist (see docs/export.md)\n"
           "  --name NAME             C identifier prefixing every generated name (default: the model\n"
           "                          file's name without its extension, e.g. \"aapl\")\n"
           "  --keras FILE            a Keras 3 .keras file (config, weights in Keras's layout) that\n"
           "                          keras.saving.load_model reads; written atomically\n"
           "  -h, --help              this text\n"
           "\n"
           "Example:\n"
           "  recur export --model aapl.safetensors --c out/ --name aapl\n"
           "  cc -std=c99 -O2 -c out/aapl.c\n"
           "  recur export --model aapl.safetensors --keras aapl.keras\n");
}

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL},       {"c", required_argument, NULL, O_C},
    {"name", required_argument, NULL, O_NAME},         {"timestep", required_argument, NULL, O_TIMESTEP},
    {"keras", required_argument, NULL, O_KERAS},       {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char *model;
    const char *c_dir;
    const char *keras; /* --keras FILE */
    const char *name; /* NULL: from the model file's name */
    int timestep;     /* 0: the pipeline's */
} options;

/* Default NAME: the model file's base name up to its first '.', with every
 * character that cannot appear in a C identifier turned into '_' (and a '_'
 * before a leading digit), at most 40 characters (cap 41):
 * "runs/aapl-v2.safetensors" -> "aapl_v2". */
static void default_name(const char *path, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    if (*base >= '0' && *base <= '9' && n + 1 < cap) buf[n++] = '_';
    for (const char *s = base; *s && *s != '.' && n + 1 < cap; s++) {
        char ch = *s;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        buf[n++] = ok ? ch : '_';
    }
    buf[n] = '\0';
    if (n == 0) snprintf(buf, cap, "model");
}

static int write_c(const options *o, recur_model *m, const recur_pipeline *p)
{
    char def[41];
    const char *name = o->name;
    recur_error err;
    if (!name) default_name(o->model, def, sizeof def), name = def;
    if (recur_export_c(m, p, o->timestep, o->c_dir, name, &err) != RECUR_OK) return cli_fail(&err);
    const char *sep = o->c_dir[strlen(o->c_dir) - 1] == '/' ? "" : "/";
    cli_log("wrote %s%s%s.h and %s%s%s.c\n", o->c_dir, sep, name, o->c_dir, sep, name);
    return 0;
}

static int write_keras(const options *o, recur_model *m, const recur_pipeline *p)
{
    recur_error err;
    if (recur_keras_save(m, p, o->keras, &err) != RECUR_OK) return cli_fail(&err);
    cli_log("wrote %s\n", o->keras);
    return 0;
}

/* The output options: one row each; `opt` is NULL when that option was not given. */
typedef struct {
    const char *opt;
    int (*write)(const options *o, recur_model *m, const recur_pipeline *p);
} target;

int cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    options o;
    int rc = 0, c;
    memset(&o, 0, sizeof o);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case O_MODEL: rc = cli_opt_text(cmd, "--model", optarg, &o.model); break;
        case O_C: rc = cli_opt_text(cmd, "--c", optarg, &o.c_dir); break;
        case O_KERAS: rc = cli_opt_text(cmd, "--keras", optarg, &o.keras); break;
        case O_NAME: rc = cli_opt_text(cmd, "--name", optarg, &o.name); break;
        case O_TIMESTEP: rc = cli_opt_int(cmd, "--timestep", optarg, 1, 100000, &o.timestep); break;
        default: return cli_getopt_error(cmd, c, argv, longopts);
        }
        if (rc) return rc;
    }
    if ((rc = cli_no_positional(cmd, argc, argv))) return rc;
    if (!o.model) return cli_usage(cmd, "--model: missing (the model file to export)");

    const target targets[] = {
        {o.c_dir ? "--c" : NULL, write_c},
        {o.keras ? "--keras" : NULL, write_keras},
    };
    int n_targets = (int)(sizeof targets / sizeof targets[0]), any = 0;
    for (int i = 0; i < n_targets; i++) any |= targets[i].opt != NULL;
    if (o.name && !o.c_dir) return cli_usage(cmd, "--name: only with --c");
    if (!any) return cli_usage(cmd, "--c or --keras: missing (say what to write; see \"recur export --help\")");

    recur_model *m = NULL;
    recur_pipeline p;
    recur_error err;
    memset(&p, 0, sizeof p);
    if (recur_model_load(o.model, &m, &p, &err) != RECUR_OK) return cli_fail(&err);
    for (int i = 0; i < n_targets && rc == 0; i++)
        if (targets[i].opt) rc = targets[i].write(&o, m, p.n_features > 0 ? &p : NULL);
    recur_model_free(m);
    return rc;
}
