/*
 * cpu.c -- which hand-written vector kernels this CPU can run. The portable
 * C versions stay the reference and the fallback (and what valgrind runs:
 * it reports no AVX-512). RECUR_NO_SIMD=1 in the environment, or
 * rc_cpu_disable_simd(1) in tests, selects them on any CPU.
 */
#include "core/core.h"

#include <stdlib.h>

static int known = -1; /* a benign race: every thread computes the same value */

int rc_cpu_avx512(void)
{
#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_NO_SIMD)
    if (known < 0) {
        const char *off = getenv("RECUR_NO_SIMD");
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && !(off && *off && *off != '0') ? 1 : 0;
    }
    return known;
#else
    return 0;
#endif
}

void rc_cpu_disable_simd(int off)
{
    if (off) known = 0;
    else known = -1;
}
