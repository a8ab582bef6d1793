/*
 * m4.c -- the M4 Hourly benchmark's helper (make bench-m4):
 *
 *   m4 long TRAIN.csv OUT.csv
 *       the competition's wide file as a long panel file unique_id,ds,y
 *       (ds = 1..n), for recur train / recur forecast
 *   m4 score FORECAST.csv TEST.csv TRAIN.csv [SEASON]
 *       scores a long forecast file (unique_id,ds,yhat[,lo95,hi95]) with the
 *       M4 formulas: sMAPE and MASE averaged over series, and the share of
 *       test values inside [lo95, hi95]
 *   m4 fit TRAIN.csv TEST.csv H SEASON [key=value ...]
 *       trains and scores in one process (recipe experiments): keys preset,
 *       epochs, seeds, windows, timestep, layers, batch, patience, threads
 *
 * sMAPE = 200/H sum |y - f| / (|y| + |f|); MASE = mean |y - f| / mean over the
 * series' training values of |x_t - x_{t-m}| (Makridakis et al. 2020, IJF 36(1)).
 */
#include "recur.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(const recur_error *e)
{
    fprintf(stderr, "m4: %s\n", e->msg);
    return 1;
}

static double scale_of(const double *x, size_t n, int m)
{
    if (m < 1 || (size_t)m >= n) m = 1;
    double s = 0;
    for (size_t t = (size_t)m; t < n; t++) s += fabs(x[t] - x[t - (size_t)m]);
    return s / (double)(n - (size_t)m);
}

typedef struct {
    double smape, mase, cover;
    size_t n_series, n_cover;
} totals;

/* Adds one series' H forecasts (lo/hi may be NULL). */
static void add_series(totals *t, const double *train, size_t n, int m, const double *y, const double *f,
                       const double *lo, const double *hi, int H)
{
    double sm = 0, ae = 0;
    for (int h = 0; h < H; h++) {
        double d = fabs(y[h]) + fabs(f[h]);
        sm += d > 0 ? fabs(y[h] - f[h]) / d : 0;
        ae += fabs(y[h] - f[h]);
        if (lo && hi) t->cover += y[h] >= lo[h] && y[h] <= hi[h], t->n_cover++;
    }
    t->smape += 200.0 * sm / H;
    t->mase += ae / H / scale_of(train, n, m);
    t->n_series++;
}

static void print_totals(const totals *t, double seconds)
{
    printf("series %zu  sMAPE %.3f  MASE %.3f  coverage95 %.3f", t->n_series, t->smape / t->n_series,
           t->mase / t->n_series, t->n_cover ? t->cover / t->n_cover : NAN);
    if (seconds >= 0) printf("  seconds %.1f", seconds);
    printf("\n");
}

static int cmd_long(const char *in, const char *out)
{
    recur_error err;
    recur_panel *p = NULL;
    if (recur_panel_read_wide(in, &p, &err)) return fail(&err);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        recur_panel_free(p);
        return 1;
    }
    fprintf(f, "unique_id,ds,y\n");
    for (size_t s = 0; s < recur_panel_count(p); s++) {
        const double *y = recur_panel_values(p, s);
        for (size_t i = 0; i < recur_panel_length(p, s); i++)
            fprintf(f, "%s,%zu,%.17g\n", recur_panel_id(p, s), i + 1, y[i]);
    }
    int bad = fclose(f) != 0;
    recur_panel_free(p);
    return bad;
}

/* Long forecast file: unique_id,ds,yhat[,...,lo95,hi95], rows of a series in step order. */
static int cmd_score(const char *fc, const char *test, const char *train, int m)
{
    recur_error err;
    recur_panel *tr = NULL, *te = NULL;
    if (recur_panel_read_wide(train, &tr, &err) || recur_panel_read_wide(test, &te, &err)) return fail(&err);
    FILE *f = fopen(fc, "r");
    if (!f) {
        perror(fc);
        return 1;
    }
    char line[4096], id[256];
    int H = (int)recur_panel_length(te, 0), col_lo = -1, col_hi = -1, ncol = 0;
    if (!fgets(line, sizeof line, f)) return 1;
    for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), ncol++) {
        if (strcmp(tok, "lo95") == 0) col_lo = ncol;
        if (strcmp(tok, "hi95") == 0) col_hi = ncol;
    }
    size_t ns = recur_panel_count(te);
    double *fcv = malloc(ns * H * sizeof *fcv), *lo = malloc(ns * H * sizeof *lo), *hi = malloc(ns * H * sizeof *hi);
    int *seen = calloc(ns * H, sizeof *seen);
    while (fgets(line, sizeof line, f)) {
        double v[16] = {0};
        int k = 0;
        char *tok = strtok(line, ",\r\n");
        if (!tok) continue;
        snprintf(id, sizeof id, "%s", tok);
        while ((tok = strtok(NULL, ",\r\n")) && k < 16) v[k++] = strtod(tok, NULL);
        long s = recur_panel_find(te, id);
        long step = (long)v[0] - (long)recur_panel_length(tr, (size_t)s);
        if (s < 0 || step < 1 || step > H) {
            fprintf(stderr, "m4: %s: row for %s step %ld is not in the test file\n", fc, id, step);
            return 1;
        }
        size_t at = (size_t)s * H + (size_t)step - 1;
        fcv[at] = v[1];
        lo[at] = col_lo > 0 ? v[col_lo - 1] : NAN;
        hi[at] = col_hi > 0 ? v[col_hi - 1] : NAN;
        seen[at] = 1;
    }
    fclose(f);
    totals t = {0};
    for (size_t s = 0; s < ns; s++) {
        for (int h = 0; h < H; h++)
            if (!seen[s * H + h]) {
                fprintf(stderr, "m4: %s: no forecast for %s step %d\n", fc, recur_panel_id(te, s), h + 1);
                return 1;
            }
        long r = recur_panel_find(tr, recur_panel_id(te, s));
        add_series(&t, recur_panel_values(tr, (size_t)r), recur_panel_length(tr, (size_t)r), m,
                   recur_panel_values(te, s), fcv + s * H, col_lo > 0 ? lo + s * H : NULL,
                   col_hi > 0 ? hi + s * H : NULL, H);
    }
    print_totals(&t, -1);
    free(fcv), free(lo), free(hi), free(seen);
    recur_panel_free(tr), recur_panel_free(te);
    return 0;
}

static int progress(int net, int nets, const recur_progress *p, void *user)
{
    (void)user;
    if (p->epoch_end)
        fprintf(stderr, "net %d/%d epoch %d/%d loss %.4f val %.4f best %.4f (%d) %.1fs\n", net + 1, nets, p->epoch,
                p->epochs, p->loss, p->val_loss, p->best, p->best_epoch, p->seconds);
    return 0;
}

static int cmd_fit(int argc, char **argv)
{
    recur_error err;
    recur_panel *tr = NULL, *te = NULL;
    if (recur_panel_read_wide(argv[2], &tr, &err) || recur_panel_read_wide(argv[3], &te, &err)) return fail(&err);
    recur_forecaster_opts o = recur_forecaster_opts_default(RECUR_PRESET_FORECAST);
    for (int i = 6; i < argc; i++)
        if (strncmp(argv[i], "preset=tutorial", 15) == 0) o = recur_forecaster_opts_default(RECUR_PRESET_TUTORIAL);
    o.horizon = atoi(argv[4]), o.season = atoi(argv[5]);
    for (int i = 6; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) continue;
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (!strcmp(k, "epochs")) o.epochs = atoi(v);
        else if (!strcmp(k, "seeds")) o.seeds = atoi(v);
        else if (!strcmp(k, "windows")) o.max_windows = atoi(v);
        else if (!strcmp(k, "timestep")) o.timestep = atoi(v);
        else if (!strcmp(k, "layers")) o.layers = v;
        else if (!strcmp(k, "batch")) o.batch_size = atoi(v);
        else if (!strcmp(k, "patience")) o.patience = atoi(v);
        else if (!strcmp(k, "threads")) o.threads = atoi(v);
    }
    o.progress = progress;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    recur_forecaster *f = NULL;
    if (recur_forecaster_fit(&o, tr, NULL, &f, &err)) return fail(&err);
    char desc[1024];
    recur_forecaster_describe(f, desc, sizeof desc);
    fprintf(stderr, "%s\n", desc);
    int H = o.horizon;
    double *mean = malloc(H * sizeof *mean), *lo = malloc(H * sizeof *lo), *hi = malloc(H * sizeof *hi);
    const double lv = 95;
    totals t = {0};
    for (size_t s = 0; s < recur_panel_count(te); s++) {
        long r = recur_panel_find(tr, recur_panel_id(te, s));
        const double *x = recur_panel_values(tr, (size_t)r);
        size_t n = recur_panel_length(tr, (size_t)r);
        if (recur_forecaster_predict(f, recur_panel_id(te, s), x, n, H, &lv, 1, mean, lo, hi, &err)) return fail(&err);
        add_series(&t, x, n, o.season, recur_panel_values(te, s), mean, lo, hi, H);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_totals(&t, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    free(mean), free(lo), free(hi);
    recur_forecaster_free(f);
    recur_panel_free(tr), recur_panel_free(te);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "long")) return cmd_long(argv[2], argv[3]);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "score"))
        return cmd_score(argv[2], argv[3], argv[4], argc == 6 ? atoi(argv[5]) : 24);
    if (argc >= 6 && !strcmp(argv[1], "fit")) return cmd_fit(argc, argv);
    fprintf(stderr, "usage: m4 long TRAIN.csv OUT.csv | m4 score FC.csv TEST.csv TRAIN.csv [SEASON] |\n"
                    "       m4 fit TRAIN.csv TEST.csv H SEASON [epochs= seeds= windows= timestep= layers= batch= "
                    "patience= threads=]\n");
    return 2;
}
