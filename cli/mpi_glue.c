/*
 * mpi_glue.c -- see mpi_glue.h. Compiled in every build: with RECUR_MPI
 * (make MPI=1) it calls src/mpi/, else each function is the one-process case.
 */
#include "mpi_glue.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#ifdef RECUR_MPI

#include "mpi/rc_mpi.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

/* How long a failing rank waits for the others at an agreement before it
 * concludes they are stuck in a collective it will never join (it then
 * reports and aborts the run). Covers rank 0 saving the model after Ctrl-C
 * and other ranks still reading a large data file. */
#define AGREE_WAIT_S 60.0

/* After mpirun's SIGTERM, how long rank 0 waits for the stop agreement
 * before it says that the other ranks are gone (mpirun's SIGKILL follows
 * the SIGTERM by 1 s). */
#define STOP_WAIT_MS 400

static int active;     /* MPI is up */
static int agreed;     /* a failure was agreed on: cli_mpi_end only finishes */
static int saved_err = -1; /* this rank's real stderr */
static char note[1024];
static char gone_line[400]; /* rank 0's line when the others are gone */
static size_t gone_len;
static volatile sig_atomic_t term_kills; /* SIGTERM's default action is ours to finish */

static void own_line(const char *fmt, const char *a, const char *b)
{
    char line[2300];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (saved_err >= 0 && n > 0) {
        ssize_t w = write(saved_err, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* SIGALRM, STOP_WAIT_MS after mpirun's SIGTERM with no agreement since: the
 * other ranks are gone. One line (write: async-signal-safe), then the end
 * SIGTERM would have given when no command handles it. */
static void on_alarm(int sig)
{
    (void)sig;
    if (saved_err >= 0 && gone_len) {
        ssize_t w = write(saved_err, gone_line, gone_len);
        (void)w;
    }
    if (term_kills) _exit(128 + SIGTERM);
}

static void on_term(int sig)
{
    term_kills = 1;
    cli_mpi_signal(sig);
}

void cli_mpi_signal(int sig)
{
    if (!active || !gone_len || sig != SIGTERM) return;
    struct itimerval it = {{0, 0}, {0, STOP_WAIT_MS * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* The agreement came: whoever sent SIGTERM, the ranks are still there. */
static void stop_timer(void)
{
    if (!gone_len) return;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

/* The run's end is agreed: whatever SIGTERM mpirun sends now (to the ranks
 * still finishing after one has exited), nobody is gone unannounced. */
static void disarm(void)
{
    stop_timer();
    gone_len = 0;
}

/* A message for rank 0: this rank's name and its last error. */
static void whole_note(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s: %s", rc_mpi_where(), note[0] ? note : "failed (no message)");
}

int cli_mpi_start(int *argc, char ***argv, const char *cmd)
{
    char msg[512];
    if (!rc_mpi_launched()) return 0;
    if (rc_mpi_init(argc, argv, msg, sizeof msg) != 0) {
        fprintf(stderr, "recur: error: %s\n", msg);
        return CLI_RUNTIME;
    }
    active = 1;
    /* Stopping a job, mpirun closes the pipes that carry the ranks' output
     * first: a rank saving the last epoch after Ctrl-C must not die of
     * SIGPIPE for its message (the message is lost then, the file is not). */
    signal(SIGPIPE, SIG_IGN);
    if (getenv("RECUR_MPI_STATS")) rc_mpi_time_exchanges(1);
    saved_err = dup(STDERR_FILENO);
    if (rc_mpi_rank() != 0) { /* rank 0 alone prints */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            fflush(stdout);
            fflush(stderr);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    if (rc_mpi_rank() == 0 && rc_mpi_size() > 1) {
        int n = snprintf(gone_line, sizeof gone_line,
                         "recur: error: %s: mpirun is ending the run (SIGTERM) and the other ranks did not "
                         "answer within %.1f s: one of them has ended (or, after Ctrl-C, is inside a long step); "
                         "nothing partial is written\n", rc_mpi_where(), STOP_WAIT_MS / 1000.0);
        gone_len = n > 0 && (size_t)n < sizeof gone_line ? (size_t)n : 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        sa.sa_handler = on_term; /* commands that stop cleanly (train) install their own over it */
        sigaction(SIGTERM, &sa, NULL);
    }
    if (rc_mpi_size() > 1 && strcmp(cmd, "train") != 0 && strcmp(cmd, "backtest") != 0) {
        if (rc_mpi_rank() == 0)
            fprintf(stderr, "recur %s: runs in one process; under mpirun only \"recur train\" and \"recur "
                            "backtest\" share their work across ranks (this run has %d): start it without mpirun\n",
                    cmd, rc_mpi_size());
        agreed = 1; /* every rank reaches the same verdict */
        return CLI_USAGE;
    }
    return 0;
}

/* The agreement of both ready and end: 0 when all are fine. */
static int agree(int status)
{
    char msg[1200];
    int from = 0;
    whole_note(msg, sizeof msg);
    int st = rc_mpi_agree(status, AGREE_WAIT_S, &from, msg, sizeof msg);
    if (st < 0) { /* the others are stuck, or MPI failed: say why here and end the run */
        own_line("recur: error: %s: %s; the other ranks did not answer within a minute, stopping them all\n",
                 rc_mpi_where(), note[0] ? note : "failed");
        rc_mpi_abort(status);
    }
    if (st) disarm(); /* every rank ends now: their exits are not a rank lost */
    if (st && rc_mpi_rank() == 0 && from != 0) fprintf(stderr, "recur: error: %s\n", msg);
    if (st) agreed = 1;
    return st;
}

int cli_mpi_end(int status)
{
    if (!active) return status;
    int st = agreed ? status : agree(status);
    disarm();
    if (st == 0 && rc_mpi_rank() == 0 && getenv("RECUR_MPI_STATS")) {
        rc_mpi_counts c = rc_mpi_stats();
        double per = c.steps ? 1.0 / (double)c.steps : 0.0;
        fprintf(stderr, "mpi: %d ranks; rank 0: %ld steps, %.0f bytes sent and %.0f received per step; per step "
                        "%.1f us waiting for the slowest rank, %.1f us exchanging\n",
                rc_mpi_size(), c.steps, c.sent * per, c.received * per, 1e6 * c.waiting * per, 1e6 * c.seconds * per);
    }
    fflush(stdout);
    fflush(stderr);
    rc_mpi_finish();
    return st ? st : status;
}

int cli_mpi_root(void) { return !active || rc_mpi_rank() == 0; }
const recur_peers *cli_mpi_peers(void) { return active ? rc_mpi_peers() : NULL; }
int cli_mpi_ready(int status) { return active ? agree(status) : status; }
int cli_mpi_any(int flag)
{
    if (!active) return flag;
    int any = rc_mpi_any(flag);
    stop_timer();
    return any;
}

void cli_mpi_note(const char *msg)
{
    if (active) snprintf(note, sizeof note, "%s", msg);
}

#else /* one process */

int cli_mpi_start(int *argc, char ***argv, const char *cmd)
{
    (void)argc, (void)argv, (void)cmd;
    return 0;
}
int cli_mpi_end(int status) { return status; }
int cli_mpi_root(void) { return 1; }
const recur_peers *cli_mpi_peers(void) { return NULL; }
int cli_mpi_ready(int status) { return status; }
int cli_mpi_any(int flag) { return flag; }
void cli_mpi_note(const char *msg) { (void)msg; }
void cli_mpi_signal(int sig) { (void)sig; }

#endif
