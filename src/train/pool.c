/*
 * pool.c -- a tiny fixed thread pool for chunk-parallel training and
 * prediction. Workers sleep on a condition variable (never spin: on a shared
 * 2-core machine a spinning thread whose partner lost its core is a disaster).
 * rc_pool_run(fn) calls fn(arg, tid) once on every thread, the caller being
 * tid 0, and returns when all are done.
 */
#define _GNU_SOURCE
#include "train/train.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

int rc_default_threads(void)
{
    int n = 0;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
    if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > RC_MAX_THREADS ? RC_MAX_THREADS : n;
}

static void *worker(void *arg)
{
    rc_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    int tid = 0;
    for (int i = 1; i < p->n; i++)
        if (pthread_equal(p->th[i], pthread_self())) tid = i;
    /* generation starts at 0: a run posted before this thread first gets the
       lock must still be seen as new work */
    unsigned long seen = 0;
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        void (*fn)(void *, int) = p->fn;
        void *a = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(a, tid);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

recur_status rc_pool_start(rc_pool *p, int n, recur_error *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1) n = 1;
    if (n > RC_MAX_THREADS) n = RC_MAX_THREADS;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = 1;
    /* Hold the lock while creating so workers read their tid after th[] is set. */
    pthread_mutex_lock(&p->mu);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&p->th[i], NULL, worker, p) != 0) break;
        p->n = i + 1;
    }
    pthread_mutex_unlock(&p->mu);
    if (p->n < n && p->n == 1 && n > 1) {
        (void)err; /* running single-threaded is still correct; not an error */
    }
    return RECUR_OK;
}

void rc_pool_run(rc_pool *p, void (*fn)(void *arg, int tid), void *arg)
{
    if (p->n <= 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void rc_pool_stop(rc_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    p->n = 0;
}
