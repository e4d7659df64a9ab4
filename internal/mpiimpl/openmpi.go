//go:build !mpich

package mpiimpl

const (
	// Name is the MPI implementation this build links.
	Name = "openmpi"
	// BuildTags are the go build -tags that select it, for building a
	// binary that matches this one (the tests build the kernel).
	BuildTags = ""
	// Package is the Debian package with its launcher.
	Package = "openmpi-bin"
)

// Launchers are the names of this MPI's launcher, most specific first:
// Debian's mpirun.openmpi stays OpenMPI's whichever MPI the mpirun
// alternative points to; plain mpirun elsewhere.
func Launchers() []string { return []string{"mpirun.openmpi", "mpirun"} }
