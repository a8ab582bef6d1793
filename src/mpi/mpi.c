/*
 * mpi.c -- the MPI side of a data-parallel fit (see rc_mpi.h and
 * recur_peers in recur.h).
 *
 * The exchange: rank r holds chunks [lo_r, hi_r) of the batch's n, at
 * grads + c * n_params; MPI_Allgatherv in place, with one MPI datatype per
 * chunk (n_params floats), hands every rank all n chunks, and a second one the
 * n chunk losses. Every rank then sums the chunks in chunk order, as one
 * process does, so the weights do not depend on the number of ranks. The
 * price: each rank receives the (N-1)/N of all n chunks that it did not
 * compute, n/2 times the bytes of a summing allreduce (2x at a batch of 64,
 * 4x from 128; see docs/scaling.md).
 *
 * A fit's gradients go through reduce instead (below): a chain that sums the
 * chunks in the same order, one parameter block per hop.
 *
 * Not here: process start-up policy, messages and exit codes (cli/mpi_glue.c).
 */
#include "mpi/rc_mpi.h"

#include "core/core.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int rank_, size_;
static MPI_Comm fit_comm = MPI_COMM_NULL, status_comm = MPI_COMM_NULL;
static MPI_Datatype chunk_type = MPI_DATATYPE_NULL;
static size_t chunk_params; /* n_params of chunk_type */
static char where_[MPI_MAX_PROCESSOR_NAME + 48];
static recur_peers peers_;
static rc_mpi_counts counts_;
static int timing_; /* rc_mpi_time_exchanges */

#ifdef RECUR_DOUBLE
#define RC_MPI_FLOAT MPI_DOUBLE
#else
#define RC_MPI_FLOAT MPI_FLOAT
#endif

int rc_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

static void error_text(int code, char *buf, size_t cap)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", code);
    snprintf(buf, cap, "%s", s);
}

static recur_status exchange(const recur_peers *p, recur_float *grads, double *loss, size_t n_params, int n_chunks,
                             recur_error *err)
{
    int cnt[RC_MPI_MAX_RANKS], at[RC_MPI_MAX_RANKS];
    double t0 = MPI_Wtime();
    for (int r = 0; r < p->size; r++) {
        at[r] = (int)((long)n_chunks * r / p->size);
        cnt[r] = (int)((long)n_chunks * (r + 1) / p->size) - at[r];
    }
    int rc = MPI_SUCCESS;
    if (timing_) { /* the wait for the slowest rank, apart from the transfer */
        rc = MPI_Barrier(fit_comm);
        double t1 = MPI_Wtime();
        counts_.waiting += t1 - t0;
        t0 = t1;
    }
    if (rc == MPI_SUCCESS && grads) {
        if (chunk_type == MPI_DATATYPE_NULL || chunk_params != n_params) {
            if (chunk_type != MPI_DATATYPE_NULL) MPI_Type_free(&chunk_type);
            if (n_params > 0x7fffffff) return rc_error(err, RECUR_E_INVALID, "MPI: %zu parameters are more than "
                                                       "one MPI message carries (2^31 - 1)", n_params);
            rc = MPI_Type_contiguous((int)n_params, RC_MPI_FLOAT, &chunk_type);
            if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&chunk_type);
            chunk_params = n_params;
        }
        if (rc == MPI_SUCCESS)
            rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, grads, cnt, at, chunk_type, fit_comm);
    }
    if (rc == MPI_SUCCESS) rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, loss, cnt, at, MPI_DOUBLE, fit_comm);
    if (rc != MPI_SUCCESS) {
        char s[MPI_MAX_ERROR_STRING];
        error_text(rc, s, sizeof s);
        return rc_error(err, RECUR_E_IO, "MPI: exchanging the chunk gradients failed on %s: %s", where_, s);
    }
    size_t per = (grads ? n_params * sizeof *grads : 0) + sizeof *loss;
    counts_.steps += grads != NULL;
    counts_.loss_only += grads == NULL;
    counts_.sent += (double)cnt[p->rank] * (double)per;
    counts_.received += (double)(n_chunks - cnt[p->rank]) * (double)per;
    counts_.seconds += MPI_Wtime() - t0;
    return RECUR_OK;
}

/* A fit's gradients summed along a chain of the ranks that hold chunks, in
 * chunk order: the first sums its chunks into chunk 0's slot and sends that
 * block to the next, which adds its own chunks one at a time (so the
 * additions are those of one process, in the same order) and passes it on;
 * the last broadcasts the total into every rank's chunk 0. Each rank sends
 * and receives one parameter block (the last sends it to all), against the
 * (N-1)/N of every chunk in the all-gather; in segments, the N-1 hops
 * overlap. The losses go as in exchange. */
#define RC_MPI_SEGMENT ((size_t)32768) /* floats per hop of reduce's chain: 128 KB */

static recur_status reduce(const recur_peers *p, recur_float *grads, double *loss, size_t n_params, int n_chunks,
                           recur_error *err)
{
    int cnt[RC_MPI_MAX_RANKS], at[RC_MPI_MAX_RANKS], prev = -1, next = -1, last = -1;
    double t0 = MPI_Wtime();
    for (int r = 0; r < p->size; r++) {
        at[r] = (int)((long)n_chunks * r / p->size);
        cnt[r] = (int)((long)n_chunks * (r + 1) / p->size) - at[r];
        if (cnt[r] > 0) {
            if (r < p->rank) prev = r;
            if (r > p->rank && next < 0) next = r;
            last = r;
        }
    }
    if (n_params > 0x7fffffff)
        return rc_error(err, RECUR_E_INVALID, "MPI: %zu parameters are more than one MPI message carries (2^31 - 1)",
                        n_params);
    const int me = p->rank, np = (int)n_params;
    int rc = MPI_SUCCESS;
    double sent = 0, received = 0;
    if (timing_) {
        rc = MPI_Barrier(fit_comm);
        double t1 = MPI_Wtime();
        counts_.waiting += t1 - t0;
        t0 = t1;
    }
    /* In segments, so that the hops overlap: rank r adds segment k while
     * rank r-1 already works on segment k+1. */
    for (size_t off = 0; rc == MPI_SUCCESS && cnt[me] > 0 && off < n_params; off += RC_MPI_SEGMENT) {
        int len = (int)(n_params - off < RC_MPI_SEGMENT ? n_params - off : RC_MPI_SEGMENT), c = at[me];
        if (prev >= 0) { /* the sum of chunks [0, at[me]) into chunk 0's slot (not one of ours) */
            rc = MPI_Recv(grads + off, len, RC_MPI_FLOAT, prev, 2, fit_comm, MPI_STATUS_IGNORE);
            received += (double)len * sizeof *grads;
        } else {
            c++; /* rank 0's chunk 0 is the slot */
        }
        for (; rc == MPI_SUCCESS && c < at[me] + cnt[me]; c++)
            rc_vadd(grads + off, grads + (size_t)c * n_params + off, (size_t)len);
        if (rc == MPI_SUCCESS && next >= 0) {
            rc = MPI_Send(grads + off, len, RC_MPI_FLOAT, next, 2, fit_comm);
            sent += (double)len * sizeof *grads;
        }
    }
    if (rc == MPI_SUCCESS) {
        rc = MPI_Bcast(grads, np, RC_MPI_FLOAT, last, fit_comm);
        if (me == last) sent += (double)(p->size - 1) * (double)n_params * sizeof *grads;
        else received += (double)n_params * sizeof *grads;
    }
    if (rc == MPI_SUCCESS) rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, loss, cnt, at, MPI_DOUBLE, fit_comm);
    if (rc != MPI_SUCCESS) {
        char s[MPI_MAX_ERROR_STRING];
        error_text(rc, s, sizeof s);
        return rc_error(err, RECUR_E_IO, "MPI: summing the chunk gradients failed on %s: %s", where_, s);
    }
    counts_.steps++;
    counts_.sent += sent + (double)cnt[me] * sizeof *loss;
    counts_.received += received + (double)(n_chunks - cnt[me]) * sizeof *loss;
    counts_.seconds += MPI_Wtime() - t0;
    return RECUR_OK;
}

int rc_mpi_init(int *argc, char ***argv, char *msg, size_t cap)
{
    int provided = 0, len = 0;
    char host[MPI_MAX_PROCESSOR_NAME];
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(msg, cap, "MPI_Init_thread failed");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm_dup(MPI_COMM_WORLD, &fit_comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &status_comm);
    /* errors come back as codes, reported as one line by the rank that saw them */
    MPI_Comm_set_errhandler(fit_comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(status_comm, MPI_ERRORS_RETURN);
    if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS) snprintf(host, sizeof host, "?");
    snprintf(where_, sizeof where_, "rank %d of %d (%s)", rank_, size_, host);
    if (size_ > RC_MPI_MAX_RANKS) {
        snprintf(msg, cap, "%d ranks: recur runs on at most %d", size_, RC_MPI_MAX_RANKS);
        return -1;
    }
    peers_.rank = rank_;
    peers_.size = size_;
    peers_.exchange = exchange;
    if (!getenv("RECUR_MPI_ALLGATHER")) peers_.reduce = reduce; /* the all-gather alone: for comparing */
    return 0;
}

int rc_mpi_rank(void) { return rank_; }
int rc_mpi_size(void) { return size_; }
const char *rc_mpi_where(void) { return where_; }
const recur_peers *rc_mpi_peers(void) { return &peers_; }
rc_mpi_counts rc_mpi_stats(void) { return counts_; }
void rc_mpi_time_exchanges(int on) { timing_ = on; }

int rc_mpi_any(int flag)
{
    int in = flag != 0, out = in;
    if (MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, fit_comm) != MPI_SUCCESS) return 1;
    return out;
}

int rc_mpi_agree(int status, double wait_s, int *from, char *msg, size_t cap)
{
    /* MIN of {first failing rank, -status of rank 0}: one reduction */
    int in[2] = {status ? rank_ : size_, rank_ == 0 ? -status : 0}, out[2] = {size_, 0}, done = 0;
    MPI_Request rq;
    if (MPI_Iallreduce(in, out, 2, MPI_INT, MPI_MIN, status_comm, &rq) != MPI_SUCCESS) return -1;
    double t0 = MPI_Wtime();
    while (!done) {
        if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
        if (done) break;
        if (status && MPI_Wtime() - t0 > wait_s) return -1; /* the request is left: the caller aborts */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    int first = out[0];
    if (first >= size_) return 0;
    if (from) *from = first;
    char text[1024];
    if (first != 0 && rank_ == first) {
        snprintf(text, sizeof text, "%s", msg ? msg : "");
        MPI_Send(text, (int)sizeof text, MPI_CHAR, 0, 1, status_comm);
    } else if (first != 0 && rank_ == 0) {
        if (MPI_Recv(text, (int)sizeof text, MPI_CHAR, first, 1, status_comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            snprintf(text, sizeof text, "(its message was lost)");
        text[sizeof text - 1] = '\0';
        if (msg) snprintf(msg, cap, "%s", text);
    }
    if (out[1] != 0) return -out[1];
    int st = status;
    MPI_Bcast(&st, 1, MPI_INT, first, status_comm); /* the first failing rank's status */
    return st ? st : 1;
}

void rc_mpi_finish(void)
{
    if (chunk_type != MPI_DATATYPE_NULL) MPI_Type_free(&chunk_type);
    MPI_Comm_free(&fit_comm);
    MPI_Comm_free(&status_comm);
    MPI_Finalize();
}

void rc_mpi_abort(int status) { MPI_Abort(MPI_COMM_WORLD, status ? status : 1); }
