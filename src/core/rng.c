/*
 * rng.c -- xoshiro256** with splitmix64 seeding; uniform, normal, bounded draws.
 * Algorithms from Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators" (2018). Written from the published recurrences.
 */
#include "core/core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rc_rng_seed(rc_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t rc_rng_next(rc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rc_rng_uniform(rc_rng *r) { return (double)(rc_rng_next(r) >> 11) * 0x1.0p-53; }

double rc_rng_normal(rc_rng *r)
{
    /* Box-Muller; u1 in (0,1] so log never sees 0. */
    double u1 = 1.0 - rc_rng_uniform(r);
    double u2 = rc_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rc_rng_below(rc_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = rc_rng_next(r);
    while (v >= limit);
    return v % n;
}

uint64_t rc_seed_mix(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed ^ (a * 0xd1b54a32d192ed03ULL) ^ (b * 0xabc98388fb8fac03ULL);
    splitmix64(&x);
    return splitmix64(&x);
}
