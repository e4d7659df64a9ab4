package mpi

import (
	"os"
	"strconv"
	"strings"
)

// What the launcher (OpenMPI's mpirun, MPICH's Hydra mpiexec, Slurm's srun)
// tells each process through its environment is read here and nowhere else,
// with each implementation's spelling, so that the rest of the kernel
// assumes no one MPI.

// LocalSize is the number of ranks of the job on this node, and whether the
// launcher said: OpenMPI's OMPI_COMM_WORLD_LOCAL_SIZE, MPICH Hydra's
// MPI_LOCALNRANKS, Slurm's SLURM_NTASKS_PER_NODE (a single number only).
// It is for the time before MPI_Init; once MPI is up, Comm.LocalSize asks
// MPI itself, whatever the launcher.
func LocalSize() (int, bool) {
	for _, v := range []string{"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

// LaunchRank is this process's rank as the launcher says, before MPI_Init:
// OpenMPI's, PMIx's, Hydra's (PMI) or Slurm's variable; a process that none
// names was started alone, as a singleton, and is rank 0. ok is false when
// a variable is set but unreadable.
func LaunchRank() (rank int, ok bool) {
	for _, v := range []string{"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"} {
		if s := os.Getenv(v); s != "" {
			n, err := strconv.Atoi(s)
			return n, err == nil && n >= 0
		}
	}
	return 0, true
}

// DoorbellAddrEnv names the variable in which a user gives the network the
// doorbell should use across hosts: interface names, CIDR blocks or
// addresses, comma-separated ("ib0", "10.1.0.0/16"). OpenMPI forwards only
// OMPI_* variables to other nodes by itself: pass it with
// `mpirun -x GOMPI_DOORBELL_ADDR`, or MPICH's `-genv`.
const DoorbellAddrEnv = "GOMPI_DOORBELL_ADDR"

// networkHints lists the networks the doorbell should advertise on: the
// user's choice, else the interfaces MPI's own TCP traffic was told to use
// (OpenMPI's btl_tcp_if_include and oob_tcp_if_include MCA parameters,
// MPICH ch3's MPIR_CVAR_NEMESIS_TCP_NETWORK_IFACE and libfabric's FI_TCP_IFACE (MPICH ch4, Intel MPI)
// — tried in that order; exclusions "^eth0" are ignored). Empty: any
// interface that is up.
func networkHints() []string {
	for _, v := range []string{DoorbellAddrEnv, "OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_oob_tcp_if_include",
		"MPIR_CVAR_NEMESIS_TCP_NETWORK_IFACE", "FI_TCP_IFACE"} {
		var hints []string
		for _, h := range strings.Split(os.Getenv(v), ",") {
			if h = strings.TrimSpace(h); h != "" && !strings.HasPrefix(h, "^") {
				hints = append(hints, h)
			}
		}
		if len(hints) > 0 {
			return hints
		}
	}
	return nil
}
