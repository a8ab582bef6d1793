/*
 * refparse.c -- reference vector reader, format v1 (see refparse.h and
 * tests/ref/README.md).
 *
 * The file is read whole into one NUL-terminated buffer and cut into lines in
 * place, so a values line of any length is just a string for strtod. Records:
 *   # text                     comment (first column only)
 *   case NAME                  opens a case until the next `case` or EOF
 *   param KEY VALUE            one token of value
 *   tensor NAME NDIM D0 ..     header; the next line holds prod(D) numbers
 * Empty lines are tolerated between records, and a trailing '\r' is ignored.
 * A values line is checked against the header before anything is allocated,
 * so a bogus header cannot request a huge buffer.
 */
#include "refparse.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_NAME_MAX 255 /* longest case, param or tensor name accepted */

static const char ref_magic[] = "# recur reference vectors, format v";

/* ====== Errors ====== */

static recur_status set_err(recur_error *err, recur_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static recur_status set_err(recur_error *err, recur_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

/* ====== Small helpers ====== */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Grows *arr (element size `sz`) so that one more element fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    if (nc > SIZE_MAX / sz)
        return -1;
    void *p = realloc(*arr, nc * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > REF_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.'))
            return 0;
    }
    return 1;
}

/* Splits line `s` (NUL-terminated) at runs of spaces/tabs into at most `max`
 * tokens, NUL-terminating each in place. Returns the token count, or max + 1
 * when there are more tokens than that. */
static int split(char *s, char **tok, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            return n;
        if (n == max)
            return max + 1;
        tok[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

/* Whole decimal integer in [lo, hi]; 0 on success. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *e;
    if (*s == '\0' || *s == ' ' || *s == '\t')
        return -1;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || *e != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ====== Freeing ====== */

static void case_free(ref_case *c)
{
    for (size_t i = 0; i < c->n_params; i++) {
        free(c->params[i].key);
        free(c->params[i].value);
    }
    for (size_t i = 0; i < c->n_tensors; i++) {
        free(c->tensors[i].name);
        free(c->tensors[i].v);
    }
    free(c->params);
    free(c->tensors);
    free(c->name);
}

void ref_file_free(ref_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_cases; i++)
        case_free(&f->cases[i]);
    free(f->cases);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* ====== Parser ====== */

typedef struct {
    char *p, *end; /* unread part of the buffer; *end == '\0' */
    int line;      /* number of the line last returned */
    const char *path;
    recur_error *err;
} reader;

/* Next line as a NUL-terminated string (the '\n' and a trailing '\r' removed),
 * or NULL at end of input. *len gets its length; a NUL byte inside is an error
 * reported through *bad. */
static char *next_line(reader *r, size_t *len, int *bad)
{
    if (r->p >= r->end)
        return NULL;
    char *s = r->p;
    char *nl = memchr(s, '\n', (size_t)(r->end - s));
    char *eol = nl ? nl : r->end;
    *eol = '\0';
    r->p = nl ? nl + 1 : r->end;
    r->line++;
    size_t n = (size_t)(eol - s);
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
    *bad = strlen(s) != n;
    *len = n;
    return s;
}

static recur_status parse_values(reader *r, ref_tensor *t, char *s, size_t len)
{
    /* n numbers need at least 2n - 1 characters: refuse before allocating. */
    if (t->size > (len + 1) / 2)
        return set_err(r->err, RECUR_E_PARSE,
                       "%s:%d: tensor %s (line %d) declares %zu values; a line of %zu characters cannot hold them",
                       r->path, r->line, t->name, t->line, t->size, len);
    if (t->size > 0) {
        t->v = malloc(t->size * sizeof *t->v);
        if (!t->v)
            return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory for tensor %s (%zu values)", r->path,
                           r->line, t->name, t->size);
    }
    size_t k = 0;
    char *q = s;
    for (;;) {
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0')
            break;
        if (k == t->size)
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: more than the %zu values its header declares",
                           r->path, r->line, t->name, t->size);
        char *e;
        double d = strtod(q, &e);
        if (e == q || (*e != '\0' && *e != ' ' && *e != '\t')) {
            size_t tl = strcspn(q, " \t");
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: value %zu is not a number (\"%.*s\")",
                           r->path, r->line, t->name, k, (int)(tl > 40 ? 40 : tl), q);
        }
        if (!isfinite(d))
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: value %zu is not finite", r->path, r->line,
                           t->name, k);
        t->v[k++] = d;
        q = e;
    }
    if (k != t->size)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: %zu values, its header (line %d) declares %zu",
                       r->path, r->line, t->name, k, t->line, t->size);
    return RECUR_OK;
}

static recur_status parse_tensor(reader *r, ref_case *c, char **tok, int ntok)
{
    int hdr = r->line;
    if (ntok < 3)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: expected \"tensor NAME NDIM D0 D1 ...\"", r->path, hdr);
    size_t nlen = strlen(tok[1]);
    if (!valid_name(tok[1], nlen))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: bad tensor name \"%.64s\" (use [A-Za-z0-9_.])", r->path, hdr,
                       tok[1]);
    if (ref_tensor_find(c, tok[1]))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s appears twice in case %s", r->path, hdr, tok[1],
                       c->name);
    long nd;
    if (parse_long(tok[2], 0, REF_MAX_DIMS, &nd))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: NDIM \"%.32s\" is not an integer in 0..%d",
                       r->path, hdr, tok[1], tok[2], REF_MAX_DIMS);
    if (ntok != 3 + nd)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: NDIM is %ld but %d dims follow", r->path, hdr,
                       tok[1], nd, ntok - 3);
    int dims[REF_MAX_DIMS] = {0};
    size_t size = 1;
    for (int i = 0; i < nd; i++) {
        long d;
        if (parse_long(tok[3 + i], 0, INT_MAX, &d))
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: dim %d \"%.32s\" is not a whole number in 0..%d",
                           r->path, hdr, tok[1], i, tok[3 + i], INT_MAX);
        dims[i] = (int)d;
        if (d > 0 && size > SIZE_MAX / sizeof(double) / (size_t)d)
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: tensor %s: dims too large", r->path, hdr, tok[1]);
        size *= (size_t)d;
    }
    if (grow((void **)&c->tensors, &c->cap_tensors, c->n_tensors, sizeof *c->tensors))
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, hdr);
    ref_tensor *t = &c->tensors[c->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dup_n(tok[1], nlen);
    if (!t->name)
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, hdr);
    c->n_tensors++; /* owned by the case from here on, freed with it on error */
    t->ndim = (int)nd;
    memcpy(t->dims, dims, sizeof dims);
    t->size = size;
    t->line = hdr;

    size_t len;
    int bad;
    char *vals = next_line(r, &len, &bad);
    if (!vals)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: file ends before the values line of tensor %s", r->path,
                       hdr, t->name);
    if (bad)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: NUL byte in the values of tensor %s", r->path, r->line,
                       t->name);
    return parse_values(r, t, vals, len);
}

static recur_status parse_param(reader *r, ref_case *c, char **tok, int ntok)
{
    if (ntok != 3)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: expected \"param KEY VALUE\" (one token of value)", r->path,
                       r->line);
    size_t kl = strlen(tok[1]);
    if (!valid_name(tok[1], kl))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: bad param key \"%.64s\" (use [A-Za-z0-9_.])", r->path,
                       r->line, tok[1]);
    if (ref_param_find(c, tok[1]))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: param %s appears twice in case %s", r->path, r->line, tok[1],
                       c->name);
    if (grow((void **)&c->params, &c->cap_params, c->n_params, sizeof *c->params))
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, r->line);
    ref_param *p = &c->params[c->n_params];
    p->key = dup_n(tok[1], kl);
    p->value = dup_n(tok[2], strlen(tok[2]));
    p->line = r->line;
    if (!p->key || !p->value) {
        free(p->key);
        free(p->value);
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, r->line);
    }
    c->n_params++;
    return RECUR_OK;
}

static recur_status parse_case(reader *r, ref_file *f, char **tok, int ntok)
{
    if (ntok != 2)
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: expected \"case NAME\"", r->path, r->line);
    size_t nl = strlen(tok[1]);
    if (!valid_name(tok[1], nl))
        return set_err(r->err, RECUR_E_PARSE, "%s:%d: bad case name \"%.64s\" (use [A-Za-z0-9_.])", r->path,
                       r->line, tok[1]);
    for (size_t i = 0; i < f->n_cases; i++)
        if (strcmp(f->cases[i].name, tok[1]) == 0)
            return set_err(r->err, RECUR_E_PARSE, "%s:%d: case %s already defined at line %d", r->path, r->line,
                           tok[1], f->cases[i].line);
    if (grow((void **)&f->cases, &f->cap_cases, f->n_cases, sizeof *f->cases))
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, r->line);
    ref_case *c = &f->cases[f->n_cases];
    memset(c, 0, sizeof *c);
    c->name = dup_n(tok[1], nl);
    if (!c->name)
        return set_err(r->err, RECUR_E_NOMEM, "%s:%d: out of memory", r->path, r->line);
    c->file = f->path;
    c->line = r->line;
    f->n_cases++;
    return RECUR_OK;
}

/* Refuses a file that announces another format version on its first line. */
static recur_status check_magic(reader *r, const char *s)
{
    size_t ml = sizeof ref_magic - 1;
    if (strncmp(s, ref_magic, ml) != 0)
        return RECUR_OK;
    const char *v = s + ml;
    size_t dl = strspn(v, "0123456789");
    if (dl == 1 && v[0] == '1' && (v[1] == '\0' || v[1] == ' ' || v[1] == '\t'))
        return RECUR_OK;
    return set_err(r->err, RECUR_E_PARSE, "%s:%d: format v%.*s: this reader knows only format v1", r->path,
                   r->line, (int)(dl ? (dl > 20 ? 20 : dl) : 1), dl ? v : "?");
}

/* Parses buf[0..len) (buf[len] == '\0', modified in place) into f. */
static recur_status parse_buffer(ref_file *f, char *buf, size_t len, recur_error *err)
{
    reader r = {buf, buf + len, 0, f->path, err};
    ref_case *cur = NULL;
    size_t n;
    int bad;
    char *s;
    while ((s = next_line(&r, &n, &bad)) != NULL) {
        if (bad)
            return set_err(err, RECUR_E_PARSE, "%s:%d: NUL byte in a text line", r.path, r.line);
        if (s[0] == '#') {
            if (r.line == 1) {
                recur_status st = check_magic(&r, s);
                if (st)
                    return st;
            }
            continue;
        }
        char *tok[3 + REF_MAX_DIMS];
        int ntok = split(s, tok, 3 + REF_MAX_DIMS);
        if (ntok == 0)
            continue; /* blank line */
        recur_status st;
        if (strcmp(tok[0], "case") == 0) {
            st = parse_case(&r, f, tok, ntok);
            if (st == RECUR_OK)
                cur = &f->cases[f->n_cases - 1];
        } else if (strcmp(tok[0], "param") == 0 || strcmp(tok[0], "tensor") == 0) {
            if (!cur)
                return set_err(err, RECUR_E_PARSE, "%s:%d: %s before the first \"case\" line", r.path, r.line,
                               tok[0]);
            if (tok[0][0] == 'p')
                st = parse_param(&r, cur, tok, ntok);
            else if (ntok > 3 + REF_MAX_DIMS)
                st = set_err(err, RECUR_E_PARSE, "%s:%d: tensor header with more than %d dims", r.path, r.line,
                             REF_MAX_DIMS);
            else
                st = parse_tensor(&r, cur, tok, ntok);
        } else if ((tok[0][0] >= '0' && tok[0][0] <= '9') || tok[0][0] == '-' || tok[0][0] == '+' ||
                   tok[0][0] == '.') {
            st = set_err(err, RECUR_E_PARSE, "%s:%d: a values line without a \"tensor\" header before it", r.path,
                         r.line);
        } else {
            st = set_err(err, RECUR_E_PARSE,
                         "%s:%d: unknown record \"%.32s\" (expected case, param, tensor or a # comment)", r.path,
                         r.line, tok[0]);
        }
        if (st)
            return st;
    }
    return RECUR_OK;
}

/* Takes ownership of buf (len bytes + a NUL). */
static recur_status parse_owned(const char *name, char *buf, size_t len, ref_file *out, recur_error *err)
{
    memset(out, 0, sizeof *out);
    out->path = dup_n(name, strlen(name));
    if (!out->path) {
        free(buf);
        return set_err(err, RECUR_E_NOMEM, "%s: out of memory", name);
    }
    recur_status st = parse_buffer(out, buf, len, err);
    free(buf);
    if (st)
        ref_file_free(out);
    return st;
}

/* ====== Public entry points ====== */

recur_status ref_file_parse(const char *name, const char *text, size_t len, ref_file *out, recur_error *err)
{
    if (len == SIZE_MAX)
        return set_err(err, RECUR_E_INVALID, "%s: text too large", name);
    char *buf = malloc(len + 1);
    if (!buf) {
        memset(out, 0, sizeof *out);
        return set_err(err, RECUR_E_NOMEM, "%s: out of memory (%zu bytes)", name, len);
    }
    if (len)
        memcpy(buf, text, len);
    buf[len] = '\0';
    return parse_owned(name, buf, len, out, err);
}

recur_status ref_file_read(const char *path, ref_file *out, recur_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return set_err(err, RECUR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        goto nomem;
    for (;;) {
        if (cap - len < 2) {
            if (cap > SIZE_MAX / 2)
                goto nomem;
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                goto nomem;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        int e = errno;
        free(buf);
        fclose(fp);
        return set_err(err, RECUR_E_IO, "%s: read error: %s", path, strerror(e));
    }
    fclose(fp);
    buf[len] = '\0';
    return parse_owned(path, buf, len, out, err);

nomem:
    free(buf);
    fclose(fp);
    return set_err(err, RECUR_E_NOMEM, "%s: out of memory reading the file", path);
}

const ref_param *ref_param_find(const ref_case *c, const char *key)
{
    for (size_t i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].key, key) == 0)
            return &c->params[i];
    return NULL;
}

const char *ref_param_str(const ref_case *c, const char *key)
{
    const ref_param *p = ref_param_find(c, key);
    return p ? p->value : NULL;
}

const ref_tensor *ref_tensor_find(const ref_case *c, const char *name)
{
    for (size_t i = 0; i < c->n_tensors; i++)
        if (strcmp(c->tensors[i].name, name) == 0)
            return &c->tensors[i];
    return NULL;
}

recur_status ref_param_int(const ref_case *c, const char *key, long dflt, long *out, recur_error *err)
{
    const ref_param *p = ref_param_find(c, key);
    if (!p) {
        *out = dflt;
        return RECUR_OK;
    }
    long v;
    if (parse_long(p->value, LONG_MIN, LONG_MAX, &v))
        return set_err(err, RECUR_E_PARSE, "%s:%d: param %s: \"%.40s\" is not a whole number", c->file, p->line,
                       key, p->value);
    *out = v;
    return RECUR_OK;
}

recur_status ref_param_double(const ref_case *c, const char *key, double dflt, double *out, recur_error *err)
{
    const ref_param *p = ref_param_find(c, key);
    if (!p) {
        *out = dflt;
        return RECUR_OK;
    }
    char *e;
    double v = strtod(p->value, &e);
    if (e == p->value || *e != '\0' || !isfinite(v))
        return set_err(err, RECUR_E_PARSE, "%s:%d: param %s: \"%.40s\" is not a finite number", c->file, p->line,
                       key, p->value);
    *out = v;
    return RECUR_OK;
}
