"""Idle CPU of the whole kernel (mpirun and every rank), and the first cell after idling.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/idle_cpu.py [--ranks 4,16] [--seconds 10] [--settle 3] [--repeat 1]

For each rank count: start `mpirun -n N --oversubscribe --bind-to none
bin/gompi-kernel -f FILE`, connect with jupyter_client, run one cell and 20
back-to-back trivial cells (their median is the "warm" round trip), let the
kernel sit for --settle seconds (idle waits back off to their longest sleep),
then measure the CPU time of mpirun and all ranks over --seconds: the sum over
threads of /proc/PID/task/*/schedstat (ns) and, as a cross-check,
utime+stime of /proc/PID/stat (10 ms ticks). Reported as % of one core, with
mpirun, rank 0 and the workers apart. Then one trivial cell is timed
(execute_request -> idle): the first cell after the idle period. Finally,
per rank count, the CPU time one warm trivial cell costs (over the 20
back-to-back cells): the whole job, rank 0, a worker; divided by the number
of cores it is a floor for the round trip when ranks outnumber cores.

With --sweep 0.5,2,5,10 it instead measures, per rank count, the round trip
of one trivial cell after the kernel sat idle for each of those durations
(--repeat times each, median): how the idle back-off shows in the first
cell's latency.

The machine's load average is printed with each line, and "machine %": the
CPU used by everything on the machine during the window, in % of one core
(the kernel's share included). Other jobs on a 2-core machine inflate the
figures (CPU time of a process that waits for a
core is not counted, but cache misses and wake-up latency are).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, loadavg, machine_busy, median, mpi_rank, sample, wait_for_quiet  # noqa: E402


def one(n, seconds, settle):
    job = Job(n)
    try:
        ready = job.wait_ready()
        dt, c, out = job.execute("x := 1")
        assert c["status"] == "ok", (c, out)
        pids = job.pids()
        root = job.proc.pid
        w0 = sample(pids)
        warm = [job.execute("x++")[0] for _ in range(20)]
        w1 = sample(pids)
        # CPU per trivial cell (ms): what each rank spends on one cell
        cell_cpu = {p: (w1[p][1] - w0[p][1]) / 20 * 1e3 for p in w0 if p in w1}
        ranks_w = {mpi_rank(p): p for p in cell_cpu if p != root}
        wcpu = [cell_cpu[p] for r, p in ranks_w.items() if r != 0]
        time.sleep(settle)
        la0 = loadavg()
        m0 = machine_busy()
        s0 = sample(pids)
        t0 = time.perf_counter()
        time.sleep(seconds)
        s1 = sample(pids)
        t1 = time.perf_counter()
        m1 = machine_busy()
        first, c, out = job.execute("x++")
        assert c["status"] == "ok", (c, out)
        second = job.execute("x++")[0]
        wall = t1 - t0
        per = {}
        for p in s0:
            if p in s1:
                per[p] = ((s1[p][0] - s0[p][0]) / wall * 100, (s1[p][1] - s0[p][1]) / wall * 100)
        ranks = {mpi_rank(p): p for p in per if p != root}
        r0 = ranks.get(0)
        workers = [per[p][1] for r, p in ranks.items() if r != 0]
        machine = (m1[0] - m0[0]) / max(1, (m1[1] - m0[1])) * 100 * os.cpu_count()
        return {
            "n": n, "ready": ready, "wall": wall, "procs": len(per),
            "total_sched": sum(v[1] for v in per.values()),
            "total_ticks": sum(v[0] for v in per.values()),
            "mpirun": per.get(root, (0, 0))[1],
            "rank0": per[r0][1] if r0 else 0,
            "workers_mean": sum(workers) / len(workers) if workers else 0,
            "workers_max": max(workers) if workers else 0,
            "first": first, "second": second, "warm": median(warm),
            "load": la0, "machine": machine,
            "cell_total": sum(cell_cpu.values()),
            "cell_rank0": cell_cpu.get(ranks_w.get(0), 0.0),
            "cell_worker": sum(wcpu) / len(wcpu) if wcpu else 0.0,
        }
    finally:
        job.shutdown()
        job.cleanup()


def sweep(n, idles, repeat):
    job = Job(n)
    try:
        job.wait_ready()
        job.execute("x := 1")
        warm = [job.execute("x++")[0] for _ in range(20)]
        out = {}
        for idle in idles:
            ts = []
            for _ in range(repeat):
                time.sleep(idle)
                dt, c, _ = job.execute("x++")
                assert c["status"] == "ok", c
                ts.append(dt)
            out[idle] = ts
        return median(warm), out
    finally:
        job.shutdown()
        job.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="4,16")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quiet", type=float, default=0,
                    help="before each measurement wait up to 120 s until the machine is less than this %% busy "
                         "(over 2 s, 100 = all cores; 0: do not wait)")
    ap.add_argument("--sweep", default="", help="idle durations (s) before a timed cell, e.g. 0.5,2,5,10")
    args = ap.parse_args()
    if args.sweep:
        idles = [float(x) for x in args.sweep.split(",")]
        print(f"round trip (ms) of one trivial cell after sitting idle; median of {args.repeat}; load {loadavg()}")
        print(f"{'ranks':>5} {'warm':>6} " + " ".join(f"{'%gs idle' % i:>9}" for i in idles))
        for n in [int(x) for x in args.ranks.split(",")]:
            warm, r = sweep(n, idles, args.repeat)
            print(f"{n:>5} {warm*1e3:>6.1f} " + " ".join(f"{median(r[i])*1e3:>9.1f}" for i in idles))
            sys.stdout.flush()
        return
    print(f"idle CPU over {args.seconds:g} s after {args.settle:g} s settling; % of one core "
          f"(schedstat; ticks in brackets)")
    print(f"{'ranks':>5} {'total %':>8} {'(ticks)':>8} {'mpirun':>7} {'rank0':>6} {'wrk avg':>7} {'wrk max':>7} "
          f"{'1st cell ms':>11} {'2nd ms':>7} {'warm ms':>7} {'load':>5} {'machine %':>9}")
    cpu_lines = []
    for n in [int(x) for x in args.ranks.split(",")]:
        for _ in range(args.repeat):
            if args.quiet:
                wait_for_quiet(args.quiet, 120)
            r = one(n, args.seconds, args.settle)
            print(f"{r['n']:>5} {r['total_sched']:>8.2f} {'(%.1f)' % r['total_ticks']:>8} {r['mpirun']:>7.2f} "
                  f"{r['rank0']:>6.2f} {r['workers_mean']:>7.2f} {r['workers_max']:>7.2f} "
                  f"{r['first']*1e3:>11.1f} {r['second']*1e3:>7.1f} {r['warm']*1e3:>7.1f} {r['load']:>5} "
                  f"{r['machine']:>9.1f}")
            cpu_lines.append(f"{r['n']:>5} {r['cell_total']:>10.2f} {r['cell_rank0']:>7.2f} {r['cell_worker']:>11.2f} "
                             f"{r['cell_total'] / os.cpu_count():>16.2f}")
            sys.stdout.flush()
    print(f"CPU per warm trivial cell (ms; 20 back-to-back cells of `x++`, schedstat)")
    print(f"{'ranks':>5} {'whole job':>10} {'rank 0':>7} {'worker avg':>11} {'job / cores (ms)':>16}")
    for line in cpu_lines:
        print(line)


if __name__ == "__main__":
    main()
