/*
 * cpu.c -- which hand-written vector kernels this CPU can run. The portable
 * C versions stay the reference and the fallback (and what valgrind runs:
 * it reports no AVX-512).
 */
#include "core/core.h"

int rc_cpu_avx512(void)
{
#if defined(__GNUC__) && defined(__x86_64__) && !defined(RECUR_NO_SIMD)
    static int known = -1; /* a benign race: every thread computes the same value */
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return known;
#else
    return 0;
#endif
}
