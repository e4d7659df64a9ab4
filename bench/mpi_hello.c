/* Baseline for bench/startup.py: how long OpenMPI itself takes to launch N
 * ranks and initialise MPI on this machine. Every rank prints the wall-clock
 * time (CLOCK_REALTIME, s) after MPI_Init and after a barrier. Built by
 * startup.py with mpicc into a temporary directory. */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    double t0 = now();
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    double t1 = now();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    double t2 = now();
    printf("rank %d start %.6f init %.6f barrier %.6f\n", rank, t0, t1, t2);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
