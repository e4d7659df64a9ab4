/* Reference for bench/collectives.py: OpenMPI's own MPI_Allreduce of 1e6
 * doubles and MPI_Bcast of 64 MiB, blocking (as a C program would call them)
 * and non-blocking (MPI_Iallreduce/MPI_Ibcast completed with an MPI_Test
 * loop, the way gompi's mpi package waits). The time of a repetition is the
 * slowest rank's. Rank 0 prints one line per variant:
 *   NAME best_seconds median_seconds
 * Built by collectives.py with mpicc into a temporary directory. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AR_N 1000000
#define BC_BYTES (64 << 20)

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int reps, int rank) {
    if (rank != 0) return;
    qsort(t, reps, sizeof *t, cmp);
    printf("%s %.9f %.9f\n", name, t[0], t[reps / 2]);
    fflush(stdout);
}

static double slowest(double t) {
    double out;
    MPI_Allreduce(&t, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return out;
}

static void wait_test(MPI_Request *r) {
    int done = 0;
    while (!done) MPI_Test(r, &done, MPI_STATUS_IGNORE);
}

int main(int argc, char **argv) {
    int provided, rank, reps = argc > 1 ? atoi(argv[1]) : 10;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    double *send = calloc(AR_N, sizeof(double)), *recv = calloc(AR_N, sizeof(double));
    char *buf = malloc(BC_BYTES);
    memset(buf, 1, BC_BYTES);
    double *t = calloc(reps, sizeof(double));
    MPI_Request r;
    for (int variant = 0; variant < 4; variant++) {
        for (int i = -1; i < reps; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            switch (variant) {
            case 0: MPI_Allreduce(send, recv, AR_N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); break;
            case 1: MPI_Iallreduce(send, recv, AR_N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r); wait_test(&r); break;
            case 2: MPI_Bcast(buf, BC_BYTES, MPI_BYTE, 0, MPI_COMM_WORLD); break;
            case 3: MPI_Ibcast(buf, BC_BYTES, MPI_BYTE, 0, MPI_COMM_WORLD, &r); wait_test(&r); break;
            }
            double dt = slowest(MPI_Wtime() - t0);
            if (i >= 0) t[i] = dt;
        }
        static const char *names[] = {"allreduce", "iallreduce", "bcast", "ibcast"};
        report(names[variant], t, reps, rank);
    }
    MPI_Finalize();
    return 0;
}
