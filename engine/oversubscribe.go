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
// so the switch is made only above 4 ranks per core. The launcher tells
// each rank how many ranks its node runs (mpi.LocalSize: OpenMPI, MPICH's
// Hydra, Slurm).
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
