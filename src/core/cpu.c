/*
 * cpu.c -- which hand-written vector kernels this CPU can run. The portable
 * C versions stay the reference and the fallback (and what valgrind runs:
 * it reports no AVX-512). RECUR_NO_SIMD=1 in the environment, or
 * rc_cpu_disable_simd(1) in tests, selects them on any CPU.
 */
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>

/* -1 until the first call finds out. Threads may ask at once: each computes
 * the same value, and the atomic makes their stores and loads well defined. */
static atomic_int known = -1;

int rc_cpu_avx512(void)
{
#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_NO_SIMD)
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k < 0) {
        const char *off = getenv("RECUR_NO_SIMD");
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") && !(off && *off && *off != '0') ? 1 : 0;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k;
#else
    return 0;
#endif
}

void rc_cpu_disable_simd(int off)
{
    atomic_store_explicit(&known, off ? 0 : -1, memory_order_relaxed);
}
