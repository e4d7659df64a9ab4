"""Time from starting mpirun to the kernel_info_reply, with where the time goes.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/startup.py [--ranks 1,4,16] [--repeat 5] [--no-baseline] [--mpirun-args "..."]

For each rank count, --repeat times: write a connection file, start
`mpirun -n N --oversubscribe --bind-to none bin/gompi-kernel -f FILE
--log-level debug`, connect a jupyter_client at once (ZeroMQ reconnect
interval 5 ms, so the client's retry timer adds little) and send
kernel_info_request until the reply arrives. Prints the median (and min/max)
of the time to the reply, then a breakdown from the kernel's debug log,
relative to starting mpirun (medians; "last" = the slowest rank): all rank
processes started, MPI_Init done, kernel communicators up, interpreters
ready, rank 0 listening (the kernel's debug log has ms
timestamps). Also the time from shutdown_request to mpirun's
exit.

Baseline (unless --no-baseline): bench/mpi_hello.c, compiled with mpicc,
run the same way: how long OpenMPI alone takes to start N processes, finish
MPI_Init and a barrier, and exit on this machine. The kernel cannot be ready
sooner than MPI_Init.
"""
import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, loadavg, median, mpi_env  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

LINE = re.compile(r'^time=(\S+) level=\w+ msg=("[^"]*"|\S+)(.*)$')


def go_duration(s):
    """A Go time.Duration's String() in seconds."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def breakdown(log, t0):
    """Events of the kernel's debug log, seconds after t0 (wall clock); for
    each event the slowest rank's time. "spawn" (a rank process started) is
    derived from the after= (time since process start) of a rank's first
    line that has one. The log's wording belongs to the kernel: events it no
    longer logs show as "-"."""
    ev = {}
    start = {}
    for line in log.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ts = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() - t0
        msg = m.group(2).strip('"')
        rest = m.group(3)
        after = re.search(r"after=(\S+)", rest)
        rank = re.search(r"rank=(\d+)", rest)
        key = rank.group(1) if rank else f"line{len(start)}"
        if after and key not in start:
            start[key] = ts - go_duration(after.group(1))
        name = {"MPI initialised": "init", "MPI and fabric up": "fabric",
                "interpreter ready": "interp"}.get(msg)
        if msg.startswith("jupyter: listening"):
            name = "listen"
        if name:
            ev.setdefault(name, []).append(ts)
    out = {k: max(v) for k, v in ev.items()}
    if start:
        out["spawn"] = max(start.values())
    return out


def kernel_once(n, mpirun_args):
    job = Job(n, log_level="debug", mpirun_args=mpirun_args)
    try:
        ready = job.wait_ready()
        job.execute("x := 1")  # a kernel that is ready runs cells
    finally:
        t = time.perf_counter()
        job.shutdown()
        down = time.perf_counter() - t
    with open(job.log.name) as f:
        ev = breakdown(f.read(), job.t_wall)
    job.cleanup()
    ev["ready"] = ready
    ev["shutdown"] = down
    ev["rc"] = job.proc.returncode
    return ev


def build_hello(d):
    exe = os.path.join(d, "mpi_hello")
    subprocess.run(["mpicc", "-O2", "-o", exe, os.path.join(HERE, "mpi_hello.c")], check=True)
    return exe


def hello_once(exe, n, mpirun_args):
    t0 = time.time()
    out = subprocess.run(["mpirun", "-n", str(n), "--oversubscribe", "--bind-to", "none", *mpirun_args, exe],
                         env=mpi_env(), capture_output=True, text=True, check=True).stdout
    t_exit = time.time() - t0
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("rank ")]
    return {
        "spawn": max(float(r[3]) for r in rows) - t0,
        "init": max(float(r[5]) for r in rows) - t0,
        "barrier": max(float(r[7]) for r in rows) - t0,
        "exit": t_exit,
    }


def fmt(x):
    return "-" if x is None else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="1,4,16")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--mpirun-args", default="", help="extra mpirun arguments, e.g. MCA parameters")
    args = ap.parse_args()
    extra = shlex.split(args.mpirun_args)
    ranks = [int(x) for x in args.ranks.split(",")]
    print(f"seconds after starting mpirun; median of {args.repeat} (min-max); load average {loadavg()} at start")
    print(f"{'ranks':>5} {'ready':>6} {'(min-max)':>13} | {'last spawn':>10} {'MPI_Init':>8} {'fabric':>7} "
          f"{'interp':>7} {'listen':>7} | {'shutdown':>8}")
    for n in ranks:
        runs = [kernel_once(n, extra) for _ in range(args.repeat)]
        r = {k: median([x[k] for x in runs if k in x]) if any(k in x for x in runs) else None
             for k in ("ready", "spawn", "init", "fabric", "interp", "listen", "shutdown")}
        lo, hi = min(x["ready"] for x in runs), max(x["ready"] for x in runs)
        bad = [x["rc"] for x in runs if x["rc"] != 0]
        print(f"{n:>5} {r['ready']:>6.3f} {'(%.2f-%.2f)' % (lo, hi):>13} | {fmt(r['spawn']):>10} {fmt(r['init']):>8} "
              f"{fmt(r['fabric']):>7} {fmt(r['interp']):>7} {fmt(r['listen']):>7} | {r['shutdown']:>8.3f}"
              + (f"  mpirun exit codes {bad}" if bad else ""))
        sys.stdout.flush()
    if args.no_baseline:
        return
    tmp = tempfile.mkdtemp(prefix="gompi-bench-hello-")
    try:
        exe = build_hello(tmp)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"baseline skipped (mpicc: {e})")
        shutil.rmtree(tmp, ignore_errors=True)
        return
    print(f"baseline: bench/mpi_hello.c (MPI_Init_thread + MPI_Barrier + MPI_Finalize), median of {args.repeat}")
    print(f"{'ranks':>5} {'last spawn':>10} {'MPI_Init':>8} {'barrier':>8} {'mpirun exit':>11}")
    for n in ranks:
        runs = [hello_once(exe, n, extra) for _ in range(args.repeat)]
        r = {k: median([x[k] for x in runs]) for k in runs[0]}
        print(f"{n:>5} {r['spawn']:>10.3f} {r['init']:>8.3f} {r['barrier']:>8.3f} {r['exit']:>11.3f}")
        sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
