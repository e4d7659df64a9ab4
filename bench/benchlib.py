"""Shared helpers for the gompi-kernel benchmarks (not a benchmark itself).

Run the benchmarks with Debian's /usr/bin/python3: jupyter_client is installed
for it only. The kernel binary is $GOMPI_BIN, or bin/gompi-kernel of this
repository.

A Job is one `mpirun -n N --oversubscribe --bind-to none gompi-kernel -f FILE`
started as a notebook server would: the connection file is written first
(jupyter_client.connect.write_connection_file), then mpirun is started in its
own session, so that the whole job (mpirun and every rank) can be found by
process group and by parentage in /proc.
"""
import math
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GOMPI_BIN") or os.path.join(REPO, "bin", "gompi-kernel")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def mpi_env():
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def machine_busy():
    """(busy, total) jiffies of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def busy_pct(interval=2.0):
    """% of all cores busy over the next interval seconds (100 = every core)."""
    b0, t0 = machine_busy()
    time.sleep(interval)
    b1, t1 = machine_busy()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def wait_for_quiet(limit=15.0, max_wait=120.0):
    """Wait up to max_wait seconds until the machine is less than limit %
    busy over 2 s (other developers' tests share it). Returns the last %."""
    deadline = time.time() + max_wait
    while True:
        b = busy_pct()
        if b < limit or time.time() >= deadline:
            return b


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    """The p-quantile (0..1) of xs, nearest rank."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, math.ceil(p * len(xs)) - 1))
    return xs[k]


# ---------------------------------------------------------------- /proc


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    return comm, s[s.rindex(")") + 2:].split()


def proc_table():
    """{pid: (ppid, pgid, comm)} of every process now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            comm, f = _stat_fields(d)
        except (OSError, ValueError):
            continue
        out[int(d)] = (int(f[1]), int(f[2]), comm)
    return out


def job_pids(root):
    """root (mpirun) and every process in its process group or below it."""
    table = proc_table()
    pids = {root} if root in table else set()
    pgid = table.get(root, (0, -1, ""))[1]
    pids |= {p for p, (_, g, _) in table.items() if g == pgid}
    grew = True
    while grew:
        grew = False
        for p, (pp, _, _) in table.items():
            if pp in pids and p not in pids:
                pids.add(p)
                grew = True
    return sorted(pids)


def cpu_ticks(pid):
    """utime+stime of the whole process (live and exited threads), in seconds."""
    _, f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK


def cpu_sched(pid):
    """Sum of the threads' sum_exec_runtime (/proc/PID/task/*/schedstat), in
    seconds, ns precision. Threads that exit between two samples are lost, so
    this is cross-checked against cpu_ticks."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def mpi_rank(pid):
    """The MPI rank of pid (OMPI_COMM_WORLD_RANK in its environment), or None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(kv.split(b"=", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def sample(pids):
    out = {}
    for p in pids:
        try:
            out[p] = (cpu_ticks(p), cpu_sched(p))
        except OSError:
            pass
    return out


# ---------------------------------------------------------------- the job


class Job:
    """One kernel under mpirun, with a BlockingKernelClient connected to it."""

    def __init__(self, ranks, extra_args=(), log_level=None, mpirun_args=()):
        self.ranks = ranks
        self.dir = tempfile.mkdtemp(prefix="gompi-bench-")
        self.conn = os.path.join(self.dir, "kernel.json")
        write_connection_file(self.conn, ip="127.0.0.1")
        argv = ["mpirun", "-n", str(ranks), "--oversubscribe", "--bind-to", "none",
                *mpirun_args, BIN, "-f", self.conn]
        if log_level:
            argv += ["--log-level", log_level]
        argv += list(extra_args)
        self.log = open(os.path.join(self.dir, "kernel.log"), "w")
        self.t_wall = time.time()
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=mpi_env(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.kc = BlockingKernelClient()
        self.kc.load_connection_file(self.conn)
        # The client connects before the kernel listens; ZeroMQ retries
        # every RECONNECT_IVL (100 ms by default), which would add up to
        # 100 ms of the client's own to the time-to-ready. Retry every 5 ms.
        self.kc.context.setsockopt(zmq.RECONNECT_IVL, 5)
        self.kc.start_channels()

    def wait_ready(self, timeout=120):
        """Send kernel_info_request until a reply arrives (the ports may not
        be bound yet; ZeroMQ queues and reconnects). Returns the seconds from
        starting mpirun to the reply."""
        kc = self.kc
        deadline = time.perf_counter() + timeout
        sent = set()
        while True:
            sent.add(kc.kernel_info())
            while True:
                try:
                    m = kc.get_shell_msg(timeout=0.5)
                except queue.Empty:
                    break
                if m["parent_header"].get("msg_id") in sent:
                    t = time.perf_counter() - self.t_start
                    self._drain_iopub()
                    return t
            if self.proc.poll() is not None:
                raise RuntimeError(f"mpirun exited with {self.proc.returncode}; log {self.log.name}")
            if time.perf_counter() > deadline:
                raise TimeoutError("kernel_info_reply did not arrive")

    def _drain_iopub(self, wait=0.05):
        while True:
            try:
                self.kc.get_iopub_msg(timeout=wait)
            except queue.Empty:
                return

    def execute(self, code, timeout=120):
        """Run code; return (seconds execute_request → idle, reply content,
        stdout text)."""
        out = []

        def hook(m):
            if m["msg_type"] == "stream":
                out.append(m["content"]["text"])
            elif m["msg_type"] == "error":
                out.append("\n".join(m["content"].get("traceback", [])))

        t = time.perf_counter()
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        return time.perf_counter() - t, reply["content"], "".join(out)

    def pids(self):
        return job_pids(self.proc.pid)

    def shutdown(self, timeout=30):
        try:
            self.kc.shutdown()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.kc.stop_channels()
        self.log.close()
        try:
            os.unlink(self.conn)
        except OSError:
            pass

    def cleanup(self):
        """Remove the job's temporary directory (connection file, kernel log),
        unless $BENCH_KEEP_LOGS is set or mpirun ended with a non-zero
        status (a failed start, a shutdown that had to kill it): then the log
        stays, and its path is printed."""
        failed = self.proc.returncode not in (None, 0)
        if failed:
            print(f"benchlib: mpirun exited with {self.proc.returncode}; kept {self.log.name}",
                  file=sys.stderr, flush=True)
        if not os.environ.get("BENCH_KEEP_LOGS") and not failed:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        if exc[0] is None:
            self.cleanup()
