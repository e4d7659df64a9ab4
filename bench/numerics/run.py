"""Numerics benchmark: a distributed dot product of N float64 per rank
(floats.Dot + mpi.Allreduce) in three forms, at each rank count:

  cell      a gompi-kernel cell, driven through jupyter_client with a kernelspec
            (gonum runs compiled; the interpreter only glues the calls)
  compiled  the same program built with go build (dot/main.go, the repo's mpi
            package), under mpirun
  numpy     numpy + mpi4py (dot.py), under mpirun

Each repetition times the dot product and the Allreduce of the partial sums,
between a Barrier and an Allreduce(Max) of the per-rank times, i.e. the slowest
rank; the figure is the median over all repetitions. The three forms take
turns, round after round, so that other load on the machine weighs on all. For the cell, the round
trip execute_request -> idle of the whole cell (what a user waits for) is
given too. Ratios are against compiled Go.

Usage (from the repository root, after `make build`):
    /usr/bin/python3 bench/numerics/run.py [--ranks 1,4] [--n 10000000] [--rounds 5] [--reps 5]
                                           [--kernel bin/gompi-kernel]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]

SETUP = """
n := {n}
r := float64(mpi.Rank() + 1)
x, y := make([]float64, n), make([]float64, n)
floats.Span(x, r, r+float64(n-1)/float64(n))
floats.Span(y, 1/r, 1/r+float64(n-1)/float64(n))
"""

# The loop of dot/main.go, in a cell: the interpreter runs the loop and the
# calls, gonum and mpi run compiled.
LOOP = """
var times []float64
var dot float64
for i := 0; i < {reps}; i++ {{
	mpi.Barrier()
	t0 := mpi.Wtime()
	sum := []float64{{floats.Dot(x, y)}}
	mpi.Allreduce(sum, sum, mpi.Sum)
	elapsed := []float64{{mpi.Wtime() - t0}}
	mpi.Allreduce(elapsed, elapsed, mpi.Max)
	times = append(times, elapsed[0])
	dot = sum[0]
}}
append(times, dot)
"""

# One repetition as a cell of its own: its round trip execute_request -> idle
# is what a user waits for.
ONE = """
sum := []float64{floats.Dot(x, y)}
mpi.Allreduce(sum, sum, mpi.Sum)
"""


def mpirun_json(ranks, cmd):
    out = subprocess.run(MPIRUN + ["-n", str(ranks)] + cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_cell(kc, code):
    result = {}

    def hook(msg):
        if msg["msg_type"] == "execute_result":
            result["text"] = msg["content"]["data"]["text/plain"]
        elif msg["msg_type"] == "error":
            result["error"] = msg["content"]

    t = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=300, output_hook=hook)
    wall = time.perf_counter() - t
    if reply["content"]["status"] != "ok" or "error" in result:
        raise RuntimeError(f"cell failed: {result.get('error', reply['content'])}")
    return wall, result.get("text")


class Cell:
    """A kernel started through its kernelspec, vectors set up on every rank."""

    def __init__(self, kernel, ranks, n):
        name = f"gompi-numerics-{ranks}"
        subprocess.run([kernel, "install", "--ranks", str(ranks), "--name", name], check=True,
                       stdout=subprocess.DEVNULL)
        self.km = KernelManager(kernel_name=name)
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        run_cell(self.kc, SETUP.format(n=n))
        run_cell(self.kc, LOOP.format(reps=1))  # warm-up: first use of the code paths
        run_cell(self.kc, ONE)

    def run(self, reps):
        _, text = run_cell(self.kc, LOOP.format(reps=reps))
        values = [float(v) for v in text.strip("[]").split()]
        walls = [run_cell(self.kc, ONE)[0] for _ in range(reps)]
        return {"times": values[:-1], "dot": values[-1], "walls": walls}

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="1,4")
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of compiled, cell, numpy in turn")
    ap.add_argument("--kernel", default=os.path.join(REPO, "bin", "gompi-kernel"))
    args = ap.parse_args()
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    os.environ["JUPYTER_DATA_DIR"] = tempfile.mkdtemp(prefix="gompi-numerics-")
    exe = os.path.join(tempfile.mkdtemp(prefix="gompi-dot-"), "dot")
    subprocess.run(["go", "build", "-o", exe, "./bench/numerics/dot"], check=True, cwd=REPO)

    print(f"distributed dot product, n = {args.n} float64 per rank, median of {args.rounds}x{args.reps} runs (ms)")
    print(f"{'ranks':>5} {'compiled':>9} {'cell':>9} {'numpy':>9} {'cell/comp':>10} {'numpy/comp':>11} {'cell round trip':>16}")
    for ranks in [int(r) for r in args.ranks.split(",")]:
        # The three take turns, round after round, so that a load that comes
        # and goes on the machine weighs on all of them alike.
        comp, npy, c = {"times": []}, {"times": []}, {"times": [], "walls": []}
        kernel = Cell(args.kernel, ranks, args.n)
        try:
            for _ in range(args.rounds):
                r = mpirun_json(ranks, [exe, "-n", str(args.n), "-reps", str(args.reps)])
                comp["times"] += r["times"]
                comp["dot"] = r["dot"]
                r = kernel.run(args.reps)
                c["times"] += r["times"]
                c["walls"] += r["walls"]
                c["dot"] = r["dot"]
                r = mpirun_json(ranks, ["/usr/bin/python3", os.path.join(HERE, "dot.py"), str(args.n), str(args.reps)])
                npy["times"] += r["times"]
                npy["dot"] = r["dot"]
        finally:
            kernel.close()
        for other, label in ((c["dot"], "cell"), (npy["dot"], "numpy")):
            if abs(other - comp["dot"]) > 1e-9 * abs(comp["dot"]):
                raise RuntimeError(f"{label} computed {other}, compiled {comp['dot']}")
        mc, mk, mn = (statistics.median(t) * 1e3 for t in (comp["times"], c["times"], npy["times"]))
        mw = statistics.median(c["walls"]) * 1e3
        print(f"{ranks:>5} {mc:>9.2f} {mk:>9.2f} {mn:>9.2f} {mk / mc:>10.2f} {mn / mc:>11.2f} {mw:>13.2f} ms")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
