"""Memory of a kernel over many cells: MiB per 1,000 cells per rank.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/soak.py [--ranks 4] [--cells 2000] [--warmup 300]

Starts `mpirun -n N bin/gompi-kernel`, runs --warmup trivial cells, then
--cells trivial cells (`x = 1`), then --cells printing cells (20 lines per
rank each), and reads each rank's resident memory (VmRSS of
/proc/PID/status) before and after each phase, and its thread count. Go's
heap is collected lazily, so RSS is read after a cell that runs
runtime.GC() and debug.FreeOSMemory() on every rank: what remains is memory
the kernel still holds. Reported as MiB per 1,000 cells per rank (median
and worst rank).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, median, mpi_rank  # noqa: E402

COLLECT = "runtime.GC(); debug.FreeOSMemory()"
PRINT = 'for i := 0; i < 20; i++ { fmt.Println("line", i, "of a printing cell on rank", mpi.Rank()) }'


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def measure(job):
    job.execute(COLLECT)
    ranks = {}
    for p in job.pids():
        r = mpi_rank(p)
        if r is not None:
            ranks[r] = (status(p, "VmRSS") / 1024, status(p, "Threads"))
    return ranks


def phase(job, code, n):
    before = measure(job)
    for _ in range(n):
        job.execute(code)
    after = measure(job)
    per = [(after[r][0] - before[r][0]) * 1000 / n for r in sorted(before)]
    threads = [after[r][1] - before[r][1] for r in sorted(before)]
    return per, threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=300)
    a = ap.parse_args()
    with Job(a.ranks) as job:
        job.wait_ready()
        job.execute("x := 0")
        for _ in range(a.warmup):
            job.execute("x = 1")
        for name, code in (("trivial", "x = 1"), ("printing", PRINT)):
            per, threads = phase(job, code, a.cells)
            print(f"{a.ranks} ranks, {a.cells} {name} cells: {median(per):+.2f} MiB per 1,000 cells per rank "
                  f"(median; worst rank {max(per):+.2f}); threads {min(threads):+d}..{max(threads):+d}")
        job.shutdown()


if __name__ == "__main__":
    main()
