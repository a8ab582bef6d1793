/*
 * plot.c -- recur_plot_lines: a line plot of one or more series against x
 * (plain numbers or dates), drawn with PLplot's cairo drivers into a PNG
 * ("pngcairo") or SVG ("svgcairo") file chosen by the path's extension.
 *
 * What a plot has: title, axis labels, a light grid, a legend above the plot
 * area (so it never covers data), lines that break at NaN/Inf values, an
 * optional dashed vertical marker (train/test boundary) with its label, and on
 * date axes calendar-aligned ticks (hours, days, weeks, months or years, by
 * span).
 *
 * Deliberately not here: interactive devices, several pages or sub-plots,
 * scatter or bar charts, log axes.
 *
 * PLplot is one process-wide state machine: it is not thread-safe, and on a
 * fatal error it calls plexit(), which prints and exit()s. So each call
 *  - takes a mutex (recur's own calls are serialised; a host that drives
 *    PLplot itself from another thread at the same time is not protected),
 *  - makes a fresh stream (plmkstrm) and ends it (plend1), restoring the
 *    caller's current stream, so calls can repeat,
 *  - routes recoverable errors into a buffer (plsError) instead of stderr,
 *  - installs a plsexit() handler that longjmp()s back here: plexit() calls
 *    the handler first, and exits only if the handler returns. The handler is
 *    removed afterwards (PLplot cannot report a host's own handler to restore).
 * The file is written atomically: PLplot draws into a temp file beside `path`
 * (mkstemp), which is checked, fsync'ed and renamed onto `path`.
 */
#include "core/core.h"
#include "data/data.h"

#include <plplot.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLOT_W_DEFAULT 1200
#define PLOT_H_DEFAULT 600
#define PLOT_PX_MIN 100
#define PLOT_PX_MAX 16384
#define MAX_TICKS 48
#define SECONDS_PER_DAY 86400.0

/* ====== Colours (cmap0) ====== */

enum { COL_BG = 0, COL_FG, COL_GRID, COL_MARK, COL_SERIES0 };

/* White background, near-black text, light grey grid, dark grey marker, then
 * ten distinguishable line colours (blue, orange, green, purple, red, ...). */
static const PLINT cmap_r[] = { 255, 34, 222, 90, 31, 255, 44, 148, 214, 140, 227, 127, 188, 23 };
static const PLINT cmap_g[] = { 255, 34, 222, 90, 119, 127, 160, 103, 39, 86, 119, 127, 189, 190 };
static const PLINT cmap_b[] = { 255, 34, 222, 90, 180, 14, 44, 189, 40, 75, 194, 127, 34, 207 };
#define N_COLORS ((int)(sizeof cmap_r / sizeof cmap_r[0]))
#define N_SERIES_COLORS (N_COLORS - COL_SERIES0)

/* ====== PLplot error capture ======
 * PLplot's handlers take no user pointer, so the jump target and the error
 * buffers are file statics; s_lock makes them (and PLplot) one user at a time. */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static jmp_buf *s_jump;
static char s_exit_msg[256];
static PLINT s_errcode;
static char s_errmsg[2048]; /* plabort() writes a header + the message here */

static int on_plexit(const char *msg)
{
    snprintf(s_exit_msg, sizeof s_exit_msg, "%s", msg ? msg : "");
    if (s_jump) longjmp(*s_jump, 1);
    return 1; /* not inside recur_plot_lines: PLplot's default behaviour */
}

/* PLplot messages carry newlines and a banner; keep the first line of text. */
static void clean_msg(const char *in, char *out, size_t cap)
{
    const char *p = strstr(in, "***\n");
    p = p ? p + 4 : in;
    while (*p == '\n' || *p == ' ') p++;
    size_t k = 0;
    for (; *p && *p != '\n' && k + 1 < cap; p++) out[k++] = *p;
    out[k] = '\0';
}

/* ====== Text ====== */

/* PLplot treats '#' as its escape character ("#u" superscript, ...). A user's
 * '#' is doubled so that it prints as itself. Returns NULL on allocation failure. */
static char *pl_text(const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s), extra = 0;
    for (size_t i = 0; i < n; i++) extra += s[i] == '#';
    char *out = malloc(n + extra + 1);
    if (!out) return NULL;
    char *q = out;
    for (size_t i = 0; i < n; i++) {
        *q++ = s[i];
        if (s[i] == '#') *q++ = '#';
    }
    *q = '\0';
    return out;
}

/* Display width of a UTF-8 string in characters (continuation bytes skipped). */
static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ====== Dates ======
 * Days since 1970-01-01 <-> proleptic Gregorian (year, month, day): the
 * library's one copy of the calendar (src/data/cell.c). */

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    long yl;
    rc_civil_from_days((long)z, &yl, m, d);
    *y = yl;
}

static long long days_from_civil(long long y, int m, int d) { return rc_days_from_civil((long)y, m, d); }

typedef enum { UNIT_HOUR = 0, UNIT_DAY, UNIT_MONTH, UNIT_YEAR } date_unit;

typedef struct {
    int n;
    double at[MAX_TICKS]; /* x positions in days */
    char label[MAX_TICKS][48];
} tick_set;

/* Calendar-aligned ticks every `step` units in [x0, x1] (days). */
static void date_ticks(double x0, double x1, date_unit unit, long long step, tick_set *t)
{
    long long y;
    int m, d;
    t->n = 0;
    civil_from_days((long long)floor(x0), &y, &m, &d);
    if (unit == UNIT_YEAR) {
        long long yy = y - ((y % step) + step) % step; /* floor to a multiple of step */
        for (; t->n < MAX_TICKS; yy += step) {
            double at = (double)days_from_civil(yy, 1, 1);
            if (at > x1) break;
            if (at < x0) continue;
            t->at[t->n] = at;
            snprintf(t->label[t->n++], sizeof t->label[0], "%lld", yy);
        }
    } else if (unit == UNIT_MONTH) {
        long long mi = y * 12 + (m - 1);
        mi -= ((mi % step) + step) % step;
        for (; t->n < MAX_TICKS; mi += step) {
            long long yy = mi >= 0 ? mi / 12 : -((-mi + 11) / 12);
            int mm = (int)(mi - yy * 12) + 1;
            double at = (double)days_from_civil(yy, mm, 1);
            if (at > x1) break;
            if (at < x0) continue;
            t->at[t->n] = at;
            snprintf(t->label[t->n++], sizeof t->label[0], "%lld-%02d", yy, mm);
        }
    } else if (unit == UNIT_HOUR) {
        long long h = (long long)ceil(x0 * 24.0 - 1e-9);
        long long r = ((h % step) + step) % step;
        if (r) h += step - r;
        for (; t->n < MAX_TICKS && (double)h / 24.0 <= x1 + 1e-9; h += step) {
            long long day = h >= 0 ? h / 24 : -((-h + 23) / 24);
            civil_from_days(day, &y, &m, &d);
            t->at[t->n] = (double)h / 24.0;
            snprintf(t->label[t->n++], sizeof t->label[0], "%02d-%02d %02d:00", m, d, (int)(h - day * 24));
        }
    } else {
        long long dd = (long long)ceil(x0);
        if (step == 7 || step == 14) /* weeks start on Monday; 1970-01-05 was one */
            dd += (((4 - dd) % 7) + 7) % 7;
        for (; t->n < MAX_TICKS && (double)dd <= x1; dd += step) {
            civil_from_days(dd, &y, &m, &d);
            t->at[t->n] = (double)dd;
            snprintf(t->label[t->n++], sizeof t->label[0], "%lld-%02d-%02d", y, m, d);
        }
    }
}

/* Chooses the finest calendar step whose labels fit side by side in vw_mm
 * (cw_mm: width of one character). Returns 0 when no calendar step gives two
 * ticks (a span of a day or two), leaving the axis to PLplot's time labels. */
static int choose_date_ticks(double x0, double x1, double vw_mm, double cw_mm, tick_set *t)
{
    static const struct {
        date_unit unit;
        long long step;
        double days; /* about */
    } steps[] = {
        { UNIT_HOUR, 1, 1 / 24.0 },  { UNIT_HOUR, 2, 2 / 24.0 }, { UNIT_HOUR, 3, 3 / 24.0 },
        { UNIT_HOUR, 6, 6 / 24.0 },  { UNIT_HOUR, 12, 0.5 },     { UNIT_DAY, 1, 1 },
        { UNIT_DAY, 2, 2 },          { UNIT_DAY, 7, 7 },
        { UNIT_DAY, 14, 14 },        { UNIT_MONTH, 1, 30.44 },   { UNIT_MONTH, 2, 60.88 },
        { UNIT_MONTH, 3, 91.31 },    { UNIT_MONTH, 6, 182.6 },   { UNIT_YEAR, 1, 365.25 },
        { UNIT_YEAR, 2, 730.5 },     { UNIT_YEAR, 5, 1826.2 },   { UNIT_YEAR, 10, 3652.5 },
        { UNIT_YEAR, 20, 7305 },     { UNIT_YEAR, 50, 18262 },   { UNIT_YEAR, 100, 36525 },
        { UNIT_YEAR, 200, 73050 },   { UNIT_YEAR, 500, 182625 }, { UNIT_YEAR, 1000, 365250 },
    };
    double span = x1 - x0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (span / steps[i].days + 1.0 > (double)MAX_TICKS) continue;
        date_ticks(x0, x1, steps[i].unit, steps[i].step, t);
        size_t w = 0;
        for (int k = 0; k < t->n; k++)
            if (strlen(t->label[k]) > w) w = strlen(t->label[k]);
        /* neighbours are steps[i].days apart: room for a label and a gap of three characters */
        if (t->n >= 2 && ((double)w + 3.0) * cw_mm <= vw_mm * steps[i].days / span) return 1;
    }
    return 0;
}

/* ====== Numeric ticks ====== */

/* 1, 2 or 5 times a power of ten, near span / target. */
static double nice_step(double span, int target)
{
    double raw = span / (double)(target > 1 ? target : 1);
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

/* The next 1-2-5 step above `step`. */
static double next_nice(double step)
{
    double p = pow(10.0, floor(log10(step) + 1e-9));
    double f = step / p;
    return (f < 1.5 ? 2.0 : f < 3.5 ? 5.0 : 10.0) * p;
}

typedef struct {
    double step; /* tick spacing of the axis */
} label_fmt;

/* Tick label: the value rounded to the tick grid with just enough decimals
 * for the step, so labels read "0.25" or "1500", never "1.5x10^3". */
static void format_tick(double v, double step, char *buf, size_t cap)
{
    double r = round(v / step) * step;
    if (fabs(r) < step * 1e-6) r = 0.0;
    double a = fabs(r);
    if (a != 0.0 && (a >= 1e9 || a < 1e-5)) {
        snprintf(buf, cap, "%.3g", r);
        return;
    }
    int dec = (int)ceil(-log10(step) - 1e-9);
    if (dec < 0) dec = 0;
    if (dec > 10) dec = 10;
    snprintf(buf, cap, "%.*f", dec, r);
}

static void tick_label_cb(PLINT axis, PLFLT value, char *label, PLINT length, PLPointer data)
{
    const label_fmt *f = data;
    format_tick(value, f[axis == PL_Y_AXIS ? 1 : 0].step, label, (size_t)length);
}

/* ====== The job: validated options in PLplot's terms ====== */

typedef struct {
    const recur_plot_opts *o;
    const char *device;  /* "pngcairo" or "svgcairo" */
    const char *tmpname; /* file PLplot writes */
    int width, height;
    char *title, *xlabel, *ylabel, *blabel; /* '#'-escaped */
    char **labels;                          /* n_series, '#'-escaped */
    PLINT *leg_opt, *leg_tcol, *leg_lcol, *leg_lsty; /* n_series each, for pllegend */
    PLFLT *leg_lwid;
    double ymin, ymax;                      /* y range with margins */
} plot_job;

static void job_free(plot_job *j)
{
    free(j->title);
    free(j->xlabel);
    free(j->ylabel);
    free(j->blabel);
    if (j->labels)
        for (int i = 0; i < j->o->n_series; i++) free(j->labels[i]);
    free(j->labels);
    free(j->leg_opt);
    free(j->leg_tcol);
    free(j->leg_lcol);
    free(j->leg_lsty);
    free(j->leg_lwid);
}

static recur_status job_text(plot_job *j, recur_error *err)
{
    const recur_plot_opts *o = j->o;
    size_t ns = (size_t)o->n_series;
    j->labels = calloc(ns, sizeof *j->labels);
    j->leg_opt = calloc(ns, sizeof *j->leg_opt);
    j->leg_tcol = calloc(ns, sizeof *j->leg_tcol);
    j->leg_lcol = calloc(ns, sizeof *j->leg_lcol);
    j->leg_lsty = calloc(ns, sizeof *j->leg_lsty);
    j->leg_lwid = calloc(ns, sizeof *j->leg_lwid);
    j->title = pl_text(o->title);
    j->xlabel = pl_text(o->xlabel);
    j->ylabel = pl_text(o->ylabel);
    j->blabel = pl_text(o->boundary_label);
    if (!j->labels || !j->leg_opt || !j->leg_tcol || !j->leg_lcol || !j->leg_lsty || !j->leg_lwid || !j->title ||
        !j->xlabel || !j->ylabel || !j->blabel)
        return rc_error(err, RECUR_E_NOMEM, "plot: out of memory for labels");
    for (int i = 0; i < o->n_series; i++) {
        char dflt[32];
        const char *s = o->series[i].label;
        if (!s) {
            snprintf(dflt, sizeof dflt, "series %d", i + 1);
            s = dflt;
        }
        if (!(j->labels[i] = pl_text(s))) return rc_error(err, RECUR_E_NOMEM, "plot: out of memory for labels");
    }
    return RECUR_OK;
}

/* y range over the finite values, with room above for the boundary label. */
static void job_yrange(plot_job *j)
{
    const recur_plot_opts *o = j->o;
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < o->n_series; s++)
        for (size_t i = 0; i < o->n; i++) {
            double v = o->series[s].y[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    if (!(lo <= hi)) { /* every value is NaN */
        lo = 0.0;
        hi = 1.0;
    } else if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.05 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double span = hi - lo;
    int marker = isfinite(o->boundary_x) && o->boundary_label && o->boundary_label[0];
    j->ymin = lo - 0.05 * span;
    j->ymax = hi + (marker ? 0.12 : 0.05) * span;
}

/* ====== Drawing (called with s_lock held, inside the plexit guard) ====== */

/* Polyline through each run of consecutive finite values; a lone finite value
 * between gaps gets a dot so it is not lost. */
static void draw_series(const double *x, const double *y, size_t n, double xscale)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && !isfinite(y[i])) i++;
        size_t start = i;
        while (i < n && isfinite(y[i])) i++;
        size_t len = i - start;
        if (len == 0) break;
        if (len == 1) {
            double xx = x[start] * xscale, yy = y[start];
            plstring(1, &xx, &yy, "•");
            continue;
        }
        if (xscale == 1.0) {
            plline((PLINT)len, x + start, y + start);
        } else {
            /* Dates: x in days becomes seconds in chunks, no allocation. */
            double px[256];
            size_t k = start;
            while (k + 1 < start + len) {
                size_t m = start + len - k;
                if (m > 256) m = 256;
                for (size_t q = 0; q < m; q++) px[q] = x[k + q] * xscale;
                plline((PLINT)m, px, y + k);
                k += m - 1; /* overlap one point so the chunks join */
            }
        }
    }
}

/* Page geometry, all lengths in mm. */
typedef struct {
    double ht, cw, tw;    /* character height; widths of a digit and of a text character */
    double grow, lw;      /* text growth with the page; series line width */
    double pw, ph;        /* page */
    double left, right, bottom, top;
    double vw, vh;        /* plot area (viewport) */
    double ystep, xstep;  /* numeric tick steps (xstep unused on date axes) */
    int leg_right;        /* legend right of the plot area, else above it */
    int ncol, nrow;       /* legend grid */
    double leg_w;         /* legend width (estimate) */
    double leg_offset;    /* pllegend text_offset */
    tick_set tk;          /* date ticks, when manual_dates */
    int manual_dates;
} layout;

/* Widest tick label of a 1-2-5 axis over [lo, hi], in characters. */
static size_t tick_label_width(double lo, double hi, double step)
{
    size_t w = 1;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
        char b[64];
        format_tick(v, step, b, sizeof b);
        if (strlen(b) > w) w = strlen(b);
    }
    return w;
}

/* Margins, legend placement and tick steps. Text widths are estimates from
 * DejaVu Sans metrics (digits 0.76, text about 0.72 of the character height):
 * PLplot cannot measure text before it is drawn. */
static void plan_layout(const plot_job *j, double ht, layout *L)
{
    const recur_plot_opts *o = j->o;
    L->ht = ht;
    L->cw = 0.76 * ht;
    L->tw = 0.72 * ht;

    /* Legend: one row above the plot when it fits; else a column to the right
     * when that stays narrow; else rows above. pllegend gives every column the
     * widest label after a 4-character line sample. Its gaps (text offset,
     * column separation, border) are in character heights measured along y but
     * applied along x, so they stretch by the page's aspect ratio k. */
    size_t lab = 1;
    for (int s = 0; s < o->n_series; s++)
        if (text_chars(j->labels[s]) > lab) lab = text_chars(j->labels[s]);
    double k = L->pw / L->ph;
    L->leg_offset = 0.8 / k; /* text offset 0.8 character heights, whatever the shape */
    double col_w = 4.0 * ht + 0.8 * ht + (double)lab * L->tw;
    double sep = 2.0 * ht * k, border = 0.8 * ht * k, row_h = 1.8 * ht;
    int n = o->n_series;
    L->leg_right = 0;
    L->ncol = n;
    L->leg_w = border + n * col_w + (n - 1) * sep;
    if (L->leg_w > 0.92 * L->pw) {
        double beside = 0.8 * ht + border + col_w + 1.5 * ht;
        if (beside <= 0.3 * L->pw && n * row_h <= 0.6 * L->ph) {
            L->leg_right = 1;
            L->ncol = 1;
            L->leg_w = beside;
        } else {
            L->ncol = (int)((0.92 * L->pw - border + sep) / (col_w + sep));
            if (L->ncol < 1) L->ncol = 1;
        }
    }
    L->nrow = (n + L->ncol - 1) / L->ncol;

    L->top = 1.0 * ht + (j->title[0] ? 2.6 * ht : 0.0) + (L->leg_right ? 0.8 * ht : L->nrow * row_h + 0.6 * ht);
    L->bottom = (j->xlabel[0] ? 5.0 : 3.2) * ht;
    L->vh = L->ph - L->top - L->bottom;

    /* y: a tick every three character heights or more */
    double yspan = j->ymax - j->ymin;
    int want = (int)(L->vh / (3.2 * ht));
    want = want < 2 ? 2 : want > 10 ? 10 : want;
    L->ystep = nice_step(yspan, want);
    if (yspan / L->ystep > 1.4 * want) L->ystep = next_nice(L->ystep);
    size_t yw = tick_label_width(j->ymin, j->ymax, L->ystep);

    L->left = 1.0 * ht + (double)yw * L->cw + 1.0 * ht + (j->ylabel[0] ? 2.2 * ht : 0.0);
    L->right = o->x_is_date ? 4.5 * ht : 2.5 * ht; /* room for half of the last tick label */
    if (L->leg_right) L->right = L->leg_w;
    L->vw = L->pw - L->left - L->right;

    /* x: calendar steps for dates, 1-2-5 steps otherwise, as fine as the labels allow */
    double x0 = o->x[0], x1 = o->x[o->n - 1], span = x1 - x0;
    L->manual_dates = 0;
    L->xstep = nice_step(span, 10);
    if (o->x_is_date) {
        if (fabs(x0) < 3.6e6 && fabs(x1) < 3.6e6) /* years -7900 .. 11800 */
            L->manual_dates = choose_date_ticks(x0, x1, L->vw, L->cw, &L->tk);
    } else {
        for (int guard = 0; guard < 64; guard++) {
            char b0[64], b1[64];
            format_tick(x0, L->xstep, b0, sizeof b0);
            format_tick(x1, L->xstep, b1, sizeof b1);
            size_t w = strlen(b0) > strlen(b1) ? strlen(b0) : strlen(b1);
            if (((double)w + 3.0) * L->cw <= L->vw * L->xstep / span) break;
            L->xstep = next_nice(L->xstep);
        }
    }
}

/* Dashed vertical line at boundary_x with its label just inside the top. */
static void draw_marker(const plot_job *j, const layout *L, double xs)
{
    const recur_plot_opts *o = j->o;
    double x0 = o->x[0], x1 = o->x[o->n - 1], bx = o->boundary_x;
    if (!isfinite(bx) || bx < x0 || bx > x1) return;
    const PLINT mark = 1600, space = 1200; /* micrometres */
    plcol0(COL_MARK);
    plwidth(1.5 * L->grow);
    plstyl(1, &mark, &space);
    pljoin(bx * xs, j->ymin, bx * xs, j->ymax);
    pllsty(1);
    if (j->blabel[0]) {
        plcol0(COL_FG);
        plmtex("t", -1.5, (bx - x0) / (x1 - x0), 0.5, j->blabel);
    }
}

/* Light grid lines at the ticks, drawn first so that everything covers them. */
static void draw_grid(const plot_job *j, const layout *L, double xs)
{
    const recur_plot_opts *o = j->o;
    plwidth(L->grow);
    plcol0(COL_GRID);
    pllsty(1);
    plbox("", 0.0, 0, "g", L->ystep, 0);
    if (L->manual_dates)
        for (int i = 0; i < L->tk.n; i++) pljoin(L->tk.at[i] * xs, j->ymin, L->tk.at[i] * xs, j->ymax);
    else if (o->x_is_date)
        plbox("gd", 0.0, 0, "", 0.0, 0);
    else
        plbox("g", L->xstep, 0, "", 0.0, 0);
}

/* Frame, ticks, tick labels, axis labels and title. */
static void draw_frame(const plot_job *j, const layout *L, double xs)
{
    const recur_plot_opts *o = j->o;
    double x0 = o->x[0], x1 = o->x[o->n - 1];
    label_fmt fmt[2] = { { L->xstep }, { L->ystep } };

    plslabelfunc(tick_label_cb, fmt);
    plwidth(fmax(1.0, L->grow));
    plcol0(COL_FG);
    pllsty(1);
    if (L->manual_dates) {
        plbox("bc", 0.0, 0, "bcntvo", L->ystep, 0);
        double tick = (j->ymax - j->ymin) * (0.8 * L->ht / L->vh);
        for (int i = 0; i < L->tk.n; i++) {
            double px = L->tk.at[i] * xs;
            pljoin(px, j->ymin, px, j->ymin + tick);
            plmtex("b", 1.6, (L->tk.at[i] - x0) / (x1 - x0), 0.5, L->tk.label[i]);
        }
    } else if (o->x_is_date) {
        pltimefmt("%H:%M");
        plbox("bcdnt", 0.0, 0, "bcntvo", L->ystep, 0);
    } else {
        plbox("bcnto", L->xstep, 0, "bcntvo", L->ystep, 0);
    }
    plslabelfunc(NULL, NULL); /* fmt goes out of scope */

    if (j->xlabel[0]) plmtex("b", 3.4, 0.5, 0.5, j->xlabel);
    if (j->ylabel[0]) {
        size_t yw = tick_label_width(j->ymin, j->ymax, L->ystep);
        plmtex("l", ((double)yw * L->cw + 1.0 * L->ht) / L->ht + 1.2, 0.5, 0.5, j->ylabel);
    }
    if (j->title[0]) {
        plschr(0.0, 1.35);
        plmtex("t", (L->top - 1.0 * L->ht) / (1.35 * L->ht) - 0.9, 0.5, 0.5, j->title);
        plschr(0.0, 1.0);
    }
}

static void draw_legend(const plot_job *j, const layout *L)
{
    int n = j->o->n_series;
    for (int s = 0; s < n; s++) {
        j->leg_opt[s] = PL_LEGEND_LINE;
        j->leg_tcol[s] = COL_FG;
        j->leg_lcol[s] = COL_SERIES0 + s % N_SERIES_COLORS;
        j->leg_lsty[s] = 1;
        j->leg_lwid[s] = L->lw;
    }
    PLINT pos;
    PLFLT x, y, w, h;
    if (L->leg_right) { /* right of the plot area, top aligned (y moves it up from centred) */
        pos = PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT;
        x = 0.8 * L->ht / L->vw;
        y = 0.5 - 0.5 * L->nrow * 1.8 * L->ht / L->vh;
    } else { /* centred between the title and the plot area */
        pos = PL_POSITION_TOP | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT;
        x = 0.0;
        y = 0.3 * L->ht / L->vh;
    }
    plwidth(1.0);
    pllegend(&w, &h, PL_LEGEND_ROW_MAJOR, pos, x, y, 4.0 * L->ht / L->vw, COL_BG, COL_FG, 1, L->nrow, L->ncol, n,
             j->leg_opt, L->leg_offset, 1.0, 1.8, 0.0, j->leg_tcol, (const char *const *)j->labels, NULL, NULL, NULL, NULL,
             j->leg_lcol, j->leg_lsty, j->leg_lwid, NULL, NULL, NULL, NULL);
}

static void render(const plot_job *j)
{
    const recur_plot_opts *o = j->o;
    double xs = o->x_is_date ? SECONDS_PER_DAY : 1.0; /* PLplot's time axis counts seconds */
    layout L;

    plsdev(j->device);
    plsfnam(j->tmpname);
    plspage(0.0, 0.0, j->width, j->height, 0, 0);
    plscmap0n(N_COLORS);
    plscmap0(cmap_r, cmap_g, cmap_b, N_COLORS);
    plinit();
    pladv(0);

    /* PLplot's default text height is proportional to the smaller side of the
     * page (18 px at 600 px). Text should grow more slowly than the picture:
     * 18 px * sqrt(side / 600), so that small plots stay readable. */
    double def_ht, ht;
    L.grow = sqrt(fmin(j->width, j->height) / 600.0);
    L.lw = fmax(1.2, 1.8 * L.grow);
    plgchr(&def_ht, &ht);
    double chr = def_ht / L.grow;
    double sx0, sx1, sy0, sy1;
    plgspa(&sx0, &sx1, &sy0, &sy1);
    L.pw = sx1 - sx0;
    L.ph = sy1 - sy0;
    /* Shrink the text until the plot area keeps at least 40% of each side
     * (small pages, long labels, many legend rows). */
    for (int tries = 0;; tries++) {
        plschr(chr, 1.0);
        plgchr(&def_ht, &ht);
        plan_layout(j, ht, &L);
        if ((L.vw >= 0.4 * L.pw && L.vh >= 0.4 * L.ph) || tries == 6) break;
        chr *= 0.8;
    }
    if (L.vw < 0.4 * L.pw || L.vh < 0.4 * L.ph) { /* give up on the legend room */
        double fx = L.vw < 0.4 * L.pw ? 0.6 * L.pw / (L.left + L.right) : 1.0;
        double fy = L.vh < 0.4 * L.ph ? 0.6 * L.ph / (L.top + L.bottom) : 1.0;
        L.left *= fx;
        L.right *= fx;
        L.top *= fy;
        L.bottom *= fy;
        L.vw = L.pw - L.left - L.right;
        L.vh = L.ph - L.top - L.bottom;
    }

    plsvpa(L.left, L.pw - L.right, L.bottom, L.ph - L.top);
    plwind(o->x[0] * xs, o->x[o->n - 1] * xs, j->ymin, j->ymax);
    draw_grid(j, &L, xs);
    draw_marker(j, &L, xs);
    plwidth(L.lw);
    for (int s = 0; s < o->n_series; s++) {
        plcol0(COL_SERIES0 + s % N_SERIES_COLORS);
        draw_series(o->x, o->series[s].y, o->n, xs);
    }
    draw_frame(j, &L, xs);
    draw_legend(j, &L);
}

/* Calls fn(arg) and returns 0, or returns 1 when PLplot called plexit()
 * inside it. Nothing here is modified between setjmp and longjmp. */
static int pl_guard(void (*fn)(void *), void *arg)
{
    jmp_buf env;
    jmp_buf *outer = s_jump;
    s_jump = &env;
    if (setjmp(env)) {
        s_jump = outer;
        return 1;
    }
    fn(arg);
    s_jump = outer;
    return 0;
}

typedef struct {
    const plot_job *job;
    int have_device; /* out of find_device */
    PLINT strm;      /* stream made by plot_stream, -1 before and after */
    int no_stream;   /* plmkstrm found no free stream */
} plot_run;

static void find_device(void *arg)
{
    plot_run *r = arg;
    const char *menus[128], *names[128];
    const char **pm = menus, **pn = names;
    int ndev = 128;
    plgDevs(&pm, &pn, &ndev);
    for (int i = 0; i < ndev; i++)
        if (names[i] && strcmp(names[i], r->job->device) == 0) r->have_device = 1;
}

static void plot_stream(void *arg)
{
    plot_run *r = arg;
    plmkstrm(&r->strm);
    if (r->strm < 0) {
        r->no_stream = 1;
        return;
    }
    plsError(&s_errcode, s_errmsg);
    render(r->job);
    plend1();
    r->strm = -1;
}

/* After a plexit() inside plot_stream: end our stream if it is still current
 * (plexit inside plend1 may already have switched to stream 0, the host's). */
static void end_stream(void *arg)
{
    const plot_run *r = arg;
    PLINT cur = -1;
    plgstrm(&cur);
    if (cur == r->strm) plend1();
}

/* Draws the job on a fresh PLplot stream; the caller holds s_lock. */
static recur_status render_guarded(const plot_job *j, const char *path, recur_error *err)
{
    plot_run r = { j, 0, -1, 0 };
    PLINT prev = 0;
    recur_status st = RECUR_OK;
    char m[256];

    s_exit_msg[0] = '\0';
    s_errmsg[0] = '\0';
    s_errcode = 0;
    plsexit(on_plexit);
    plgstrm(&prev);

    if (pl_guard(find_device, &r)) {
        clean_msg(s_exit_msg, m, sizeof m);
        st = rc_error(err, RECUR_E_IO, "plot %s: PLplot failed: %s", path, m[0] ? m : "fatal error");
    } else if (!r.have_device) {
        st = rc_error(err, RECUR_E_IO,
                      "plot %s: PLplot has no \"%s\" device; install its cairo driver (Debian: plplot-driver-cairo)",
                      path, j->device);
    } else if (pl_guard(plot_stream, &r)) {
        clean_msg(s_exit_msg, m, sizeof m);
        st = rc_error(err, RECUR_E_IO, "plot %s: PLplot failed: %s", path, m[0] ? m : "fatal error");
        if (r.strm >= 0) pl_guard(end_stream, &r); /* a second failure leaves the stream behind */
    } else if (r.no_stream) {
        st = rc_error(err, RECUR_E_IO, "plot %s: PLplot has no free stream (all in use)", path);
    }
    if (st == RECUR_OK && s_errcode != 0) {
        clean_msg(s_errmsg, m, sizeof m);
        st = rc_error(err, RECUR_E_IO, "plot %s: PLplot failed: %s", path, m);
    }
    plsexit(NULL);
    plsstrm(prev);
    return st;
}

/* ====== Validation and the atomic file ====== */

static recur_status validate(const char *path, const recur_plot_opts *o, const char **device, recur_error *err)
{
    if (!path) return rc_error(err, RECUR_E_INVALID, "plot: path is NULL");
    if (!o) return rc_error(err, RECUR_E_INVALID, "plot %s: options are NULL", path);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot[1] == '\0')
        return rc_error(err, RECUR_E_INVALID, "plot %s: no file extension; use a name ending in .png or .svg", path);
    if (strcasecmp(dot, ".png") == 0)
        *device = "pngcairo";
    else if (strcasecmp(dot, ".svg") == 0)
        *device = "svgcairo";
    else
        return rc_error(err, RECUR_E_INVALID, "plot %s: unknown file type \"%s\"; use .png or .svg", path, dot);
    if (strstr(path, "%n"))
        return rc_error(err, RECUR_E_INVALID,
                        "plot %s: the path contains \"%%n\", which PLplot replaces by a page number; rename it",
                        path);
    if (o->n < 2) return rc_error(err, RECUR_E_INVALID, "plot %s: need at least 2 points, got %zu", path, o->n);
    if (o->n > (size_t)INT_MAX)
        return rc_error(err, RECUR_E_INVALID, "plot %s: %zu points is more than PLplot can draw", path, o->n);
    if (!o->x) return rc_error(err, RECUR_E_INVALID, "plot %s: x is NULL", path);
    if (o->n_series < 1)
        return rc_error(err, RECUR_E_INVALID, "plot %s: need at least 1 series, got %d", path, o->n_series);
    if (!o->series) return rc_error(err, RECUR_E_INVALID, "plot %s: series is NULL", path);
    for (int s = 0; s < o->n_series; s++)
        if (!o->series[s].y)
            return rc_error(err, RECUR_E_INVALID, "plot %s: series %d (\"%s\") has y NULL", path, s,
                            o->series[s].label ? o->series[s].label : "");
    for (size_t i = 0; i < o->n; i++) {
        if (!isfinite(o->x[i]))
            return rc_error(err, RECUR_E_INVALID, "plot %s: x[%zu] is %g; x values must be finite", path, i,
                            o->x[i]);
        if (i > 0 && !(o->x[i] > o->x[i - 1]))
            return rc_error(err, RECUR_E_INVALID,
                            "plot %s: x must be increasing, but x[%zu] = %g follows x[%zu] = %g", path, i, o->x[i],
                            i - 1, o->x[i - 1]);
    }
    if (o->width < 0 || o->height < 0 || (o->width && (o->width < PLOT_PX_MIN || o->width > PLOT_PX_MAX)) ||
        (o->height && (o->height < PLOT_PX_MIN || o->height > PLOT_PX_MAX)))
        return rc_error(err, RECUR_E_INVALID, "plot %s: size %dx%d out of range; use %d..%d pixels (0 = default)",
                        path, o->width, o->height, PLOT_PX_MIN, PLOT_PX_MAX);
    return RECUR_OK;
}

/* The file PLplot closed: reopen it, check it is not empty, fsync it. */
static recur_status sync_file(const char *tmp, const char *path, recur_error *err)
{
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) return rc_error(err, RECUR_E_IO, "%s: cannot write: %s", path, strerror(errno));
    struct stat sb;
    recur_status st = RECUR_OK;
    if (fstat(fd, &sb) != 0 || sb.st_size == 0)
        st = rc_error(err, RECUR_E_IO, "%s: cannot write: PLplot wrote an empty file (disk full?)", path);
    else if (fsync(fd) != 0)
        st = rc_error(err, RECUR_E_IO, "%s: cannot write: %s", path, strerror(errno));
    close(fd);
    return st;
}

recur_status recur_plot_lines(const char *path, const recur_plot_opts *o, recur_error *err)
{
    const char *device = NULL;
    recur_status st = validate(path, o, &device, err);
    if (st != RECUR_OK) return st;

    plot_job job = { 0 };
    job.o = o;
    job.device = device;
    job.width = o->width ? o->width : PLOT_W_DEFAULT;
    job.height = o->height ? o->height : PLOT_H_DEFAULT;
    char *tmp = NULL;
    int have_tmp = 0;

    if ((st = job_text(&job, err)) != RECUR_OK) goto fail;
    job_yrange(&job);

    size_t len = strlen(path);
    tmp = malloc(len + sizeof ".tmp.XXXXXX");
    if (!tmp) {
        st = rc_error(err, RECUR_E_NOMEM, "plot %s: out of memory", path);
        goto fail;
    }
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = rc_error(err, RECUR_E_IO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    have_tmp = 1;
    /* Keep an existing file's permissions; a new plot gets rw-r--r--. */
    struct stat sb;
    mode_t mode = stat(path, &sb) == 0 ? (sb.st_mode & 0777) : 0644;
    if (fchmod(fd, mode) != 0 || close(fd) != 0) {
        st = rc_error(err, RECUR_E_IO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    job.tmpname = tmp;

    pthread_mutex_lock(&s_lock);
    st = render_guarded(&job, path, err);
    pthread_mutex_unlock(&s_lock);
    if (st != RECUR_OK) goto fail;

    if ((st = sync_file(tmp, path, err)) != RECUR_OK) goto fail;
    if (rename(tmp, path) != 0) {
        st = rc_error(err, RECUR_E_IO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    have_tmp = 0;
    /* Make the rename durable (best effort: not every file system allows it). */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 0;
    if (dlen)
        memcpy(tmp, path, dlen);
    else
        tmp[dlen++] = '.';
    tmp[dlen] = '\0';
    int dfd = open(tmp, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }

fail:
    if (have_tmp) unlink(tmp);
    free(tmp);
    job_free(&job);
    return st;
}
