/*
 * test_core.c -- the core: the BLAS GEMM against the naive reference for
 * every transpose combination, odd sizes, leading dimensions and
 * alpha/beta; the packed step product (rc_pgemm) likewise, on both of its
 * paths; the seeded random streams; status strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h" /* internal: rc_gemm, rc_gemm_naive, rc_rng */

static void gemm_case(int ta, int tb, int M, int N, int K, float alpha, float beta)
{
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C1 = malloc(nc * sizeof *C1),
          *C2 = malloc(nc * sizeof *C2);
    rc_rng r;
    rc_rng_seed(&r, (uint64_t)(M * 131 + N * 17 + K + ta * 7 + tb));
    for (size_t i = 0; i < na; i++) A[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < nb; i++) B[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    rc_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    rc_gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    /* float sums of K products in another order: |error| <= K * eps * sum|a b| ~ 1e-7 K */
    double tol = 2e-6 * (K + 1);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++)
            if (fabs(C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]) > tol)
                fail_msg("gemm ta=%d tb=%d M=%d N=%d K=%d at (%d,%d): %g vs %g", ta, tb, M, N, K, i, j,
                         C1[(size_t)i * ldc + j], C2[(size_t)i * ldc + j]);
        for (int j = N; j < ldc; j++) /* padding untouched */
            assert_true(C1[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j]);
    }
    free(A), free(B), free(C1), free(C2);
}

static void t_gemm(void **s)
{
    (void)s;
    int sizes[][3] = {{1, 1, 1}, {1, 400, 100}, {32, 400, 100}, {7, 5, 3}, {33, 17, 65}, {64, 1, 200}, {3, 9, 0}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_case(ta, tb, sizes[k][0], sizes[k][1], sizes[k][2], 1.0f, 0.0f);
                gemm_case(ta, tb, sizes[k][0], sizes[k][1], sizes[k][2], 0.5f, 1.0f);
                gemm_case(ta, tb, sizes[k][0], sizes[k][1], sizes[k][2], -2.0f, 0.25f);
            }
}

/* rc_pgemm against the naive product: panel tails (N around multiples of
 * 16), row tails (M not a multiple of 8), both packings, A plain or
 * transposed, accumulate or not,
 * leading dimensions with padding that must stay untouched. Then rows must
 * not depend on the other rows of the call (the AVX-512 kernel promises it;
 * BLAS behind the portable path does not have to). */
static void pgemm_case(int ta, int M, int N, int K, int trans, int acc)
{
    int lda = (ta ? M : K) + 3, ldc = N + 5, lds = (trans ? K : N) + 2;
    size_t na = (size_t)(ta ? K : M) * lda, ns = (size_t)(trans ? N : K) * lds;
    float *A = malloc(na * sizeof *A), *S = malloc(ns * sizeof *S), *Bd = malloc((size_t)K * N * sizeof *Bd);
    float *C1 = malloc((size_t)M * ldc * sizeof *C1), *C2 = malloc((size_t)M * ldc * sizeof *C2);
    float *buf = malloc(rc_pack_floats(K, N) * sizeof *buf);
    rc_rng r;
    rc_rng_seed(&r, (uint64_t)(M * 131 + N * 17 + K * 3 + trans * 7 + acc + ta * 5));
    for (size_t i = 0; i < na; i++) A[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < ns; i++) S[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) Bd[(size_t)k * N + j] = trans ? S[(size_t)j * lds + k] : S[(size_t)k * lds + j];
    rc_packed pk;
    rc_pack(&pk, buf, S, lds, trans, K, N);
    rc_pgemm(ta, M, A, lda, &pk, acc, C1, ldc);
    rc_gemm_naive(ta, 0, M, N, K, 1, A, lda, Bd, N, acc ? 1.0f : 0.0f, C2, ldc);
    double tol = 2e-6 * (K + 1);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++)
            if (fabs(C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]) > tol)
                fail_msg("pgemm ta=%d M=%d N=%d K=%d trans=%d acc=%d simd=%d at (%d,%d): %g vs %g", ta, M, N, K,
                         trans, acc, pk.simd, i, j, C1[(size_t)i * ldc + j], C2[(size_t)i * ldc + j]);
        for (int j = N; j < ldc; j++) assert_true(C1[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j]);
    }
    if (M > 3 && pk.simd) { /* rows 1..3 alone give the same bits as inside the full call */
        float *C3 = malloc((size_t)M * ldc * sizeof *C3);
        for (size_t i = 0; i < (size_t)M * ldc; i++) C2[i] = C3[i] = acc ? 0.5f : 0.0f;
        rc_pgemm(ta, M, A, lda, &pk, acc, C2, ldc);
        rc_pgemm(ta, 3, ta ? A + 1 : A + lda, lda, &pk, acc, C3 + ldc, ldc);
        assert_memory_equal(C2 + ldc, C3 + ldc, (size_t)3 * ldc * sizeof *C2);
        free(C3);
    }
    free(A), free(S), free(Bd), free(C1), free(C2), free(buf);
}

/* A block of rows (rc_pack_rows) of a matrix packed with its column sums
 * (rc_pack_sum), and of an in-place view of it (rc_pack_view, odd leading
 * dimension), times the matching columns of A^T, as the weight gradients use
 * them; the sums equal a plain k-ordered loop bit for bit. */
static void pgemm_rows_case(int M, int N, int K, int k0, int nk)
{
    int lds = N + 3;
    float *A = malloc((size_t)K * M * sizeof *A), *S = malloc((size_t)K * lds * sizeof *S);
    float *C1 = calloc((size_t)M * N, sizeof *C1), *C2 = calloc((size_t)M * N, sizeof *C2);
    float *sum = calloc((size_t)N, sizeof *sum), *buf = malloc(rc_pack_floats(K, N) * sizeof *buf);
    rc_rng r;
    rc_rng_seed(&r, (uint64_t)(M + N * 7 + K * 11 + k0));
    for (size_t i = 0; i < (size_t)K * M; i++) A[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)K * lds; i++) S[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (int j = 0; j < N; j++) sum[j] = 0.25f;
    float *C3 = calloc((size_t)M * N, sizeof *C3);
    rc_packed pk, v, view = rc_pack_view(S, lds, K, N);
    rc_pack_sum(&pk, buf, S, lds, K, N, sum);
    v = rc_pack_rows(&pk, k0, nk);
    rc_pgemm(1, M, A + (size_t)k0 * M, M, &v, 0, C1, N);
    v = rc_pack_rows(&view, k0, nk);
    rc_pgemm(1, M, A + (size_t)k0 * M, M, &v, 0, C3, N);
    rc_gemm_naive(1, 0, M, N, nk, 1, A + (size_t)k0 * M, M, S + (size_t)k0 * lds, lds, 0, C2, N);
    for (size_t i = 0; i < (size_t)M * N; i++) {
        assert_true(fabs(C1[i] - C2[i]) <= 2e-6 * (nk + 1));
        assert_true(fabs(C3[i] - C2[i]) <= 2e-6 * (nk + 1));
    }
    if (pk.simd) assert_memory_equal(C1, C3, (size_t)M * N * sizeof *C1); /* same kernel, same order */
    free(C3);
    for (int j = 0; j < N; j++) {
        float e = 0.25f;
        for (int k = 0; k < K; k++) e += S[(size_t)k * lds + j];
        assert_true(sum[j] == e);
    }
    free(A), free(S), free(C1), free(C2), free(sum), free(buf);
}

/* [A1 | A2] [W; U] in one call (rc_pack_stack + rc_pgemm2), as the LSTM's
 * step: against the naive product of the joined matrices, and bit for bit
 * the same as the two products one after the other. */
static void pgemm2_case(int M, int K1, int K2, int N, int acc)
{
    int K = K1 + K2, l1 = K1 + 2, l2 = K2 + 1, ldt = N + 3, ldb = N + 1, ldc = N + 4;
    float *A1 = malloc((size_t)M * l1 * sizeof *A1), *A2 = malloc((size_t)M * l2 * sizeof *A2);
    float *T = malloc((size_t)K1 * ldt * sizeof *T), *Bt = malloc((size_t)K2 * ldb * sizeof *Bt);
    float *A = malloc((size_t)M * K * sizeof *A), *Bj = malloc((size_t)K * N * sizeof *Bj);
    float *C1 = malloc((size_t)M * ldc * sizeof *C1), *C2 = malloc((size_t)M * ldc * sizeof *C2),
          *C3 = malloc((size_t)M * ldc * sizeof *C3), *buf = malloc(rc_pack_floats(K, N) * sizeof *buf);
    rc_rng r;
    rc_rng_seed(&r, (uint64_t)(M * 7 + K1 * 13 + K2 * 17 + N * 19 + acc));
    for (size_t i = 0; i < (size_t)M * l1; i++) A1[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)M * l2; i++) A2[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)K1 * ldt; i++) T[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)K2 * ldb; i++) Bt[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = C3[i] = (float)(rc_rng_uniform(&r) * 2 - 1);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) A[(size_t)i * K + k] = k < K1 ? A1[(size_t)i * l1 + k] : A2[(size_t)i * l2 + k - K1];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) Bj[(size_t)k * N + j] = k < K1 ? T[(size_t)k * ldt + j] : Bt[(size_t)(k - K1) * ldb + j];
    rc_packed pk;
    rc_pack_stack(&pk, buf, T, ldt, K1, Bt, ldb, K2, N);
    rc_pgemm2(M, A1, l1, K1, A2, l2, &pk, acc, C1, ldc);
    rc_gemm_naive(0, 0, M, N, K, 1, A, K, Bj, N, acc ? 1.0f : 0.0f, C2, ldc);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++)
            if (fabs(C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]) > 2e-6 * (K + 1))
                fail_msg("pgemm2 M=%d K1=%d K2=%d N=%d acc=%d at (%d,%d)", M, K1, K2, N, acc, i, j);
        for (int j = N; j < ldc; j++) assert_true(C1[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j]);
    }
    rc_packed top = rc_pack_rows(&pk, 0, K1), bot = rc_pack_rows(&pk, K1, K2);
    rc_pgemm(0, M, A1, l1, &top, acc, C3, ldc);
    rc_pgemm(0, M, A2, l2, &bot, 1, C3, ldc);
    assert_memory_equal(C1, C3, (size_t)M * ldc * sizeof *C1);
    free(A1), free(A2), free(T), free(Bt), free(A), free(Bj), free(C1), free(C2), free(C3), free(buf);
}

static void t_pgemm(void **s)
{
    (void)s;
    int Ms[] = {1, 2, 7, 8, 9, 17, 32}, Ns[] = {1, 15, 16, 17, 33, 47, 48, 49, 50, 100, 200, 400}, Ks[] = {1, 3, 50, 100, 200, 400};
    for (int pass = 0; pass < 2; pass++) { /* the AVX-512 panels where the CPU has them, then the portable path */
        rc_cpu_disable_simd(pass);
        for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
            for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
                for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                    for (int tr = 0; tr < 2; tr++)
                        for (int acc = 0; acc < 2; acc++)
                            for (int ta = 0; ta < 2; ta++) pgemm_case(ta, Ms[m], Ns[n], Ks[k], tr, acc);
        pgemm_rows_case(13, 50, 96, 32, 64);
        pgemm_rows_case(100, 400, 256, 0, 32);
        pgemm_rows_case(1, 17, 40, 39, 1);
        int p2[][4] = {{16, 1, 50, 200}, {16, 50, 100, 400}, {9, 3, 7, 33}, {1, 1, 1, 1}, {64, 20, 64, 256}, {70, 5, 9, 48}};
        for (size_t c = 0; c < sizeof p2 / sizeof *p2; c++)
            for (int acc = 0; acc < 2; acc++) pgemm2_case(p2[c][0], p2[c][1], p2[c][2], p2[c][3], acc);
    }
    rc_cpu_disable_simd(0);
}

/* The passes over all parameters between two batches (vec.c) and the plain
 * RMSprop and Adam steps have AVX-512 versions that must give the same
 * floats as the portable loops: run both on the same data (a length with a
 * partial last vector) and compare bits. */
static void vec_run(int simd, size_t n, float *y, double *sq, float *p, float *slot, recur_optimizer kind)
{
    rc_cpu_disable_simd(!simd);
    rc_rng r;
    rc_rng_seed(&r, 11);
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) y[i] = (float)rc_rng_uniform(&r) - 0.5f, x[i] = (float)rc_rng_uniform(&r) - 0.5f;
    rc_vadd(y, x, n);
    *sq = rc_sumsq(y, n);
    recur_optim_opts o = recur_optim_opts_default(kind);
    recur_optimizer_state *st = NULL;
    assert_int_equal(recur_optimizer_new(&o, n, &st, NULL), RECUR_OK);
    for (size_t i = 0; i < n; i++) p[i] = (float)rc_rng_uniform(&r) - 0.5f;
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++) g[i] = (float)(rc_rng_uniform(&r) - 0.5) * (step + 1);
        recur_optimizer_step(st, p, g);
    }
    memcpy(slot, recur_optimizer_slot(st, "velocity"), n * sizeof *slot);
    recur_optimizer_free(st);
    free(x), free(g);
    rc_cpu_disable_simd(0);
}

static void t_vec_simd_matches_portable(void **s)
{
    (void)s;
    const size_t n = 1000 + 13;
    recur_optimizer kinds[] = {RECUR_OPT_RMSPROP, RECUR_OPT_ADAM};
    for (int k = 0; k < 2; k++) {
        float *y[2], *p[2], *v[2];
        double sq[2];
        for (int simd = 0; simd < 2; simd++) {
            y[simd] = malloc(n * sizeof **y), p[simd] = malloc(n * sizeof **p), v[simd] = malloc(n * sizeof **v);
            vec_run(simd, n, y[simd], &sq[simd], p[simd], v[simd], kinds[k]);
        }
        assert_memory_equal(y[0], y[1], n * sizeof **y);
        assert_memory_equal(&sq[0], &sq[1], sizeof *sq);
        assert_memory_equal(p[0], p[1], n * sizeof **p);
        assert_memory_equal(v[0], v[1], n * sizeof **v);
        assert_true(sq[0] > 1 && isfinite(sq[0]));
        for (int simd = 0; simd < 2; simd++) free(y[simd]), free(p[simd]), free(v[simd]);
    }
}

/* recur's workers call the BLAS at the same time (GRU and SimpleRNN layers,
 * the LSTM's portable path). Debian's serial OpenBLAS 0.3.21 is not safe for
 * that: about 1 in 1000 concurrent 64x400x100 products came out wrong. Each
 * of two threads repeats its own product and compares it with the one
 * computed alone beforehand. */
#ifdef RECUR_BLAS
enum { BT_REPS = 12000 }; /* 4000 caught the serial build in 9 runs of 10 */
#else
enum { BT_REPS = 50 }; /* the naive product is reentrant by construction */
#endif
enum { BT_M = 64, BT_N = 400, BT_K = 100 };
typedef struct {
    float A[BT_M * BT_K], B[BT_K * BT_N], ref[BT_M * BT_N], C[BT_M * BT_N];
    int wrong;
    pthread_barrier_t *start;
} blas_job;

static void *blas_worker(void *arg)
{
    blas_job *j = arg;
    pthread_barrier_wait(j->start); /* both at once from the first product */
    for (int r = 0; r < BT_REPS; r++) {
        rc_gemm(0, 0, BT_M, BT_N, BT_K, 1, j->A, BT_K, j->B, BT_N, 0, j->C, BT_N);
        if (memcmp(j->C, j->ref, sizeof j->C)) j->wrong++;
    }
    return NULL;
}

static void t_gemm_two_threads(void **s)
{
    (void)s;
    if (getenv("RECUR_SKIP_SLOW")) skip(); /* valgrind: 24000 products */
    blas_job *j = calloc(2, sizeof *j);
    assert_non_null(j);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < BT_M * BT_K; i++) j[t].A[i] = (float)((i * 7 + t * 13) % 11) - 5;
        for (int i = 0; i < BT_K * BT_N; i++) j[t].B[i] = (float)((i * 3 + t) % 7) - 3;
        rc_gemm(0, 0, BT_M, BT_N, BT_K, 1, j[t].A, BT_K, j[t].B, BT_N, 0, j[t].ref, BT_N);
    }
    rc_blas_enter(); /* as fit does */
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    j[0].start = j[1].start = &start;
    pthread_t th[2];
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_create(&th[t], NULL, blas_worker, &j[t]), 0);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    rc_blas_leave();
    if (j[0].wrong || j[1].wrong)
        printf("  concurrent products: %d and %d of %d wrong\n", j[0].wrong, j[1].wrong, BT_REPS);
    assert_int_equal(j[0].wrong + j[1].wrong, 0);
    free(j);
}

static void t_rng(void **s)
{
    (void)s;
    rc_rng a, b;
    rc_rng_seed(&a, 42);
    rc_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_true(rc_rng_next(&a) == rc_rng_next(&b));
    rc_rng_seed(&b, 43);
    assert_true(rc_rng_next(&a) != rc_rng_next(&b));
    double sum = 0, sq = 0;
    int counts[7] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = rc_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
        double z = rc_rng_normal(&a);
        sum += z, sq += z * z;
        counts[rc_rng_below(&a, 7)]++;
    }
    assert_true(fabs(sum / 100000) < 0.02);          /* mean 0, sd of the mean 0.003 */
    assert_true(fabs(sq / 100000 - 1) < 0.03);       /* variance 1 */
    for (int k = 0; k < 7; k++) assert_true(abs(counts[k] - 100000 / 7) < 600); /* ~5 sd */
    assert_true(rc_seed_mix(1, 2, 3) != rc_seed_mix(1, 3, 2));
}

static void t_status(void **s)
{
    (void)s;
    for (int c = RECUR_OK; c <= RECUR_E_DATA; c++) assert_true(strlen(recur_status_str((recur_status)c)) > 1);
    assert_string_equal(recur_status_str((recur_status)999), "unknown status");
    recur_error e;
    assert_int_equal(rc_error(&e, RECUR_E_PARSE, "%s:%d: bad", "f.csv", 3), RECUR_E_PARSE);
    assert_int_equal(e.code, RECUR_E_PARSE);
    assert_string_equal(e.msg, "f.csv:3: bad");
    assert_int_equal(rc_error(NULL, RECUR_E_IO, "x"), RECUR_E_IO);
}

/* The library says the version its header says, in both forms. */
static void t_version(void **s)
{
    (void)s;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RECUR_VERSION_MAJOR, RECUR_VERSION_MINOR, RECUR_VERSION_PATCH);
    assert_string_equal(recur_version(), want);
    assert_string_equal(recur_version(), RECUR_VERSION);
    assert_int_equal(recur_version_number(),
                     RECUR_VERSION_MAJOR * 10000 + RECUR_VERSION_MINOR * 100 + RECUR_VERSION_PATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_gemm), cmocka_unit_test(t_pgemm), cmocka_unit_test(t_vec_simd_matches_portable), cmocka_unit_test(t_gemm_two_threads), cmocka_unit_test(t_rng), cmocka_unit_test(t_status), cmocka_unit_test(t_version)};
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
