// Package mpiimpl says which MPI implementation this build links (OpenMPI by
// default, MPICH with the mpich build tag: `make MPI=mpich`) and finds the
// launcher that starts its jobs. A binary linked against one MPI cannot be
// started by the other's launcher (each rank would be a singleton), so the
// build tag is the one place the choice is made: the kernel's console and
// kernelspec, and the tests, ask here rather than run whatever `mpirun` the
// machine's alternatives point to. It uses no cgo, so that packages which
// only start jobs need not link MPI.
package mpiimpl

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FindLauncher returns the path of the first of Launchers() found on PATH.
func FindLauncher() (string, error) {
	var errs []error
	for _, name := range Launchers() {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no %s launcher (%s) on PATH; apt-get install %s: %w",
		Name, strings.Join(Launchers(), ", "), Package, errors.Join(errs...))
}

// Kind is a launcher's family, which decides how its flags are spelled.
type Kind string

const (
	// Unknown: the launcher did not say (callers take it for OpenMPI's
	// spelling, the most common).
	Unknown Kind = ""
	OpenMPI Kind = "OpenMPI"
	Hydra   Kind = "MPICH Hydra"
	Slurm   Kind = "Slurm srun"
)

// Detect asks the launcher (a name or path) with --version which family it
// belongs to: OpenMPI's mpirun says "Open MPI" (its mpiexec "OpenRTE",
// OpenMPI 5's "PRRTE"), MPICH's Hydra mpiexec (also Intel MPI's and
// MVAPICH's) HYDRA or MPICH, srun "slurm 23.02.6". A launcher that does not
// answer is Slurm's if it is called srun, else Unknown. It is the one place
// the kernel reads a launcher's version.
func Detect(launcher string) Kind {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, launcher, "--version").CombinedOutput()
	v := string(out)
	switch {
	case strings.Contains(v, "Open MPI") || strings.Contains(v, "OpenRTE") || strings.Contains(v, "PRRTE"):
		return OpenMPI
	case strings.Contains(v, "HYDRA") || strings.Contains(v, "MPICH") || strings.Contains(v, "Intel(R) MPI"):
		return Hydra
	case strings.HasPrefix(strings.TrimSpace(v), "slurm"), filepath.Base(launcher) == "srun":
		return Slurm
	}
	return Unknown
}

// LauncherFlags are the flags that let a kernel run more ranks than cores,
// unbound, in launcher's own spelling: more ranks than cores is normal for
// exploring a parallel program on a laptop, and bound ranks would fight
// over the same core. OpenMPI's mpirun needs --oversubscribe --bind-to none;
// MPICH's Hydra mpiexec (also Intel MPI's and MVAPICH's) oversubscribes by
// itself, rejects --oversubscribe, and spells -bind-to none. Hydra also
// kills every rank with SIGKILL the moment one dies, before the kernel's
// rank 0 can tell the frontend which rank died and why; -disable-auto-cleanup
// leaves ending the job to the kernel, which does so (engine's watchDeaths,
// and a worker whose rank 0 is gone leaves). A launcher that does not say
// what it is (Detect) is taken for OpenMPI.
func LauncherFlags(launcher string) []string {
	if Detect(launcher) == Hydra {
		return HydraFlags()
	}
	return []string{"--oversubscribe", "--bind-to", "none"}
}

// HydraFlags are Hydra's spelling of LauncherFlags.
func HydraFlags() []string { return []string{"-bind-to", "none", "-disable-auto-cleanup"} }
