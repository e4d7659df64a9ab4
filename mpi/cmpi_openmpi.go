//go:build !mpich

package mpi

// The MPI library this package links, chosen at build time: OpenMPI unless
// the build has the mpich tag (cmpi_mpich.go). It is named by OpenMPI's own
// pkg-config file, ompi.pc, not Debian's alternative mpi.pc, which follows
// whichever MPI the machine's alternatives point to.

// #cgo pkg-config: ompi
import "C"
