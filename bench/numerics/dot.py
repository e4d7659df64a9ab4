"""numpy + mpi4py side of the numerics benchmark: the same distributed dot
product as dot/main.go and the cell in run.py. Run under mpirun; prints one
JSON line on rank 0 (times of each repetition, slowest rank's; the result).

    mpirun -n 4 --oversubscribe --bind-to none /usr/bin/python3 dot.py 10000000 15
"""
import json
import sys

import numpy as np
from mpi4py import MPI


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    comm = MPI.COMM_WORLD
    r = float(comm.rank + 1)
    # Same values as the Go programs: x[i] = r + i/n, y[i] = 1/r + i/n.
    step = np.arange(n, dtype=np.float64) / n
    x, y = r + step, 1 / r + step
    times, dot = [], 0.0
    for _ in range(reps):
        comm.Barrier()
        t0 = MPI.Wtime()
        s = np.array([np.dot(x, y)])
        comm.Allreduce(MPI.IN_PLACE, s, op=MPI.SUM)
        elapsed = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
        times.append(elapsed)
        dot = float(s[0])
    if comm.rank == 0:
        print(json.dumps({"times": times, "dot": dot, "ranks": comm.size, "n": n}))


if __name__ == "__main__":
    main()
