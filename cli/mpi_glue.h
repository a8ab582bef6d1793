/*
 * mpi_glue.h -- the recur program under mpirun, in one place (mpi_glue.c):
 * start and end of MPI, "am I rank 0", the agreements that keep every rank
 * on the same path. In a build without MPI (plain make), or when not started
 * by mpirun, every function here is the identity: rank 0 of 1, no peers.
 *
 * Under mpirun -np N, only `recur train` (data-parallel, or a panel's seed
 * ensemble split across ranks: see recur_peers in recur.h) and `recur
 * backtest` (its fits shared the same way, its forecasts split by series)
 * run. Every rank reads the data itself; rank 0 alone writes (model,
 * checkpoints, plots, history) and prints: the other ranks' stdout and stderr
 * go to /dev/null, and their error messages reach rank 0 through the
 * agreements, which print one line for the whole run.
 */
#ifndef RECUR_CLI_MPI_GLUE_H
#define RECUR_CLI_MPI_GLUE_H

#include "recur.h"

/* Before the command: MPI start-up when launched by mpirun. 0, or the exit
 * status when the command cannot run (its message printed). */
int cli_mpi_start(int *argc, char ***argv, const char *cmd);
/* After the command, with its exit status: agrees on how the run ends and
 * returns the status to exit with (rank 0 prints a failing rank's message). */
int cli_mpi_end(int status);
/* 1 on rank 0 (and in one process). */
int cli_mpi_root(void);
/* The peers for recur_fit_opts.peers: NULL in one process. */
const recur_peers *cli_mpi_peers(void);
/* Just before fit: every rank passes its status so far (0 = ready). Returns
 * 0 when all are ready, else the status to stop with (rank 0 has printed why). */
int cli_mpi_ready(int status);
/* 1 when flag is set on any rank (stopping after a batch: Ctrl-C, a failed
 * checkpoint); flag itself in one process. Called in the same order by all. */
int cli_mpi_any(int flag);
/* From a SIGINT/SIGTERM handler (async-signal-safe). mpirun ends a run with
 * SIGTERM to every rank, on Ctrl-C and when a rank has died; rank 0 then
 * prints one line if the other ranks do not reach the next agreement within
 * STOP_WAIT_MS (they died, or are stuck in a collective with a dead one). */
void cli_mpi_signal(int sig);
/* The text of the last error this process reported (cli_errorf), for rank 0. */
void cli_mpi_note(const char *msg);

#endif
