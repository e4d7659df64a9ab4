package engine

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// tuneForOversubscription gives each rank a single Go processor when many
// more ranks than cores share the node (16 ranks on 2 cores, say), unless
// the user set GOMAXPROCS. There, each rank's Go runtime threads only add
// context switches that the other ranks pay for; measured with
// bench/roundtrip.py-style trivial cells on 2 cores:
//
//	ranks  default  GOMAXPROCS=1
//	4      3.2 ms   4.4 ms
//	8      6.1 ms   8.0 ms
//	16     18.9 ms  9.9–10.7 ms
//
// so the switch is made only above 4 ranks per core. Doing it for the
// workers from 2 ranks per core saved them a quarter of their CPU per
// trivial cell at 4 ranks on 2 cores (0.58 → 0.42 ms), but a worker with
// one Go processor no longer runs a cell's goroutines in parallel, and Go
// then never catches a cell's concurrent map writes (the runtime's check
// needs two writers at once): the cell hangs instead of failing
// (tests/death_test.go). The launcher tells each rank how many ranks its
// node runs (mpi.LocalSize: OpenMPI, MPICH's Hydra, Slurm).
func tuneForOversubscription(log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	local, ok := mpi.LocalSize()
	if !ok || local <= 4*runtime.NumCPU() {
		return
	}
	runtime.GOMAXPROCS(1)
	log.Debug("oversubscribed: one Go processor per rank", "ranks_on_node", local, "cores", runtime.NumCPU())
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
