"""Round trip of a trivial cell and start-up time, gompi-kernel vs ipykernel.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/roundtrip.py [--ranks 1,4,8,16] [--cells 200]

For each rank count it installs a kernelspec into a temporary JUPYTER_DATA_DIR,
starts the kernel through jupyter_client's KernelManager as a notebook server
would, and measures (1) the time from starting mpirun to the end of
wait_for_ready (jupyter_client's own polling included: see startup.py for
the kernel's part), and (2) the round trip execute_request -> reply and idle
of a trivial cell (no output, no value), median and p90 over --cells runs
after 10 warm-up cells. Debian's ipykernel is measured in the same run,
before and after the gompi kernels (the machine's load may change in
between); the ratio is against the median of both ipykernel runs' samples.
The "results" column counts execute_result messages: a cell without a value
must send none. Prints one line per kernel.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, loadavg, pct  # noqa: E402


def measure(kernel_name, cells, setup_code, cell_code):
    km = KernelManager(kernel_name=kernel_name)
    t0 = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    ready = time.perf_counter() - t0
    kc.execute_interactive(setup_code, timeout=60)
    results = [0]

    def hook(m):
        if m["msg_type"] == "execute_result":
            results[0] += 1

    times = []
    for i in range(cells + 10):
        t = time.perf_counter()
        reply = kc.execute_interactive(cell_code, timeout=60, output_hook=hook)
        if i >= 10:
            times.append(time.perf_counter() - t)
        assert reply["content"]["status"] == "ok", reply
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    return ready, times, results[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="1,4,8,16")
    ap.add_argument("--cells", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    data = tempfile.mkdtemp(prefix="gompi-bench-")
    os.environ["JUPYTER_DATA_DIR"] = data
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger warning
    print(f"trivial cell, execute_request -> idle, {args.cells} cells; load average {loadavg()} at start")
    print(f"{'kernel':<22} {'ready (s)':>10} {'median (ms)':>12} {'p90 (ms)':>10} {'ratio':>7} {'results':>7}")

    def line(label, ready, times, results, base):
        med = statistics.median(times)
        ratio = med / base if base else 1.0
        r = f"{ready:>10.2f}" if ready is not None else f"{'':>10}"
        print(f"{label:<22} {r} {med*1e3:>12.2f} {pct(times, 0.9)*1e3:>10.2f} {ratio:>7.2f} {results:>7}")
        sys.stdout.flush()

    _, before, res = measure("python3", args.cells, "i = 0", "i += 1")
    line("ipykernel (before)", None, before, res, statistics.median(before))
    rows = []
    for n in [int(x) for x in args.ranks.split(",")]:
        name = f"gompi-bench-{n}"
        subprocess.run([BIN, "install", "--ranks", str(n), "--name", name], check=True,
                       stdout=subprocess.DEVNULL)
        rows.append((n,) + measure(name, args.cells, "i := 0", "i++"))
    _, after, res2 = measure("python3", args.cells, "i = 0", "i += 1")
    base = statistics.median(before + after)
    line("ipykernel (after)", None, after, res2, base)
    for n, ready, times, results in rows:
        line(f"gompi {n} rank(s)", ready, times, results, base)
    print(f"ratio = gompi median / ipykernel median over both runs ({base*1e3:.2f} ms)")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
