/*
 * rc_mpi.h -- recur across processes and hosts with MPI (built with make
 * MPI=1 only, into the recur program, not into librecur): a recur_peers whose
 * exchange is MPI_Allgatherv, the agreements that keep every rank on the
 * same path (stop after this batch? did every rank get ready? how does the
 * run end?), and the counters behind `make bench-mpi`.
 *
 * This header does not include mpi.h: cli/mpi_glue.c includes it and nothing
 * else outside src/mpi/ sees MPI.
 *
 * Communicators: the fit's exchanges and the stop agreement run on one
 * duplicate of MPI_COMM_WORLD, in the same order on every rank; the status
 * agreements (rc_mpi_agree) on a second one, so that a rank that failed on its
 * own can ask "is everyone here?" while the others are still inside the fit,
 * without mixing the two sequences of collectives.
 */
#ifndef RECUR_RC_MPI_H
#define RECUR_RC_MPI_H

#include "recur.h"

#include <stddef.h>

/* Ranks beyond a batch's chunk count (8 at most) idle in the fit. */
#define RC_MPI_MAX_RANKS 1024

/* 1 when this process was started by mpirun (its environment says so). */
int rc_mpi_launched(void);
/* MPI_Init_thread (the main thread alone calls MPI) and the communicators.
 * 0, or -1 with a one-line reason in msg. */
int rc_mpi_init(int *argc, char ***argv, char *msg, size_t cap);
int rc_mpi_rank(void);
int rc_mpi_size(void);
/* This rank's name for messages: "rank R of N (host)". */
const char *rc_mpi_where(void);
/* The peers of a data-parallel fit over every rank. */
const recur_peers *rc_mpi_peers(void);
/* 1 when flag is non-zero on any rank (a collective on the fit's communicator). */
int rc_mpi_any(int flag);
/* Status agreement: every rank passes its status (0 = fine) and the message
 * of its failure. Returns 0 when every rank is fine; else the status to exit
 * with (rank 0's when it failed, else the first failing rank's) and, on rank
 * 0, *from and msg say which rank failed and why (from = 0: rank 0 itself).
 * A failing rank waits at most wait_s seconds for the others (they may be
 * stuck in a collective it will never join): it then returns -1, and the
 * caller reports and aborts. A rank that is fine waits as long as it takes. */
int rc_mpi_agree(int status, double wait_s, int *from, char *msg, size_t cap);
/* MPI_Finalize, or MPI_Abort(status) of every rank. */
void rc_mpi_finish(void);
void rc_mpi_abort(int status);
/* What this rank's exchanges moved: steps with gradients, bytes it sent and
 * received (the payload the collective needs, not the wire protocol's), the
 * seconds spent inside the exchanges, and with rc_mpi_time_exchanges(1) the
 * part of them spent waiting for the slowest rank (an MPI_Barrier before each
 * exchange: one more latency per step, for measuring only). */
typedef struct {
    long steps, loss_only;
    double sent, received, seconds, waiting;
} rc_mpi_counts;
rc_mpi_counts rc_mpi_stats(void);
void rc_mpi_time_exchanges(int on);

#endif
