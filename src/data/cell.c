/*
 * cell.c -- the text of one CSV cell to a number or a date, and cell text
 * made safe to quote in a one-line message.
 *
 * Numbers: [+-][$][+-]digits[,ddd...][.digits][e[+-]digits], so "1,008.64" and
 * "$7,380,500" read as they look; thousands separators must come in groups of
 * three ("1,2" is refused rather than guessed to be a decimal comma). Missing
 * markers (empty, null, NaN, NA, N/A, #N/A; any case) are reported as such;
 * inf and values that overflow a double are refused.
 * Dates: YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][ ][Z|+HH[:]MM|-HH[:]MM], YYYY/MM/DD,
 * M/D/YYYY (US order), YYYY-MM (first of the month), YYYY in a "year" column,
 * and a plain number, kept as its own value (a day index). Calendar dates
 * become days since 1970-01-01 with the time of day (UTC) as a fraction.
 * Does not: read month names, two-digit years or day-first dates.
 */
#include "data/data.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

int rc_eq_ci(const char *s, size_t n, const char *z)
{
    size_t i = 0;
    for (; i < n && z[i]; i++)
        if (lower(s[i]) != lower(z[i])) return 0;
    return i == n && z[i] == '\0';
}

/* The locale's decimal point, for strtod ('.' in the "C" locale). */
static char decimal_point(void)
{
    const char *dp = localeconv()->decimal_point;
    return (dp && dp[0] && !dp[1]) ? dp[0] : '.';
}

void rc_show(char dst[RC_SHOW_CAP], const char *s, size_t n)
{
    size_t k = n, o = 0;
    int cut = 0;
    if (k > RC_SHOW_MAX) {
        k = RC_SHOW_MAX;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        cut = 1;
    }
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut) memcpy(dst + o, "...", 3), o += 3;
    dst[o] = '\0';
}

/* ====== Numbers ====== */

static int is_missing_token(const char *s, size_t n)
{
    static const char *const tok[] = {"", "null", "nan", "-nan", "na", "n/a", "#n/a"};
    for (size_t i = 0; i < sizeof tok / sizeof tok[0]; i++)
        if (rc_eq_ci(s, n, tok[i])) return 1;
    return 0;
}

/* The cleaned text (no '$' or separators) goes to strtod, with '.' swapped
 * for the locale's decimal point. */
int rc_parse_number(const char *s, size_t n, double *v)
{
    char tmp[320];
    size_t i = 0, o = 0, ndig = 0, group = 0;
    int sign = 0, commas = 0;
    char point = decimal_point();

    if (is_missing_token(s, n)) return RC_CELL_MISSING;
    if (i < n && (s[i] == '+' || s[i] == '-')) tmp[o++] = s[i++], sign = 1;
    if (i < n && s[i] == '$') {
        i++;
        if (!sign && i < n && (s[i] == '+' || s[i] == '-')) tmp[o++] = s[i++];
    }
    if (rc_eq_ci(s + i, n - i, "inf") || rc_eq_ci(s + i, n - i, "infinity")) return RC_CELL_INF;
    if (n - i > 300) return RC_CELL_BAD;
    for (; i < n; i++) {
        if (is_digit(s[i])) {
            tmp[o++] = s[i];
            ndig++;
            group++;
        } else if (s[i] == ',') { /* 1,008.64: first group 1-3 digits, then exactly 3 */
            if (ndig == 0 || (commas ? group != 3 : group > 3)) return RC_CELL_BAD;
            commas = 1;
            group = 0;
        } else {
            break;
        }
    }
    if (commas && group != 3) return RC_CELL_BAD;
    if (i < n && s[i] == '.') {
        tmp[o++] = point;
        for (i++; i < n && is_digit(s[i]); i++) tmp[o++] = s[i], ndig++;
    }
    if (ndig == 0) return RC_CELL_BAD;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t edig = 0;
        tmp[o++] = 'e';
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) tmp[o++] = s[i++];
        for (; i < n && is_digit(s[i]); i++) tmp[o++] = s[i], edig++;
        if (edig == 0) return RC_CELL_BAD;
    }
    if (i != n) return RC_CELL_BAD;
    tmp[o] = '\0';
    char *end;
    double x = strtod(tmp, &end);
    if (end != tmp + o) return RC_CELL_BAD;
    if (!isfinite(x)) return RC_CELL_RANGE;
    *v = x;
    return RC_CELL_OK;
}

/* ====== Dates ====== */

static long fdiv(long a, long b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
static int is_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
/* Leap years in [1, y] (negative y counts backwards through year 0). */
static long leaps_through(long y) { return fdiv(y, 4) - fdiv(y, 100) + fdiv(y, 400); }

int rc_month_days(long y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return md[m - 1] + (m == 2 && is_leap(y));
}

int rc_weekday(long z) { return (int)(((z % 7) + 7 + 4) % 7); } /* 1970-01-01 was a Thursday */

/* Whole 400-year eras (146097 days) from 0000-03-01, then years of the era
 * counted with March first so that the leap day ends each year (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms"). */
void rc_civil_from_days(long z, long *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: whole
 * years of 365 days, plus the leap days of the years in between, plus the days
 * of the months before m, plus d - 1. */
long rc_days_from_civil(long y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    long days = 365 * (y - 1970) + leaps_through(y - 1) - leaps_through(1969);
    return days + before[m - 1] + (m > 2 && is_leap(y)) + (d - 1);
}

/* Reads between lo and hi digits at s[*i]; -1 when there are fewer than lo. */
static long take_digits(const char *s, size_t n, size_t *i, int lo, int hi)
{
    long v = 0;
    int k = 0;
    while (*i < n && k < hi && is_digit(s[*i])) v = 10 * v + (s[(*i)++] - '0'), k++;
    return k < lo ? -1 : v;
}

/* Optional time of day after a date: [T or spaces]HH:MM[:SS[.fff]][ ][Z|+HH[:]MM|-HH[:]MM].
 * Returns seconds from midnight UTC in *sec, -1 on a malformed or impossible time. */
static int parse_time(const char *s, size_t n, size_t i, double *sec)
{
    *sec = 0;
    if (i == n) return 0;
    if (s[i] == 'T') i++;
    else if (s[i] == ' ') while (i < n && s[i] == ' ') i++;
    else return -1;
    long h = take_digits(s, n, &i, 1, 2), mi = -1, se = 0;
    double frac = 0;
    if (h < 0 || i >= n || s[i] != ':') return -1;
    i++;
    mi = take_digits(s, n, &i, 2, 2);
    if (mi < 0) return -1;
    if (i < n && s[i] == ':') {
        i++;
        se = take_digits(s, n, &i, 2, 2);
        if (se < 0) return -1;
        if (i < n && s[i] == '.') {
            double scale = 0.1;
            size_t k = 0;
            for (i++; i < n && is_digit(s[i]); i++, k++, scale *= 0.1) frac += (s[i] - '0') * scale;
            if (k == 0) return -1;
        }
    }
    if (h > 23 || mi > 59 || se > 60) return -1;
    long tz = 0;
    while (i < n && s[i] == ' ') i++;
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int neg = s[i++] == '-';
        long th = take_digits(s, n, &i, 2, 2), tm = 0;
        if (th < 0) return -1;
        if (i < n && s[i] == ':') i++;
        if (i < n) tm = take_digits(s, n, &i, 2, 2);
        if (tm < 0 || th > 23 || tm > 59) return -1;
        tz = (neg ? -1 : 1) * (th * 3600 + tm * 60);
    }
    if (i != n) return -1;
    *sec = (double)(h * 3600 + mi * 60 + se - tz) + frac;
    return 0;
}

int rc_parse_date(const char *s, size_t n, int year_col, double *day, int *kind)
{
    size_t i = 0;
    long y, m, d = 1;
    double sec = 0;
    long a = take_digits(s, n, &i, 1, 4);
    if (n == 0) return -1;
    if (a < 0 && s[0] != '-' && s[0] != '+' && s[0] != '.') return -1;
    if (a >= 0 && i == 4 && i < n && (s[i] == '-' || s[i] == '/')) { /* YYYY-MM[-DD], YYYY/MM/DD */
        char sep = s[i++];
        y = a;
        m = take_digits(s, n, &i, 1, 2);
        if (m < 0) return -1;
        if (i < n) {
            if (s[i] != sep) return -1;
            i++;
            d = take_digits(s, n, &i, 1, 2);
            if (d < 0 || parse_time(s, n, i, &sec)) return -1;
        } else if (sep != '-') {
            return -1;
        }
    } else if (a >= 0 && i <= 2 && i < n && s[i] == '/') { /* M/D/YYYY */
        m = a;
        i++;
        d = take_digits(s, n, &i, 1, 2);
        if (d < 0 || i >= n || s[i] != '/') return -1;
        i++;
        size_t i0 = i;
        y = take_digits(s, n, &i, 4, 4);
        if (y < 0 || i - i0 != 4 || parse_time(s, n, i, &sec)) return -1;
    } else { /* a plain number: a year in a "year" column, else an index */
        char tmp[48];
        size_t k = 0, j = 0, digits = 0;
        int dot = 0;
        if (n >= sizeof tmp) return -1;
        if (s[j] == '-' || s[j] == '+') tmp[k++] = s[j++];
        for (; j < n; j++) {
            if (is_digit(s[j])) digits++;
            else if (s[j] == '.' && !dot) dot = 1;
            else return -1;
            tmp[k++] = s[j];
        }
        if (digits == 0) return -1;
        tmp[k] = '\0';
        if (year_col && !dot && tmp[0] != '-' && tmp[0] != '+' && n <= 4) {
            *day = (double)rc_days_from_civil(strtol(tmp, NULL, 10), 1, 1);
            *kind = RC_DATE_CALENDAR;
            return 0;
        }
        for (size_t q = 0; q < k; q++)
            if (tmp[q] == '.') tmp[q] = decimal_point();
        *day = strtod(tmp, NULL);
        *kind = RC_DATE_INDEX;
        return isfinite(*day) ? 0 : -1;
    }
    if (m < 1 || m > 12 || d < 1 || d > rc_month_days(y, (int)m)) return -1;
    *day = (double)rc_days_from_civil(y, (int)m, (int)d) + sec / 86400.0;
    *kind = RC_DATE_CALENDAR;
    return 0;
}
