"""CPU time one trivial cell costs each rank, over many back-to-back cells.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/cellcpu.py [--ranks 4,16] [--cells 1000] [--code 'x = 1'] [--profile DIR]

For each rank count: start the kernel (benchlib.Job), define x, run 20 warm-up
cells, then --cells cells of --code back to back, and report the CPU time
(schedstat: the sum over threads of /proc/PID/task/*/schedstat, ns) each
process spent per cell: rank 0, the workers (median and max), mpirun, and the
whole job; with the median round trip. CPU time, unlike wall time, is barely
affected by other jobs on the machine.

--profile DIR sets GOMPI_CPUPROFILE=DIR/nN for the job: every rank writes a
pprof CPU profile of its life there (cpu.<rank>.pprof), e.g.
    go tool pprof -top bin/gompi-kernel DIR/n4/cpu.1.pprof
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, loadavg, median, mpi_rank, sample  # noqa: E402


def one(n, cells, code, profile):
    if profile:
        d = os.path.join(profile, f"n{n}")
        os.makedirs(d, exist_ok=True)
        os.environ["GOMPI_CPUPROFILE"] = os.path.abspath(d)
    job = Job(n)
    try:
        job.wait_ready()
        dt, c, out = job.execute("x := 1")
        assert c["status"] == "ok", (c, out)
        for _ in range(20):
            job.execute(code)
        pids = job.pids()
        root = job.proc.pid
        s0 = sample(pids)
        trips = [job.execute(code)[0] for _ in range(cells)]
        s1 = sample(pids)
        rank_of = {p: mpi_rank(p) for p in pids}
    finally:
        job.shutdown()
        job.cleanup()
        os.environ.pop("GOMPI_CPUPROFILE", None)
    per = {p: (s1[p][1] - s0[p][1]) / cells * 1e3 for p in s0 if p in s1}
    ranks = {rank_of[p]: v for p, v in per.items() if p != root and rank_of.get(p) is not None}
    workers = sorted(v for r, v in ranks.items() if r != 0)
    print(f"{n:3d} ranks: CPU per cell: rank 0 {ranks.get(0, float('nan')):.3f} ms, "
          f"worker median {median(workers) if workers else 0:.3f} max {max(workers) if workers else 0:.3f} ms, "
          f"mpirun {per.get(root, 0):.3f} ms, job {sum(per.values()):.3f} ms; "
          f"round trip median {median(trips) * 1e3:.2f} ms; load {loadavg()}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="4,16")
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--code", default="x = 1")
    ap.add_argument("--profile", default="")
    a = ap.parse_args()
    for n in (int(x) for x in a.ranks.split(",")):
        one(n, a.cells, a.code, a.profile)


if __name__ == "__main__":
    main()
