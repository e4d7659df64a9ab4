package engine

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// tuneForOversubscription gives ranks a single Go processor when more ranks
// than cores share the node, unless the user set GOMAXPROCS. There, each
// rank's spare Go processors only add thread wake-ups (futex) and context
// switches that the other ranks pay for. Measured with bench/roundtrip.py-
// style trivial cells on 2 cores, all ranks at GOMAXPROCS=1:
//
//	ranks  default  GOMAXPROCS=1
//	4      3.2 ms   4.4 ms
//	8      6.1 ms   8.0 ms
//	16     18.9 ms  9.9–10.7 ms
//
// Rank 0 serves Jupyter's sockets while its own part of the cell runs,
// which the 4- and 8-rank round trips show needs a second processor; so
// rank 0 keeps its processors up to 4 ranks per core. A worker does one
// thing at a time: with one processor it spent 0.42 instead of 0.58 ms of
// CPU per trivial cell at 4 ranks on 2 cores (bench/cellcpu.py). The
// launcher tells each rank how many ranks its node runs and its rank
// (mpi.LocalSize, mpi.LaunchedRank: OpenMPI, MPICH's Hydra, Slurm).
func tuneForOversubscription(log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	local, ok := mpi.LocalSize()
	if !ok || local <= runtime.NumCPU() {
		return
	}
	rank, known := mpi.LaunchedRank()
	if known && rank == 0 && local <= 4*runtime.NumCPU() {
		return
	}
	runtime.GOMAXPROCS(1)
	log.Debug("oversubscribed: one Go processor", "ranks_on_node", local, "cores", runtime.NumCPU())
}
