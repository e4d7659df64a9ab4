package engine

import (
	"log/slog"
	"os"
)

// keepMPIOnOneHost stops MPI from opening network listeners that a job on
// one host never uses, since ranks on one host talk through shared memory.
//
//   - OpenMPI: its TCP transport (btl tcp) listens on every address, IPv4
//     and IPv6, of every rank; measured with `ss -ltnp`, each rank of a
//     4-rank kernel had two such listeners. With the transports limited to
//     self and vader (OMPI_MCA_btl), the ranks listen on nothing.
//   - MPICH as Debian builds it (ch4:ucx), started by Hydra: UCX's TCP
//     transport listens on every interface of every rank (127.0.0.1 and
//     the host's address, each rank), although MPICH's own shared memory
//     carries the traffic. With UCX limited to self and shared memory
//     (UCX_TLS), the ranks listen on nothing.
//
// It must run before MPI_Init, which reads these from the environment, so
// it has only the launcher's variables to go by (OpenMPI's, Hydra's). A job
// across hosts, or a user who chose the transports, is left alone. The
// launchers' own control listeners bind every address whatever the
// settings (OpenMPI 4.1's mpirun; Hydra's mpiexec, whose listening socket
// the ranks inherit); those are the launcher's, not the ranks'.
func keepMPIOnOneHost(log *slog.Logger) {
	for _, l := range []struct{ size, local, knob, value string }{
		{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_MCA_btl", "self,vader"},
		{"PMI_SIZE", "MPI_LOCALNRANKS", "UCX_TLS", "self,sm"},
	} {
		size, local := os.Getenv(l.size), os.Getenv(l.local)
		if size == "" || size != local {
			continue
		}
		if _, set := os.LookupEnv(l.knob); set {
			return
		}
		if err := os.Setenv(l.knob, l.value); err != nil {
			log.Warn("limiting MPI to shared memory", "err", err)
			return
		}
		log.Debug("one host: MPI limited to shared memory, no TCP listeners", l.knob, l.value)
		return
	}
}
