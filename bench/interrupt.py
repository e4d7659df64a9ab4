"""Interrupt latency: interrupt_request (control) -> execute_reply (shell).

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/interrupt.py [--ranks 4] [--repeat 10] [--cases spin,barrier,sleep]

One kernel under mpirun with N ranks; for each case, --repeat times: send a
cell that prints a line on every rank and then blocks, wait until every
rank's line has arrived on iopub and 200 ms more, send interrupt_request on
the control channel (interrupt_mode "message", as the kernelspec says), and
time until the cell's execute_reply arrives (and the interrupt_reply). Then a
cell with mpi.Barrier() must succeed on all ranks (the kernel is usable, the
cells' communicator renewed); its round trip is reported too.

Cases:
  spin     every rank runs `for {}`
  barrier  rank 0 sleeps (time.Sleep(time.Hour)); ranks 1..N-1 wait in mpi.Barrier()
  sleep    every rank sleeps (time.Sleep(time.Hour))
"""
import argparse
import os
import queue
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Job, loadavg, median, pct  # noqa: E402

CASES = {
    "spin": 'fmt.Println("started")\nfor {\n}',
    "barrier": 'fmt.Println("started")\nif mpi.Rank() == 0 {\n\ttime.Sleep(time.Hour)\n} else {\n\tmpi.Barrier()\n}',
    "sleep": 'fmt.Println("started")\ntime.Sleep(time.Hour)',
}


def wait_started(kc, msg_id, n, timeout=30):
    seen = 0
    deadline = time.perf_counter() + timeout
    while seen < n:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"only {seen} of {n} ranks started")
        try:
            m = kc.get_iopub_msg(timeout=left)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            seen += m["content"]["text"].count("started")


def one(job, code):
    kc = job.kc
    msg_id = kc.execute(code)
    wait_started(kc, msg_id, job.ranks)
    time.sleep(0.2)
    intr = kc.session.msg("interrupt_request", {})
    t0 = time.perf_counter()
    kc.control_channel.send(intr)
    t_reply = t_intr = None
    status = None
    deadline = t0 + 60
    while t_reply is None or t_intr is None:
        if time.perf_counter() > deadline:
            raise TimeoutError("no execute_reply/interrupt_reply within 60 s")
        try:
            m = kc.get_shell_msg(timeout=0.001)
            if m["parent_header"].get("msg_id") == msg_id:
                t_reply = time.perf_counter() - t0
                status = m["content"]["status"]
        except queue.Empty:
            pass
        try:
            m = kc.get_control_msg(timeout=0.001)
            if m["parent_header"].get("msg_id") == intr["header"]["msg_id"]:
                t_intr = time.perf_counter() - t0
        except queue.Empty:
            pass
    # the cell's idle
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"):
            break
    after, c, out = job.execute("mpi.Barrier()\nfmt.Println(\"ok\")", timeout=60)
    usable = c["status"] == "ok" and out.count("ok") == job.ranks
    return t_reply, t_intr, status, after, usable


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--cases", default="spin,barrier,sleep")
    args = ap.parse_args()
    print(f"{args.ranks} ranks; interrupt_request -> execute_reply, ms; {args.repeat} runs; "
          f"load average {loadavg()} at start")
    print(f"{'case':<8} {'median':>7} {'p90':>7} {'max':>7} | {'intr_reply med':>14} | {'reply status':>12} "
          f"| {'next cell med':>13} {'usable':>6}")
    with Job(args.ranks) as job:
        job.wait_ready()
        # Each rank's "started" apart: the default collapsed output shows
        # alike lines of several ranks once ("[0-3] started").
        job.execute("%output ranks")
        job.execute("x := 0")
        for case in args.cases.split(","):
            rs = [one(job, CASES[case]) for _ in range(args.repeat)]
            rep = [r[0] * 1e3 for r in rs]
            intr = [r[1] * 1e3 for r in rs]
            statuses = sorted({r[2] for r in rs})
            nxt = [r[3] * 1e3 for r in rs]
            usable = sum(r[4] for r in rs)
            print(f"{case:<8} {median(rep):>7.1f} {pct(rep, 0.9):>7.1f} {max(rep):>7.1f} | {median(intr):>14.1f} | "
                  f"{','.join(statuses):>12} | {median(nxt):>13.1f} {f'{usable}/{len(rs)}':>6}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
