//go:build mpich

package mpiimpl

const (
	// Name is the MPI implementation this build links.
	Name = "mpich"
	// BuildTags are the go build -tags that select it, for building a
	// binary that matches this one (the tests build the kernel).
	BuildTags = "mpich"
	// Package is the Debian package with its launcher.
	Package = "mpich"
)

// Launchers are the names of MPICH's Hydra launcher, most specific first:
// Debian's mpiexec.mpich stays MPICH's whichever MPI the mpiexec
// alternative points to; mpiexec.hydra and mpiexec elsewhere.
func Launchers() []string { return []string{"mpiexec.mpich", "mpiexec.hydra", "mpiexec"} }
