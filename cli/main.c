/*
 * main.c -- `recur <command> [options]`: dispatch, global --help/--version, and
 * the helpers every command shares: one-line error printing, strict option
 * value parsing, getopt error messages, atomic output files.
 *
 * Not here: any command's logic (cmd_*.c) or any maths.
 */
#include "cli.h"
#include "mpi_glue.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ====== Messages ====== */

/* Messages are kept for cli_mpi_note too: under mpirun, rank 0 prints the
 * error of the rank that failed. */
int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    int n = snprintf(msg, sizeof msg, "%s: ", cmd);
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    cli_mpi_note(msg);
    fprintf(stderr, "recur %s\n", msg);
    return CLI_USAGE;
}

int cli_errorf(const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_mpi_note(msg);
    fprintf(stderr, "recur: error: %s\n", msg);
    return CLI_RUNTIME;
}

int cli_fail(const recur_error *err)
{
    return cli_errorf("%s", err->msg[0] ? err->msg : recur_status_str(err->code));
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    fputs("recur: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* ====== Option values ====== */

/* The argument as it may be quoted back: cut at 40 bytes. */
static const char *shown(const char *arg, char *buf, size_t cap)
{
    size_t n = strlen(arg);
    if (n < 40) return arg;
    snprintf(buf, cap, "%.37s...", arg);
    return buf;
}

int cli_opt_int(const char *cmd, const char *opt, const char *arg, long lo, long hi, int *out)
{
    char *end;
    char buf[48];
    errno = 0;
    long v = strtol(arg, &end, 10);
    int lead = (arg[0] >= '0' && arg[0] <= '9') || arg[0] == '-' || arg[0] == '+'; /* no blanks */
    if (lead && end != arg && *end == '\0' && errno == 0 && v >= lo && v <= hi) {
        *out = (int)v;
        return 0;
    }
    int too_big = lead && end != arg && *end == '\0' && (errno == ERANGE ? arg[0] != '-' : v > hi);
    if (hi >= 1000000 && !too_big)
        return cli_usage(cmd, "%s: must be an integer >= %ld (got \"%s\")", opt, lo, shown(arg, buf, sizeof buf));
    return cli_usage(cmd, "%s: must be an integer from %ld to %ld (got \"%s\")", opt, lo, hi,
                     shown(arg, buf, sizeof buf));
}

int cli_opt_u64(const char *cmd, const char *opt, const char *arg, uint64_t *out)
{
    char *end;
    char buf[48];
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (end != arg && *end == '\0' && errno == 0 && arg[0] >= '0' && arg[0] <= '9') {
        *out = (uint64_t)v;
        return 0;
    }
    return cli_usage(cmd, "%s: must be an integer from 0 to 18446744073709551615 (got \"%s\")", opt,
                     shown(arg, buf, sizeof buf));
}

int cli_opt_double(const char *cmd, const char *opt, const char *arg, double lo, int lo_open, double hi, int hi_open,
                   double *out)
{
    char *end;
    char buf[48], range[96];
    errno = 0;
    double v = strtod(arg, &end);
    int ok = arg[0] != ' ' && arg[0] != '\t' && end != arg && *end == '\0' && errno != ERANGE && isfinite(v);
    if (ok && (lo_open ? !(v > lo) : !(v >= lo))) ok = 0;
    if (ok && (hi_open ? !(v < hi) : !(v <= hi))) ok = 0;
    if (ok) {
        *out = v;
        return 0;
    }
    if (isinf(hi))
        snprintf(range, sizeof range, "a number %s %g", lo_open ? ">" : ">=", lo);
    else
        snprintf(range, sizeof range, "a number in %c%g, %g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
    return cli_usage(cmd, "%s: must be %s (got \"%s\")", opt, range, shown(arg, buf, sizeof buf));
}

int cli_opt_choice(const char *cmd, const char *opt, const char *arg, const char *const *names, int n, int *out)
{
    char list[256] = "", buf[48];
    for (int i = 0; i < n; i++) {
        if (strcasecmp(arg, names[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    }
    return cli_usage(cmd, "%s: must be %s (got \"%s\")", opt, list, shown(arg, buf, sizeof buf));
}

int cli_opt_text(const char *cmd, const char *opt, const char *arg, const char **out)
{
    if (!arg[0]) return cli_usage(cmd, "%s: must not be empty", opt);
    *out = arg;
    return 0;
}

int cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts)
{
    const char *name = NULL;
    for (const struct option *o = longopts; o->name; o++)
        if (optopt != 0 && o->val == optopt) name = o->name;
    if (c == ':') {
        if (name) return cli_usage(cmd, "--%s: missing value", name);
        return cli_usage(cmd, "-%c: missing value", optopt);
    }
    if (optopt != 0 && !name)
        return cli_usage(cmd, "unknown option \"-%c\" (see \"recur %s --help\")", optopt, cmd);
    if (optopt != 0 && name)
        return cli_usage(cmd, "--%s: takes no value (see \"recur %s --help\")", name, cmd);
    char buf[48];
    return cli_usage(cmd, "unknown option \"%s\" (see \"recur %s --help\")", shown(argv[optind - 1], buf, sizeof buf),
                     cmd);
}

int cli_no_positional(const char *cmd, int argc, char **argv)
{
    char buf[48];
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument \"%s\" (options start with --; see \"recur %s --help\")",
                         shown(argv[optind], buf, sizeof buf), cmd);
    return 0;
}

/* ====== Files ====== */

/* Folder part of a path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
    } else if (slash == path) {
        snprintf(dir, cap, "/");
    } else {
        size_t n = (size_t)(slash - path);
        snprintf(dir, cap, "%.*s", (int)(n < cap ? n : cap - 1), path);
    }
}

int cli_check_out_dir(const char *opt, const char *path)
{
    char dir[4096];
    struct stat st;
    if (!path[0]) return cli_errorf("%s: empty file name", opt);
    if (path[strlen(path) - 1] == '/') return cli_errorf("%s: \"%s\" names a folder, not a file", opt, path);
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0) return cli_errorf("%s: folder \"%s\" does not exist (create it first)", opt, dir);
    if (!S_ISDIR(st.st_mode))
        return cli_errorf("%s: \"%s\" is a file, not a folder; give a path in an existing folder", opt, dir);
    if (access(dir, W_OK) != 0) return cli_errorf("%s: folder \"%s\" is not writable", opt, dir);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_errorf("%s: \"%s\" is a folder, not a file", opt, path);
    return 0;
}

int cli_out_open(cli_out *o, const char *opt, const char *path)
{
    o->f = NULL;
    o->tmp[0] = '\0';
    o->path = NULL;
    if (!path || strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    int rc = cli_check_out_dir(opt, path);
    if (rc) return rc;
    if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path) >= sizeof o->tmp)
        return cli_errorf("%s: path too long", opt);
    int fd = mkstemp(o->tmp);
    if (fd < 0) return cli_errorf("%s: cannot create \"%s\": %s", opt, o->tmp, strerror(errno));
    mode_t um = umask(0); /* mkstemp makes 0600; give the file the usual 0666 & ~umask */
    umask(um);
    fchmod(fd, 0666 & ~um);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        return cli_errorf("%s: cannot write \"%s\": %s", opt, path, strerror(errno));
    }
    o->path = path;
    return 0;
}

int cli_out_close(cli_out *o, int ok)
{
    if (!o->f) return ok ? 0 : CLI_RUNTIME;
    if (!o->path) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        o->f = NULL;
        if (ok && bad) return cli_errorf("cannot write to standard output: %s", strerror(errno));
        return ok ? 0 : CLI_RUNTIME;
    }
    int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
    int err_no = errno;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (ok && !bad && rename(o->tmp, o->path) == 0) return 0;
    if (ok) err_no = errno;
    unlink(o->tmp);
    if (!ok) return CLI_RUNTIME;
    return cli_errorf("cannot write \"%s\": %s", o->path, strerror(err_no));
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ====== Dispatch ====== */

typedef struct {
    const char *name, *alias;
    int (*fn)(int, char **);
    const char *what;
} command;

static const command commands[] = {
    {"train", NULL, cmd_train, "train a model on a CSV series and save it with its data pipeline"},
    {"evaluate", "eval", cmd_evaluate, "score a saved model on the test part against the persistence baseline"},
    {"predict", NULL, cmd_predict, "write date,true,predicted rows (test part or --all) and a plot"},
    {"forecast", NULL, cmd_forecast, "predict the next N values after the last row"},
    {"plot", NULL, cmd_plot, "plot true vs predicted, or a loss history"},
    {"summary", "inspect", cmd_summary, "print the layers and parameter counts of a model or a spec"},
    {"compare", NULL, cmd_compare, "train LSTM, GRU, SimpleRNN and an MLP on the same data and compare"},
    {"stream", NULL, cmd_stream, "forecast rows as they arrive on stdin (tail -f prices.csv | recur stream)"},
    {"backtest", NULL, cmd_backtest, "rolling-origin evaluation of a global model and four baselines"},
    {"score", NULL, cmd_score, "score a forecast file (MAE, sMAPE, MASE, coverage) beside the baselines"},
    {"convert", NULL, cmd_convert, "M4 wide files to the long CSV unique_id,ds,y"},
    {"import", NULL, cmd_import, "convert a Keras file (.keras, .h5) into a recur model file"},
    {"export", NULL, cmd_export, "write a model as dependency-free C source"},
    {"demo", NULL, cmd_demo, "the Keras LSTM stock tutorial on data/AAPL.csv, end to end"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "Usage: recur <command> [options]\n\n"
               "LSTM, GRU and SimpleRNN forecasting of CSV time series, with Keras semantics.\n\n"
               "Commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nGlobal options:\n"
               "  -h, --help      this text; \"recur <command> --help\" for a command's options\n"
               "  -V, --version   print the version\n"
               "\nExit status: 0 success, 1 runtime error, 2 usage error, 130 / 143 interrupted (Ctrl-C /\n"
               "SIGTERM); docs/errors.md lists every message.\n"
               "\nExample:\n"
               "  recur train --data data/AAPL.csv --column Close --epochs 50 --out aapl.safetensors\n"
               "  recur evaluate --model aapl.safetensors --data data/AAPL.csv\n");
}

static int dispatch(int argc, char **argv)
{
    /* Past a file size limit (ulimit -f) a write fails with EFBIG, which is
     * reported like a full disk, instead of killing the process mid-save. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
        printf("recur %s\n", recur_version());
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        name = argv[2];
        for (int i = 0; i < N_COMMANDS; i++)
            if (strcmp(name, commands[i].name) == 0 || (commands[i].alias && strcmp(name, commands[i].alias) == 0)) {
                char *args[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, args);
            }
    } else {
        for (int i = 0; i < N_COMMANDS; i++)
            if (strcmp(name, commands[i].name) == 0 || (commands[i].alias && strcmp(name, commands[i].alias) == 0))
                return commands[i].fn(argc - 1, argv + 1);
    }
    char buf[48];
    fprintf(stderr, "recur: unknown command \"%s\" (commands:", shown(name, buf, sizeof buf));
    for (int i = 0; i < N_COMMANDS; i++) fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
    fprintf(stderr, "; see \"recur --help\")\n");
    return CLI_USAGE;
}

/* Under mpirun, MPI starts before the command and ends after it (mpi_glue.c). */
int main(int argc, char **argv)
{
    int rc = cli_mpi_start(&argc, &argv, argc > 1 ? argv[1] : "");
    return cli_mpi_end(rc ? rc : dispatch(argc, argv));
}
