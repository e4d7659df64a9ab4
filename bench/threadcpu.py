"""CPU per trivial cell of each thread of rank 0 and of worker 1.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/threadcpu.py [--ranks 16] [--cells 1500] [--code 'x = 1']

Starts the kernel (benchlib.Job), runs 20 warm-up cells, then --cells cells
back to back, and prints for rank 0 and worker 1 every thread that used CPU:
microseconds per cell (schedstat) and voluntary / involuntary context
switches per cell. The Go runtime's monitor thread is named "sysmon" (the
lowest thread id after the main thread's, as internal/sysmon finds it); the
others by their id's offset from the process id. GOMPI_SYSMON_SLACK=0 in
the environment shows sysmon with Linux's default timer slack.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, loadavg, mpi_rank  # noqa: E402


def threads(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{t}/status").read()
            cpu = int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except OSError:
            continue
        vol = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        invol = int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        out[int(t)] = (cpu, vol, invol)
    return out


def sysmon(pid, tids):
    after = sorted(t for t in tids if t > pid)
    return after[0] if after else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=16)
    ap.add_argument("--cells", type=int, default=1500)
    ap.add_argument("--code", default="x = 1")
    a = ap.parse_args()
    job = Job(a.ranks)
    try:
        job.wait_ready()
        dt, c, out = job.execute("x := 1")
        assert c["status"] == "ok", (c, out)
        for _ in range(20):
            job.execute(a.code)
        ranks = {p: mpi_rank(p) for p in job.pids()}
        watch = {"rank 0": 0, "worker 1": 1}
        pids = {name: next(p for p, r in ranks.items() if r == want) for name, want in watch.items()}
        before = {name: threads(p) for name, p in pids.items()}
        for _ in range(a.cells):
            job.execute(a.code)
        after = {name: threads(p) for name, p in pids.items()}
    finally:
        job.shutdown()
        job.cleanup()
    print(f"{a.ranks} ranks, {a.cells} cells of {a.code!r}; load {loadavg()}")
    for name, pid in pids.items():
        sm = sysmon(pid, after[name])
        rows = []
        for tid, (cpu, vol, invol) in after[name].items():
            c0, v0, i0 = before[name].get(tid, (0, 0, 0))
            if cpu > c0:
                label = "sysmon" if tid == sm else f"+{tid - pid}"
                rows.append(((cpu - c0) / a.cells / 1e3, (vol - v0) / a.cells, (invol - i0) / a.cells, label))
        rows.sort(reverse=True)
        total = sum(r[0] for r in rows)
        print(f"{name}: {total:.1f} us per cell")
        for us, vol, invol, label in rows:
            print(f"  {label:>8}: {us:7.1f} us, switches {vol:.2f} voluntary, {invol:.2f} involuntary")


if __name__ == "__main__":
    main()
