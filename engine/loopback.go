package engine

import (
	"log/slog"
	"os"
)

// keepMPIOnOneHost stops OpenMPI from opening network listeners that a job
// on one host never uses. Its TCP transport (btl tcp) listens on every
// address, IPv4 and IPv6, of every rank, although ranks on one host talk
// through shared memory (vader): measured with `ss -ltnp`, each rank of a
// 4-rank kernel had two such listeners. With the transports limited to
// self and vader, the ranks listen on nothing.
//
// It must run before MPI_Init, which reads OMPI_MCA_* from the environment.
// A job across hosts, or a user who chose the transports, is left alone.
// mpirun's own out-of-band listener binds every address in OpenMPI 4.1
// whatever its settings; that is mpirun's, not the ranks'.
func keepMPIOnOneHost(log *slog.Logger) {
	size, local := os.Getenv("OMPI_COMM_WORLD_SIZE"), os.Getenv("OMPI_COMM_WORLD_LOCAL_SIZE")
	if size == "" || size != local {
		return
	}
	if _, set := os.LookupEnv("OMPI_MCA_btl"); set {
		return
	}
	if err := os.Setenv("OMPI_MCA_btl", "self,vader"); err != nil {
		log.Warn("limiting MPI to shared memory", "err", err)
		return
	}
	log.Debug("one host: MPI transports self,vader, no TCP listeners")
}
