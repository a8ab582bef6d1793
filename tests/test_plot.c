/*
 * test_plot.c -- recur_plot_lines: PNG and SVG files (signature, IHDR size,
 * "<svg"), a date axis with NaN gaps and a train/test boundary, every
 * validation error with its code and message, repeated calls (more than
 * PLplot's 100 streams), atomic writes (a failed call leaves the old file and
 * no temp file), silence on stdout/stderr, and PLplot's fatal errors (plexit)
 * turned into error codes instead of exit() (in a child process that points
 * PLplot at a fake driver folder).
 * Plots go to a fresh folder under /tmp, removed at the end.
 * What the pictures look like is checked by eye, not here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ====== Fixtures ====== */

static char tmpdir[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/recur_test_plot_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(tmpdir);
}

static const char *tmp_path(const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

/* A fake daily price, 2010-01-04 .. about 2019-12 (2500 trading-ish days):
 * actual with a gap, prediction only on the last 20 %. */
enum { N = 2500 };
static double xs[N], actual[N], pred[N];
static recur_plot_series series[2];

static recur_plot_opts price_opts(void)
{
    double v = 30.0;
    uint64_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(r >> 11) / 9007199254740992.0;
        xs[i] = 14613.0 + i * 1.46; /* days since 1970-01-01; 14613 is 2010-01-04 */
        v *= exp(0.0005 + 0.02 * (u - 0.5));
        actual[i] = v;
        pred[i] = i >= N * 4 / 5 ? v * (1.0 + 0.01 * sin(i * 0.2)) : NAN;
    }
    for (int i = 300; i < 340; i++) actual[i] = NAN; /* a gap */
    actual[600] = NAN;                                /* a lone point at 601 */
    actual[602] = NAN;
    series[0] = (recur_plot_series){ "Actual", actual };
    series[1] = (recur_plot_series){ "Predicted", pred };
    recur_plot_opts o = { 0 };
    o.title = "ACME close: LSTM forecast";
    o.xlabel = "Date";
    o.ylabel = "Close (USD)";
    o.x = xs;
    o.x_is_date = 1;
    o.n = N;
    o.series = series;
    o.n_series = 2;
    o.boundary_x = xs[N * 4 / 5];
    o.boundary_label = "train | test";
    return o;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Reads up to cap bytes of a file; returns the count or -1. */
static long read_head(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static void check_png(const char *path, uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    unsigned char b[24];
    assert_int_equal(read_head(path, b, sizeof b), 24);
    assert_memory_equal(b, sig, 8);
    assert_memory_equal(b + 12, "IHDR", 4);
    uint32_t pw = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t ph = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Number of entries in tmpdir whose name contains ".tmp." (leftover temp files). */
static int leftover_temps(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) k += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return k;
}

/* Expects `code` and a message containing every non-NULL needle. */
static void expect_error(const char *path, const recur_plot_opts *o, recur_status code, const char *n1,
                         const char *n2)
{
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status st = recur_plot_lines(path, o, &err);
    if (st != code || (n1 && !strstr(err.msg, n1)) || (n2 && !strstr(err.msg, n2)))
        print_error("got %d \"%s\", expected %d with \"%s\" \"%s\"\n", st, err.msg, code, n1 ? n1 : "",
                    n2 ? n2 : "");
    assert_int_equal(st, code);
    assert_int_equal(err.code, code);
    if (n1) assert_non_null(strstr(err.msg, n1));
    if (n2) assert_non_null(strstr(err.msg, n2));
    /* the code alone, without an error struct */
    assert_int_equal(recur_plot_lines(path, o, NULL), code);
}

/* ====== Files ====== */

static void test_png_default_size(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    const char *p = tmp_path("price.png");
    recur_error err;
    assert_int_equal(recur_plot_lines(p, &o, &err), RECUR_OK);
    check_png(p, 1200, 600);
    assert_true(file_size(p) > 10000); /* lines, text and grid, not a blank page */
    assert_int_equal(leftover_temps(), 0);
}

static void test_png_custom_size_and_case(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    o.width = 800;
    o.height = 450;
    const char *p = tmp_path("Small.PNG"); /* extension case does not matter */
    assert_int_equal(recur_plot_lines(p, &o, NULL), RECUR_OK);
    check_png(p, 800, 450);
    o.width = 0; /* 0 keeps the default for that side only */
    o.height = 300;
    assert_int_equal(recur_plot_lines(p, &o, NULL), RECUR_OK);
    check_png(p, 1200, 300);
}

static void test_svg(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    const char *p = tmp_path("price.svg");
    recur_error err;
    assert_int_equal(recur_plot_lines(p, &o, &err), RECUR_OK);
    assert_true(file_size(p) > 1000);
    assert_true(file_contains(p, "<svg"));
    assert_int_equal(recur_plot_lines(tmp_path("upper.SVG"), &o, &err), RECUR_OK);
    assert_true(file_contains(tmp_path("upper.SVG"), "<svg"));
}

/* Plain numeric x, one series entirely NaN, no title/labels (NULL), no
 * boundary, a '#' and a '%' in a label (PLplot escape characters). */
static void test_numeric_axis_and_all_nan(void **state)
{
    (void)state;
    enum { M = 50 };
    double x[M], y[M], none[M];
    for (int i = 0; i < M; i++) {
        x[i] = -2.5 + 0.1 * i;
        y[i] = x[i] * x[i];
        none[i] = NAN;
    }
    recur_plot_series s[2] = { { "y = x^2 #1 100%", y }, { NULL, none } };
    recur_plot_opts o = { 0 };
    o.x = x;
    o.n = M;
    o.series = s;
    o.n_series = 2;
    o.boundary_x = NAN;
    assert_int_equal(recur_plot_lines(tmp_path("numeric.png"), &o, NULL), RECUR_OK);
    check_png(tmp_path("numeric.png"), 1200, 600);
    o.series = s + 1; /* nothing finite at all */
    o.n_series = 1;
    assert_int_equal(recur_plot_lines(tmp_path("empty.png"), &o, NULL), RECUR_OK);
    check_png(tmp_path("empty.png"), 1200, 600);
}

/* Date spans from hours to centuries pick different tick steps; all must plot. */
static void test_date_spans(void **state)
{
    (void)state;
    enum { M = 64 };
    static const double step_days[] = { 0.0005, 0.01, 0.1, 1.0, 7.0, 30.0, 365.0, 3650.0 };
    double x[M], y[M];
    recur_plot_series s[1] = { { "v", y } };
    for (size_t k = 0; k < sizeof step_days / sizeof step_days[0]; k++) {
        for (int i = 0; i < M; i++) {
            x[i] = -1000.0 + i * step_days[k]; /* before and after 1970 */
            y[i] = sin(i * 0.3);
        }
        recur_plot_opts o = { 0 };
        o.x = x;
        o.x_is_date = 1;
        o.n = M;
        o.series = s;
        o.n_series = 1;
        o.boundary_x = x[M / 2];
        o.boundary_label = "split";
        o.width = 640;
        o.height = 360;
        char name[32];
        snprintf(name, sizeof name, "span%zu.png", k);
        recur_error err;
        if (recur_plot_lines(tmp_path(name), &o, &err) != RECUR_OK) print_error("%s\n", err.msg);
        check_png(tmp_path(name), 640, 360);
    }
}

/* ====== Repetition and atomicity ====== */

/* PLplot has 100 streams; each call must give its stream back. */
static void test_repeat_calls(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    o.n = 200;
    o.boundary_x = NAN;
    o.width = 200;
    o.height = 150;
    const char *p = tmp_path("again.png");
    for (int i = 0; i < 110; i++) {
        recur_error err;
        recur_status st = recur_plot_lines(p, &o, &err);
        if (st != RECUR_OK) print_error("call %d: %s\n", i, err.msg);
        assert_int_equal(st, RECUR_OK);
    }
    check_png(p, 200, 150);
    o.width = 300; /* overwriting an existing plot */
    assert_int_equal(recur_plot_lines(p, &o, NULL), RECUR_OK);
    check_png(p, 300, 150);
    assert_int_equal(leftover_temps(), 0);
}

static void test_failure_keeps_old_file(void **state)
{
    (void)state;
    const char *p = tmp_path("keep.png");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("old contents", f);
    fclose(f);

    recur_plot_opts o = price_opts();
    o.n = 1; /* rejected before anything is written */
    assert_int_not_equal(recur_plot_lines(p, &o, NULL), RECUR_OK);
    o = price_opts();
    o.width = -5;
    assert_int_not_equal(recur_plot_lines(p, &o, NULL), RECUR_OK);

    unsigned char b[32];
    assert_int_equal(read_head(p, b, sizeof b), 12);
    assert_memory_equal(b, "old contents", 12);
    assert_int_equal(leftover_temps(), 0);

    /* a read-only folder: the old file stays (root ignores permissions) */
    if (geteuid() != 0) {
        char ro[300];
        snprintf(ro, sizeof ro, "%s/ro", tmpdir);
        assert_int_equal(mkdir(ro, 0755), 0);
        char rp[320];
        snprintf(rp, sizeof rp, "%s/plot.png", ro);
        f = fopen(rp, "wb");
        assert_non_null(f);
        fputs("old contents", f);
        fclose(f);
        assert_int_equal(chmod(ro, 0555), 0);
        o = price_opts();
        expect_error(rp, &o, RECUR_E_IO, rp, NULL);
        assert_int_equal(read_head(rp, b, sizeof b), 12);
        assert_memory_equal(b, "old contents", 12);
        chmod(ro, 0755);
        unlink(rp);
        rmdir(ro);
    }
}

/* The library never prints: stdout and stderr stay empty during a plot. */
static void test_silent(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    char cap[2][300];
    int fds[2], saved[2];
    for (int k = 0; k < 2; k++) {
        snprintf(cap[k], sizeof cap[k], "%s/captured%d.txt", tmpdir, k);
        fds[k] = open(cap[k], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fds[k] >= 0);
    }
    fflush(stdout);
    fflush(stderr);
    saved[0] = dup(1);
    saved[1] = dup(2);
    dup2(fds[0], 1);
    dup2(fds[1], 2);
    recur_status a = recur_plot_lines(tmp_path("quiet.png"), &o, NULL);
    recur_status b = recur_plot_lines(tmp_path("quiet.svg"), &o, NULL);
    o.n = 1;
    recur_status c = recur_plot_lines(tmp_path("quiet.png"), &o, NULL);
    fflush(stdout);
    fflush(stderr);
    dup2(saved[0], 1);
    dup2(saved[1], 2);
    for (int k = 0; k < 2; k++) {
        close(saved[k]);
        close(fds[k]);
    }
    assert_int_equal(a, RECUR_OK);
    assert_int_equal(b, RECUR_OK);
    assert_int_equal(c, RECUR_E_INVALID);
    assert_int_equal(file_size(cap[0]), 0);
    assert_int_equal(file_size(cap[1]), 0);
    unlink(cap[0]);
    unlink(cap[1]);
}

/* ====== PLplot fatal errors ====== */

static const char *self_path; /* argv[0], to re-run this binary as a child */

/* Child mode (fresh process, PLPLOT_DRV_DIR already set by the parent): each
 * call must come back with RECUR_E_IO naming `want`, leave no file, and the
 * process must reach its own exit code 42. */
static int child_main(const char *dir, const char *want)
{
    double x[3] = { 0, 1, 2 }, y[3] = { 1, 2, 3 };
    recur_plot_series s = { "a", y };
    recur_plot_opts o = { 0 };
    o.x = x;
    o.n = 3;
    o.series = &s;
    o.n_series = 1;
    o.boundary_x = NAN;
    char path[300];
    snprintf(path, sizeof path, "%s/out.png", dir);
    for (int i = 0; i < 3; i++) {
        recur_error err;
        memset(&err, 0, sizeof err);
        if (recur_plot_lines(path, &o, &err) != RECUR_E_IO || !strstr(err.msg, want) || !strstr(err.msg, path))
            return 1;
        if (access(path, F_OK) == 0) return 2;
    }
    return 42;
}

/* Runs this binary as a child with PLPLOT_DRV_DIR pointing at a folder that
 * holds `driver_info` (or nothing) and expects child_main's 42. */
static void run_child(const char *driver_info, const char *want)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/drivers", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char info[340];
    snprintf(info, sizeof info, "%s/fake.driver_info", dir);
    if (driver_info) {
        FILE *f = fopen(info, "w");
        assert_non_null(f);
        fputs(driver_info, f);
        fclose(f);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2); /* PLplot's own fprintf before plexit */
        setenv("PLPLOT_DRV_DIR", dir, 1);
        execl(self_path, self_path, "--child", dir, want, (char *)NULL);
        _exit(3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(info);
    char out[320];
    snprintf(out, sizeof out, "%s/out.png", dir);
    unlink(out);
    rmdir(dir);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
}

/* The device is listed but its driver library cannot be loaded: PLplot calls
 * plexit(), which would exit() without the handler. */
static void test_plexit_does_not_exit(void **state)
{
    (void)state;
    run_child("pngcairo:Fake PNG:0:recur_no_such_driver:105:pngcairo\n", "PLplot failed");
}

/* No driver at all: PLplot's first call plexit()s ("No device drivers
 * found"), later ones find no "pngcairo" device; each is an error, not an exit. */
static void test_missing_device(void **state)
{
    (void)state;
    run_child(NULL, "PLplot");
}

/* ====== Errors ====== */

static void test_bad_extension(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    const char *p = tmp_path("plot.jpg");
    expect_error(p, &o, RECUR_E_INVALID, p, ".png");
    expect_error(tmp_path("plot"), &o, RECUR_E_INVALID, "extension", NULL);
    expect_error(tmp_path("dir.png/plot"), &o, RECUR_E_INVALID, "extension", NULL);
    expect_error(tmp_path("plot.png.bak"), &o, RECUR_E_INVALID, ".bak", NULL);
    expect_error(tmp_path("plot%n.png"), &o, RECUR_E_INVALID, "%n", NULL);
    assert_int_equal(file_size(p), -1);
}

static void test_missing_folder(void **state)
{
    (void)state;
    recur_plot_opts o = price_opts();
    const char *p = tmp_path("no/such/folder/plot.png");
    expect_error(p, &o, RECUR_E_IO, p, "No such file");
}

static void test_bad_points(void **state)
{
    (void)state;
    const char *p = tmp_path("bad.png");
    recur_plot_opts o = price_opts();
    o.n = 1;
    expect_error(p, &o, RECUR_E_INVALID, "at least 2 points", NULL);
    o.n = 0;
    expect_error(p, &o, RECUR_E_INVALID, "at least 2 points", NULL);

    o = price_opts();
    double saved = xs[3];
    xs[3] = NAN;
    expect_error(p, &o, RECUR_E_INVALID, "x[3]", "finite");
    xs[3] = INFINITY;
    expect_error(p, &o, RECUR_E_INVALID, "x[3]", "finite");
    xs[3] = xs[2]; /* not strictly increasing */
    expect_error(p, &o, RECUR_E_INVALID, "x[3]", "increasing");
    xs[3] = saved;
    double tmp = xs[N - 1];
    xs[N - 1] = xs[0];
    expect_error(p, &o, RECUR_E_INVALID, "increasing", NULL);
    xs[N - 1] = tmp;
    assert_int_equal(file_size(p), -1);
}

static void test_bad_options(void **state)
{
    (void)state;
    const char *p = tmp_path("bad.png");
    recur_plot_opts o = price_opts();

    expect_error(NULL, &o, RECUR_E_INVALID, "path", NULL);
    expect_error(p, NULL, RECUR_E_INVALID, "NULL", NULL);
    o.x = NULL;
    expect_error(p, &o, RECUR_E_INVALID, "x is NULL", NULL);
    o = price_opts();
    o.series = NULL;
    expect_error(p, &o, RECUR_E_INVALID, "series is NULL", NULL);
    o = price_opts();
    o.n_series = 0;
    expect_error(p, &o, RECUR_E_INVALID, "at least 1 series", NULL);
    o.n_series = -1;
    expect_error(p, &o, RECUR_E_INVALID, "at least 1 series", NULL);

    recur_plot_series s[2] = { { "ok", actual }, { "broken", NULL } };
    o = price_opts();
    o.series = s;
    expect_error(p, &o, RECUR_E_INVALID, "series 1", "broken");

    o = price_opts();
    o.width = -1;
    expect_error(p, &o, RECUR_E_INVALID, "size", NULL);
    o.width = 20;
    expect_error(p, &o, RECUR_E_INVALID, "size", NULL);
    o.width = 0;
    o.height = 100000;
    expect_error(p, &o, RECUR_E_INVALID, "size", NULL);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(leftover_temps(), 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_main(argv[2], argv[3]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_default_size),
        cmocka_unit_test(test_png_custom_size_and_case),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_numeric_axis_and_all_nan),
        cmocka_unit_test(test_date_spans),
        cmocka_unit_test(test_repeat_calls),
        cmocka_unit_test(test_failure_keeps_old_file),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_plexit_does_not_exit),
        cmocka_unit_test(test_missing_device),
        cmocka_unit_test(test_bad_extension),
        cmocka_unit_test(test_missing_folder),
        cmocka_unit_test(test_bad_points),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
