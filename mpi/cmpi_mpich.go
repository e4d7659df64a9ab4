//go:build mpich

package mpi

// The MPI library this package links with the mpich build tag (`make
// MPI=mpich`, `go build -tags mpich`): MPICH, through its pkg-config file
// mpich.pc. Its handles are ints where OpenMPI's are pointers; cmpi.go
// compiles for both.

// #cgo pkg-config: mpich
import "C"
