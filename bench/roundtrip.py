"""Round trip of a trivial cell and start-up time, gompi-kernel vs ipykernel.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/roundtrip.py [--ranks 1,4,8,16] [--cells 200]

For each rank count it installs a kernelspec into a temporary JUPYTER_DATA_DIR,
starts the kernel through jupyter_client as a notebook server would, and
measures (1) the time from starting mpirun to the kernel_info_reply, and (2)
the round trip execute_request -> idle of a trivial cell (no output, no
value), median and p90 over --cells runs. Debian's ipykernel is measured in
the same run, for a ratio. Prints one line per kernel.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "bin", "gompi-kernel")


def measure(kernel_name, cells, setup_code, cell_code):
    km = KernelManager(kernel_name=kernel_name)
    t0 = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    ready = time.perf_counter() - t0
    kc.execute_interactive(setup_code, timeout=60)
    times = []
    for _ in range(cells):
        t = time.perf_counter()
        reply = kc.execute_interactive(cell_code, timeout=60, output_hook=lambda m: None)
        times.append(time.perf_counter() - t)
        assert reply["content"]["status"] == "ok", reply
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    times.sort()
    return ready, statistics.median(times), times[int(0.9 * len(times)) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="1,4,8,16")
    ap.add_argument("--cells", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    data = tempfile.mkdtemp(prefix="gompi-bench-")
    os.environ["JUPYTER_DATA_DIR"] = data
    print(f"{'kernel':<22} {'ready (s)':>10} {'median (ms)':>12} {'p90 (ms)':>10} {'ratio':>7}")
    _, base, base90 = measure("python3", args.cells, "i = 0", "i += 1")
    print(f"{'ipykernel':<22} {'':>10} {base*1e3:>12.2f} {base90*1e3:>10.2f} {1.0:>7.2f}")
    for n in [int(x) for x in args.ranks.split(",")]:
        name = f"gompi-bench-{n}"
        subprocess.run([BIN, "install", "--ranks", str(n), "--name", name], check=True,
                       stdout=subprocess.DEVNULL)
        ready, med, p90 = measure(name, args.cells, "i := 0", "i++")
        print(f"{'gompi ' + str(n) + ' rank(s)':<22} {ready:>10.2f} {med*1e3:>12.2f} {p90*1e3:>10.2f} {med/base:>7.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
