package engine

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// shareCores gives each rank its share of the node's cores as Go
// processors (GOMAXPROCS = cores / ranks on the node, at least 1), unless
// the user set GOMAXPROCS: what an MPI user expects of a rank's threads
// (as OMP_NUM_THREADS for hybrid MPI+OpenMP codes), since each rank's Go
// runtime otherwise starts a processor per core of the node, and the
// threads of all ranks then compete for the same cores. Above all, a Go
// processor with nothing to run spins looking for work before it sleeps,
// and every hand-off between goroutines wakes one: on 2 cores, at 4 ranks,
// a worker's CPU per trivial cell went 0.23-0.28 -> 0.18 ms and rank 0's
// 0.67-0.80 -> 0.58-0.60 ms with one Go processor each
// (bench/cellcpu.py --ranks 4, GOMAXPROCS=1 against unset). Earlier this
// was done only above 4 ranks per core, where the default had made a
// trivial cell at 16 ranks take 18.9 ms instead of 10.
//
// With one processor a cell's goroutines take turns instead of running in
// parallel, and Go no longer catches concurrent map writes (its check needs
// two writers at once); a cell that wants more calls runtime.GOMAXPROCS, or
// the user sets GOMAXPROCS for the job. The launcher tells each rank how
// many ranks its node runs (mpi.LocalSize: OpenMPI, MPICH's Hydra, Slurm);
// runtime.NumCPU counts the cores this rank may run on (its binding).
func shareCores(log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	local, ok := mpi.LocalSize()
	if !ok || local <= 1 {
		return
	}
	n := max(1, runtime.NumCPU()/local)
	if n >= runtime.GOMAXPROCS(0) {
		return
	}
	runtime.GOMAXPROCS(n)
	log.Debug("Go processors per rank: the node's cores shared among its ranks", "gomaxprocs", n, "ranks_on_node", local, "cores", runtime.NumCPU())
}

// yieldOnlyWhileSpinning keeps OpenMPI from giving the core away in each
// of the kernel's own looks for a message (mpi.YieldOnlyWhileSpinning); the
// pollers that spin yield by themselves where ranks outnumber cores. Before
// MPI_Init, which reads the setting.
func yieldOnlyWhileSpinning(log *slog.Logger) {
	set, err := mpi.YieldOnlyWhileSpinning()
	if err != nil {
		log.Warn("turning off MPI's yield when idle", "err", err)
		return
	}
	if set {
		log.Debug("MPI yields only in spinning waits", "oversubscribed", mpi.Oversubscribed())
	}
}
